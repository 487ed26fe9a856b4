// SPEC §5: "A token acknowledged with a 2xx survives a crash (kill -9) of the
// server right after the response", and so does its consumption: a token
// redeemed before the crash is not redeemable after the restart.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, test } from "node:test";
import { generateAdminKey } from "../src/core/admin-keys";
import { startBuiltServer, type ServerProcess } from "./helpers/process";
import { tempDir } from "./helpers/temp";

const adminKey = generateAdminKey();
const shared = tempDir("ssod-durable-");
const env = { SSOD_DATABASE_URL: `file:${join(shared, "ssod.db")}`, SSOD_ADMIN_API_KEY: adminKey };
const headers = { authorization: `Bearer ${adminKey}`, "content-type": "application/json" };
const running: ServerProcess[] = [];

async function start(): Promise<ServerProcess> {
  const server = await startBuiltServer({ env });
  running.push(server);
  return server;
}

async function crash(server: ServerProcess) {
  server.kill("SIGKILL");
  assert.equal(await server.exited, "SIGKILL");
}

const post = (server: ServerProcess, path: string, json: unknown) => fetch(`${server.url}${path}`, { method: "POST", headers, body: JSON.stringify(json) });

after(async () => {
  for (const server of running) {
    if (server.child.exitCode === null && server.child.signalCode === null) {
      server.kill("SIGTERM");
      await server.exited;
    }
  }
});

test("issued and redeemed tokens survive kill -9 right after their 2xx", { timeout: 120_000 }, async () => {
  let server = await start();
  const created = await post(server, "/v1/sources", { code: "durable", name: "Durable", validForSeconds: 600 });
  assert.equal(created.status, 201);

  // 60 tokens in every format and dialect, then kill -9 the moment the last 2xx is in.
  const issued = await Promise.all(
    Array.from({ length: 60 }, async (_, i) => {
      if (i % 3 === 2) {
        const r = await fetch(`${server.url}/api/sso`, { method: "POST", headers: { "admin-auth": adminKey, "content-type": "application/json" }, body: JSON.stringify({ emailAddress: `d${i}@example.com`, sourceCode: "durable" }) });
        assert.equal(r.status, 200);
        return ((await r.json()) as { Meta: string }).Meta;
      }
      const r = await post(server, "/v1/tokens", { user: { email: `d${i}@example.com` }, sourceCode: "durable", format: i % 3 === 0 ? "nonce" : "jwt" });
      assert.equal(r.status, 201);
      return ((await r.json()) as { token: string }).token;
    }),
  );
  await crash(server);

  server = await start();
  for (const token of issued) {
    const r = await post(server, "/v1/tokens/introspect", { token });
    assert.equal(((await r.json()) as { active: boolean }).active, true, "an acknowledged token is still there after kill -9");
  }

  // Redeem half, kill -9 the moment the answers are in.
  const [first, second] = [issued.slice(0, 30), issued.slice(30)];
  const redeemed = await Promise.all(first.map((token) => post(server, "/v1/tokens/redeem", { token })));
  assert.deepEqual(redeemed.map((r) => r.status), first.map(() => 200));
  await crash(server);

  server = await start();
  const again = await Promise.all(first.map((token) => post(server, "/v1/tokens/redeem", { token })));
  assert.deepEqual(again.map((r) => r.status), first.map(() => 400), "a redemption acknowledged before the crash stays done");
  const rest = await Promise.all(second.map((token) => post(server, "/v1/tokens/redeem", { token })));
  assert.deepEqual(rest.map((r) => r.status), second.map(() => 200));
});
