// POST /v1/tokens (SPEC §3): who may issue for which source, the 201 answer,
// lifetimes, redirect allowlists, and the signed "jwt" format checked with
// jose against GET /.well-known/jwks.json. One in-process server on a real
// libSQL file.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from "jose";
import { problemOf } from "./helpers/http";
import { NO_THROTTLE, openTestServer, type TestServer } from "./helpers/runtime";
import { basicAuth as basic, type CreatedSource, createSource as createSourceOn } from "./helpers/sources";
import { type Issued, introspect as introspectOn, issueOk as issueOn } from "./helpers/tokens";

let s: TestServer;
let admin: Record<string, string>;

const createSource = (body: Record<string, unknown>) => createSourceOn(s, body);

async function issue(headers: Record<string, string>, json: unknown): Promise<Response> {
  return s.request("POST", "/v1/tokens", { json, headers });
}

const issueOk = (headers: Record<string, string>, json: unknown) => issueOn(s, json, headers);

const introspect = (token: string) => introspectOn(s, token);

let portal: CreatedSource;
let other: CreatedSource;
let defaultClientId: string;

before(async () => {
  s = await openTestServer(NO_THROTTLE);
  admin = { authorization: `Bearer ${s.adminKey}` };
  portal = await createSource({ code: "portal", validForSeconds: 120, redirectUrls: ["https://app.example/welcome", "https://app.example/other"] });
  other = await createSource({ code: "other", validForSeconds: 600 });
  const list = await s.request("GET", "/v1/sources", { headers: admin });
  const items = ((await list.json()) as { items: { code: string; clientId: string }[] }).items;
  defaultClientId = items.find((i) => i.code === "default")!.clientId;
});

after(() => s?.close());

