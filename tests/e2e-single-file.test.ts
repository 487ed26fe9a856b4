// The built dist/ssod.mjs, copied alone into an empty folder, starts, makes
// its store and answers seed 002's sso.create example.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { test } from "node:test";
import { startBuiltServer } from "./helpers/process";

test("dist/ssod.mjs copied alone into an empty folder serves seed 002's sso.create example", async () => {
  const server = await startBuiltServer();
  try {
    const key = /ssod_ak_[A-Za-z0-9_-]{43}/.exec(server.stderr())?.[0];
    assert.ok(key, `the first admin key is printed once to stderr:\n${server.stderr()}`);
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    const response = await fetch(`${server.url}/api.php`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        Command: "sso.create",
        APIKey: key,
        SourceName: "External Portal",
        SourceCode: "external_portal_v1",
        SourceDescription: "SSO integration for external portal",
        ExpiresAt: "2025-12-31 23:59:59",
        ValidForSeconds: 3600,
        Options: { CreateNewUserIfNotExists: "Enabled", PerformLogin: "Enabled", ReturnUserData: "Enabled" },
      }),
    });
    assert.equal(response.status, 200);
    const body = (await response.json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body), ["Success", "ErrorCode", "ErrorText", "SSOSourceID"]);
    assert.equal(body.Success, true);
    assert.equal(body.ErrorCode, 0);
    assert.equal(body.ErrorText, "");
    assert.ok(Number.isInteger(body.SSOSourceID));
    assert.ok(existsSync(join(server.dir, "data", "ssod.db")), "the default store is created under ./data");
    assert.ok(!server.stdout().includes(key!), "the admin key never reaches the log");
    // RapiDoc travels as an asset after the code (src/assets.ts): no node_modules beside the copy.
    const docs = await fetch(`${server.url}/docs/rapidoc.js`);
    assert.equal(docs.status, 200);
    assert.equal(await docs.text(), readFileSync(createRequire(import.meta.url).resolve("rapidoc/dist/rapidoc-min.js"), "utf8"));
  } finally {
    server.kill("SIGTERM");
    assert.equal(await server.exited, 0, "SIGTERM drains and exits 0");
  }
});
