// The line-of-business token API (seed 001, SPEC §2.2): POST /GenerateSSOToken,
// every row of the seed's status table in SPEC's order of checks, and the
// 200 answer's TokenNo checked with the signing secret. The caller JWT is
// verified against a real JWKS-serving identity provider on loopback (RS256,
// kid; rotated to an unknown kid), or as HS256 with the source's client secret
// when it has none, and every classic attack on it is a 401 in seed 001's
// {"ReturnCode":"0",…} shape: alg none, HS/RS confusion (HS256 signed with the
// identity provider's public key), expired, nbf in the future, wrong issuer,
// wrong audience, a tampered payload, a stranger's key under the real kid, an
// unknown kid (a flood of them must not hammer the JWKS endpoint), embedded
// jwk / jku headers. Clock skew: 10 s past expiry passes with the default 30 s
// and fails with SSOD_CLOCK_SKEW=0.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { decodeProtectedHeader, exportJWK, exportSPKI, type JWTPayload, jwtVerify } from "jose";
import {
  LOB_BODY as BODY,
  callerJwt,
  lobHeaders as headersFor,
  type IdentityProvider,
  type IdpKey,
  rsaKey,
  signWith,
  startIdentityProvider,
} from "./helpers/identity-provider";
import { NO_THROTTLE, openTestServer, type TestServer } from "./helpers/runtime";
import { type CreatedSource, createSource } from "./helpers/sources";

const ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TEST";
const SCOPE = "sso/generate";
// The seed's sample client id.
const IDP_CLIENT_ID = "1RrLMyLrZGA=";
const AUDIENCE = "lob-audience";
const enc = new TextEncoder();

// ---- the identity provider: one key set per JWKS path, every fetch counted ----

/** The required-scope source's keys: rotated at the very end. */
const MAIN = "/.well-known/jwks.json";
/** The audience source's keys: the one every attack below is tried against. */
const AUD = "/aud/jwks.json";
/** A source only the flood of unknown kids uses, so its fetches are the flood's own. */
const FLOOD = "/flood/jwks.json";
/** The same provider for the server with no clock skew. */
const STRICT = "/strict/jwks.json";
/** Never published: a jku header points here. */
const ATTACKER = "/attacker/jwks.json";

let idp: IdentityProvider;
let realKey: IdpKey; // published everywhere at first
let current: IdpKey; // what MAIN publishes
let stranger: IdpKey; // an RSA key the identity provider never published, under the real kid

const now = () => Math.floor(Date.now() / 1000);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** An identity provider token: RS256 under the key's kid, iss ISSUER, issued now, expiring in five minutes; every part overridable (null leaves exp out). */
function idpJwt(
  claims: JWTPayload,
  options: { key?: IdpKey | Uint8Array; header?: Record<string, unknown>; iss?: string; exp?: number | null; nbf?: number } = {},
): Promise<string> {
  const all: JWTPayload = { iss: options.iss ?? ISSUER, iat: now(), ...claims };
  if (options.exp !== null) all.exp = options.exp ?? now() + 300;
  if (options.nbf !== undefined) all.nbf = options.nbf;
  return signWith(options.key ?? current, all, { typ: "JWT", ...options.header });
}

/** The required-scope source's claims. */
const goodClaims = (extra: JWTPayload = {}): JWTPayload => ({ client_id: IDP_CLIENT_ID, token_use: "access", scope: `openid ${SCOPE}`, ...extra });
/** The audience source's token, as an attacker would bend it: claims, header, key, issuer, audience (null: none), expiry (null: none), nbf. */
function audJwt(
  options: {
    claims?: JWTPayload;
    header?: Record<string, unknown>;
    key?: IdpKey | Uint8Array;
    alg?: string;
    iss?: string;
    aud?: string | null;
    exp?: number | null;
    nbf?: number;
    clientId?: string;
  } = {},
) {
  const claims: JWTPayload = { client_id: options.clientId ?? audSrc.clientId, token_use: "access", ...options.claims };
  if (options.aud !== null) claims.aud = options.aud ?? AUDIENCE;
  return idpJwt(claims, {
    key: options.key ?? realKey,
    header: { kid: realKey.kid, ...(options.alg ? { alg: options.alg } : {}), ...options.header },
    iss: options.iss,
    exp: options.exp,
    nbf: options.nbf,
  });
}

// ---- ssod ----

let s: TestServer;
let proxied: TestServer; // SSOD_TRUST_PROXY=true
let strict: TestServer; // SSOD_CLOCK_SKEW=0
let admin: Record<string, string>;

function generate(headers: Record<string, string>, body: unknown = BODY, options: { ip?: string; server?: TestServer } = {}) {
  return (options.server ?? s).request("POST", "/GenerateSSOToken", { body: typeof body === "string" ? body : JSON.stringify(body), headers, ip: options.ip });
}

/** Seed 001's error answer: {"ReturnCode":"0","ReturnMessage":…}. */
async function assertLobError(r: Response, status: number, message?: RegExp): Promise<string> {
  const text = await r.text();
  assert.equal(r.status, status, text);
  assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
  const body = JSON.parse(text) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body), ["ReturnCode", "ReturnMessage"], text);
  assert.equal(body.ReturnCode, "0");
  assert.equal(typeof body.ReturnMessage, "string");
  assert.ok((body.ReturnMessage as string).length > 0);
  if (message) assert.match(body.ReturnMessage as string, message);
  return body.ReturnMessage as string;
}

