// The line-of-business token API (seed 001, SPEC §2.2): POST /GenerateSSOToken,
// every row of the seed's status table in SPEC's order of checks, a caller JWT
// verified against a real JWKS-serving identity provider on loopback (RS256,
// kid; rotated to an unknown kid), or as HS256 with the source's client secret
// when it has none; the 200 answer's TokenNo checked with the signing secret.
import assert from "node:assert/strict";
import { createPublicKey, type JsonWebKeyInput } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { SignJWT, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, type JWK, type JWTPayload, type CryptoKey } from "jose";
import { openTestServer, type TestServer } from "./helpers/runtime";
import { createSource, type CreatedSource } from "./helpers/sources";

const NO_THROTTLE = { SSOD_THROTTLE_IP_LIMIT: "1000000", SSOD_THROTTLE_CREDENTIAL_LIMIT: "1000000" };
const ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TEST";
const SCOPE = "sso/generate";
// The seed's sample client id.
const IDP_CLIENT_ID = "1RrLMyLrZGA=";
const BODY = { CIINo: "10001004", LOBId: "01", Functionality: "D" };

// ---- a JWKS-serving identity provider on loopback ----

interface IdpKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function idpKey(kid: string): Promise<IdpKey> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" } };
}

let idp: Server;
let jwksUrl: string;
let published: IdpKey[] = [];
const fetches: number[] = [];

let current: IdpKey;
let stranger: IdpKey; // an RSA key the identity provider never published

/** A token of the identity provider; `iat` is now unless given (`null`: none). */
async function idpToken(claims: JWTPayload, options: { key?: IdpKey; kid?: string; issuer?: string; iat?: number | null; exp?: number | string; alg?: string } = {}): Promise<string> {
  const key = options.key ?? current;
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: options.alg ?? "RS256", kid: options.kid ?? key.kid }).setIssuer(options.issuer ?? ISSUER);
  if (options.iat !== null) jwt.setIssuedAt(options.iat);
  if (options.exp !== undefined) jwt.setExpirationTime(options.exp);
  else jwt.setExpirationTime("5m");
  return jwt.sign(key.privateKey);
}

const goodClaims = (extra: JWTPayload = {}): JWTPayload => ({ client_id: IDP_CLIENT_ID, token_use: "access", scope: `openid ${SCOPE}`, ...extra });

// ---- ssod ----

let s: TestServer;
let proxied: TestServer; // SSOD_TRUST_PROXY=true
let admin: Record<string, string>;



const hsToken = (src: CreatedSource, claims: JWTPayload = { client_id: src.clientId }, exp: number | string = "5m") =>
  new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setIssuedAt().setExpirationTime(exp).sign(new TextEncoder().encode(src.clientSecret));

function headersFor(clientId: string, authorization?: string, extra: Record<string, string | undefined> = {}): Record<string, string> {
  const headers: Record<string, string | undefined> = {
    "x-api-version": "1.0.0",
    "x-lob-client-id": clientId,
    "content-type": "application/json",
    ...(authorization !== undefined ? { authorization } : {}),
    ...extra,
  };
  return Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined)) as Record<string, string>;
}

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
let hs: CreatedSource; // no identity provider: HS256 with the client secret
let ip4: CreatedSource;
let ip6: CreatedSource;
let proxiedIp4: CreatedSource;
let unreachableIdp: CreatedSource;

