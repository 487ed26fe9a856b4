// SPEC §5 "Files": the single file loads libSQL's native binding only from a
// folder owned by its own user with mode 0700, and only once the file's
// SHA-256 matches the one built into dist/ssod.mjs. Another local user who
// plants a shared object under the binding's name in any folder ssod might
// look in (SSOD_CACHE_DIR, $XDG_CACHE_HOME/ssod, ~/.cache/ssod,
// $TMPDIR/ssod-<uid>) must never get it loaded: its constructor would run as
// ssod's user. The planted object here writes a marker file when loaded.
//
// Runs as root (as CI does): the planting user is nobody (65534), through setpriv.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, test } from "node:test";
import { BUILT, type ServerProcess, startBuiltServer } from "./helpers/process";
import { tempDir } from "./helpers/temp";

const NOBODY = 65534;
const TARGETS = ["linux-x64-gnu", "linux-x64-musl"];

function missingTool(): string | undefined {
  if (process.platform !== "linux" || process.arch !== "x64") return "needs linux-x64 (the targets the single file embeds)";
  if (process.getuid?.() !== 0) return "needs root, to plant files as another user (nobody) with setpriv";
  for (const tool of ["gcc", "setpriv"]) {
    try {
      execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    } catch {
      return `needs ${tool}`;
    }
  }
  return undefined;
}
const skip = missingTool();

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");
const realBinding = (target: string) => readFileSync(createRequire(import.meta.url).resolve(`@libsql/${target}/index.node`));

/** The digest the built file carries for a target's binding, read from its embedded payload. */
function builtDigest(target: string): string {
  const code = readFileSync(BUILT, "latin1");
  const digest = new RegExp(`"libsql-${target}\\.node":"([0-9a-f]+)"`).exec(code)?.[1];
  assert.ok(digest, `dist/ssod.mjs names a digest for ${target}`);
  return digest;
}

/** The file name ssod looks for: the target and the first 16 hex digits of the built digest. */
const bindingName = (target: string) => `libsql-${target}-${builtDigest(target).slice(0, 16)}.node`;

