// Hardening, SPEC §2.2 and §5: the caller JWT of /GenerateSSOToken. Every
// classic JWT attack gets a 401 in seed 001's {"ReturnCode":"0",…} shape: alg
// none, HS/RS confusion (HS256 signed with the identity provider's public key
// PEM), expired, nbf in the future, wrong issuer, wrong audience, a tampered
// payload, a stranger's key under the real kid, an unknown kid (and a flood
// of them must not hammer the identity provider's JWKS endpoint), embedded
// jwk / jku headers. Clock skew: 10 s past expiry passes with the default 30 s
// and fails with SSOD_CLOCK_SKEW=0. And every secret comparison answers a
// wrong secret of the right length exactly as one of a wrong length.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from "jose";
import { createAdminAccount } from "../src/core/admin-accounts";
import { openTestServer, type TestServer } from "./helpers/runtime";

const NO_THROTTLE = { SSOD_THROTTLE_IP_LIMIT: "1000000", SSOD_THROTTLE_CREDENTIAL_LIMIT: "1000000" };
const ISSUER = "https://idp.example/pool-1";
const AUDIENCE = "ssod-lob";
const BODY = { CIINo: "10001004", LOBId: "01", Functionality: "D" };
const enc = new TextEncoder();

// ---- an identity provider on loopback, counting every JWKS fetch ----

let idp: Server;
let idpBase: string;
const fetches = new Map<string, number>();
let realKey: { kid: string; privateKey: CryptoKey; publicKey: CryptoKey; jwk: JWK };
let strangerKey: { privateKey: CryptoKey; publicKey: CryptoKey };

async function startIdp() {
  const pair = await generateKeyPair("RS256", { extractable: true });
  realKey = { kid: "real-kid", ...pair, jwk: { ...(await exportJWK(pair.publicKey)), kid: "real-kid", alg: "RS256", use: "sig" } };
  strangerKey = await generateKeyPair("RS256", { extractable: true });
  idp = createServer((req, res) => {
    const path = req.url ?? "";
    fetches.set(path, (fetches.get(path) ?? 0) + 1);
    if (!path.endsWith("/jwks.json")) return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ keys: path.startsWith("/attacker") ? [] : [realKey.jwk] }));
  });
  await new Promise<void>((resolve) => idp.listen(0, "127.0.0.1", resolve));
  idpBase = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
}

const fetched = (path: string) => fetches.get(path) ?? 0;

// ---- ssod ----

interface Source {
  id: number;
  code: string;
  clientId: string;
  clientSecret: string;
}

let s: TestServer; // default clock skew (30 s)
let strict: TestServer; // SSOD_CLOCK_SKEW=0
let idpSource: Source;
let floodSource: Source;
let hsSource: Source;
let strictIdp: Source;
let strictHs: Source;

async function createSource(server: TestServer, body: Record<string, unknown>): Promise<Source> {
  const r = await server.request("POST", "/v1/sources", { json: { name: String(body.code), validForSeconds: 300, ...body }, headers: { authorization: `Bearer ${server.adminKey}` } });
  assert.equal(r.status, 201, await r.clone().text());
  return (await r.json()) as Source;
}

const now = () => Math.floor(Date.now() / 1000);

/** A caller JWT for the identity-provider source; every part overridable. */
async function idpJwt(options: { claims?: JWTPayload; header?: Record<string, unknown>; key?: CryptoKey | Uint8Array; alg?: string; iss?: string; aud?: string | null; exp?: number | null; nbf?: number; clientId?: string } = {}) {
  const claims: JWTPayload = { client_id: options.clientId ?? idpSource.clientId, token_use: "access", iss: options.iss ?? ISSUER, iat: now(), ...options.claims };
  if (options.aud !== null) claims.aud = options.aud ?? AUDIENCE;
  if (options.exp !== null) claims.exp = options.exp ?? now() + 300;
  if (options.nbf !== undefined) claims.nbf = options.nbf;
  return new SignJWT(claims).setProtectedHeader({ alg: options.alg ?? "RS256", kid: realKey.kid, typ: "JWT", ...options.header }).sign(options.key ?? realKey.privateKey);
}