before(async () => {
  current = await idpKey("key-2024-01");
  stranger = await idpKey("key-2024-01");
  published = [current];
  idp = createServer((req, res) => {
    if (req.url !== "/.well-known/jwks.json") {
      res.writeHead(404).end();
      return;
    }
    fetches.push(Date.now());
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ keys: published.map((k) => k.publicJwk) }));
  });
  await new Promise<void>((resolve) => idp.listen(0, "127.0.0.1", resolve));
  jwksUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}/.well-known/jwks.json`;

  s = await openTestServer(NO_THROTTLE);
  admin = { authorization: `Bearer ${s.adminKey}` };
  withIdp = await createSource(s, { code: "lob-idp", clientId: IDP_CLIENT_ID, validForSeconds: 3600, identityProvider: { issuer: ISSUER, jwksUrl, requiredScope: SCOPE } });
  // identity provider with an audience, reached through its client id "aud-client"
  await createSource(s, { code: "lob-aud", clientId: "aud-client", identityProvider: { issuer: ISSUER, jwksUrl, audience: "lob-audience" } });
  hs = await createSource(s, { code: "lob-hs", validForSeconds: 90 });
  ip4 = await createSource(s, { code: "lob-ip4", allowedIps: ["10.1.0.0/16", "192.0.2.7"] });
  ip6 = await createSource(s, { code: "lob-ip6", allowedIps: ["2001:db8:abcd::/48"] });
  // Nothing listens on port 9 of loopback.
  unreachableIdp = await createSource(s, { code: "lob-unreachable", identityProvider: { issuer: ISSUER, jwksUrl: "http://127.0.0.1:9/jwks.json" } });
  proxied = await openTestServer({ ...NO_THROTTLE, SSOD_TRUST_PROXY: "true" });
  proxiedIp4 = await createSource(proxied, { code: "lob-ip4", allowedIps: ["10.1.0.0/16"] });

  // The first good call: ssod fetches the identity provider's keys now.
  await generatedOk(await generate(headersFor(IDP_CLIENT_ID, await idpToken(goodClaims()))));
  assert.equal(fetches.length, 1);
});

after(async () => {
  await s?.close();
  await proxied?.close();
  await new Promise<void>((resolve) => (idp ? idp.close(() => resolve()) : resolve()));
});

describe("the 200 answer (seed 001's sample)", () => {
  test("with an identity provider: exactly {ReturnCode, ReturnMessage, TokenRefNo, TokenNo}", async () => {
    const body = await generatedOk(await generate(headersFor(IDP_CLIENT_ID, await idpToken(goodClaims()))));
    const { payload } = await jwtVerify(body.TokenNo, new TextEncoder().encode(withIdp.signingSecret), { algorithms: ["HS256"] });
    assert.equal(payload.jti, body.TokenRefNo);
    assert.equal(payload.exp! - payload.iat!, 3600);
  });

  test("the TokenNo is HS256 with the source's signing secret and carries the seed's claims, exp = iat + validForSeconds, jti = TokenRefNo", async () => {
    const before = Date.now();
    const body = await generatedOk(await generate(headersFor(hs.clientId, await hsToken(hs))));
    const after = Date.now();
    assert.deepEqual(decodeProtectedHeader(body.TokenNo), { alg: "HS256", typ: "JWT" });
    const { payload } = await jwtVerify(body.TokenNo, new TextEncoder().encode(hs.signingSecret), { algorithms: ["HS256"] });
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
    await assert.rejects(jwtVerify(body.TokenNo, new TextEncoder().encode(hs.clientSecret), { algorithms: ["HS256"] }));
  });

  test("the TokenNo is redeemable once through /v1/tokens/redeem, naming the user by CIINo", async () => {
    const body = await generatedOk(await generate(headersFor(hs.clientId, await hsToken(hs)), { CIINo: "CII-REDEEM", LOBId: "07", Functionality: "Claims" }));
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
    const next = await generatedOk(await generate(headersFor(hs.clientId, await hsToken(hs)), { CIINo: "CII-REDEEM", LOBId: "08", Functionality: "X" }));
    const r2 = await s.request("POST", "/v1/tokens/redeem", { json: { token: next.TokenNo }, headers: admin });
    assert.equal(((await r2.json()) as { created: boolean }).created, false);
  });

  test("Authorization with or without 'Bearer ', Content-Type with a charset, the body's strings trimmed", async () => {
    const token = await hsToken(hs);
    await generatedOk(await generate(headersFor(hs.clientId, `Bearer ${token}`)));
    await generatedOk(await generate(headersFor(hs.clientId, token, { "content-type": "application/json; charset=utf-8" })));
    const body = await generatedOk(await generate(headersFor(hs.clientId, token), { CIINo: " 42 ", LOBId: "01", Functionality: "D" }));
    const { payload } = await jwtVerify(body.TokenNo, new TextEncoder().encode(hs.signingSecret));
    assert.equal(payload.CIINo, "42");
  });

  test("the introspected token has the source's lifetime and the lob claims", async () => {
    const body = await generatedOk(await generate(headersFor(hs.clientId, await hsToken(hs))));
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
    await assertLobError(await generate(headersFor(hs.clientId, await hsToken(hs), { "x-lob-client-id": undefined })), 400, /x-lob-client-id/);
    await assertLobError(await generate(headersFor(hs.clientId, await hsToken(hs), { "x-lob-client-id": "   " })), 400, /x-lob-client-id/);
  });

  test("missing x-api-version", async () => {
    await assertLobError(await generate(headersFor(hs.clientId, await hsToken(hs), { "x-api-version": undefined })), 400, /x-api-version/);
  });

  test("missing or non-JSON Content-Type", async () => {
    await assertLobError(await generate(headersFor(hs.clientId, await hsToken(hs), { "content-type": undefined })), 400, /Content-Type/);
    await assertLobError(await generate(headersFor(hs.clientId, await hsToken(hs), { "content-type": "text/plain" })), 400, /Content-Type/);
    await assertLobError(await generate(headersFor(hs.clientId, await hsToken(hs), { "content-type": "application/x-www-form-urlencoded" })), 400, /Content-Type/);
  });

  test("an unsupported x-api-version (only 1.0.0)", async () => {
    for (const version of ["2.0.0", "1.0", "1.0.1", "v1.0.0"]) {
      await assertLobError(await generate(headersFor(hs.clientId, await hsToken(hs), { "x-api-version": version })), 400, /1\.0\.0/);
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
    await assertLobError(await generate(headersFor("no-such-client", await hsToken(hs))), 403, /x-lob-client-id/);
    await assertLobError(await generate(headersFor("x".repeat(500), await hsToken(hs))), 403);
  });

  test("comes before the IP and token checks", async () => {
    await assertLobError(await generate(headersFor("no-such-client"), BODY, { ip: "203.0.113.9" }), 403);
    await assertLobError(await generate(headersFor("no-such-client", "garbage"), { bad: true }), 403);
  });
});

describe("406: the caller's IP outside the source's allowlist", () => {
  test("IPv4 CIDR and single address", async () => {
    const token = await hsToken(ip4);
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
    const token = await hsToken(ip6);
    await generatedOk(await generate(headersFor(ip6.clientId, token), BODY, { ip: "2001:db8:abcd:12::5" }));
    await generatedOk(await generate(headersFor(ip6.clientId, token), BODY, { ip: "2001:0db8:abcd:ffff:ffff:ffff:ffff:ffff" }));
    await assertLobError(await generate(headersFor(ip6.clientId, token), BODY, { ip: "2001:db8:abce::1" }), 406);
    await assertLobError(await generate(headersFor(ip6.clientId, token), BODY, { ip: "::1" }), 406);
    await assertLobError(await generate(headersFor(ip6.clientId, token), BODY, { ip: "10.1.2.3" }), 406);
  });

  test("X-Forwarded-For is ignored without SSOD_TRUST_PROXY", async () => {
    const token = await hsToken(ip4);
    await assertLobError(await generate(headersFor(ip4.clientId, token, { "x-forwarded-for": "10.1.2.3" }), BODY, { ip: "203.0.113.9" }), 406);
    // ... and cannot make an allowed peer look refused either.
    await generatedOk(await generate(headersFor(ip4.clientId, token, { "x-forwarded-for": "203.0.113.9" }), BODY, { ip: "10.1.2.3" }));
  });

  test("X-Forwarded-For is honoured with SSOD_TRUST_PROXY=true", async () => {
    const token = await hsToken(proxiedIp4);
    const opts = (ip: string) => ({ ip, server: proxied });
    await generatedOk(await generate(headersFor(proxiedIp4.clientId, token, { "x-forwarded-for": "10.1.2.3" }), BODY, opts("203.0.113.9")));
    await generatedOk(await generate(headersFor(proxiedIp4.clientId, token, { "x-forwarded-for": "10.1.2.3, 172.16.0.1" }), BODY, opts("203.0.113.9")));
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

  test("expired (beyond the clock-skew tolerance)", async () => {
    const past = Math.floor(Date.now() / 1000) - 600;
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, await idpToken(goodClaims(), { exp: past }))), 401, /expired/);
    await assertLobError(await generate(headersFor(hs.clientId, await hsToken(hs, { client_id: hs.clientId }, past))), 401, /expired/);
  });

  test("without exp", async () => {
    const noExp = await new SignJWT(goodClaims()).setProtectedHeader({ alg: "RS256", kid: current.kid }).setIssuer(ISSUER).sign(current.privateKey);
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, noExp)), 401);
  });

  test("a wrong signature (a key the identity provider never published, under a published kid)", async () => {
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, await idpToken(goodClaims(), { key: stranger }))), 401);
    const hsWrong = await new SignJWT({ client_id: hs.clientId }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("5m").sign(new TextEncoder().encode(`${hs.clientSecret}x`));
    await assertLobError(await generate(headersFor(hs.clientId, hsWrong)), 401);
    // Another source's client secret does not do either.
    await assertLobError(await generate(headersFor(hs.clientId, await hsToken(ip4, { client_id: hs.clientId }))), 401);
    // A tampered payload under a good signature.
    const good = await idpToken(goodClaims());
    const [h, , sig] = good.split(".");
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...goodClaims(), iss: ISSUER, exp: Math.floor(Date.now() / 1000) + 3600 })).toString("base64url")}.${sig}`;
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, forged)), 401);
  });

  test("a wrong issuer", async () => {
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, await idpToken(goodClaims(), { issuer: "https://evil.example" }))), 401);
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, await idpToken(goodClaims(), { issuer: `${ISSUER}/` }))), 401);
  });

  test("alg none, with or without a kid", async () => {
    const none = (header: Record<string, unknown>, claims: JWTPayload) =>
      `${Buffer.from(JSON.stringify(header)).toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.`;
    const claims = { ...goodClaims(), iss: ISSUER, exp: Math.floor(Date.now() / 1000) + 300 };
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, none({ alg: "none", kid: current.kid }, claims))), 401);
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, none({ alg: "none" }, claims))), 401);
    await assertLobError(await generate(headersFor(hs.clientId, none({ alg: "none", typ: "JWT" }, { client_id: hs.clientId, exp: claims.exp }))), 401);
  });

  test("HS256 when the source has an RS256 identity provider (signed with its client secret, or with the IdP's public key)", async () => {
    const withSecret = await new SignJWT(goodClaims()).setProtectedHeader({ alg: "HS256", kid: current.kid }).setIssuer(ISSUER).setExpirationTime("5m").sign(new TextEncoder().encode(withIdp.clientSecret));
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, withSecret)), 401);
    const pem = createPublicKey({ key: current.publicJwk as JsonWebKeyInput["key"], format: "jwk" }).export({ type: "spki", format: "pem" }).toString();
    const withPublicKey = await new SignJWT(goodClaims()).setProtectedHeader({ alg: "HS256", kid: current.kid }).setIssuer(ISSUER).setExpirationTime("5m").sign(new TextEncoder().encode(pem));
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, withPublicKey)), 401);
  });

  test("RS256 when the source has no identity provider (HS256 only)", async () => {
    await assertLobError(await generate(headersFor(hs.clientId, await idpToken({ client_id: hs.clientId }))), 401);
  });

  test("an audience the source does not expect", async () => {
    const ok = await idpToken({ client_id: "aud-client", aud: "lob-audience" });
    await generatedOk(await generate(headersFor("aud-client", ok)));
    await assertLobError(await generate(headersFor("aud-client", await idpToken({ client_id: "aud-client", aud: "someone-else" }))), 401);
    await assertLobError(await generate(headersFor("aud-client", await idpToken({ client_id: "aud-client" }))), 401);
  });

  test("a lifetime over 24 hours (exp − iat, or exp − now without iat), with an identity provider or HS256", async () => {
    const now = Math.floor(Date.now() / 1000);
    const HOUR = 3600;
    const idp = (iat: number | null, exp: number) => idpToken(goodClaims(), { iat, exp });
    const hs256 = (iat: number | null, exp: number) => {
      const jwt = new SignJWT({ client_id: hs.clientId }).setProtectedHeader({ alg: "HS256" }).setExpirationTime(exp);
      if (iat !== null) jwt.setIssuedAt(iat);
      return jwt.sign(new TextEncoder().encode(hs.clientSecret));
    };
    for (const [make, clientId] of [[idp, IDP_CLIENT_ID], [hs256, hs.clientId]] as const) {
      await assertLobError(await generate(headersFor(clientId, await make(now, now + 25 * HOUR))), 401, /24 hours/);
      await assertLobError(await generate(headersFor(clientId, await make(null, now + 25 * HOUR))), 401, /24 hours/);
      // Issued 20 hours ago for 25: what is left (5 h) does not make it acceptable.
      await assertLobError(await generate(headersFor(clientId, await make(now - 20 * HOUR, now + 5 * HOUR))), 401, /24 hours/);
      // 24 hours is allowed.
      await generatedOk(await generate(headersFor(clientId, await make(now, now + 24 * HOUR))));
      await generatedOk(await generate(headersFor(clientId, await make(null, now + 23 * HOUR))));
    }
  });

  test("an iat in the future beyond the clock skew (30 s by default), with an identity provider or HS256", async () => {
    const now = Math.floor(Date.now() / 1000);
    const hs256 = (iat: number) => new SignJWT({ client_id: hs.clientId }).setProtectedHeader({ alg: "HS256" }).setIssuedAt(iat).setExpirationTime(now + 1200).sign(new TextEncoder().encode(hs.clientSecret));
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, await idpToken(goodClaims(), { iat: now + 600, exp: now + 1200 }))), 401, /future/);
    await assertLobError(await generate(headersFor(hs.clientId, await hs256(now + 600))), 401, /future/);
    // Within the skew: a caller whose clock runs a little fast.
    await generatedOk(await generate(headersFor(IDP_CLIENT_ID, await idpToken(goodClaims(), { iat: now + 10, exp: now + 1200 }))));
    await generatedOk(await generate(headersFor(hs.clientId, await hs256(now + 10))));
  });

  test("a 401 comes before a bad body", async () => {
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID), {}), 401);
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, "x.y.z"), "not json"), 401);
  });
});

