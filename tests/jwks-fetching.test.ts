// Hardening, SPEC §5 "Caller JWTs": how ssod fetches an identity provider's
// JWKS for POST /GenerateSSOToken. Through the HTTP surface, against JWKS
// servers this test starts: a redirect to a good key set, a key set of
// 600 KiB, an endless one (cut at 512 KiB, ssod's memory unmoved), one that
// never answers (504) are all the seed's 502 or 504; a source whose jwksUrl
// is plain http to another host, or names a link-local address, is refused
// at creation (400 problem+json), and one stored before that rule is not
// fetched. What a host name resolves to is checked at connect time:
// tests/outbound.test.ts, with names of its own.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { networkInterfaces } from "node:os";
import { after, before, describe, test } from "node:test";
import { eq } from "drizzle-orm";
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { ssoSources } from "../src/store/schema";
import { openTestServer, type TestServer } from "./helpers/runtime";
import { createSource } from "./helpers/sources";

const NO_THROTTLE = { SSOD_THROTTLE_IP_LIMIT: "1000000", SSOD_THROTTLE_CREDENTIAL_LIMIT: "1000000" };
const ISSUER = "https://idp.example/pool-jwks";
const BODY = { CIINo: "10001004", LOBId: "01", Functionality: "D" };

let key: { privateKey: CryptoKey; jwk: JWK };
const goodSet = () => JSON.stringify({ keys: [key.jwk] });

// ---- JWKS servers ----

const fetches = new Map<string, number>();
const fetched = (path: string) => fetches.get(path) ?? 0;
let endlessWritten = 0;

function jwksServer(): Server {
  return createServer((req, res) => {
    const path = req.url ?? "";
    fetches.set(path, fetched(path) + 1);
    switch (path) {
      case "/good/jwks.json":
        return void res.writeHead(200, { "content-type": "application/json" }).end(goodSet());
      case "/redirect/jwks.json":
        return void res.writeHead(302, { location: "/good/jwks.json" }).end();
      case "/big/jwks.json":
        // A valid key set that jose would take, 600 KiB of it.
        return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [key.jwk], padding: "x".repeat(600 * 1024) }));
      case "/endless/jwks.json": {
        // Never ends (a safety stop at 256 MiB); counts what it could write before ssod hung up.
        res.writeHead(200, { "content-type": "application/json" });
        res.write(`{"keys":[${JSON.stringify(key.jwk)}],"padding":"`);
        const chunk = Buffer.alloc(64 * 1024, "x");
        const pump = () => {
          while (!res.destroyed && endlessWritten < 256 * 2 ** 20) {
            endlessWritten += chunk.length;
            if (!res.write(chunk)) return void res.once("drain", pump);
          }
          res.end('"}');
        };
        return pump();
      }
      case "/silent/jwks.json":
        return; // never answers
      default:
        return void res.writeHead(404).end();
    }
  });
}

let loopback: Server;
let base: string;

async function listen(server: Server, host: string): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

const stop = (server: Server | undefined) =>
  new Promise<void>((resolve) => {
    if (!server) return resolve();
    server.closeAllConnections();
    server.close(() => resolve());
  });

// ---- ssod ----

let s: TestServer;
const admin = () => ({ authorization: `Bearer ${s.adminKey}` });

/** A source whose identity provider's JWKS is at `path` of the loopback server; its client id is its code. */
const sourceAt = (code: string, path: string) => createSource(s, { code, clientId: code, identityProvider: { issuer: ISSUER, jwksUrl: `${base}${path}` } });

const callerJwt = (clientId: string) =>
  new SignJWT({ client_id: clientId })
    .setProtectedHeader({ alg: "RS256", kid: "k1" })
    .setIssuer(ISSUER)
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(key.privateKey);

async function generate(clientId: string) {
  return s.request("POST", "/GenerateSSOToken", {
    body: JSON.stringify(BODY),
    headers: {
      "x-api-version": "1.0.0",
      "x-lob-client-id": clientId,
      "content-type": "application/json",
      authorization: `Bearer ${await callerJwt(clientId)}`,
    },
  });
}

/** Seed 001's error answer with the status asked for. */
async function lobError(r: Response, status: number) {
  const text = await r.text();
  assert.equal(r.status, status, text);
  const body = JSON.parse(text) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body), ["ReturnCode", "ReturnMessage"], text);
  assert.equal(body.ReturnCode, "0");
}

before(async () => {
  const pair = await generateKeyPair("RS256", { extractable: true });
  key = { privateKey: pair.privateKey, jwk: { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "RS256", use: "sig" } };
  loopback = jwksServer();
  base = await listen(loopback, "127.0.0.1");
  s = await openTestServer(NO_THROTTLE);
  // The baseline: a good key set on loopback over plain http is fetched and used.
  await sourceAt("jwks-good", "/good/jwks.json");
  assert.equal((await generate("jwks-good")).status, 200);
});

after(async () => {
  await s?.close();
  await stop(loopback);
});