async function hsJwt(source: Source, options: { secret?: string; alg?: string; exp?: number | null; nbf?: number; claims?: JWTPayload } = {}) {
  const claims: JWTPayload = { client_id: source.clientId, iat: now(), ...options.claims };
  if (options.exp !== null) claims.exp = options.exp ?? now() + 300;
  if (options.nbf !== undefined) claims.nbf = options.nbf;
  return new SignJWT(claims).setProtectedHeader({ alg: options.alg ?? "HS256", typ: "JWT" }).sign(enc.encode(options.secret ?? source.clientSecret));
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

function generate(server: TestServer, clientId: string, authorization: string, ip = "127.0.0.1") {
  return server.request("POST", "/GenerateSSOToken", {
    body: JSON.stringify(BODY),
    headers: { "x-api-version": "1.0.0", "x-lob-client-id": clientId, "content-type": "application/json", authorization },
    ip,
  });
}

/** Seed 001's refusal: exactly {"ReturnCode":"0","ReturnMessage":"…"}, with the status asked for. */
async function refused(r: Response, status = 401): Promise<string> {
  const text = await r.text();
  assert.equal(r.status, status, text);
  const body = JSON.parse(text) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body), ["ReturnCode", "ReturnMessage"], text);
  assert.equal(body.ReturnCode, "0");
  assert.equal(typeof body.ReturnMessage, "string");
  return body.ReturnMessage as string;
}

async function accepted(r: Response) {
  const text = await r.text();
  assert.equal(r.status, 200, text);
  const body = JSON.parse(text) as { ReturnCode: string; TokenNo: string };
  assert.equal(body.ReturnCode, "1");
  return body;
}

before(async () => {
  await startIdp();
  s = await openTestServer(NO_THROTTLE);
  strict = await openTestServer({ ...NO_THROTTLE, SSOD_CLOCK_SKEW: "0" });
  const provider = (path: string) => ({ issuer: ISSUER, jwksUrl: `${idpBase}${path}`, audience: AUDIENCE });
  idpSource = await createSource(s, { code: "idp", clientId: "idp-client", identityProvider: provider("/main/jwks.json") });
  floodSource = await createSource(s, { code: "flood", clientId: "flood-client", identityProvider: provider("/flood/jwks.json") });
  hsSource = await createSource(s, { code: "hs" });
  strictIdp = await createSource(strict, { code: "idp", clientId: "idp-client", identityProvider: provider("/strict/jwks.json") });
  strictHs = await createSource(strict, { code: "hs" });
  // The baseline: a good token is accepted (and the keys are fetched once).
  await accepted(await generate(s, idpSource.clientId, await idpJwt()));
  await accepted(await generate(s, hsSource.clientId, await hsJwt(hsSource)));
  assert.equal(fetched("/main/jwks.json"), 1);
});

after(async () => {
  await s?.close();
  await strict?.close();
  await new Promise<void>((resolve) => (idp ? idp.close(() => resolve()) : resolve()));
});

