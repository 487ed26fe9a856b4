// The single-file build carries libSQL's native binding inside dist/ssod.mjs.
// Node can only load a native addon from a file, so at first start the one
// for this platform is written to a cache folder and its path handed to the
// store worker.
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { assetDigest, libsqlAsset, libsqlTargets, readAsset } from "../assets";

export function libsqlTarget(): string {
  const { platform, arch } = process;
  if (platform !== "linux") return `${platform}-${arch}`;
  // glibc reports its version in the process report header; musl does not.
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return `linux-${arch}-${header?.glibcVersionRuntime ? "gnu" : "musl"}`;
}

function cacheDirs(configured: string | undefined): string[] {
  const dirs: string[] = [];
  if (configured) dirs.push(configured);
  if (process.env.XDG_CACHE_HOME) dirs.push(join(process.env.XDG_CACHE_HOME, "ssod"));
  try {
    dirs.push(join(homedir(), ".cache", "ssod"));
  } catch {
    // no home directory (some container users): fall through to tmp
  }
  dirs.push(join(tmpdir(), `ssod-${process.getuid?.() ?? "user"}`));
  return dirs;
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

function writeLibsqlBinding(cacheDir: string | undefined): string | undefined {
  const embeddedTargets = libsqlTargets();
  if (embeddedTargets.length === 0) return undefined;
  const target = libsqlTarget();
  // The name carries the payload's digest, so an upgrade never reuses an old binding.
  const digest = assetDigest(libsqlAsset(target));
  if (!digest) {
    throw new Error(
      `this ssod build embeds the libSQL binding for ${embeddedTargets.join(", ")}, not ${target}: ` +
        `use a remote store (SSOD_DATABASE_URL=libsql://…) or run ssod from source`,
    );
  }
  const name = `libsql-${target}-${digest}.node`;
  const dirs = cacheDirs(cacheDir);
  const cached = dirs.map((dir) => join(dir, name)).find((path) => existsSync(path));
  if (cached) return cached;
  const binding = readAsset(libsqlAsset(target))!;
  let lastError: unknown;
  for (const dir of dirs) {
    const path = join(dir, name);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      // Written aside then renamed, so a concurrent start never loads a half-written file.
      const partial = `${path}.${process.pid}.partial`;
      writeFileSync(partial, binding, { mode: 0o755 });
      renameSync(partial, path);
      return path;
    } catch (error) {
      lastError = error;
    }
  }
  throw new Error(`cannot write the libSQL native binding to any cache folder (set SSOD_CACHE_DIR): ${String(lastError)}`);
}