interface Generated {
  ReturnCode: "1";
  ReturnMessage: string;
  TokenRefNo: string;
  TokenNo: string;
}

async function generatedOk(r: Response): Promise<Generated> {
  const text = await r.text();
  assert.equal(r.status, 200, text);
  assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
  const body = JSON.parse(text) as Generated;
  assert.deepEqual(Object.keys(body), ["ReturnCode", "ReturnMessage", "TokenRefNo", "TokenNo"]);
  assert.equal(body.ReturnCode, "1");
  assert.equal(body.ReturnMessage, "Token Generated successfully");
  assert.match(body.TokenRefNo, /^\d+$/);
  return body;
}

let withIdp: CreatedSource; // identity provider, required scope
let audSrc: CreatedSource; // identity provider, audience
let floodSrc: CreatedSource;
let hs: CreatedSource; // no identity provider: HS256 with the client secret
let ip4: CreatedSource;
let ip6: CreatedSource;
let proxiedIp4: CreatedSource;
let unreachableIdp: CreatedSource;
let strictAud: CreatedSource;
let strictHs: CreatedSource;

before(async () => {
  realKey = await rsaKey("key-2024-01");
  current = realKey;
  stranger = await rsaKey("key-2024-01");
  idp = await startIdentityProvider();
  for (const path of [MAIN, AUD, FLOOD, STRICT]) idp.publish(path, [realKey]);
  const provider = (path: string, extra: Record<string, string>) => ({ issuer: ISSUER, jwksUrl: idp.url(path), ...extra });

  s = await openTestServer(NO_THROTTLE);
  admin = { authorization: `Bearer ${s.adminKey}` };
  withIdp = await createSource(s, {
    code: "lob-idp",
    clientId: IDP_CLIENT_ID,
    validForSeconds: 3600,
    identityProvider: provider(MAIN, { requiredScope: SCOPE }),
  });
  audSrc = await createSource(s, { code: "lob-aud", clientId: "aud-client", identityProvider: provider(AUD, { audience: AUDIENCE }) });
  floodSrc = await createSource(s, { code: "lob-flood", clientId: "flood-client", identityProvider: provider(FLOOD, { audience: AUDIENCE }) });
  hs = await createSource(s, { code: "lob-hs", validForSeconds: 90 });
  ip4 = await createSource(s, { code: "lob-ip4", allowedIps: ["10.1.0.0/16", "192.0.2.7"] });
  ip6 = await createSource(s, { code: "lob-ip6", allowedIps: ["2001:db8:abcd::/48"] });
  // Nothing listens on port 9 of loopback.
  unreachableIdp = await createSource(s, { code: "lob-unreachable", identityProvider: { issuer: ISSUER, jwksUrl: "http://127.0.0.1:9/jwks.json" } });
  proxied = await openTestServer({ ...NO_THROTTLE, SSOD_TRUST_PROXY: "true" });
  proxiedIp4 = await createSource(proxied, { code: "lob-ip4", allowedIps: ["10.1.0.0/16"] });
  strict = await openTestServer({ ...NO_THROTTLE, SSOD_CLOCK_SKEW: "0" });
  strictAud = await createSource(strict, { code: "lob-aud", clientId: "aud-client", identityProvider: provider(STRICT, { audience: AUDIENCE }) });
  strictHs = await createSource(strict, { code: "lob-hs" });

  // The first good call: ssod fetches the identity provider's keys now.
  await generatedOk(await generate(headersFor(IDP_CLIENT_ID, await idpJwt(goodClaims()))));
  assert.equal(idp.fetched(MAIN), 1);
});

after(async () => {
  await s?.close();
  await proxied?.close();
  await strict?.close();
  await idp?.close();
});