describe("caller JWTs against an identity provider (RS256, JWKS): every attack is a 401 in the ReturnCode shape", () => {
  const cases: [string, () => Promise<string>][] = [
    ["alg none, unsigned", async () => `${b64({ alg: "none", typ: "JWT" })}.${b64({ client_id: idpSource.clientId, iss: ISSUER, aud: AUDIENCE, exp: now() + 300 })}.`],
    ["alg none with the real kid", async () => `${b64({ alg: "none", kid: realKey.kid })}.${b64({ client_id: idpSource.clientId, iss: ISSUER, aud: AUDIENCE, exp: now() + 300 })}.`],
    ["alg NONE (case games)", async () => `${b64({ alg: "NONE", kid: realKey.kid })}.${b64({ client_id: idpSource.clientId, iss: ISSUER, aud: AUDIENCE, exp: now() + 300 })}.`],
    ["HS256 signed with the identity provider's public key PEM (RS/HS confusion)", async () => idpJwt({ alg: "HS256", key: enc.encode(await exportSPKI(realKey.publicKey)) })],
    ["HS256 signed with the public key's JWK n (RS/HS confusion)", async () => idpJwt({ alg: "HS256", key: enc.encode(String(realKey.jwk.n)) })],
    ["expired five minutes ago", async () => idpJwt({ exp: now() - 300 })],
    ["nbf five minutes in the future", async () => idpJwt({ nbf: now() + 300 })],
    ["iat an hour in the future with nbf in the future", async () => idpJwt({ nbf: now() + 3600, claims: { iat: now() + 3600 } })],
    ["no exp", async () => idpJwt({ exp: null })],
    ["wrong issuer", async () => idpJwt({ iss: "https://evil.example/pool-1" })],
    ["issuer with a trailing slash", async () => idpJwt({ iss: `${ISSUER}/` })],
    ["wrong audience", async () => idpJwt({ aud: "someone-else" })],
    ["no audience", async () => idpJwt({ aud: null })],
    [
      "tampered payload (claims changed, signature kept)",
      async () => {
        const [h, , sig] = (await idpJwt()).split(".");
        return `${h}.${b64({ client_id: idpSource.clientId, iss: ISSUER, aud: AUDIENCE, exp: now() + 99_999, admin: true })}.${sig}`;
      },
    ],
    [
      "tampered header (kid changed, signature kept)",
      async () => {
        const [, p, sig] = (await idpJwt()).split(".");
        return `${b64({ alg: "RS256", kid: "other" })}.${p}.${sig}`;
      },
    ],
    ["signature stripped", async () => `${(await idpJwt()).split(".").slice(0, 2).join(".")}.`],
    ["a stranger's key under the real kid", async () => idpJwt({ key: strangerKey.privateKey })],
    ["the stranger's public key embedded as a jwk header", async () => idpJwt({ key: strangerKey.privateKey, header: { kid: "embedded", jwk: await exportJWK(strangerKey.publicKey) } })],
    ["a jku header pointing at the attacker's key set", async () => idpJwt({ key: strangerKey.privateKey, header: { kid: "jku-kid", jku: `${idpBase}/attacker/jwks.json` } })],
    [
      "RS512 claimed over an RS256 signature",
      async () => {
        const [, p, sig] = (await idpJwt()).split(".");
        return `${b64({ alg: "RS512", kid: realKey.kid })}.${p}.${sig}`;
      },
    ],
    ["garbage with three dots", async () => "a.b.c"],
    ["an empty header and payload", async () => ".."],
  ];
  for (const [label, make] of cases) {
    test(label, async () => {
      await refused(await generate(s, idpSource.clientId, `Bearer ${await make()}`));
    });
  }

  test("the attacker's jku was never fetched", () => {
    assert.equal(fetched("/attacker/jwks.json"), 0);
  });

  test("a flood of 50 unknown kids fetches the JWKS at most twice (cold), and at most twice more when warm", async (t) => {
    const unknown = (i: number) => idpJwt({ key: strangerKey.privateKey, header: { kid: `unknown-${i}` }, clientId: floodSource.clientId });
    const cold = await Promise.all(Array.from({ length: 50 }, async (_, i) => generate(s, floodSource.clientId, await unknown(i))));
    for (const r of cold) await refused(r);
    const coldFetches = fetched("/flood/jwks.json");
    assert.ok(coldFetches >= 1 && coldFetches <= 2, `cold flood: ${coldFetches} JWKS fetches`);
    const before = fetched("/main/jwks.json");
    const warm = [];
    for (let i = 0; i < 50; i++) warm.push(await generate(s, idpSource.clientId, await idpJwt({ key: strangerKey.privateKey, header: { kid: `warm-unknown-${i}` } })));
    for (const r of warm) await refused(r);
    const warmFetches = fetched("/main/jwks.json") - before;
    assert.ok(warmFetches <= 2, `warm flood: ${warmFetches} JWKS fetches`);
    // The identity provider still works for a real token.
    await accepted(await generate(s, idpSource.clientId, await idpJwt()));
    t.diagnostic(`100 unknown-kid tokens → JWKS fetches: cold ${coldFetches}, warm ${warmFetches}`);
  });
});