describe("who issues for which source", () => {
  test("source Basic credentials issue for that source: 201 {token,tokenRefNo,expiresAt,loginUrl}", async () => {
    const r = await issue(basic(portal), { user: { email: "first@example.com" } });
    assert.equal(r.status, 201);
    assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
    const body = (await r.json()) as Issued;
    assert.deepEqual(Object.keys(body).sort(), ["expiresAt", "loginUrl", "token", "tokenRefNo"]);
    assert.match(body.token, /^[A-Za-z0-9_-]{43}$/, "a nonce is 32 random bytes as base64url");
    assert.match(body.tokenRefNo, /^\d+$/, "tokenRefNo is digits only");
    assert.equal(new Date(body.expiresAt).toISOString(), body.expiresAt, "expiresAt is an RFC 3339 time in UTC");
    assert.equal(body.loginUrl, `http://ssod.test/v1/login?token=${encodeURIComponent(body.token)}`);
    const info = await introspect(body.token);
    assert.equal(info.active, true);
    assert.equal(info.source, "portal");
    assert.equal(info.client_id, portal.clientId);
    assert.equal(info.jti, body.tokenRefNo);
  });

  test("tokenRefNo differs between tokens and is digits only every time", async () => {
    const refs = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const t = await issueOk(admin, { user: { externalId: `ext-${i}` } });
      assert.match(t.tokenRefNo, /^\d+$/);
      refs.add(t.tokenRefNo);
    }
    assert.equal(refs.size, 20);
  });

  test("nonces are 43 base64url characters and never repeat, across many concurrent issues", async () => {
    // 300 tokens draw ~11 KiB of randomness: the 4 KiB pool (src/core/crypto.ts) refills mid-way.
    const issued = await Promise.all(Array.from({ length: 300 }, (_, i) => issueOk(admin, { user: { externalId: `many-${i}` } })));
    for (const t of issued) assert.match(t.token, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(new Set(issued.map((t) => t.token)).size, 300);
    assert.equal(new Set(issued.map((t) => t.tokenRefNo)).size, 300);
  });

  test("an admin key without sourceCode issues for the default source", async () => {
    const t = await issueOk(admin, { user: { email: "dflt@example.com" } });
    const info = await introspect(t.token);
    assert.equal(info.source, "default");
    assert.equal(info.client_id, defaultClientId);
    // The default source's tokens live 60 seconds.
    assert.equal((info.exp as number) - (info.iat as number), 60);
  });

  test("an admin key with sourceCode issues for the named source", async () => {
    const t = await issueOk(admin, { user: { email: "named@example.com" }, sourceCode: "other" });
    const info = await introspect(t.token);
    assert.equal(info.source, "other");
    assert.equal(info.client_id, other.clientId);
    assert.equal((info.exp as number) - (info.iat as number), 600);
  });

  test("an admin key with an unknown sourceCode → 400 problem", async () => {
    const r = await issue(admin, { user: { email: "x@example.com" }, sourceCode: "no-such-source" });
    assert.equal(r.status, 400);
    const p = await problemOf(r);
    assert.equal(p.type, "urn:ssod:problem:invalid-request");
    assert.equal(p.title, "Invalid request");
    assert.equal(p.status, 400);
    assert.deepEqual(
      p.errors?.map((e) => e.pointer),
      ["/sourceCode"],
    );
  });

  test("a source's credentials with another source's code → 403 problem; with its own code → 201", async () => {
    const r = await issue(basic(portal), { user: { email: "x@example.com" }, sourceCode: "other" });
    assert.equal(r.status, 403);
    const p = await problemOf(r);
    assert.equal(p.type, "urn:ssod:problem:forbidden");
    assert.equal(p.title, "Forbidden");
    assert.equal(p.status, 403);
    const r2 = await issue(basic(portal), { user: { email: "x@example.com" }, sourceCode: "default" });
    assert.equal(r2.status, 403, "not even the default source");
    const own = await issueOk(basic(portal), { user: { email: "x@example.com" }, sourceCode: "portal" });
    assert.equal((await introspect(own.token)).source, "portal");
  });

  test("no credentials → 401 with WWW-Authenticate; a wrong client secret → 401; a wrong admin key → 401", async () => {
    const none = await issue({}, { user: { email: "x@example.com" } });
    assert.equal(none.status, 401);
    assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="ssod", Basic realm="ssod"');
    assert.equal((await problemOf(none)).type, "urn:ssod:problem:unauthorized");
    const wrongSecret = await issue(basic({ clientId: portal.clientId, clientSecret: `${portal.clientSecret}x` }), { user: { email: "x@example.com" } });
    assert.equal(wrongSecret.status, 401);
    assert.equal((await problemOf(wrongSecret)).title, "Unauthorized");
    const wrongKey = await issue({ authorization: `Bearer ssod_ak_${"A".repeat(43)}` }, { user: { email: "x@example.com" } });
    assert.equal(wrongKey.status, 401);
    assert.equal((await problemOf(wrongKey)).status, 401);
  });

  test("a body that is not JSON → 415; an invalid body → 400 naming the field", async () => {
    const form = await s.request("POST", "/v1/tokens", { form: { user: "x" }, headers: admin });
    assert.equal(form.status, 415);
    assert.equal((await problemOf(form)).type, "urn:ssod:problem:unsupported-media-type");
    const noUser = await issue(admin, { user: {} });
    assert.equal(noUser.status, 400);
    assert.equal((await problemOf(noUser)).type, "urn:ssod:problem:invalid-request");
    const badEmail = await issue(admin, { user: { email: "not-an-email" } });
    assert.equal(badEmail.status, 400);
    assert.deepEqual(
      (await problemOf(badEmail)).errors?.map((e) => e.pointer),
      ["/user/email"],
    );
    const badFormat = await issue(admin, { user: { email: "a@example.com" }, format: "saml" });
    assert.equal(badFormat.status, 400);
    const unknownField = await issue(admin, { user: { email: "a@example.com" }, surprise: 1 });
    assert.equal(unknownField.status, 400);
    const zeroTtl = await issue(admin, { user: { email: "a@example.com" }, ttlSeconds: 0 });
    assert.equal(zeroTtl.status, 400);
  });

  test("only user.externalId is enough", async () => {
    const t = await issueOk(admin, { user: { externalId: "CII-1" } });
    const info = await introspect(t.token);
    assert.equal(info.sub, "CII-1");
    assert.equal(info.external_id, "CII-1");
  });
});

