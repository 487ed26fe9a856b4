// `npm run build:exe`: dist/ssod-linux-x64, a single executable that runs
// with no Node.js installed (Node's single executable applications). The
// same server as dist/ssod.mjs, bundled as CommonJS (the SEA of Node 20 and
// of Node 24 runs a CommonJS main only: an ES module main fails with "Cannot
// use import statement outside a module"), then injected with postject into a
// copy of the pinned Node 24 binary from npm (scripts/node24.ts), whatever
// Node runs this script: the executable ships a supported LTS line (SPEC §4).
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { inject } from "postject";
import { buildSingleFile } from "./build";
import { node24Binary } from "./node24";

const root = fileURLToPath(new URL("..", import.meta.url));
const work = join(root, "dist/sea");
export const EXECUTABLE = join(root, "dist/ssod-linux-x64");
// The fuse Node's SEA support looks for (the same in every Node release that has SEA).
const FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";

export async function buildExecutable(): Promise<string> {
  if (process.platform !== "linux" || process.arch !== "x64") throw new Error("build:exe makes a linux-x64 executable: run it on linux-x64");
  mkdirSync(work, { recursive: true });
  // The blob is made by the same Node that runs it: the format of the SEA blob is not stable across releases.
  const node = node24Binary();
  const { outfile: main, assets } = await buildSingleFile({ format: "cjs", outfile: join(work, "ssod.cjs") });
  const assetFiles = Object.fromEntries(
    [...assets].map(([name, packed]) => {
      const path = join(work, `${name}.gz`);
      writeFileSync(path, packed);
      return [name, path];
    }),
  );
  const blob = join(work, "ssod.blob");
  const config = join(work, "sea-config.json");
  writeFileSync(config, JSON.stringify({ main, output: blob, assets: assetFiles, disableExperimentalSEAWarning: true }));
  execFileSync(node, ["--experimental-sea-config", config], { stdio: "inherit" });
  copyFileSync(node, EXECUTABLE);
  chmodSync(EXECUTABLE, 0o755);
  await inject(EXECUTABLE, "NODE_SEA_BLOB", readFileSync(blob), { sentinelFuse: FUSE });
  process.stderr.write(`built ${EXECUTABLE}\n`);
  return EXECUTABLE;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildExecutable();
}