describe("caller JWTs as HS256 with the client secret (no identity provider)", () => {
  const cases: [string, () => Promise<string>][] = [
    ["alg none", async () => `${b64({ alg: "none", typ: "JWT" })}.${b64({ client_id: hsSource.clientId, exp: now() + 300 })}.`],
    ["HS512 with the client secret", async () => hsJwt(hsSource, { alg: "HS512" })],
    ["HS384 with the client secret", async () => hsJwt(hsSource, { alg: "HS384" })],
    ["RS256 with some RSA key", async () => new SignJWT({ client_id: hsSource.clientId, exp: now() + 300 }).setProtectedHeader({ alg: "RS256" }).sign(strangerKey.privateKey)],
    ["a wrong secret of the right length", async () => hsJwt(hsSource, { secret: hsSource.clientSecret.replace(/.$/, (c) => (c === "A" ? "B" : "A")) })],
    ["a wrong secret of another length", async () => hsJwt(hsSource, { secret: "short-secret-value-xxxxxxxxxxxxxx" })],
    ["the signing secret instead of the client secret", async () => hsJwt(hsSource, { secret: "ssod_ss_" + "A".repeat(43) })],
    ["expired five minutes ago", async () => hsJwt(hsSource, { exp: now() - 300 })],
    ["nbf five minutes in the future", async () => hsJwt(hsSource, { nbf: now() + 300 })],
    ["no exp", async () => hsJwt(hsSource, { exp: null })],
    [
      "tampered payload",
      async () => {
        const [h, , sig] = (await hsJwt(hsSource)).split(".");
        return `${h}.${b64({ client_id: hsSource.clientId, exp: now() + 99_999 })}.${sig}`;
      },
    ],
  ];
  for (const [label, make] of cases) {
    test(label, async () => {
      await refused(await generate(s, hsSource.clientId, await make()));
    });
  }
});

describe("clock skew", () => {
  test("10 s past expiry: accepted with the default skew (30 s), refused with SSOD_CLOCK_SKEW=0 (identity provider)", async () => {
    await accepted(await generate(s, idpSource.clientId, await idpJwt({ exp: now() - 10 })));
    await refused(await generate(strict, strictIdp.clientId, await idpJwt({ exp: now() - 10, clientId: strictIdp.clientId })));
    // The strict server does accept a fresh token: it is the skew that refused.
    await accepted(await generate(strict, strictIdp.clientId, await idpJwt({ clientId: strictIdp.clientId })));
  });

  test("10 s past expiry: accepted with the default skew, refused with SSOD_CLOCK_SKEW=0 (HS256)", async () => {
    await accepted(await generate(s, hsSource.clientId, await hsJwt(hsSource, { exp: now() - 10 })));
    await refused(await generate(strict, strictHs.clientId, await hsJwt(strictHs, { exp: now() - 10 })));
    await accepted(await generate(strict, strictHs.clientId, await hsJwt(strictHs)));
  });

  test("nbf 10 s ahead: accepted with the default skew, refused with SSOD_CLOCK_SKEW=0", async () => {
    await accepted(await generate(s, hsSource.clientId, await hsJwt(hsSource, { nbf: now() + 10 })));
    await refused(await generate(strict, strictHs.clientId, await hsJwt(strictHs, { nbf: now() + 10 })));
  });

  test("40 s past expiry is refused even with the default skew", async () => {
    await refused(await generate(s, idpSource.clientId, await idpJwt({ exp: now() - 40 })));
    await refused(await generate(s, hsSource.clientId, await hsJwt(hsSource, { exp: now() - 40 })));
  });
});