describe("lifetimes", () => {
  test("without ttlSeconds a token lives exactly the source's validForSeconds", async () => {
    const t0 = Date.now();
    const t = await issueOk(basic(portal), { user: { email: "life@example.com" } });
    const t1 = Date.now();
    const exp = Date.parse(t.expiresAt);
    assert.ok(exp >= t0 + 120_000 && exp <= t1 + 120_000, `${t.expiresAt} not 120 s after issue`);
  });

  test("a shorter ttlSeconds is honoured", async () => {
    const t0 = Date.now();
    const t = await issueOk(basic(portal), { user: { email: "life@example.com" }, ttlSeconds: 30 });
    const t1 = Date.now();
    const exp = Date.parse(t.expiresAt);
    assert.ok(exp >= t0 + 30_000 && exp <= t1 + 30_000, `${t.expiresAt} not 30 s after issue`);
    const info = await introspect(t.token);
    assert.equal((info.exp as number) - (info.iat as number), 30);
  });

  test("a larger ttlSeconds is capped at validForSeconds", async () => {
    const t0 = Date.now();
    const t = await issueOk(basic(portal), { user: { email: "life@example.com" }, ttlSeconds: 100_000 });
    const t1 = Date.now();
    const exp = Date.parse(t.expiresAt);
    assert.ok(exp <= t1 + 120_000, `${t.expiresAt} is later than validForSeconds allows`);
    assert.ok(exp >= t0 + 120_000, `${t.expiresAt} is earlier than the cap`);
    const info = await introspect(t.token);
    assert.equal((info.exp as number) - (info.iat as number), 120);
  });

  test("the cap holds for the jwt format too (exp - iat = validForSeconds)", async () => {
    const t = await issueOk(basic(portal), { user: { email: "life@example.com" }, ttlSeconds: 365 * 24 * 3600, format: "jwt" });
    const [, payload] = t.token.split(".");
    const claims = JSON.parse(Buffer.from(payload!, "base64url").toString()) as { iat: number; exp: number };
    assert.equal(claims.exp - claims.iat, 120);
    assert.equal(claims.exp, Math.floor(Date.parse(t.expiresAt) / 1000));
  });

  test("an expired source issues nothing, whoever asks (403 problem), and no token.issue is audited for it", async () => {
    const expired = await createSource({ code: "expired-src", expiresAt: "2020-01-01T00:00:00Z" });
    const bySource = await issue(basic(expired), { user: { email: "late@example.com" } });
    assert.equal(bySource.status, 403);
    const p = await problemOf(bySource);
    assert.equal(p.type, "urn:ssod:problem:source-unavailable");
    assert.equal(p.title, "Source unavailable");
    assert.equal(p.status, 403);
    const byAdmin = await issue(admin, { user: { email: "late@example.com" }, sourceCode: "expired-src" });
    assert.equal(byAdmin.status, 403);
    assert.equal((await problemOf(byAdmin)).type, "urn:ssod:problem:source-unavailable");
    const jwt = await issue(admin, { user: { email: "late@example.com" }, sourceCode: "expired-src", format: "jwt" });
    assert.equal(jwt.status, 403);
    const audit = await s.request("GET", "/v1/audit?action=token.issue&source=expired-src", { headers: admin });
    assert.deepEqual(await audit.json(), { items: [], nextCursor: null });
  });

  test("a source whose expiresAt is in the future still issues", async () => {
    const later = await createSource({ code: "expires-later", expiresAt: new Date(Date.now() + 3_600_000).toISOString() });
    await issueOk(basic(later), { user: { email: "ok@example.com" } });
  });
});