describe("fetching the JWKS: every failure is the seed's 502 (504 on a timeout)", () => {
  test("a redirect, even to a good key set, is not followed: 502", async () => {
    await sourceAt("jwks-redirect", "/redirect/jwks.json");
    const before = fetched("/good/jwks.json");
    await lobError(await generate("jwks-redirect"), 502);
    assert.equal(fetched("/redirect/jwks.json"), 1);
    assert.equal(fetched("/good/jwks.json"), before, "the redirect's target was not fetched");
  });

  test("a key set of 600 KiB (over 512 KiB): 502", async () => {
    await sourceAt("jwks-big", "/big/jwks.json");
    await lobError(await generate("jwks-big"), 502);
    assert.equal(fetched("/big/jwks.json"), 1);
  });

  test("an endless answer is cut at 512 KiB: 502 at once, ssod's memory unmoved", async (t) => {
    await sourceAt("jwks-endless", "/endless/jwks.json");
    const rss = process.memoryUsage().rss;
    const started = performance.now();
    await lobError(await generate("jwks-endless"), 502);
    const seconds = (performance.now() - started) / 1000;
    const grown = (process.memoryUsage().rss - rss) / 2 ** 20;
    await new Promise((resolve) => setTimeout(resolve, 100));
    t.diagnostic(
      `502 after ${seconds.toFixed(2)} s; the JWKS server wrote ${(endlessWritten / 2 ** 20).toFixed(1)} MiB before ssod hung up; RSS grew ${grown.toFixed(1)} MiB`,
    );
    assert.ok(seconds < 3, `took ${seconds} s`);
    // 512 KiB read, plus what the two sockets' buffers held.
    assert.ok(endlessWritten < 32 * 2 ** 20, `the JWKS server wrote ${endlessWritten} bytes`);
    assert.ok(grown < 64, `RSS grew ${grown} MiB`);
  });

  test("no answer within 5 s: 504", async () => {
    await sourceAt("jwks-silent", "/silent/jwks.json");
    const started = performance.now();
    await lobError(await generate("jwks-silent"), 504);
    assert.ok(performance.now() - started < 8_000);
  });
});

describe("the jwksUrl a source may have: https, plain http only to loopback, never link-local", () => {
  const refusals: [string, RegExp][] = [
    ["http://example.com/jwks", /must be https \(plain http only for a loopback host/],
    ["http://192.0.2.10/jwks", /must be https/],
    ["http://169.254.169.254/latest/meta-data/jwks", /must not name a link-local address/],
    ["https://169.254.169.254/jwks", /must not name a link-local address/],
    ["https://[fe80::1]/jwks", /must not name a link-local address/],
    ["https://[::ffff:169.254.169.254]/jwks", /must not name a link-local address/],
  ];

  test("refused at creation: 400 problem+json naming the field, in plain words", async () => {
    for (const [jwksUrl, words] of refusals) {
      const r = await s.request("POST", "/v1/sources", {
        json: { code: "jwks-refused", name: "refused", validForSeconds: 60, identityProvider: { issuer: ISSUER, jwksUrl } },
        headers: admin(),
      });
      const text = await r.text();
      assert.equal(r.status, 400, `${jwksUrl}: ${text}`);
      assert.match(r.headers.get("content-type") ?? "", /^application\/problem\+json/);
      const problem = JSON.parse(text) as { detail: string; errors: { pointer: string; detail: string }[] };
      assert.match(problem.detail, /^identityProvider\.jwksUrl must/, jwksUrl);
      assert.match(problem.detail, words, jwksUrl);
      assert.deepEqual(
        problem.errors.map((e) => e.pointer),
        ["/identityProvider/jwksUrl"],
      );
    }
  });

  test("refused when a PATCH sets it", async () => {
    for (const [jwksUrl, words] of refusals) {
      const r = await s.request("PATCH", "/v1/sources/jwks-good", { json: { identityProvider: { issuer: ISSUER, jwksUrl } }, headers: admin() });
      assert.equal(r.status, 400, jwksUrl);
      assert.match(((await r.json()) as { detail: string }).detail, words);
    }
  });

  test("https anywhere, and plain http to 127.0.0.0/8, ::1 and localhost, are accepted", async () => {
    for (const [i, jwksUrl] of [
      "https://idp.example.com/.well-known/jwks.json",
      "http://127.0.0.2:8080/jwks",
      "http://[::1]:8080/jwks",
      "http://localhost:8080/jwks",
    ].entries()) {
      const r = await s.request("POST", "/v1/sources", {
        json: { code: `jwks-ok-${i}`, name: "ok", validForSeconds: 60, identityProvider: { issuer: ISSUER, jwksUrl } },
        headers: admin(),
      });
      assert.equal(r.status, 201, `${jwksUrl}: ${await r.clone().text()}`);
    }
  });

  test("one stored before the rule (plain http to this machine's non-loopback address) is not fetched: 502", async (t) => {
    const address = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && !a.internal && a.family === "IPv4")?.address;
    if (!address) return t.skip("no non-loopback IPv4 address to serve from");
    const outside = jwksServer();
    try {
      const url = `${await listen(outside, address)}/outside/jwks.json`;
      await sourceAt("jwks-stored", "/good/jwks.json");
      await s.runtime.core.store.db.update(ssoSources).set({ idpJwksUrl: url }).where(eq(ssoSources.code, "jwks-stored"));
      await lobError(await generate("jwks-stored"), 502);
      assert.equal(fetched("/outside/jwks.json"), 0, `${url} was fetched`);
    } finally {
      await stop(outside);
    }
  });
});