describe("the 200 answer (seed 001's sample)", () => {
  test("with an identity provider: exactly {ReturnCode, ReturnMessage, TokenRefNo, TokenNo}", async () => {
    const body = await generatedOk(await generate(headersFor(IDP_CLIENT_ID, await idpJwt(goodClaims()))));
    const { payload } = await jwtVerify(body.TokenNo, enc.encode(withIdp.signingSecret), { algorithms: ["HS256"] });
    assert.equal(payload.jti, body.TokenRefNo);
    assert.equal(payload.exp! - payload.iat!, 3600);
  });

  test("the TokenNo is HS256 with the source's signing secret and carries the seed's claims, exp = iat + validForSeconds, jti = TokenRefNo", async () => {
    const before = Date.now();
    const body = await generatedOk(await generate(headersFor(hs.clientId, await callerJwt(hs))));
    const after = Date.now();
    assert.deepEqual(decodeProtectedHeader(body.TokenNo), { alg: "HS256", typ: "JWT" });
    const { payload } = await jwtVerify(body.TokenNo, enc.encode(hs.signingSecret), { algorithms: ["HS256"] });
    assert.deepEqual(Object.keys(payload), ["CIINo", "LOBId", "Functionality", "Date", "iat", "exp", "jti"]);
    assert.equal(payload.CIINo, "10001004");
    assert.equal(payload.LOBId, "01");
    assert.equal(payload.Functionality, "D");
    const date = payload.Date as string;
    assert.equal(new Date(date).toISOString(), date, "Date is an ISO time");
    assert.ok(Date.parse(date) >= before && Date.parse(date) <= after);
    assert.equal(payload.iat, Math.floor(Date.parse(date) / 1000));
    assert.equal(payload.exp, payload.iat! + 90);
    assert.equal(payload.jti, body.TokenRefNo);
    // Not signed with the client secret.
    await assert.rejects(jwtVerify(body.TokenNo, enc.encode(hs.clientSecret), { algorithms: ["HS256"] }));
  });

  test("the TokenNo is redeemable once through /v1/tokens/redeem, naming the user by CIINo", async () => {
    const body = await generatedOk(await generate(headersFor(hs.clientId, await callerJwt(hs)), { CIINo: "CII-REDEEM", LOBId: "07", Functionality: "Claims" }));
    const r = await s.request("POST", "/v1/tokens/redeem", { json: { token: body.TokenNo }, headers: admin });
    assert.equal(r.status, 200);
    const redeemed = (await r.json()) as { tokenRefNo: string; source: string; claims: unknown; created: boolean; user: { externalId: string; email: null } };
    assert.equal(redeemed.tokenRefNo, body.TokenRefNo);
    assert.equal(redeemed.source, "lob-hs");
    assert.deepEqual(redeemed.claims, { externalId: "CII-REDEEM", lobId: "07", functionality: "Claims" });
    assert.equal(redeemed.created, true);
    assert.equal(redeemed.user.externalId, "CII-REDEEM");
    assert.equal(redeemed.user.email, null);
    const again = await s.request("POST", "/v1/tokens/redeem", { json: { token: body.TokenNo }, headers: admin });
    assert.equal(again.status, 400);
    assert.deepEqual(await again.json(), { type: "urn:ssod:problem:invalid-token", title: "Invalid or expired token", status: 400 });
    // The same CIINo later is the same user.
    const next = await generatedOk(await generate(headersFor(hs.clientId, await callerJwt(hs)), { CIINo: "CII-REDEEM", LOBId: "08", Functionality: "X" }));
    const r2 = await s.request("POST", "/v1/tokens/redeem", { json: { token: next.TokenNo }, headers: admin });
    assert.equal(((await r2.json()) as { created: boolean }).created, false);
  });

  test("Authorization with or without 'Bearer ', Content-Type with a charset, the body's strings trimmed", async () => {
    const token = await callerJwt(hs);
    await generatedOk(await generate(headersFor(hs.clientId, `Bearer ${token}`)));
    await generatedOk(await generate(headersFor(hs.clientId, token, { "content-type": "application/json; charset=utf-8" })));
    const body = await generatedOk(await generate(headersFor(hs.clientId, token), { CIINo: " 42 ", LOBId: "01", Functionality: "D" }));
    const { payload } = await jwtVerify(body.TokenNo, enc.encode(hs.signingSecret));
    assert.equal(payload.CIINo, "42");
  });

  test("the introspected token has the source's lifetime and the lob claims", async () => {
    const body = await generatedOk(await generate(headersFor(hs.clientId, await callerJwt(hs))));
    const r = await s.request("POST", "/v1/tokens/introspect", { json: { token: body.TokenNo }, headers: admin });
    const info = (await r.json()) as Record<string, unknown>;
    assert.equal(info.active, true);
    assert.equal(info.token_type, "lob-jwt");
    assert.equal(info.source, "lob-hs");
    assert.equal(info.jti, body.TokenRefNo);
    assert.equal(info.external_id, "10001004");
    assert.equal(info.lob_id, "01");
    assert.equal(info.functionality, "D");
    assert.equal((info.exp as number) - (info.iat as number), 90);
  });
});

describe("400: headers (checked first)", () => {
  test("missing x-lob-client-id", async () => {
    await assertLobError(await generate(headersFor(hs.clientId, await callerJwt(hs), { "x-lob-client-id": undefined })), 400, /x-lob-client-id/);
    await assertLobError(await generate(headersFor(hs.clientId, await callerJwt(hs), { "x-lob-client-id": "   " })), 400, /x-lob-client-id/);
  });

  test("missing x-api-version", async () => {
    await assertLobError(await generate(headersFor(hs.clientId, await callerJwt(hs), { "x-api-version": undefined })), 400, /x-api-version/);
  });

  test("missing or non-JSON Content-Type", async () => {
    await assertLobError(await generate(headersFor(hs.clientId, await callerJwt(hs), { "content-type": undefined })), 400, /Content-Type/);
    await assertLobError(await generate(headersFor(hs.clientId, await callerJwt(hs), { "content-type": "text/plain" })), 400, /Content-Type/);
    await assertLobError(
      await generate(headersFor(hs.clientId, await callerJwt(hs), { "content-type": "application/x-www-form-urlencoded" })),
      400,
      /Content-Type/,
    );
  });

  test("an unsupported x-api-version (only 1.0.0)", async () => {
    for (const version of ["2.0.0", "1.0", "1.0.1", "v1.0.0"]) {
      await assertLobError(await generate(headersFor(hs.clientId, await callerJwt(hs), { "x-api-version": version })), 400, /1\.0\.0/);
    }
  });

  test("header problems come before an unknown client id, a refused IP and a bad token", async () => {
    await assertLobError(await generate(headersFor("no-such-client", undefined, { "x-api-version": "9" })), 400);
    await assertLobError(await generate(headersFor(ip4.clientId, undefined, { "content-type": undefined }), BODY, { ip: "203.0.113.9" }), 400);
    await assertLobError(await generate(headersFor(hs.clientId, "garbage", { "x-api-version": undefined })), 400);
  });
});

