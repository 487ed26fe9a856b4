// `npm test`: builds dist/ssod.mjs and dist/ssod-linux-x64, then runs every
// tests/**/*.test.ts with node:test.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { buildSingleFile } from "./build";
import { buildExecutable } from "./build-exe";

const root = fileURLToPath(new URL("..", import.meta.url));

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "helpers" ? [] : testFiles(path);
    return entry.name.endsWith(".test.ts") ? [relative(root, path)] : [];
  });
}

// The end-to-end tests run the built files as real processes.
await buildSingleFile();
if (process.platform === "linux" && process.arch === "x64") await buildExecutable();
const only = process.argv.slice(2);
const files = only.length > 0 ? only : testFiles(join(root, "tests")).sort();
const result = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", ...files], { cwd: root, stdio: "inherit" });
process.exit(result.status ?? 1);
