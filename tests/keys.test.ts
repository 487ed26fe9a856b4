// The server's signing keys (SPEC §1, §3): POST /v1/keys/rotate gives a new
// kid, tokens signed before a rotation keep verifying against
// /.well-known/jwks.json, new tokens are signed with the new key.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { calculateJwkThumbprint, createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, type JWK, jwtVerify } from "jose";
import { openTestServer, type TestServer } from "./helpers/runtime";
import { basicAuth, createSource } from "./helpers/sources";

let s: TestServer;
let admin: Record<string, string>;

async function allKeys(server = s): Promise<JSONWebKeySet> {
  const r = await server.request("GET", "/.well-known/jwks.json");
  assert.equal(r.status, 200);
  return (await r.json()) as JSONWebKeySet;
}

/** The EdDSA keys of the JWKS: the ones that sign format=jwt tokens (RS256 and ES256 sign for OpenID Connect). */
async function jwks(server = s): Promise<JSONWebKeySet> {
  return { keys: (await allKeys(server)).keys.filter((k) => k.alg === "EdDSA") };
}

async function issueJwt(sourceCode?: string) {
  const r = await s.request("POST", "/v1/tokens", {
    json: { user: { email: "keys@example.com" }, format: "jwt", ...(sourceCode ? { sourceCode } : {}) },
    headers: admin,
  });
  assert.equal(r.status, 201, await r.clone().text());
  return (await r.json()) as { token: string; tokenRefNo: string; expiresAt: string };
}

async function rotate(): Promise<{ kid: string; keys: JWK[] }> {
  const r = await s.request("POST", "/v1/keys/rotate", { headers: admin });
  assert.equal(r.status, 200, await r.clone().text());
  const body = (await r.json()) as { kid: string; keys: JWK[] };
  assert.deepEqual(Object.keys(body), ["kid", "keys"]);
  return body;
}

const verify = async (token: string, audience: string) =>
  jwtVerify(token, createLocalJWKSet(await jwks()), { issuer: "http://ssod.test", audience, algorithms: ["EdDSA"] });

before(async () => {
  // Rotated-in keys sign at once here; the lead before they do is tested on its own below.
  s = await openTestServer({ SSOD_KEY_PUBLISH_LEAD: "0" });
  admin = { authorization: `Bearer ${s.adminKey}` };
  await createSource(s, { code: "brief", name: "Brief", validForSeconds: 2 });
});

after(() => s?.close());