describe("403: valid token, not allowed", () => {
  test("lacking the required scope", async () => {
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, await idpToken(goodClaims({ scope: "openid profile" })))), 403, /scope/);
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, await idpToken(goodClaims({ scope: undefined })))), 403, /scope/);
    // A scope that merely starts with the required one is not it.
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, await idpToken(goodClaims({ scope: `${SCOPE}x` })))), 403, /scope/);
    // scp as a list counts.
    await generatedOk(await generate(headersFor(IDP_CLIENT_ID, await idpToken(goodClaims({ scope: undefined, scp: ["openid", SCOPE] })))));
  });

  test("issued to another client (client_id or azp)", async () => {
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, await idpToken(goodClaims({ client_id: "another-client" })))), 403, /another client/);
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, await idpToken(goodClaims({ client_id: undefined, azp: "another-client" })))), 403, /another client/);
    await assertLobError(await generate(headersFor(hs.clientId, await hsToken(hs, { client_id: ip4.clientId }))), 403, /another client/);
  });

  test("a 403 comes before a bad body", async () => {
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, await idpToken(goodClaims({ scope: "openid" }))), { CIINo: "" }), 403);
  });
});

describe("an identity provider without an audience: the token must name the source's client", () => {
  test("neither client_id nor azp: 401", async () => {
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, await idpToken(goodClaims({ client_id: undefined })))), 401, /client_id or azp/);
    // An empty or non-text claim names no client either.
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, await idpToken(goodClaims({ client_id: "" })))), 401, /client_id or azp/);
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, await idpToken(goodClaims({ client_id: 7 })))), 401, /client_id or azp/);
  });

  test("client_id or azp naming it: 200; either one naming another client: 403", async () => {
    await generatedOk(await generate(headersFor(IDP_CLIENT_ID, await idpToken(goodClaims({ client_id: undefined, azp: IDP_CLIENT_ID })))));
    await generatedOk(await generate(headersFor(IDP_CLIENT_ID, await idpToken(goodClaims({ azp: IDP_CLIENT_ID })))));
    await assertLobError(await generate(headersFor(IDP_CLIENT_ID, await idpToken(goodClaims({ azp: "another-client" })))), 403, /another client/);
  });

  test("with an audience, the audience binds the token: it need not name a client", async () => {
    await generatedOk(await generate(headersFor("aud-client", await idpToken({ aud: "lob-audience" }))));
  });

  test("a token remembered for one source is refused by another source of the same identity provider", async () => {
    const twin = await createSource(s, { code: "lob-idp-twin", clientId: "twin-client", identityProvider: { issuer: ISSUER, jwksUrl, requiredScope: SCOPE } });
    const token = await idpToken(goodClaims());
    await generatedOk(await generate(headersFor(IDP_CLIENT_ID, token)));
    await assertLobError(await generate(headersFor(twin.clientId, token)), 403, /another client/);
    const anonymous = await idpToken(goodClaims({ client_id: undefined }));
    await assertLobError(await generate(headersFor(twin.clientId, anonymous)), 401, /client_id or azp/);
  });
});

