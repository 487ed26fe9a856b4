// The large payloads of the single-file build: libSQL's native bindings and
// RapiDoc's script. As string literals in the code they cost every start about
// 250 ms and 40 MB (V8 scans and keeps them), so they stay out of it:
// dist/ssod.mjs carries them in a comment after its code, the standalone
// executable as SEA assets. Each is read only when it is needed: a binding at
// the first start on a machine, the script at the first /docs request.
import { createHash } from "node:crypto";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { getAsset, isSea } from "node:sea";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { embedded } from "./embedded";

export const DOCS_ASSET = "rapidoc.js";
export const libsqlAsset = (target: string) => `libsql-${target}.node`;
/** The targets whose libSQL binding this build carries ("linux-x64-gnu", …). */
export const libsqlTargets = (): string[] => Object.keys(embedded.assets ?? {}).flatMap((name) => /^libsql-(.+)\.node$/.exec(name)?.[1] ?? []);

/** Opens the comment after the code of dist/ssod.mjs: then one `name base64(gzip)` line per asset. */
export const ASSETS_MARKER = "/*ssod-assets\n";

/** This build's copy of an embedded asset is damaged or gone: no folder or setting can help, only another download. */
export class DamagedBuild extends Error {}

/**
 * The SHA-256 (hex) of the embedded asset's uncompressed bytes, built into the
 * code (a copy written to disk is loaded only when it matches), or undefined
 * when this build has none by that name.
 */
export function assetSha256(name: string): string | undefined {
  return embedded.assets?.[name];
}

/**
 * The asset's bytes, checked against the SHA-256 built into the code (from
 * the standalone executable's SEA assets or the single file's trailer alike),
 * or undefined when running from source (the caller falls back to node_modules).
 */
export function readAsset(name: string): Buffer | undefined {
  const sha256 = assetSha256(name);
  if (sha256 === undefined) return undefined;
  const packed = isSea() ? Buffer.from(getAsset(name)) : fromTrailer(name);
  const damaged = () => new DamagedBuild(`this ssod build's embedded ${name} is damaged: download it again`);
  let bytes: Buffer;
  try {
    // One output buffer of the size gzip's trailer records, not a list of small ones joined (they stayed in the heap).
    bytes = gunzipSync(packed, { chunkSize: Math.max(16 * 1024, packed.readUInt32LE(packed.length - 4)) });
  } catch {
    throw damaged();
  }
  if (createHash("sha256").update(bytes).digest("hex") !== sha256) throw damaged();
  return bytes;
}

function fromTrailer(name: string): Buffer {
  // Only the asset's own line is read (its place is built into the code): the
  // whole file, read at once at the first start, stayed in the process's heap.
  const place = embedded.trailer?.[name];
  const prefix = Buffer.from(`\n${name} `, "latin1");
  const fd = openSync(fileURLToPath(import.meta.url), "r");
  try {
    const size = fstatSync(fd).size;
    if (!place || place[0] + prefix.length > size) throw new DamagedBuild(`this ssod build has lost its embedded ${name}: download it again`);
    const [fromEnd, length] = place;
    const bytes = Buffer.allocUnsafe(prefix.length + length);
    for (let at = 0; at < bytes.length; ) {
      const n = readSync(fd, bytes, at, bytes.length - at, size - fromEnd - prefix.length + at);
      if (n === 0) break;
      at += n;
    }
    if (!bytes.subarray(0, prefix.length).equals(prefix)) throw new DamagedBuild(`this ssod build has lost its embedded ${name}: download it again`);
    return Buffer.from(bytes.toString("latin1", prefix.length), "base64");
  } finally {
    closeSync(fd);
  }
}