describe("POST /v1/keys/rotate", () => {
  test("only an admin may rotate", async () => {
    assert.equal((await s.request("POST", "/v1/keys/rotate")).status, 401);
    assert.equal((await s.request("POST", "/v1/keys/rotate", { headers: { authorization: `Bearer ssod_ak_${"Z".repeat(43)}` } })).status, 401);
    const src = await createSource(s, { code: "k-src", name: "K", validForSeconds: 60 });
    const r = await s.request("POST", "/v1/keys/rotate", { headers: basicAuth(src) });
    assert.equal(r.status, 403);
    assert.equal(((await r.json()) as { type: string }).type, "urn:ssod:problem:forbidden");
  });

  test("a jwt issued before rotation still verifies after it; the new key signs new tokens; the old key stays published at least 24 hours", async () => {
    const initial = await jwks();
    assert.equal(initial.keys.length, 1, "one key before any rotation");
    const oldKid = initial.keys[0]!.kid!;
    assert.equal(oldKid, await calculateJwkThumbprint(initial.keys[0]!), "the kid is the key's RFC 7638 thumbprint");

    const early = await issueJwt("brief");
    assert.equal(decodeProtectedHeader(early.token).kid, oldKid);

    const rotated = await rotate();
    assert.notEqual(rotated.kid, oldKid);
    assert.match(rotated.kid, /^[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(
      rotated.keys.filter((k) => k.alg === "EdDSA").map((k) => k.kid),
      [rotated.kid, oldKid],
      "newest first, the old key still published",
    );
    assert.deepEqual(await allKeys(), { keys: rotated.keys });
    const fresh = rotated.keys[0]!;
    assert.deepEqual({ kty: fresh.kty, crv: fresh.crv, alg: fresh.alg, use: fresh.use }, { kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig" });
    assert.equal(await calculateJwkThumbprint(fresh), rotated.kid);

    // The token signed before the rotation verifies against the JWKS after it.
    const { payload } = await verify(early.token, "brief");
    assert.equal(payload.jti, early.tokenRefNo);

    // New tokens carry the new kid and verify with the new key alone.
    const late = await issueJwt();
    assert.equal(decodeProtectedHeader(late.token).kid, rotated.kid);
    const onlyNew = createLocalJWKSet({ keys: [fresh] });
    const { payload: latePayload } = await jwtVerify(late.token, onlyNew, { issuer: "http://ssod.test", audience: "default" });
    assert.equal(latePayload.jti, late.tokenRefNo);
    await assert.rejects(jwtVerify(early.token, onlyNew), { code: "ERR_JWKS_NO_MATCHING_KEY" });

    // Redemption of the early token is unaffected by the rotation.
    const redeemed = await s.request("POST", "/v1/tokens/redeem", { json: { token: early.token }, headers: admin });
    assert.equal(redeemed.status, 200);

    // Once every token the old key signed has expired, it is still published: at least 24 hours
    // after it retired, for the ID tokens apps keep (SPEC §7).
    await sleep(Math.max(0, Date.parse(early.expiresAt) - Date.now()) + 1_100);
    assert.deepEqual(
      (await jwks()).keys.map((k) => k.kid),
      [rotated.kid, oldKid],
    );
    const row = (await s.runtime.core.store.driver.query({ sql: "SELECT retired_at, publish_until FROM signing_keys WHERE kid = ?", args: [oldKid] })).rows[0]!;
    assert.ok(Number(row[1]) - Number(row[0]) >= 24 * 3600 * 1000, "published 24 hours past its retirement");
  });

  test("every rotation gives a new kid; keys with live tokens stay published", async () => {
    const a = await issueJwt();
    const kidA = decodeProtectedHeader(a.token).kid!;
    const first = await rotate();
    const b = await issueJwt();
    const second = await rotate();
    const c = await issueJwt();
    const kids = [kidA, first.kid, second.kid];
    assert.equal(new Set(kids).size, 3);
    assert.equal(decodeProtectedHeader(b.token).kid, first.kid);
    assert.equal(decodeProtectedHeader(c.token).kid, second.kid);
    const published = (await jwks()).keys.map((k) => k.kid);
    for (const kid of kids) assert.ok(published.includes(kid), `${kid} is still published`);
    assert.equal(published[0], second.kid);
    for (const t of [a, b, c]) assert.equal((await verify(t.token, "default")).payload.jti, t.tokenRefNo);
  });

  test("a rotation is audited as key.rotate with the new kid", async () => {
    const { kid } = await rotate();
    const r = await s.request("GET", "/v1/audit?action=key.rotate&limit=1", { headers: admin });
    const [row] = ((await r.json()) as { items: { action: string; target: string; outcome: string; actor: string }[] }).items;
    assert.equal(row!.action, "key.rotate");
    assert.equal(row!.target, kid);
    assert.equal(row!.outcome, "success");
    assert.match(row!.actor, /^admin_key:\d+$/);
  });

  test("jwts issued while a rotation is under way stay verifiable against the JWKS", { timeout: 30_000 }, async () => {
    // A fresh store: no earlier jwt keeps the old key published by chance.
    const fresh = await openTestServer({ SSOD_KEY_PUBLISH_LEAD: "0" });
    try {
      const auth = { authorization: `Bearer ${fresh.adminKey}` };
      const issues = Array.from({ length: 20 }, () =>
        fresh.request("POST", "/v1/tokens", { json: { user: { email: "race@example.com" }, format: "jwt" }, headers: auth }),
      );
      const rotation = fresh.request("POST", "/v1/keys/rotate", { headers: auth });
      const answers = await Promise.all(issues);
      assert.equal((await rotation).status, 200);
      const tokens = await Promise.all(
        answers.map(async (r) => {
          assert.equal(r.status, 201);
          return ((await r.json()) as { token: string }).token;
        }),
      );
      const set = (await (await fresh.request("GET", "/.well-known/jwks.json")).json()) as JSONWebKeySet;
      const published = set.keys.map((k) => k.kid);
      const unverifiable = tokens.filter((t) => !published.includes(decodeProtectedHeader(t).kid));
      assert.equal(
        unverifiable.length,
        0,
        `${unverifiable.length} of ${tokens.length} tokens answered 201 carry a kid the JWKS does not publish (published: ${published.join(", ")})`,
      );
      for (const t of tokens) await jwtVerify(t, createLocalJWKSet(set), { issuer: "http://ssod.test", audience: "default" });
    } finally {
      await fresh.close();
    }
  });

  test("the JWKS document is public and cacheable for a short while, never with private parts", async () => {
    const r = await s.request("GET", "/.well-known/jwks.json");
    assert.equal(r.headers.get("cache-control"), "public, max-age=300");
    const body = (await r.json()) as JSONWebKeySet;
    for (const key of body.keys) for (const secret of ["d", "p", "q", "dp", "dq", "qi", "k"]) assert.ok(!(secret in key), secret);
  });
});

describe("a rotated-in key is published before it signs", () => {
  test("with SSOD_KEY_PUBLISH_LEAD=2: published at once, signing two seconds later, for every algorithm", async () => {
    const lead = await openTestServer({ SSOD_KEY_PUBLISH_LEAD: "2" });
    try {
      const auth = { authorization: `Bearer ${lead.adminKey}` };
      const before = (await allKeys(lead)).keys;
      assert.deepEqual(before.map((k) => k.alg).sort(), ["EdDSA", "RS256"], "an RS256 key from the first start (OpenID Connect requires it)");
      const issue = async () => {
        const r = await lead.request("POST", "/v1/tokens", { json: { user: { email: "lead@example.com" }, format: "jwt" }, headers: auth });
        return decodeProtectedHeader(((await r.json()) as { token: string }).token).kid;
      };
      const oldKid = await issue();
      const rotated = (await (await lead.request("POST", "/v1/keys/rotate", { headers: auth })).json()) as { kid: string; keys: JWK[] };
      assert.deepEqual(rotated.keys.map((k) => k.alg).sort(), ["EdDSA", "EdDSA", "RS256", "RS256"], "a new key of each algorithm, published at once");
      assert.equal(await issue(), oldKid, "the old key still signs during the lead");
      await sleep(2_200);
      assert.equal(await issue(), rotated.kid, "the new one signs after it");
    } finally {
      await lead.close();
    }
  });
});