describe("400: the body (checked last)", () => {
  test("missing or empty CIINo, LOBId, Functionality; not JSON; not an object", async () => {
    const token = await hsToken(hs);
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
    const token = await hsToken(src);
    await generatedOk(await generate(headersFor(src.clientId, token)));
    await generatedOk(await generate(headersFor(src.clientId, token)));
    const rotated = await s.request("POST", `/v1/sources/${src.id}/secret`, { headers: admin });
    assert.equal(rotated.status, 200);
    await assertLobError(await generate(headersFor(src.clientId, token)), 401);
  });

  test("refused once it has expired, though it was accepted a moment before", async () => {
    const strict = await openTestServer({ ...NO_THROTTLE, SSOD_CLOCK_SKEW: "0" });
    try {
      const src = await createSource(strict, { code: "lob-expiring" });
      const token = await hsToken(src, { client_id: src.clientId }, Math.floor(Date.now() / 1000) + 2);
      await generatedOk(await generate(headersFor(src.clientId, token), BODY, { server: strict }));
      await sleep(2_100);
      await assertLobError(await generate(headersFor(src.clientId, token), BODY, { server: strict }), 401, /expired/);
    } finally {
      await strict.close();
    }
  });

  test("refused at once when the source's identity provider changes (another audience)", async () => {
    await createSource(s, { code: "lob-aud-change", clientId: "aud-change", identityProvider: { issuer: ISSUER, jwksUrl, audience: "first-audience" } });
    const token = await idpToken({ client_id: "aud-change", aud: "first-audience" });
    await generatedOk(await generate(headersFor("aud-change", token)));
    const patched = await s.request("PATCH", "/v1/sources/lob-aud-change", {
      json: { identityProvider: { issuer: ISSUER, jwksUrl, audience: "second-audience" } },
      headers: admin,
    });
    assert.equal(patched.status, 200, await patched.clone().text());
    await assertLobError(await generate(headersFor("aud-change", token)), 401);
  });
});

