// The single-file build carries libSQL's native binding inside dist/ssod.mjs.
// Node can only load a native addon from a file, so the one for this platform
// is written to a cache folder and its path handed to the store worker.
//
// Loading a file runs its code as ssod's user, so (SPEC §5 "Files") a binding
// is loaded only from a folder that no other user can write to, and only once
// its content matches the SHA-256 built into the single file:
// - the folder is owned by this user, mode 0700 (created so), not a symlink,
//   and every folder above it is owned by this user or root and writable by
//   no one else (or sticky, like /tmp), so nobody can swap it for theirs;
// - the file is a regular file owned by this user, writable by no one else,
//   whose SHA-256 is the built-in one; a file of the right name and the wrong
//   content is replaced (written to a new temporary name, then renamed over
//   it) and checked again.
// A candidate folder that fails is skipped. When none is usable, ssod makes a
// private folder under the temp folder for this run; when even that cannot
// be made safe, it refuses to start, naming SSOD_CACHE_DIR.

import { createHash, randomBytes } from "node:crypto";
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readSync,
  realpathSync,
  renameSync,
  rmSync,
  type Stats,
  unlinkSync,
  writeSync,
} from "node:fs";
import { homedir, tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { assetSha256, DamagedBuild, libsqlAsset, libsqlTargets, readAsset } from "../assets";

function libsqlTarget(): string {
  const { platform, arch } = process;
  if (platform !== "linux") return `${platform}-${arch}`;
  // glibc reports its version in the process report header; musl does not.
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return `linux-${arch}-${header?.glibcVersionRuntime ? "gnu" : "musl"}`;
}

const uid = () => process.geteuid?.() ?? process.getuid?.() ?? -1;

/** The folders looked in, in order: SSOD_CACHE_DIR, $XDG_CACHE_HOME/ssod, ~/.cache/ssod, $TMPDIR/ssod-<uid>. */
function cacheDirs(configured: string | undefined): string[] {
  const dirs: string[] = [];
  if (configured) dirs.push(configured);
  if (process.env.XDG_CACHE_HOME) dirs.push(join(process.env.XDG_CACHE_HOME, "ssod"));
  try {
    dirs.push(join(homedir(), ".cache", "ssod"));
  } catch {
    // no home directory (some container users): fall through to tmp
  }
  dirs.push(join(tmpdir(), `ssod-${uid()}`));
  return [...new Set(dirs.map((dir) => resolve(dir)))];
}

/** Why a folder is not private to this user, or undefined when it is. */
function folderProblem(stat: Stats): string | undefined {
  if (stat.isSymbolicLink()) return "is a symbolic link";
  if (!stat.isDirectory()) return "is not a folder";
  if (stat.uid !== uid()) return `is owned by uid ${stat.uid}, not ${uid()}`;
  if ((stat.mode & 0o077) !== 0) return `has mode ${(stat.mode & 0o777).toString(8).padStart(4, "0")}, not 0700`;
  return undefined;
}

/** Why a folder above the cache folder would let another user replace what is below it, or undefined. */
function ancestorProblem(path: string): string | undefined {
  for (let dir = path; ; dir = dirname(dir)) {
    const stat = lstatSync(dir);
    if (stat.uid !== uid() && stat.uid !== 0) return `${dir} (above it) is owned by uid ${stat.uid}`;
    const sticky = (stat.mode & 0o1000) !== 0;
    if ((stat.mode & 0o022) !== 0 && !sticky) return `${dir} (above it) can be written by other users`;
    if (dir === dirname(dir)) return undefined;
  }
}

/**
 * Makes `dir` if it is missing (mode 0700) and returns its real path when it
 * is private to this user, else throws saying why. Folders that exist keep
 * their mode: one that is not 0700 is not used, never loosened or repaired.
 */
function privateFolder(dir: string): string {
  let stat: Stats;
  try {
    stat = lstatSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    // Made by this call (a folder someone else made first in the meantime is not): 0700 whatever the umask.
    if (mkdirSync(dir, { recursive: true, mode: 0o700 }) !== undefined) chmodSync(dir, 0o700);
    stat = lstatSync(dir);
  }
  const problem = folderProblem(stat);
  if (problem) throw new Error(`it ${problem}`);
  const real = join(realpathSync(dirname(dir)), basename(dir));
  const above = ancestorProblem(dirname(real));
  if (above) throw new Error(above);
  // Looked at again through its real path: the same folder, still private.
  const again = lstatSync(real);
  if (again.ino !== stat.ino || again.dev !== stat.dev || folderProblem(again)) throw new Error("it changed while it was being checked");
  return real;
}

/** Whether `path` is a regular file of ours, writable by no one else, with the given SHA-256. */
function isVerified(path: string, sha256: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return false;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile() || stat.uid !== uid() || (stat.mode & 0o022) !== 0) return false;
    const hash = createHash("sha256");
    const chunk = Buffer.allocUnsafe(1 << 20);
    for (let n = readSync(fd, chunk, 0, chunk.length, null); n > 0; n = readSync(fd, chunk, 0, chunk.length, null)) hash.update(chunk.subarray(0, n));
    return hash.digest("hex") === sha256;
  } finally {
    closeSync(fd);
  }
}