describe("403: unknown client id", () => {
  test("an x-lob-client-id no source has", async () => {
    await assertLobError(await generate(headersFor("no-such-client", await callerJwt(hs))), 403, /x-lob-client-id/);
    await assertLobError(await generate(headersFor("x".repeat(500), await callerJwt(hs))), 403);
  });

  test("comes before the IP and token checks", async () => {
    await assertLobError(await generate(headersFor("no-such-client"), BODY, { ip: "203.0.113.9" }), 403);
    await assertLobError(await generate(headersFor("no-such-client", "garbage"), { bad: true }), 403);
  });
});

describe("406: the caller's IP outside the source's allowlist", () => {
  test("IPv4 CIDR and single address", async () => {
    const token = await callerJwt(ip4);
    await generatedOk(await generate(headersFor(ip4.clientId, token), BODY, { ip: "10.1.2.3" }));
    await generatedOk(await generate(headersFor(ip4.clientId, token), BODY, { ip: "10.1.255.254" }));
    await generatedOk(await generate(headersFor(ip4.clientId, token), BODY, { ip: "192.0.2.7" }));
    await generatedOk(await generate(headersFor(ip4.clientId, token), BODY, { ip: "::ffff:10.1.9.9" }));
    await assertLobError(await generate(headersFor(ip4.clientId, token), BODY, { ip: "10.2.0.1" }), 406);
    await assertLobError(await generate(headersFor(ip4.clientId, token), BODY, { ip: "192.0.2.8" }), 406);
    await assertLobError(await generate(headersFor(ip4.clientId, token), BODY, { ip: "127.0.0.1" }), 406);
    await assertLobError(await generate(headersFor(ip4.clientId, token), BODY, { ip: "2001:db8:abcd::1" }), 406);
  });

  test("IPv6 CIDR", async () => {
    const token = await callerJwt(ip6);
    await generatedOk(await generate(headersFor(ip6.clientId, token), BODY, { ip: "2001:db8:abcd:12::5" }));
    await generatedOk(await generate(headersFor(ip6.clientId, token), BODY, { ip: "2001:0db8:abcd:ffff:ffff:ffff:ffff:ffff" }));
    await assertLobError(await generate(headersFor(ip6.clientId, token), BODY, { ip: "2001:db8:abce::1" }), 406);
    await assertLobError(await generate(headersFor(ip6.clientId, token), BODY, { ip: "::1" }), 406);
    await assertLobError(await generate(headersFor(ip6.clientId, token), BODY, { ip: "10.1.2.3" }), 406);
  });

  test("X-Forwarded-For is ignored without SSOD_TRUST_PROXY", async () => {
    const token = await callerJwt(ip4);
    await assertLobError(await generate(headersFor(ip4.clientId, token, { "x-forwarded-for": "10.1.2.3" }), BODY, { ip: "203.0.113.9" }), 406);
    // ... and cannot make an allowed peer look refused either.
    await generatedOk(await generate(headersFor(ip4.clientId, token, { "x-forwarded-for": "203.0.113.9" }), BODY, { ip: "10.1.2.3" }));
  });

  test("X-Forwarded-For is honoured with SSOD_TRUST_PROXY=true", async () => {
    const token = await callerJwt(proxiedIp4);
    const opts = (ip: string) => ({ ip, server: proxied });
    await generatedOk(await generate(headersFor(proxiedIp4.clientId, token, { "x-forwarded-for": "10.1.2.3" }), BODY, opts("203.0.113.9")));
    // The proxy appends the address it saw on the right: the leftmost is the client's own text, never trusted.
    await assertLobError(await generate(headersFor(proxiedIp4.clientId, token, { "x-forwarded-for": "10.1.2.3, 172.16.0.1" }), BODY, opts("203.0.113.9")), 406);
    await generatedOk(await generate(headersFor(proxiedIp4.clientId, token, { "x-forwarded-for": "172.16.0.1, 10.1.2.3" }), BODY, opts("203.0.113.9")));
    await assertLobError(await generate(headersFor(proxiedIp4.clientId, token, { "x-forwarded-for": "203.0.113.50" }), BODY, opts("10.1.2.3")), 406);
    // Without the header the peer counts.
    await generatedOk(await generate(headersFor(proxiedIp4.clientId, token), BODY, opts("10.1.2.3")));
    await assertLobError(await generate(headersFor(proxiedIp4.clientId, token), BODY, opts("203.0.113.9")), 406);
  });

  test("comes before the token check and the body check", async () => {
    await assertLobError(await generate(headersFor(ip4.clientId), BODY, { ip: "203.0.113.9" }), 406);
    await assertLobError(await generate(headersFor(ip4.clientId, "garbage"), {}, { ip: "203.0.113.9" }), 406);
  });
});