describe("redirect URLs", () => {
  const ALLOWED = "https://app.example/welcome";
  const ALLOWED_2 = "https://app.example:8443/cb?x=1";

  test("a redirectUrl on the allowlist is accepted", async () => {
    await issueOk(basic(portal), { user: { email: "r@example.com" }, redirectUrl: "https://app.example/welcome" });
    await issueOk(basic(portal), { user: { email: "r@example.com" }, redirectUrl: "https://app.example/other" });
  });

  // Near-misses of an allow-listed URL: each a URL, none the one allowed.
  const NOT_ALLOWED = [
    "http://app.example/welcome", // scheme
    "https://app.example.evil/welcome", // host suffix
    "https://evil.example/welcome", // host
    "https://app.example./welcome", // trailing dot host
    "https://аpp.example/welcome", // Cyrillic а (a homograph)
    "https://app.example:8443/welcome", // port
    "https://app.example:444/welcome",
    "https://app.example/welcome/", // trailing slash
    "https://app.example/Welcome", // path case
    "https://app.example/welcome2",
    "https://app.example/welcom",
    "https://app.example/welcome/..%2F..%2Fevil",
    "https://app.example/welcome?next=https://evil.example/",
    "https://app.example/welcome#@evil.example",
    "https://user@app.example/welcome", // userinfo
    "https://app.example@evil.example/welcome",
    "https://evil.example@app.example/welcome",
    "https://app.example%2eevil.example/welcome", // encoded dot in host
    "https://app.example/%77elcome", // encoded path
    "https://app.example/welcome%2F",
    "https://app.example\\@evil.example/welcome", // backslash
    "https://app.example:8443/cb?x=2", // query
    "https://app.example:8443/cb",
    "https://app.example:8443/cb?x=1&y=2",
    "https://app.example:8443/cb?X=1",
    "https://app.example/welcome/more",
    "https://app.example.evil.example/welcome",
  ];
  // Not an absolute http(s) URL at all.
  const NOT_URLS = [
    "https://app.example%40evil.example/welcome", // an encoded @ in the host
    "//evil.example/welcome", // scheme-relative
    "/welcome",
    "javascript:alert(1)",
    "javascript:alert(1)//https://app.example/welcome",
    "data:text/html,<script>alert(1)</script>",
    "ftp://app.example/welcome",
    "",
  ];

  test(`refused at issue, by an admin key and by the source itself: ${NOT_ALLOWED.length} near-misses of the allowlist → 400 redirect-not-allowed, ${NOT_URLS.length} non-http(s) URLs → 400 invalid-request, each pointing at /redirectUrl`, async () => {
    const app = await createSource({ code: "app", validForSeconds: 600, redirectUrls: [ALLOWED, ALLOWED_2] });
    const wrong: string[] = [];
    const expected = [
      [NOT_ALLOWED, "urn:ssod:problem:redirect-not-allowed", "Redirect URL not allowed"],
      [NOT_URLS, "urn:ssod:problem:invalid-request", "Invalid request"],
    ] as const;
    for (const [urls, type, title] of expected) {
      for (const url of urls) {
        for (const [who, headers, sourceCode] of [
          ["admin key", admin, { sourceCode: "app" }],
          ["source", basic(app), {}],
        ] as const) {
          const r = await issue(headers, { user: { email: "r@example.com" }, redirectUrl: url, ...sourceCode });
          const p = r.status === 400 ? await problemOf(r) : undefined;
          const got = `${r.status} ${p?.type} ${p?.title} ${JSON.stringify(p?.errors?.map((e) => e.pointer))}`;
          if (got !== `400 ${type} ${title} ["/redirectUrl"]`) wrong.push(`${JSON.stringify(url)} by the ${who} → ${got}`);
        }
      }
    }
    assert.deepEqual(wrong, [], "redirect URLs off the allowlist were not refused as they should be");
  });

  test("never for a URL on another source's list", async () => {
    const otherList = await createSource({ code: "other-list", validForSeconds: 60, redirectUrls: ["https://other.example/in"] });
    const r = await issue(basic(otherList), { user: { email: "x@example.com" }, redirectUrl: ALLOWED });
    assert.equal(r.status, 400);
    assert.equal((await problemOf(r)).type, "urn:ssod:problem:redirect-not-allowed");
  });

  test("a source without redirect URLs refuses every redirectUrl", async () => {
    const r = await issue(basic(other), { user: { email: "r@example.com" }, redirectUrl: "https://app.example/welcome" });
    assert.equal(r.status, 400);
    assert.equal((await problemOf(r)).type, "urn:ssod:problem:redirect-not-allowed");
  });
});

