// A found source or admin key is reused by the process for a short while
// (src/store/lookup.ts, `keepFoundMs`), so a hot path does not read it on every
// turn. What that must never cost: a change made through this process is
// seen by its next request, and one made elsewhere (another instance, the
// CLI: here a write straight to the store, past this process's core) within
// a quarter of a second; a source made elsewhere is found at once.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { eq } from "drizzle-orm";
import { sha256 } from "../src/core/crypto";
import { ssoSources } from "../src/store/schema";
import { NO_THROTTLE, openTestServer, type TestServer } from "./helpers/runtime";
import { basicAuth, createSource } from "./helpers/sources";

let s: TestServer;
const issue = (headers: Record<string, string>) => s.request("POST", "/v1/tokens", { json: { user: { email: "kept@example.com" } }, headers });
const admin = () => ({ authorization: `Bearer ${s.adminKey}` });

before(async () => {
  s = await openTestServer(NO_THROTTLE);
});
after(async () => {
  await s?.close();
});

describe("what lookups keep", () => {
  test("a secret rotated through this process is refused by its very next request", async () => {
    const source = await createSource(s, { code: "kept-rotate" });
    assert.equal((await issue(basicAuth(source))).status, 201);
    const r = await s.request("POST", `/v1/sources/${source.id}/secret`, { headers: admin() });
    assert.equal(r.status, 200, await r.clone().text());
    const rotated = (await r.json()) as { clientSecret: string };
    assert.equal((await issue(basicAuth(source))).status, 401);
    assert.equal((await issue(basicAuth({ clientId: source.clientId, clientSecret: rotated.clientSecret }))).status, 201);
  });

  test("a source deleted through this process authenticates no more", async () => {
    const source = await createSource(s, { code: "kept-delete" });
    assert.equal((await issue(basicAuth(source))).status, 201);
    assert.equal((await s.request("DELETE", `/v1/sources/${source.id}`, { headers: admin() })).status, 204);
    assert.equal((await issue(basicAuth(source))).status, 401);
  });

  test("a secret changed elsewhere is refused here within 250 ms", async () => {
    const source = await createSource(s, { code: "kept-elsewhere" });
    assert.equal((await issue(basicAuth(source))).status, 201);
    await s.runtime.core.store.db
      .update(ssoSources)
      .set({ clientSecretHash: sha256("changed elsewhere") })
      .where(eq(ssoSources.id, source.id));
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal((await issue(basicAuth(source))).status, 401);
    assert.equal((await issue(basicAuth({ clientId: source.clientId, clientSecret: "changed elsewhere" }))).status, 201);
  });

  test("a client id that was not found is not kept: a source made elsewhere a moment later is found at once", async () => {
    const clientId = "made-elsewhere-client";
    const credentials = { clientId, clientSecret: "made elsewhere secret" };
    assert.equal((await issue(basicAuth(credentials))).status, 401);
    const template = (await s.runtime.core.store.db.select().from(ssoSources).where(eq(ssoSources.code, "kept-elsewhere")))[0]!;
    const { id: _id, ...copy } = template;
    await s.runtime.core.store.db.insert(ssoSources).values({ ...copy, code: "made-elsewhere", clientId, clientSecretHash: sha256(credentials.clientSecret) });
    assert.equal((await issue(basicAuth(credentials))).status, 201);
  });
});