/** As nobody: a command run with uid and gid 65534 and no supplementary groups. */
function asNobody(...command: string[]): void {
  execFileSync("setpriv", [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", ...command], { stdio: "pipe" });
}

interface Lab {
  root: string;
  marker: string;
  planted: string;
}

/** A folder nobody can traverse (0755), the planted shared object and where its marker would go. */
function lab(): Lab {
  const root = tempDir("ssod-binding-");
  chmodSync(root, 0o755);
  const build = join(root, "build");
  mkdirSync(build, { mode: 0o755 });
  const marker = join(root, "marker");
  const source = join(build, "planted.c");
  writeFileSync(
    source,
    `#include <stdio.h>
__attribute__((constructor)) static void planted(void) {
  FILE *f = fopen(${JSON.stringify(marker)}, "a");
  if (f) { fputs("the planted binding was loaded\\n", f); fclose(f); }
}
`,
  );
  const planted = join(build, "planted.so");
  execFileSync("gcc", ["-shared", "-fPIC", "-o", planted, source]);
  chmodSync(planted, 0o755);
  return { root, marker, planted };
}

/** Plants the shared object under every target's binding name in `dir`, as nobody (or as root). */
function plant(lab: Lab, dir: string, as: "nobody" | "root" = "nobody"): void {
  for (const target of TARGETS) {
    const path = join(dir, bindingName(target));
    if (as === "nobody") asNobody("cp", lab.planted, path);
    else execFileSync("cp", [lab.planted, path]);
  }
}

/** A folder owned by root with mode 0777 (anyone can write it), planted by nobody. */
function worldWritable(lab: Lab, name: string): string {
  const dir = join(lab.root, name);
  mkdirSync(dir);
  chmodSync(dir, 0o777);
  plant(lab, dir);
  return dir;
}

/** A 0700 folder owned by nobody, planted by nobody. */
function ownedByNobody(lab: Lab, dir: string): string {
  mkdirSync(dir, { recursive: true });
  chownSync(dir, NOBODY, NOBODY);
  chmodSync(dir, 0o700);
  plant(lab, dir);
  return dir;
}

/** A $TMPDIR like /tmp (root, 1777) where nobody has squatted ssod-0 with a symlink to a folder of theirs. */
function squattedTmp(lab: Lab, name: string): string {
  const tmp = join(lab.root, name);
  mkdirSync(tmp);
  chmodSync(tmp, 0o1777);
  const theirs = join(tmp, "theirs");
  asNobody("mkdir", "-m", "0777", theirs);
  plant(lab, theirs);
  asNobody("ln", "-s", theirs, join(tmp, `ssod-${process.getuid!()}`));
  return tmp;
}

async function stop(server: ServerProcess | undefined): Promise<void> {
  if (!server) return;
  server.kill("SIGTERM");
  assert.equal(await server.exited, 0, "SIGTERM drains and exits 0");
}

/** ssod serves: ready, and a write (an admin key is made at first start) went through the store. */
async function assertServes(server: ServerProcess): Promise<void> {
  assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
  const key = /ssod_ak_[A-Za-z0-9_-]{43}/.exec(server.stderr())?.[0];
  assert.ok(key, "the first admin key was written to the store and printed");
  const listed = await fetch(`${server.url}/v1/sources`, { headers: { Authorization: `Bearer ${key}` } });
  assert.equal(listed.status, 200);
}

function assertNotLoaded(lab: Lab, output: string): void {
  assert.ok(!existsSync(lab.marker), `the planted shared object was loaded (its marker exists)\n${output}`);
}

describe("libSQL's native binding is loaded only from a private folder, and only with the built-in SHA-256", { skip }, () => {
  test("the built file carries the full SHA-256 of each uncompressed binding", () => {
    for (const target of TARGETS) assert.equal(builtDigest(target), sha256(realBinding(target)));
  });

  test("planted in every folder ssod looks in, nothing planted is loaded and ssod writes its own verified copy", async () => {
    const l = lab();
    const cacheDir = worldWritable(l, "cache-0777");
    const xdg = join(l.root, "xdg");
    mkdirSync(xdg, { mode: 0o755 });
    ownedByNobody(l, join(xdg, "ssod"));
    // ~/.cache/ssod: ours, 0700, but holding a file of the right name and the wrong content.
    const home = join(l.root, "home");
    const ours = join(home, ".cache", "ssod");
    mkdirSync(ours, { recursive: true, mode: 0o700 });
    chmodSync(home, 0o755);
    plant(l, ours, "root");
    const tmp = squattedTmp(l, "tmp");

    let server: ServerProcess | undefined;
    let output = "";
    try {
      server = await startBuiltServer({ env: { SSOD_CACHE_DIR: cacheDir, XDG_CACHE_HOME: xdg, HOME: home, TMPDIR: tmp } }).catch((error: Error) => {
        output = error.message;
        return undefined;
      });
      assertNotLoaded(l, output);
      assert.ok(server, `ssod started:\n${output}`);
      await assertServes(server);
      // The only safe candidate was ~/.cache/ssod: its wrong file was replaced by the verified binding.
      const replaced = join(ours, bindingName("linux-x64-gnu"));
      const stat = lstatSync(replaced);
      assert.ok(stat.isFile() && stat.uid === 0 && (stat.mode & 0o077) === 0, `our copy is ours and private (mode ${(stat.mode & 0o777).toString(8)})`);
      assert.equal(sha256(readFileSync(replaced)), sha256(realBinding("linux-x64-gnu")), "the wrong file was replaced by the real binding");
      assert.deepEqual(
        readdirSync(ours).filter((f) => f.includes(".partial")),
        [],
        "no temporary file is left behind",
      );
      // What nobody planted is left as it was, and unused.
      for (const dir of [cacheDir, join(xdg, "ssod"), join(tmp, "theirs")]) {
        assert.equal(sha256(readFileSync(join(dir, bindingName("linux-x64-gnu")))), sha256(readFileSync(l.planted)));
      }
      await stop(server);
      server = undefined;
      assertNotLoaded(l, output);
    } finally {
      server?.kill("SIGKILL");
      await server?.exited;
    }
  });

  test("with no safe candidate at all, ssod makes a private folder of its own under the temp folder", async () => {
    const l = lab();
    const cacheDir = worldWritable(l, "cache-0777");
    const xdg = join(l.root, "xdg");
    mkdirSync(xdg, { mode: 0o755 });
    ownedByNobody(l, join(xdg, "ssod"));
    const home = join(l.root, "home");
    mkdirSync(home, { mode: 0o755 });
    mkdirSync(join(home, ".cache"), { mode: 0o755 });
    ownedByNobody(l, join(home, ".cache", "ssod"));
    const tmp = squattedTmp(l, "tmp");

    let server: ServerProcess | undefined;
    let output = "";
    try {
      server = await startBuiltServer({ env: { SSOD_CACHE_DIR: cacheDir, XDG_CACHE_HOME: xdg, HOME: home, TMPDIR: tmp } }).catch((error: Error) => {
        output = error.message;
        return undefined;
      });
      assertNotLoaded(l, output);
      assert.ok(server, `ssod started:\n${output}`);
      await assertServes(server);
      const privates = readdirSync(tmp).filter((f) => f.startsWith(`ssod-${process.getuid!()}-`));
      assert.equal(privates.length, 1, `one private folder in ${tmp}: ${readdirSync(tmp).join(", ")}`);
      const stat = lstatSync(join(tmp, privates[0]!));
      assert.ok(stat.isDirectory() && stat.uid === 0 && (stat.mode & 0o777) === 0o700);
      await stop(server);
      server = undefined;
      assert.deepEqual(
        readdirSync(tmp).filter((f) => f.startsWith(`ssod-${process.getuid!()}-`)),
        [],
        "the private folder goes when ssod stops",
      );
      assertNotLoaded(l, output);
    } finally {
      server?.kill("SIGKILL");
      await server?.exited;
    }
  });

  test("when no folder can be made safe either, ssod refuses to start and names SSOD_CACHE_DIR", async () => {
    const l = lab();
    const cacheDir = worldWritable(l, "cache-0777");
    const home = join(l.root, "home");
    mkdirSync(home, { mode: 0o755 });
    mkdirSync(join(home, ".cache"), { mode: 0o755 });
    ownedByNobody(l, join(home, ".cache", "ssod"));
    // A temp folder that nobody owns and anyone can write, without the sticky bit.
    const tmp = join(l.root, "tmp-open");
    mkdirSync(tmp);
    chownSync(tmp, NOBODY, NOBODY);
    chmodSync(tmp, 0o777);
    asNobody("mkdir", "-m", "0777", join(tmp, `ssod-${process.getuid!()}`));
    plant(l, join(tmp, `ssod-${process.getuid!()}`));

    let server: ServerProcess | undefined;
    try {
      const refused = await startBuiltServer({ env: { SSOD_CACHE_DIR: cacheDir, HOME: home, TMPDIR: tmp } }).then(
        (started) => {
          server = started;
          return "";
        },
        (error: Error) => error.message,
      );
      assertNotLoaded(l, refused);
      assert.ok(!server, "ssod did not start");
      assert.match(refused, /exited \(1\) before listening/);
      assert.match(refused, /SSOD_CACHE_DIR/, "the refusal names SSOD_CACHE_DIR");
      assert.match(refused, /0700/, "and says what a usable folder is");
    } finally {
      server?.kill("SIGKILL");
      await server?.exited;
    }
  });
});
