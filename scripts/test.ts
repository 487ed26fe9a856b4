// `npm test`: builds dist/ssod.mjs (the end-to-end tests run it as a real
// process), then runs every tests/**/*.test.ts with node:test.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { buildSingleFile } from "./build";

const root = fileURLToPath(new URL("..", import.meta.url));

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "helpers" ? [] : testFiles(path);
    return entry.name.endsWith(".test.ts") ? [relative(root, path)] : [];
  });
}

await buildSingleFile();
const only = process.argv.slice(2);
const files = only.length > 0 ? only : testFiles(join(root, "tests")).sort();
const result = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", ...files], { cwd: root, stdio: "inherit" });
process.exit(result.status ?? 1);
