// The adapter contract (one failure vocabulary, admin writes as typed
// batches): what a dialect answers when the store is gone, when two admins
// race for one source code, and when two partial updates of one source are
// sent at once.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { openTestServer, type TestServer } from "./helpers/runtime";
import { type Sqld, startSqld } from "./helpers/sqld";

describe("with the store down", () => {
  let sqld: Sqld;
  let s: TestServer;
  before(async () => {
    sqld = await startSqld();
    s = await openTestServer({ SSOD_DATABASE_URL: sqld.url, SSOD_DATABASE_AUTH_TOKEN: sqld.token, SSOD_MASTER_KEY: "7".repeat(64), SSOD_STORE_TIMEOUT: "2" });
  });
  after(async () => {
    await s?.close().catch(() => {});
    await sqld?.stop();
  });

  test("GET /.well-known/jwks.json answers 503 + Retry-After as a problem, not 500", async () => {
    assert.equal((await s.request("GET", "/.well-known/jwks.json")).status, 200);
    await sqld.stop();
    const r = await s.request("GET", "/.well-known/jwks.json");
    assert.equal(r.status, 503, await r.clone().text());
    assert.equal(r.headers.get("retry-after"), "1");
    assert.equal(r.headers.get("content-type"), "application/problem+json");
    assert.equal(((await r.json()) as { type: string }).type, "urn:ssod:problem:store-unavailable");
  });
});

describe("admin changes racing each other", () => {
  let s: TestServer;
  let admin: Record<string, string>;
  before(async () => {
    s = await openTestServer();
    admin = { authorization: `Bearer ${s.adminKey}` };
  });
  after(() => s.close());

  test("two api.php sso.create of one code at once: one succeeds, the other answers code 6, never a 5xx", async () => {
    for (let round = 0; round < 10; round++) {
      const code = `race_${round}`;
      const create = () =>
        s.request("POST", "/api.php", { json: { Command: "sso.create", APIKey: s.adminKey, SourceName: "Race", SourceCode: code, ValidForSeconds: 60 } });
      const answers = await Promise.all([create(), create()]);
      const bodies = (await Promise.all(answers.map((r) => r.json()))) as { Success: boolean; ErrorCode: number | number[] }[];
      assert.deepEqual(answers.map((r) => r.status).sort(), [200, 400], JSON.stringify(bodies));
      const loser = bodies.find((b) => !b.Success)!;
      assert.deepEqual(loser.ErrorCode, [6]);
    }
  });

  test("20 rounds of two PATCH /v1/sources/{id} at once, one the name and one the description: both land every time", async () => {
    const created = await s.request("POST", "/v1/sources", { json: { code: "patched", name: "start", validForSeconds: 60 }, headers: admin });
    assert.equal(created.status, 201);
    const { id } = (await created.json()) as { id: number };
    for (let round = 0; round < 20; round++) {
      const [a, b] = await Promise.all([
        s.request("PATCH", `/v1/sources/${id}`, { json: { name: `name ${round}` }, headers: admin }),
        s.request("PATCH", `/v1/sources/${id}`, { json: { description: `description ${round}` }, headers: admin }),
      ]);
      assert.equal(a.status, 200);
      assert.equal(b.status, 200);
      const now = (await (await s.request("GET", `/v1/sources/${id}`, { headers: admin })).json()) as { name: string; description: string };
      assert.deepEqual({ name: now.name, description: now.description }, { name: `name ${round}`, description: `description ${round}` }, `round ${round}`);
    }
  });
});