describe("401: the caller's JWT", () => {
  test("Authorization missing, blank, or 'Bearer' with nothing after it", async () => {
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID)), 401);
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, "")), 401);
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, "   ")), 401);
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, "Bearer ")), 401);
    await assertLobError(await generate(headersFor(hs.clientId)), 401);
  });

  test("malformed", async () => {
    for (const auth of ["not-a-jwt", "x.y.z", "Bearer a.b", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIzbXUzOXZ1cTJhYmdyMmhkaDlsZGNxMzUyOSI", "Basic dXNlcjpwYXNz"]) {
      await assertLobError(await generate(headersFor(IDP_CLIENT_ID, auth)), 401);
      await assertLobError(await generate(headersFor(hs.clientId, auth)), 401);
    }
  });

  test("a 401 comes before a bad body", async () => {
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID), {}), 401);
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, "x.y.z"), "not json"), 401);
  });

  test("a lifetime over 24 hours (exp − iat, or exp − now without iat), with an identity provider or HS256", async () => {
    const HOUR = 3600;
    const t = now();
    // `iat: undefined` leaves the claim out.
    const viaIdp = (iat: number | undefined, exp: number) => idpJwt(goodClaims({ iat }), { exp });
    const viaHs = (iat: number | undefined, exp: number) => callerJwt(hs, { claims: { iat }, exp });
    for (const [make, clientId] of [
      [viaIdp, IDP_CLIENT_ID],
      [viaHs, hs.clientId],
    ] as const) {
      await assertLobError(await generate(headersFor(clientId, await make(t, t + 25 * HOUR))), 401, /24 hours/);
      await assertLobError(await generate(headersFor(clientId, await make(undefined, t + 25 * HOUR))), 401, /24 hours/);
      // Issued 20 hours ago for 25: what is left (5 h) does not make it acceptable.
      await assertLobError(await generate(headersFor(clientId, await make(t - 20 * HOUR, t + 5 * HOUR))), 401, /24 hours/);
      // 24 hours is allowed.
      await generatedOk(await generate(headersFor(clientId, await make(t, t + 24 * HOUR))));
      await generatedOk(await generate(headersFor(clientId, await make(undefined, t + 23 * HOUR))));
    }
  });

  test("an iat in the future beyond the clock skew (30 s by default), with an identity provider or HS256", async () => {
    const t = now();
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, await idpJwt(goodClaims({ iat: t + 600 }), { exp: t + 1200 }))), 401, /future/);
    await assertLobError(await generate(headersFor(hs.clientId, await callerJwt(hs, { claims: { iat: t + 600 }, exp: t + 1200 }))), 401, /future/);
    // Within the skew: a caller whose clock runs a little fast.
    await generatedOk(await generate(headersFor(IDP_CLIENT_ID, await idpJwt(goodClaims({ iat: t + 10 }), { exp: t + 1200 }))));
    await generatedOk(await generate(headersFor(hs.clientId, await callerJwt(hs, { claims: { iat: t + 10 }, exp: t + 1200 }))));
  });
});

