// dist/ssod-linux-x64 (npm run build:exe) runs with no Node.js on the PATH,
// from any folder, with the same CLI, and serves over HTTP.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { NODE24_VERSION } from "../scripts/node24";
import { track } from "./helpers/children";
import { tempDir } from "./helpers/temp";

const EXECUTABLE = fileURLToPath(new URL("../dist/ssod-linux-x64", import.meta.url));

describe("the standalone executable", { skip: process.platform !== "linux" || process.arch !== "x64" }, () => {
  let dir: string;
  let exe: string;
  // No PATH at all: nothing but the executable itself can be run.
  const bareEnv = (extra: Record<string, string> = {}) => ({ PATH: "", HOME: dir, ...extra });

  before(() => {
    assert.ok(existsSync(EXECUTABLE), "npm test builds dist/ssod-linux-x64 first (scripts/test.ts)");
    dir = tempDir("ssod-exe-");
    exe = join(dir, "ssod");
    copyFileSync(EXECUTABLE, exe);
  });

  test("version and --help work with an empty PATH", () => {
    const version = spawnSync(exe, ["version"], { cwd: dir, env: bareEnv(), encoding: "utf8" });
    assert.equal(version.status, 0, version.stderr);
    assert.match(version.stdout.trim(), /^\d+\.\d+\.\d+$/);
    assert.equal(version.stderr, "", "no warnings at start");
    const help = spawnSync(exe, ["admin-key", "create", "--help"], { cwd: dir, env: bareEnv(), encoding: "utf8" });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /Usage: ssod admin-key create --name NAME/);
  });

  test("embeds the pinned Node 24 (a supported LTS line, SPEC §4), not the Node that built it", () => {
    // The executable has no flag that prints its Node version (nor should it): a
    // preload, which a SEA honours through NODE_OPTIONS like any node, asks it.
    const preload = join(dir, "print-node-version.cjs");
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the preload's own source, a template literal of its own
    writeFileSync(preload, "process.stderr.write(`embedded node ${process.version}\\n`);\n");
    const run = spawnSync(exe, ["version"], { cwd: dir, env: bareEnv({ NODE_OPTIONS: `--require ${preload}` }), encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    const version = /^embedded node (v(\d+)\.\d+\.\d+)$/m.exec(run.stderr);
    assert.ok(version, run.stderr);
    assert.equal(version[1], `v${NODE24_VERSION}`);
    const major = Number(version[2]);
    assert.ok(major >= 24 && major % 2 === 0, `${version[1]} is an LTS line, 24 or later`);
  });

  test("serves: the seed's sso.create example, then a token issued and redeemed once", async () => {
    const adminKey = `ssod_ak_${"e".repeat(43)}`;
    const child = track(
      spawn(exe, ["serve"], {
        cwd: dir,
        env: bareEnv({ SSOD_PORT: "0", SSOD_HOST: "127.0.0.1", SSOD_ADMIN_API_KEY: adminKey }),
        stdio: ["ignore", "pipe", "pipe"],
      }),
    );
    let out = "";
    child.stdout!.on("data", (d) => (out += String(d)));
    after(() => child.kill("SIGKILL"));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no start: ${out}`)), 15_000);
      child.stdout!.on("data", () => {
        const line = out.split("\n").find((l) => l.includes('"ssod listening"'));
        if (line) {
          clearTimeout(timer);
          resolve((JSON.parse(line) as { url: string }).url);
        }
      });
    });
    const created = await fetch(`${url}/api.php`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ Command: "sso.create", APIKey: adminKey, SourceName: "External Portal", SourceCode: "external_portal_v1", ValidForSeconds: 3600 }),
    });
    const body = (await created.json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body), ["Success", "ErrorCode", "ErrorText", "SSOSourceID"]);
    assert.equal(body.Success, true);

    const auth = { authorization: `Bearer ${adminKey}`, "content-type": "application/json" };
    const issued = (await (
      await fetch(`${url}/v1/tokens`, { method: "POST", headers: auth, body: JSON.stringify({ user: { email: "exe@example.com" } }) })
    ).json()) as { token: string };
    const redeem = () => fetch(`${url}/v1/tokens/redeem`, { method: "POST", headers: auth, body: JSON.stringify({ token: issued.token }) });
    assert.equal((await redeem()).status, 200);
    assert.equal((await redeem()).status, 400);
    assert.ok(existsSync(join(dir, "data", "ssod.db")), "the store is made in the working folder");
    // RapiDoc and the libSQL binding are SEA assets of the executable.
    const docs = await fetch(`${url}/docs/rapidoc.js`);
    assert.equal(await docs.text(), readFileSync(createRequire(import.meta.url).resolve("rapidoc/dist/rapidoc-min.js"), "utf8"));

    child.kill("SIGTERM");
    const code = await new Promise((resolve) => child.once("exit", resolve));
    assert.equal(code, 0);
  });
});