describe("the identity provider", () => {
  test("unreachable: 502 in the seed's error shape, never a 500", async () => {
    const token = await idpToken({ client_id: unreachableIdp.clientId });
    await assertLobError(await generate(headersFor(unreachableIdp.clientId, token)), 502);
  });

  test("keys are cached: good calls do not refetch the JWKS", async () => {
    const before = fetches.length;
    for (let i = 0; i < 3; i++) await generatedOk(await generate(headersFor(IDP_CLIENT_ID, await idpToken(goodClaims()))));
    assert.equal(fetches.length, before);
  });

  // Last: jose waits 30 s (its cooldown) after a fetch before it refetches for an unknown kid.
  test("rotated to a new key with an unknown kid: ssod refetches the JWKS and accepts it", async () => {
    const wait = fetches[fetches.length - 1]! + 31_000 - Date.now();
    if (wait > 0) await sleep(wait);
    const before = fetches.length;
    const next = await idpKey("key-2024-02");
    published = [next];
    current = next;
    const body = await generatedOk(await generate(headersFor(IDP_CLIENT_ID, await idpToken(goodClaims()))));
    assert.equal(fetches.length, before + 1, "one refetch for the unknown kid");
    const { payload } = await jwtVerify(body.TokenNo, new TextEncoder().encode(withIdp.signingSecret));
    assert.equal(payload.jti, body.TokenRefNo);
    // And the new key is cached from then on.
    await generatedOk(await generate(headersFor(IDP_CLIENT_ID, await idpToken(goodClaims()))));
    assert.equal(fetches.length, before + 1);
  });
});