describe("caller JWTs against an identity provider (RS256, JWKS): every attack is a 401 in the ReturnCode shape", () => {
  test("the baseline: a well-formed token of the right issuer, audience and client is accepted (its keys fetched once)", async () => {
    await generatedOk(await generate(headersFor(audSrc.clientId, await audJwt())));
    assert.equal(idp.fetched(AUD), 1);
  });

  const unsigned = (header: Record<string, unknown>) => `${b64(header)}.${b64({ client_id: audSrc.clientId, iss: ISSUER, aud: AUDIENCE, exp: now() + 300 })}.`;
  const cases: [string, () => Promise<string>, RegExp?][] = [
    ["alg none, unsigned", async () => unsigned({ alg: "none", typ: "JWT" })],
    ["alg none with the real kid", async () => unsigned({ alg: "none", kid: realKey.kid })],
    ["alg NONE (case games)", async () => unsigned({ alg: "NONE", kid: realKey.kid })],
    [
      "HS256 signed with the identity provider's public key PEM (RS/HS confusion)",
      async () => audJwt({ alg: "HS256", key: enc.encode(await exportSPKI(realKey.publicKey)) }),
    ],
    ["HS256 signed with the public key's JWK n (RS/HS confusion)", async () => audJwt({ alg: "HS256", key: enc.encode(String(realKey.publicJwk.n)) })],
    ["HS256 signed with the source's own client secret (its provider signs RS256)", async () => audJwt({ alg: "HS256", key: enc.encode(audSrc.clientSecret) })],
    ["expired five minutes ago", async () => audJwt({ exp: now() - 300 }), /expired/],
    ["nbf five minutes in the future", async () => audJwt({ nbf: now() + 300 })],
    ["iat an hour in the future with nbf in the future", async () => audJwt({ nbf: now() + 3600, claims: { iat: now() + 3600 } })],
    ["no exp", async () => audJwt({ exp: null })],
    ["wrong issuer", async () => audJwt({ iss: "https://evil.example/pool-1" })],
    ["issuer with a trailing slash", async () => audJwt({ iss: `${ISSUER}/` })],
    ["wrong audience", async () => audJwt({ aud: "someone-else" })],
    ["no audience", async () => audJwt({ aud: null })],
    [
      "tampered payload (claims changed, signature kept)",
      async () => {
        const [h, , sig] = (await audJwt()).split(".");
        return `${h}.${b64({ client_id: audSrc.clientId, iss: ISSUER, aud: AUDIENCE, exp: now() + 99_999, admin: true })}.${sig}`;
      },
    ],
    [
      "tampered header (kid changed, signature kept)",
      async () => {
        const [, p, sig] = (await audJwt()).split(".");
        return `${b64({ alg: "RS256", kid: "other" })}.${p}.${sig}`;
      },
    ],
    ["signature stripped", async () => `${(await audJwt()).split(".").slice(0, 2).join(".")}.`],
    ["a stranger's key under the real kid", async () => audJwt({ key: stranger })],
    [
      "the stranger's public key embedded as a jwk header",
      async () => audJwt({ key: stranger, header: { kid: "embedded", jwk: await exportJWK(stranger.publicKey) } }),
    ],
    ["a jku header pointing at the attacker's key set", async () => audJwt({ key: stranger, header: { kid: "jku-kid", jku: idp.url(ATTACKER) } })],
    [
      "RS512 claimed over an RS256 signature",
      async () => {
        const [, p, sig] = (await audJwt()).split(".");
        return `${b64({ alg: "RS512", kid: realKey.kid })}.${p}.${sig}`;
      },
    ],
    ["garbage with three dots", async () => "a.b.c"],
    ["an empty header and payload", async () => ".."],
  ];
  for (const [label, make, message] of cases) {
    test(label, async () => {
      await assertLobError(await generate(headersFor(audSrc.clientId, `Bearer ${await make()}`)), 401, message);
    });
  }

  test("the attacker's jku was never fetched", () => {
    assert.equal(idp.fetched(ATTACKER), 0);
  });

  test("a flood of 50 unknown kids fetches the JWKS at most twice (cold), and at most twice more when warm", async (t) => {
    const unknown = (i: number) => audJwt({ key: stranger, header: { kid: `unknown-${i}` }, clientId: floodSrc.clientId });
    const cold = await Promise.all(Array.from({ length: 50 }, async (_, i) => generate(headersFor(floodSrc.clientId, await unknown(i)))));
    for (const r of cold) await assertLobError(r, 401);
    const coldFetches = idp.fetched(FLOOD);
    assert.ok(coldFetches >= 1 && coldFetches <= 2, `cold flood: ${coldFetches} JWKS fetches`);
    const before = idp.fetched(AUD);
    const warm = [];
    for (let i = 0; i < 50; i++) warm.push(await generate(headersFor(audSrc.clientId, await audJwt({ key: stranger, header: { kid: `warm-unknown-${i}` } }))));
    for (const r of warm) await assertLobError(r, 401);
    const warmFetches = idp.fetched(AUD) - before;
    assert.ok(warmFetches <= 2, `warm flood: ${warmFetches} JWKS fetches`);
    // The identity provider still works for a real token.
    await generatedOk(await generate(headersFor(audSrc.clientId, await audJwt())));
    t.diagnostic(`100 unknown-kid tokens → JWKS fetches: cold ${coldFetches}, warm ${warmFetches}`);
  });
});

describe("caller JWTs as HS256 with the client secret (no identity provider): every forgery is a 401", () => {
  const cases: [string, () => Promise<string>, RegExp?][] = [
    ["alg none", async () => `${b64({ alg: "none", typ: "JWT" })}.${b64({ client_id: hs.clientId, exp: now() + 300 })}.`],
    ["HS512 with the client secret", async () => callerJwt(hs, { alg: "HS512" })],
    ["HS384 with the client secret", async () => callerJwt(hs, { alg: "HS384" })],
    ["RS256 with some RSA key", async () => signWith(stranger, { client_id: hs.clientId, exp: now() + 300 }, { kid: undefined })],
    ["a wrong secret of the right length", async () => callerJwt(hs, { secret: hs.clientSecret.replace(/.$/, (c) => (c === "A" ? "B" : "A")) })],
    ["a wrong secret of another length", async () => callerJwt(hs, { secret: "short-secret-value-xxxxxxxxxxxxxx" })],
    ["the signing secret instead of the client secret", async () => callerJwt(hs, { secret: hs.signingSecret })],
    ["another source's client secret", async () => callerJwt(hs, { secret: ip4.clientSecret })],
    ["expired five minutes ago", async () => callerJwt(hs, { exp: now() - 300 }), /expired/],
    ["nbf five minutes in the future", async () => callerJwt(hs, { nbf: now() + 300 })],
    ["no exp", async () => callerJwt(hs, { exp: null })],
    [
      "tampered payload",
      async () => {
        const [h, , sig] = (await callerJwt(hs)).split(".");
        return `${h}.${b64({ client_id: hs.clientId, exp: now() + 99_999 })}.${sig}`;
      },
    ],
  ];
  for (const [label, make, message] of cases) {
    test(label, async () => {
      await assertLobError(await generate(headersFor(hs.clientId, await make())), 401, message);
    });
  }
});

