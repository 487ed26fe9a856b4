// dist/ssod-linux-x64 (npm run build:exe) runs with no Node.js on the PATH,
// from any folder, with the same CLI, and serves over HTTP.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { tempDir } from "./helpers/temp";
import { track } from "./helpers/children";

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

  test("serves: the seed's sso.create example, then a token issued and redeemed once", async () => {
    const adminKey = `ssod_ak_${"e".repeat(43)}`;
    const child = track(spawn(exe, ["serve"], { cwd: dir, env: bareEnv({ SSOD_PORT: "0", SSOD_HOST: "127.0.0.1", SSOD_ADMIN_API_KEY: adminKey }), stdio: ["ignore", "pipe", "pipe"] }));
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
    const issued = (await (await fetch(`${url}/v1/tokens`, { method: "POST", headers: auth, body: JSON.stringify({ user: { email: "exe@example.com" } }) })).json()) as { token: string };
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
