// The large payloads of the single-file build: libSQL's native bindings and
// RapiDoc's script. As string literals in the code they cost every start about
// 250 ms and 40 MB (V8 scans and keeps them), so they stay out of it:
// dist/ssod.mjs carries them in a comment after its code, the standalone
// executable as SEA assets. Each is read only when it is needed: a binding at
// the first start on a machine, the script at the first /docs request.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
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
  const bytes = gunzipSync(isSea() ? Buffer.from(getAsset(name)) : fromTrailer(name));
  if (createHash("sha256").update(bytes).digest("hex") !== sha256) throw new Error(`this ssod build's embedded ${name} is damaged: download it again`);
  return bytes;
}

function fromTrailer(name: string): Buffer {
  // latin1: one character a byte, so the base64 slices straight out.
  const file = readFileSync(fileURLToPath(import.meta.url), "latin1");
  const start = file.lastIndexOf(ASSETS_MARKER);
  const prefix = `\n${name} `;
  const at = start < 0 ? -1 : file.indexOf(prefix, start + ASSETS_MARKER.length - 1);
  if (at < 0) throw new Error(`this ssod build has lost its embedded ${name}: download it again`);
  const from = at + prefix.length;
  return Buffer.from(file.slice(from, file.indexOf("\n", from)), "base64");
}