describe("clock skew", () => {
  test("10 s past expiry: accepted with the default skew (30 s), refused with SSOD_CLOCK_SKEW=0 (identity provider)", async () => {
    await generatedOk(await generate(headersFor(audSrc.clientId, await audJwt({ exp: now() - 10 }))));
    await assertLobError(
      await generate(headersFor(strictAud.clientId, await audJwt({ exp: now() - 10, clientId: strictAud.clientId })), BODY, { server: strict }),
      401,
    );
    // The strict server does accept a fresh token: it is the skew that refused.
    await generatedOk(await generate(headersFor(strictAud.clientId, await audJwt({ clientId: strictAud.clientId })), BODY, { server: strict }));
  });

  test("10 s past expiry: accepted with the default skew, refused with SSOD_CLOCK_SKEW=0 (HS256)", async () => {
    await generatedOk(await generate(headersFor(hs.clientId, await callerJwt(hs, { exp: now() - 10 }))));
    await assertLobError(await generate(headersFor(strictHs.clientId, await callerJwt(strictHs, { exp: now() - 10 })), BODY, { server: strict }), 401);
    await generatedOk(await generate(headersFor(strictHs.clientId, await callerJwt(strictHs)), BODY, { server: strict }));
  });

  test("nbf 10 s ahead: accepted with the default skew, refused with SSOD_CLOCK_SKEW=0", async () => {
    await generatedOk(await generate(headersFor(hs.clientId, await callerJwt(hs, { nbf: now() + 10 }))));
    await assertLobError(await generate(headersFor(strictHs.clientId, await callerJwt(strictHs, { nbf: now() + 10 })), BODY, { server: strict }), 401);
  });

  test("40 s past expiry is refused even with the default skew", async () => {
    await assertLobError(await generate(headersFor(audSrc.clientId, await audJwt({ exp: now() - 40 }))), 401);
    await assertLobError(await generate(headersFor(hs.clientId, await callerJwt(hs, { exp: now() - 40 }))), 401);
  });
});

describe("403: valid token, not allowed", () => {
  test("lacking the required scope", async () => {
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, await idpJwt(goodClaims({ scope: "openid profile" })))), 403, /scope/);
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, await idpJwt(goodClaims({ scope: undefined })))), 403, /scope/);
    // A scope that merely starts with the required one is not it.
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, await idpJwt(goodClaims({ scope: `${SCOPE}x` })))), 403, /scope/);
    // scp as a list counts.
    await generatedOk(await generate(headersFor(IDP_CLIENT_ID, await idpJwt(goodClaims({ scope: undefined, scp: ["openid", SCOPE] })))));
  });

  test("issued to another client (client_id or azp)", async () => {
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, await idpJwt(goodClaims({ client_id: "another-client" })))), 403, /another client/);
    await assertLobError(
      await generate(headersFor(IDP_CLIENT_ID, await idpJwt(goodClaims({ client_id: undefined, azp: "another-client" })))),
      403,
      /another client/,
    );
    await assertLobError(await generate(headersFor(hs.clientId, await callerJwt(hs, { claims: { client_id: ip4.clientId } }))), 403, /another client/);
  });

  test("a 403 comes before a bad body", async () => {
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, await idpJwt(goodClaims({ scope: "openid" }))), { CIINo: "" }), 403);
  });
});

describe("an identity provider without an audience: the token must name the source's client", () => {
  test("neither client_id nor azp: 401", async () => {
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, await idpJwt(goodClaims({ client_id: undefined })))), 401, /client_id or azp/);
    // An empty or non-text claim names no client either.
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, await idpJwt(goodClaims({ client_id: "" })))), 401, /client_id or azp/);
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, await idpJwt(goodClaims({ client_id: 7 })))), 401, /client_id or azp/);
  });

  test("client_id or azp naming it: 200; either one naming another client: 403", async () => {
    await generatedOk(await generate(headersFor(IDP_CLIENT_ID, await idpJwt(goodClaims({ client_id: undefined, azp: IDP_CLIENT_ID })))));
    await generatedOk(await generate(headersFor(IDP_CLIENT_ID, await idpJwt(goodClaims({ azp: IDP_CLIENT_ID })))));
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, await idpJwt(goodClaims({ azp: "another-client" })))), 403, /another client/);
  });

  test("with an audience, the audience binds the token: it need not name a client", async () => {
    await generatedOk(await generate(headersFor(audSrc.clientId, await audJwt({ claims: { client_id: undefined } }))));
  });

  test("a token remembered for one source is refused by another source of the same identity provider", async () => {
    const twin = await createSource(s, {
      code: "lob-idp-twin",
      clientId: "twin-client",
      identityProvider: { issuer: ISSUER, jwksUrl: idp.url(MAIN), requiredScope: SCOPE },
    });
    const token = await idpJwt(goodClaims());
    await generatedOk(await generate(headersFor(IDP_CLIENT_ID, token)));
    await assertLobError(await generate(headersFor(twin.clientId, token)), 403, /another client/);
    const anonymous = await idpJwt(goodClaims({ client_id: undefined }));
    await assertLobError(await generate(headersFor(twin.clientId, anonymous)), 401, /client_id or azp/);
  });
});