describe("every secret comparison answers a wrong secret of the right length as one of a wrong length", () => {
  const PASSWORD = "correct horse battery staple";
  let metrics: TestServer;
  const METRICS_TOKEN = "metrics-token-0123456789abcdef";
  let sessionId: string;

  before(async () => {
    await createAdminAccount(s.runtime.core, "root", PASSWORD);
    const r = await s.request("POST", "/api.php", { json: { Command: "admin.login", Username: "root", Password: PASSWORD } });
    assert.equal(r.status, 200);
    sessionId = ((await r.json()) as { SessionID: string }).SessionID;
    metrics = await openTestServer({ ...NO_THROTTLE, SSOD_METRICS_TOKEN: METRICS_TOKEN });
  });

  after(async () => {
    await metrics?.close();
  });

  /** Flips the last character: a wrong secret of the very same length. */
  const sameLength = (secret: string) => secret.slice(0, -1) + (secret.endsWith("A") ? "B" : "A");

  /** Status and body, without what differs per request. */
  async function answer(r: Response): Promise<string> {
    const body = (await r.text()).replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "<id>");
    return `${r.status} ${r.headers.get("www-authenticate") ?? ""} ${body}`;
  }

  const paths: [string, (secret: (real: string) => string) => Promise<Response>, () => string][] = [
    ["v1 admin key (Bearer)", (wrong) => s.request("GET", "/v1/sources", { headers: { authorization: `Bearer ${wrong(s.adminKey)}` } }), () => s.adminKey],
    ["Tyk admin key (bare Authorization)", (wrong) => s.request("POST", "/api/sso", { json: { emailAddress: "a@example.com" }, headers: { authorization: wrong(s.adminKey) } }), () => s.adminKey],
    ["Tyk admin key (admin-auth)", (wrong) => s.request("POST", "/admin/sso", { json: { emailAddress: "a@example.com" }, headers: { "admin-auth": wrong(s.adminKey) } }), () => s.adminKey],
    ["legacy APIKey", (wrong) => s.request("POST", "/api.php", { json: { Command: "sso.list", APIKey: wrong(s.adminKey) } }), () => s.adminKey],
    ["legacy SessionID", (wrong) => s.request("POST", "/api.php", { json: { Command: "sso.list", SessionID: wrong(sessionId) } }), () => sessionId],
    ["legacy admin.login password", (wrong) => s.request("POST", "/api.php", { json: { Command: "admin.login", Username: "root", Password: wrong(PASSWORD) } }), () => PASSWORD],
    [
      "v1 client secret (Basic)",
      (wrong) => s.request("POST", "/v1/tokens", { json: { user: { email: "a@example.com" } }, headers: { authorization: `Basic ${Buffer.from(`${hsSource.clientId}:${wrong(hsSource.clientSecret)}`).toString("base64")}` } }),
      () => hsSource.clientSecret,
    ],
    [
      "Tyk client secret (Basic)",
      (wrong) => s.request("POST", "/api/sso", { json: { emailAddress: "a@example.com" }, headers: { authorization: `Basic ${Buffer.from(`${hsSource.clientId}:${wrong(hsSource.clientSecret)}`).toString("base64")}` } }),
      () => hsSource.clientSecret,
    ],
    ["LOB caller JWT (HS256 with the client secret)", async (wrong) => generate(s, hsSource.clientId, await hsJwt(hsSource, { secret: wrong(hsSource.clientSecret) })), () => hsSource.clientSecret],
    ["metrics token", (wrong) => metrics.request("GET", "/metrics", { headers: { authorization: `Bearer ${wrong(METRICS_TOKEN)}` } }), () => METRICS_TOKEN],
    ["session cookie (/v1/session)", (wrong) => s.request("GET", "/v1/session", { headers: { cookie: `ssod_session=${wrong(sessionId)}` } }), () => sessionId],
  ];

  for (const [label, call, real] of paths) {
    test(label, async () => {
      const right = await answer(await call(sameLength));
      const shorter = await answer(await call((x) => x.slice(0, Math.floor(x.length / 2))));
      const longer = await answer(await call((x) => `${x}extra`));
      assert.notEqual(sameLength(real()), real());
      assert.match(right, /^4\d\d /, `a wrong secret of the right length was accepted: ${right}`);
      assert.equal(shorter, right, "a shorter secret is answered differently");
      assert.equal(longer, right, "a longer secret is answered differently");
    });
  }
});