/** Writes `bytes` to a new file beside `path` (O_EXCL, 0700), then renames it over `path`. */
function replace(path: string, bytes: Buffer): void {
  const partial = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.partial`;
  const fd = openSync(partial, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o700);
  try {
    try {
      fchmodSync(fd, 0o700);
      for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
    } finally {
      closeSync(fd);
    }
    renameSync(partial, path);
  } catch (error) {
    try {
      unlinkSync(partial);
    } catch {
      // renamed already, or never made
    }
    throw error;
  }
}

declare global {
  // Read by the rewritten libsql loader on the main thread (scripts/build.ts).
  var __ssodLibsqlBinding: string | undefined;
}

/**
 * Returns the path of the native binding to load, writing it out first if
 * needed, and tells the main thread's libsql loader; `undefined` when running
 * from source (node_modules has it).
 */
export function ensureLibsqlBinding(cacheDir: string | undefined): string | undefined {
  const path = writeLibsqlBinding(cacheDir);
  if (path) globalThis.__ssodLibsqlBinding = path;
  return path;
}

let privateRun: string | undefined;

function writeLibsqlBinding(cacheDir: string | undefined): string | undefined {
  const embeddedTargets = libsqlTargets();
  if (embeddedTargets.length === 0) return undefined;
  const target = libsqlTarget();
  const sha256 = assetSha256(libsqlAsset(target));
  if (!sha256) {
    throw new Error(
      `this ssod build embeds the libSQL binding for ${embeddedTargets.join(", ")}, not ${target}: ` +
        `use a remote store (SSOD_DATABASE_URL=libsql://…) or run ssod from source`,
    );
  }
  // The name carries the digest, so an upgrade never finds an old binding under it.
  const name = `libsql-${target}-${sha256.slice(0, 16)}.node`;
  let binding: Buffer | undefined;
  const install = (dir: string): string => {
    const path = join(dir, name);
    if (isVerified(path, sha256)) return path;
    binding ??= readAsset(libsqlAsset(target))!;
    replace(path, binding);
    if (!isVerified(path, sha256)) throw new Error("the binding written there does not read back as written");
    return path;
  };

  const refused: string[] = [];
  for (const dir of cacheDirs(cacheDir)) {
    try {
      return install(privateFolder(dir));
    } catch (error) {
      if (error instanceof DamagedBuild) throw error;
      refused.push(`${dir}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  // No candidate is usable: a folder of this run's own, removed at exit (a loaded binding stays mapped).
  try {
    if (!privateRun) {
      const made = mkdtempSync(join(tmpdir(), `ssod-${uid()}-`));
      process.once("exit", () => rmSync(made, { recursive: true, force: true }));
      privateRun = privateFolder(made);
    }
    return install(privateRun);
  } catch (error) {
    if (error instanceof DamagedBuild) throw error;
    refused.push(`a private folder under ${tmpdir()}: ${error instanceof Error ? error.message : String(error)}`);
  }
  throw new Error(
    `no safe folder to load libSQL's native binding from: set SSOD_CACHE_DIR to a folder owned by this user (uid ${uid()}) ` +
      `with mode 0700, below folders only it or root can write (${refused.join("; ")})`,
  );
}