describe("400: the body (checked last)", () => {
  test("missing or empty CIINo, LOBId, Functionality; not JSON; not an object", async () => {
    const token = await callerJwt(hs);
    const bodies: [string, unknown][] = [
      ["missing CIINo", { LOBId: "01", Functionality: "D" }],
      ["missing LOBId", { CIINo: "1", Functionality: "D" }],
      ["missing Functionality", { CIINo: "1", LOBId: "01" }],
      ["empty CIINo", { CIINo: "", LOBId: "01", Functionality: "D" }],
      ["empty LOBId", { CIINo: "1", LOBId: "", Functionality: "D" }],
      ["empty Functionality", { CIINo: "1", LOBId: "01", Functionality: "" }],
      ["blank Functionality", { CIINo: "1", LOBId: "01", Functionality: "   " }],
      ["number CIINo", { CIINo: 10001004, LOBId: "01", Functionality: "D" }],
      ["null LOBId", { CIINo: "1", LOBId: null, Functionality: "D" }],
      ["empty object", {}],
      ["array", [BODY]],
      ["null", "null"],
      ["not JSON", "{CIINo:1"],
      ["empty body", ""],
    ];
    for (const [label, body] of bodies) {
      const r = await generate(headersFor(hs.clientId, token), body);
      assert.equal(r.status, 400, label);
      await assertLobError(r, 400);
    }
    const detail = await assertLobError(await generate(headersFor(hs.clientId, token), { LOBId: "01", Functionality: "D" }), 400);
    assert.match(detail, /CIINo/);
  });
});

describe("a caller token presented again (verified tokens are remembered for a minute)", () => {
  test("honoured again; refused at once after the source's client secret is rotated", async () => {
    const src = await createSource(s, { code: "lob-remembered" });
    const token = await callerJwt(src);
    await generatedOk(await generate(headersFor(src.clientId, token)));
    await generatedOk(await generate(headersFor(src.clientId, token)));
    const rotated = await s.request("POST", `/v1/sources/${src.id}/secret`, { headers: admin });
    assert.equal(rotated.status, 200);
    await assertLobError(await generate(headersFor(src.clientId, token)), 401);
  });

  test("refused once it has expired, though it was accepted a moment before", async () => {
    const src = await createSource(strict, { code: "lob-expiring" });
    const token = await callerJwt(src, { exp: now() + 2 });
    await generatedOk(await generate(headersFor(src.clientId, token), BODY, { server: strict }));
    await sleep(2_100);
    await assertLobError(await generate(headersFor(src.clientId, token), BODY, { server: strict }), 401, /expired/);
  });

  test("refused at once when the source's identity provider changes (another audience)", async () => {
    await createSource(s, {
      code: "lob-aud-change",
      clientId: "aud-change",
      identityProvider: { issuer: ISSUER, jwksUrl: idp.url(AUD), audience: "first-audience" },
    });
    const token = await idpJwt({ client_id: "aud-change", aud: "first-audience" });
    await generatedOk(await generate(headersFor("aud-change", token)));
    const patched = await s.request("PATCH", "/v1/sources/lob-aud-change", {
      json: { identityProvider: { issuer: ISSUER, jwksUrl: idp.url(AUD), audience: "second-audience" } },
      headers: admin,
    });
    assert.equal(patched.status, 200, await patched.clone().text());
    await assertLobError(await generate(headersFor("aud-change", token)), 401);
  });
});

describe("the identity provider", () => {
  test("unreachable: 502 in the seed's error shape, never a 500", async () => {
    const token = await idpJwt({ client_id: unreachableIdp.clientId });
    await assertLobError(await generate(headersFor(unreachableIdp.clientId, token)), 502);
  });

  test("keys are cached: good calls do not refetch the JWKS", async () => {
    const before = idp.fetched(MAIN);
    for (let i = 0; i < 3; i++) await generatedOk(await generate(headersFor(IDP_CLIENT_ID, await idpJwt(goodClaims()))));
    assert.equal(idp.fetched(MAIN), before);
  });

  // Last: jose waits 30 s (its cooldown) after a fetch before it refetches for an unknown kid.
  test("rotated to a new key with an unknown kid: ssod refetches the JWKS and accepts it", { timeout: 60_000 }, async () => {
    const wait = idp.lastFetchAt(MAIN)! + 31_000 - Date.now();
    if (wait > 0) await sleep(wait);
    const before = idp.fetched(MAIN);
    const next = await rsaKey("key-2024-02");
    idp.publish(MAIN, [next]);
    current = next;
    const body = await generatedOk(await generate(headersFor(IDP_CLIENT_ID, await idpJwt(goodClaims()))));
    assert.equal(idp.fetched(MAIN), before + 1, "one refetch for the unknown kid");
    const { payload } = await jwtVerify(body.TokenNo, enc.encode(withIdp.signingSecret));
    assert.equal(payload.jti, body.TokenRefNo);
    // And the new key is cached from then on.
    await generatedOk(await generate(headersFor(IDP_CLIENT_ID, await idpJwt(goodClaims()))));
    assert.equal(idp.fetched(MAIN), before + 1);
  });
});