describe('format "jwt"', () => {
  test("GET /.well-known/jwks.json publishes EdDSA public keys with kids (beside OpenID Connect's RS256)", async () => {
    const r = await s.request("GET", "/.well-known/jwks.json");
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
    const jwks = (await r.json()) as JSONWebKeySet;
    assert.ok(jwks.keys.some((k) => k.alg === "RS256" && !("d" in k)));
    const eddsa = jwks.keys.filter((k) => k.alg === "EdDSA");
    assert.ok(eddsa.length >= 1);
    for (const key of eddsa) {
      assert.deepEqual(Object.keys(key).sort(), ["alg", "crv", "kid", "kty", "use", "x"]);
      assert.equal(key.kty, "OKP");
      assert.equal(key.crv, "Ed25519");
      assert.equal(key.alg, "EdDSA");
      assert.equal(key.use, "sig");
      assert.ok(!("d" in key), "never the private half");
    }
  });

  test("a jwt verifies against the JWKS: EdDSA, kid, iss = public URL, aud = source code, jti = tokenRefNo", async () => {
    const t = await issueOk(basic(portal), {
      user: { email: "Jay@Example.com", displayName: "Jay", externalId: "J-1", orgId: "acme", groups: ["a", "b"] },
      section: "portal",
      lobId: "L1",
      functionality: "F",
      format: "jwt",
    });
    assert.match(t.token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    assert.equal(t.loginUrl, `http://ssod.test/v1/login?token=${encodeURIComponent(t.token)}`);
    const jwks = (await (await s.request("GET", "/.well-known/jwks.json")).json()) as JSONWebKeySet;
    const header = decodeProtectedHeader(t.token);
    assert.equal(header.alg, "EdDSA");
    assert.equal(header.typ, "JWT");
    assert.ok(
      jwks.keys.some((k) => k.kid === header.kid),
      "the kid is published",
    );
    const { payload } = await jwtVerify(t.token, createLocalJWKSet(jwks), { issuer: "http://ssod.test", audience: "portal", algorithms: ["EdDSA"] });
    assert.equal(payload.jti, t.tokenRefNo);
    assert.equal(payload.iss, "http://ssod.test");
    assert.equal(payload.aud, "portal");
    assert.equal(payload.sub, "Jay@Example.com");
    assert.equal(payload.exp, Math.floor(Date.parse(t.expiresAt) / 1000));
    assert.equal(payload.exp! - payload.iat!, 120);
    assert.deepEqual(
      {
        email: payload.email,
        name: payload.name,
        external_id: payload.external_id,
        org_id: payload.org_id,
        groups: payload.groups,
        section: payload.section,
        lob_id: payload.lob_id,
        functionality: payload.functionality,
      },
      { email: "Jay@Example.com", name: "Jay", external_id: "J-1", org_id: "acme", groups: ["a", "b"], section: "portal", lob_id: "L1", functionality: "F" },
    );
  });

  test("a jwt for another source carries that source's code as aud, and does not verify for another audience", async () => {
    const t = await issueOk(admin, { user: { email: "aud@example.com" }, format: "jwt", sourceCode: "other" });
    const jwks = createLocalJWKSet((await (await s.request("GET", "/.well-known/jwks.json")).json()) as JSONWebKeySet);
    const { payload } = await jwtVerify(t.token, jwks, { issuer: "http://ssod.test", audience: "other" });
    assert.equal(payload.aud, "other");
    await assert.rejects(jwtVerify(t.token, jwks, { issuer: "http://ssod.test", audience: "portal" }), { code: "ERR_JWT_CLAIM_VALIDATION_FAILED" });
  });

  test("a tampered jwt does not verify", async () => {
    const t = await issueOk(admin, { user: { email: "tamper@example.com" }, format: "jwt" });
    const [h, p, sig] = t.token.split(".");
    const claims = JSON.parse(Buffer.from(p!, "base64url").toString()) as Record<string, unknown>;
    claims.email = "evil@example.com";
    const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${sig}`;
    const jwks = createLocalJWKSet((await (await s.request("GET", "/.well-known/jwks.json")).json()) as JSONWebKeySet);
    await assert.rejects(jwtVerify(forged, jwks), { code: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED" });
    // ... and ssod does not redeem it either.
    const r = await s.request("POST", "/v1/tokens/redeem", { json: { token: forged }, headers: admin });
    assert.equal(r.status, 400);
  });

  test("a jwt is redeemable once through /v1/tokens/redeem, like a nonce", async () => {
    const t = await issueOk(basic(portal), { user: { email: "jwt-redeem@example.com" }, format: "jwt" });
    const first = await s.request("POST", "/v1/tokens/redeem", { json: { token: t.token }, headers: basic(other) });
    assert.equal(first.status, 200);
    const body = (await first.json()) as { tokenRefNo: string; source: string };
    assert.equal(body.tokenRefNo, t.tokenRefNo);
    assert.equal(body.source, "portal");
    const second = await s.request("POST", "/v1/tokens/redeem", { json: { token: t.token }, headers: basic(other) });
    assert.equal(second.status, 400);
  });

  test("introspection names the format", async () => {
    const jwt = await issueOk(admin, { user: { email: "fmt@example.com" }, format: "jwt" });
    const nonce = await issueOk(admin, { user: { email: "fmt@example.com" }, format: "nonce" });
    assert.equal((await introspect(jwt.token)).token_type, "jwt");
    assert.equal((await introspect(nonce.token)).token_type, "nonce");
  });
});
