// The single file's assets (src/assets.ts): each is read from its own place
// in the comment after the code, and checked against the SHA-256 built into
// the code before anything is written or loaded. A copy of dist/ssod.mjs with
// one character of its binding changed, or with its end moved, must refuse to
// start and say why, not load what it read.
import assert from "node:assert/strict";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { BUILT, runBuilt } from "./helpers/process";
import { tempDir } from "./helpers/temp";

const TARGET = process.platform === "linux" && process.arch === "x64" ? "linux-x64-gnu" : undefined;

/** A copy of the built file in a fresh folder, changed by `change`, and the folder. */
function changedCopy(change: (file: string) => void): { dir: string; file: string } {
  const dir = tempDir("ssod-assets-");
  const file = join(dir, "ssod.mjs");
  writeFileSync(file, readFileSync(BUILT));
  change(file);
  return { dir, file };
}

/** `ssod migrate` opens (makes) the store, so it writes the binding out first. */
const openStore = ({ dir, file }: { dir: string; file: string }) =>
  runBuilt(["migrate"], { dir, file, env: { SSOD_DATABASE_URL: `file:${join(dir, "ssod.db")}`, SSOD_CACHE_DIR: join(dir, "cache") } });

describe("the single file's embedded binding", { skip: TARGET ? false : "the single file embeds linux-x64 bindings only" }, () => {
  test("an intact copy writes its binding and opens the store", async () => {
    const run = await openStore(changedCopy(() => {}));
    assert.equal(run.code, 0, run.stderr);
  });

  test("one character of the binding changed: refused as damaged, nothing loaded", async () => {
    const copy = changedCopy((file) => {
      const bytes = readFileSync(file);
      const line = bytes.lastIndexOf(Buffer.from(`\nlibsql-${TARGET}.node `));
      assert.ok(line > 0, "the built file carries the binding's line");
      // Well inside the base64: one letter for another still decodes, to other bytes.
      const at = line + 100_000;
      bytes[at] = bytes[at] === 0x41 ? 0x42 : 0x41;
      writeFileSync(file, bytes);
    });
    const run = await openStore(copy);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, new RegExp(`embedded libsql-${TARGET}\\.node is damaged: download it again`));
  });

  test("the file's end moved (bytes appended): refused as lost, not read from the wrong place", async () => {
    const run = await openStore(changedCopy((file) => appendFileSync(file, "// appended\n")));
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, new RegExp(`lost its embedded libsql-${TARGET}\\.node: download it again`));
  });
});
