// The data folder of a file store and the files in it are private to ssod's
// user (SPEC §5 "Files"), whatever the umask: the folder 0700, the database,
// its -wal and -shm and the master key file 0600.
//
// SQLite creates a database file 0644 and gives its -wal and -shm the
// database file's mode, so the database file is made here first, empty and
// 0600 (an empty file is an empty database). What an older version left
// readable by others is tightened when it is ours, and reported.
import { chmodSync, closeSync, constants, fchmodSync, lstatSync, mkdirSync, openSync, readdirSync, type Stats } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { StoreEventListener } from "./events";

/** The master key file's name, beside the database file (src/core/bootstrap.ts). */
export const MASTER_KEY_FILE = "master.key";

const uid = () => process.geteuid?.() ?? process.getuid?.() ?? -1;

function statOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** The store's own files in its folder: the database, SQLite's companions, the key file and its partial copies. */
function storeFileNames(database: string): (name: string) => boolean {
  const db = basename(database);
  const own = new Set([db, `${db}-wal`, `${db}-shm`, `${db}-journal`, MASTER_KEY_FILE]);
  return (name) => own.has(name) || /^master\.key\.\d+\.partial$/.test(name);
}

/** chmod when the file is ours and others may read it; reported as tightened. */
function tighten(path: string, stat: Stats, mode: number, onEvent: StoreEventListener): void {
  if (stat.uid !== uid() || (stat.mode & 0o077) === 0) return;
  chmodSync(path, mode);
  onEvent({ kind: "mode-tightened", path, from: stat.mode & 0o7777, to: mode });
}

/**
 * Makes the folder of the database file at `path` (0700) and the database file
 * itself (empty, 0600) when they are missing, and tightens what is there.
 */
export function prepareDataFolder(path: string, onEvent: StoreEventListener): void {
  const database = resolve(path);
  const folder = dirname(database);
  const folderStat = statOrUndefined(folder);
  if (!folderStat) {
    mkdirSync(dirname(folder), { recursive: true, mode: 0o755 });
    try {
      mkdirSync(folder, { mode: 0o700 });
      chmodSync(folder, 0o700);
    } catch (error) {
      // Another process starting beside this one made it first: looked at below like any existing folder.
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
  const isStoreFile = storeFileNames(database);
  const stat = lstatSync(folder);
  if (folderStat && stat.isDirectory() && (stat.mode & 0o077) !== 0) {
    // Only a folder that holds nothing but the store is made private: the
    // store may live in a folder of other things (the working folder, /tmp).
    const onlyStore = stat.uid === uid() && (stat.mode & 0o1000) === 0 && readdirSync(folder).every(isStoreFile);
    if (onlyStore) tighten(folder, stat, 0o700, onEvent);
    else onEvent({ kind: "folder-left-open", path: folder, mode: stat.mode & 0o7777 });
  }
  for (const name of readdirSync(folder).filter(isStoreFile)) {
    const file = join(folder, name);
    const fileStat = statOrUndefined(file);
    // Never through a symbolic link: chmod would follow it to whatever it names.
    if (fileStat?.isFile()) tighten(file, fileStat, 0o600, onEvent);
  }
  try {
    createPrivateFile(database);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
}

/** Makes `path` an empty 0600 file, whatever the umask; fails if it exists. For a backup's target (VACUUM INTO accepts an empty file). */
export function createPrivateFile(path: string): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
  }
}
