// src/core/outbound.ts, the rules of every URL ssod fetches (SPEC §5 "Caller
// JWTs", §9): the URL's text judged at creation (https, or http to loopback
// only; never a link-local host), and at fetch time the address a name
// resolves to (through a `lookup` the test maps names with), redirects left
// unfollowed, a body over the limit cut while it is read, a time limit.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, LookupFunction } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fetchOutbound, OutboundError, type OutboundRules, outboundUrlProblem } from "../src/core/outbound";
import { tempDir } from "./helpers/temp";

describe("outboundUrlProblem: the URL's text", () => {
  const allowed = [
    "https://idp.example.com/.well-known/jwks.json",
    "https://203.0.113.7/jwks",
    "https://[2001:db8::1]/jwks",
    "http://127.0.0.1:8080/jwks",
    "http://127.200.3.4/jwks",
    "http://[::1]:9000/jwks",
    "http://localhost/jwks",
    // RFC 6761 §6.3: every name under .localhost is loopback (browsers resolve them so themselves).
    "http://app.localhost:8080/jwks",
    "http://LOCALHOST:8080/jwks",
  ];
  const notHttps = [
    "http://example.com/jwks",
    "http://203.0.113.7/jwks",
    "http://[2001:db8::1]/jwks",
    "http://localhost.example.com/jwks",
    "http://128.0.0.1/jwks",
  ];
  const linkLocal = [
    "http://169.254.169.254/latest/meta-data/",
    "https://169.254.169.254/jwks",
    "https://169.254.0.1/jwks",
    "https://[fe80::1]/jwks",
    "https://[febf:ffff::1]/jwks",
    "https://[::ffff:169.254.169.254]/jwks",
    "https://[::ffff:a9fe:a9fe]/jwks",
    // Other spellings of 169.254.169.254, as URL parsing normalises them.
    "https://0xa9fea9fe/jwks",
    "https://2852039166/jwks",
    "https://0251.0376.0251.0376/jwks",
  ];

  test("https anywhere, http to loopback only", () => {
    for (const url of allowed) assert.equal(outboundUrlProblem(url, false), undefined, url);
    for (const url of notHttps) assert.match(outboundUrlProblem(url, false) ?? "", /must be https \(plain http only for a loopback host/, url);
  });

  test("allowHttp lets plain http reach any host (webhooks' SSOD_WEBHOOK_ALLOW_HTTP)", () => {
    for (const url of notHttps) assert.equal(outboundUrlProblem(url, true), undefined, url);
  });

  test("a link-local host is refused whatever the scheme and whatever allowHttp says", () => {
    for (const url of linkLocal) {
      assert.match(outboundUrlProblem(url, false) ?? "", /must not name a link-local address/, url);
      assert.match(outboundUrlProblem(url, true) ?? "", /must not name a link-local address/, url);
    }
  });

  test("not a URL, or not http(s)", () => {
    assert.equal(outboundUrlProblem("/jwks.json", false), "must be an absolute URL");
    assert.equal(outboundUrlProblem("ftp://idp.example.com/jwks", false), "must be an https URL");
    assert.equal(outboundUrlProblem("file:///etc/passwd", true), "must be an https URL");
  });
});

// ---- fetching, from a server on loopback ----

let server: Server;
let base: string;
const hits: string[] = [];
/** Bytes the /endless answer managed to write before ssod hung up. */
let endlessWritten = 0;
const CAP = 512 * 1024;
const rules = (extra: Partial<OutboundRules> = {}): OutboundRules => ({ allowHttp: false, maxBytes: CAP, timeoutMs: 2_000, ...extra });

before(async () => {
  server = createServer((req, res) => {
    hits.push(req.url ?? "");
    switch (req.url) {
      case "/ok":
        return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [], agent: req.headers["user-agent"] }));
      case "/redirect":
        return void res.writeHead(302, { location: "/ok" }).end();
      case "/exactly-the-cap":
        return void res.writeHead(200).end("x".repeat(CAP));
      case "/declared-too-large":
        // Says so up front: refused before a byte of the body is read.
        res.writeHead(200, { "content-length": String(CAP + 1) });
        return void res.write("x");
      case "/endless": {
        // Chunked, never ending (a safety stop at 256 MiB): it must be cut at the cap.
        res.writeHead(200, { "content-type": "application/json" });
        const chunk = Buffer.alloc(64 * 1024, "x");
        const pump = () => {
          while (!res.destroyed && endlessWritten < 256 * 1024 * 1024) {
            endlessWritten += chunk.length;
            if (!res.write(chunk)) return void res.once("drain", pump);
          }
          res.end();
        };
        return pump();
      }
      case "/silent":
        return; // never answers
      default:
        return void res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** A resolver of made-up names: each to the addresses given. */
function mapped(names: Record<string, { address: string; family: 4 | 6 }[]>): LookupFunction {
  return (hostname, options, callback) => {
    const addresses = names[hostname];
    if (!addresses) return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" }), "");
    if (options.all) callback(null, addresses);
    else callback(null, addresses[0]!.address, addresses[0]!.family);
  };
}

describe("fetchOutbound", () => {
  test("answers what the server answered, headers passed on", async () => {
    const r = await fetchOutbound(`${base}/ok`, { headers: new Headers({ "user-agent": "ssod-test" }) }, rules());
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("content-type"), "application/json");
    assert.deepEqual(await r.json(), { keys: [], agent: "ssod-test" });
  });

  test("a redirect is answered as it is, never followed", async () => {
    const before = hits.length;
    const r = await fetchOutbound(`${base}/redirect`, {}, rules());
    assert.equal(r.status, 302);
    assert.equal(r.headers.get("location"), "/ok");
    assert.deepEqual(hits.slice(before), ["/redirect"]);
  });

  test("a body of exactly the cap is read; one byte declared over it is refused", async () => {
    assert.equal((await (await fetchOutbound(`${base}/exactly-the-cap`, {}, rules())).arrayBuffer()).byteLength, CAP);
    await assert.rejects(
      fetchOutbound(`${base}/declared-too-large`, {}, rules()),
      (e: Error) => e instanceof OutboundError && /over 524288 bytes/.test(e.message),
    );
  });

  test("an endless body is cut at the cap, at once, without holding more", async (t) => {
    const rss = process.memoryUsage().rss;
    const started = performance.now();
    await assert.rejects(
      fetchOutbound(`${base}/endless`, {}, rules({ timeoutMs: 30_000 })),
      (e: Error) => e instanceof OutboundError && /over 524288 bytes/.test(e.message),
    );
    const seconds = (performance.now() - started) / 1000;
    const grown = (process.memoryUsage().rss - rss) / 2 ** 20;
    // What the server wrote before the connection closed: the cap plus the sockets' buffers.
    await new Promise((resolve) => setTimeout(resolve, 100));
    t.diagnostic(`cut after ${seconds.toFixed(2)} s; the server wrote ${(endlessWritten / 2 ** 20).toFixed(1)} MiB; RSS grew ${grown.toFixed(1)} MiB`);
    assert.ok(seconds < 5, `took ${seconds} s`);
    assert.ok(endlessWritten < 32 * 2 ** 20, `the server wrote ${endlessWritten} bytes`);
    assert.ok(grown < 64, `RSS grew ${grown} MiB`);
  });

  test("out of time: a TimeoutError (what jose turns into its JWKSTimeout)", async () => {
    const started = performance.now();
    await assert.rejects(fetchOutbound(`${base}/silent`, {}, rules({ timeoutMs: 300 })), { name: "TimeoutError" });
    assert.ok(performance.now() - started < 2_000);
  });

  test("the caller's signal aborts it too", async () => {
    const controller = new AbortController();
    const pending = fetchOutbound(`${base}/silent`, { signal: controller.signal }, rules());
    controller.abort(new Error("called off"));
    await assert.rejects(pending, { message: "called off" });
  });

  test("a URL the rules refuse is not fetched", async () => {
    await assert.rejects(fetchOutbound("http://example.com/jwks", {}, rules()), (e: Error) => e instanceof OutboundError && /must be https/.test(e.message));
    await assert.rejects(
      fetchOutbound("https://169.254.169.254/jwks", {}, rules({ allowHttp: true })),
      (e: Error) => e instanceof OutboundError && /link-local/.test(e.message),
    );
  });
});

describe("fetchOutbound: the address a name resolves to, at connect time", () => {
  const port = () => (server.address() as AddressInfo).port;
  const lookup = mapped({
    "idp.test": [{ address: "127.0.0.1", family: 4 }],
    "metadata.test": [{ address: "169.254.169.254", family: 4 }],
    "mapped.test": [{ address: "::ffff:169.254.169.254", family: 6 }],
    "fe80.test": [{ address: "fe80::1", family: 6 }],
    "mixed.test": [
      { address: "127.0.0.1", family: 4 },
      { address: "169.254.169.254", family: 4 },
    ],
    localhost: [{ address: "192.0.2.99", family: 4 }],
  });

  test("a name is connected to through the lookup given (here, to the loopback server)", async () => {
    const r = await fetchOutbound(`http://idp.test:${port()}/ok`, {}, rules({ allowHttp: true, lookup }));
    assert.equal(r.status, 200);
  });

  test("a name resolving to a link-local address, plain or IPv4-mapped, or to one among others, is never connected to", async () => {
    for (const name of ["metadata.test", "mapped.test", "fe80.test", "mixed.test"]) {
      const started = performance.now();
      await assert.rejects(
        fetchOutbound(`http://${name}:${port()}/ok`, {}, rules({ allowHttp: true, lookup, timeoutMs: 5_000 })),
        (e: Error) => e instanceof OutboundError && /link-local address: not fetched/.test(e.message),
        name,
      );
      // Refused at once: not a connection attempt that timed out.
      assert.ok(performance.now() - started < 1_000, name);
    }
  });

  test("plain http to 'localhost' must reach a loopback address", async () => {
    await assert.rejects(
      fetchOutbound(`http://localhost:${port()}/ok`, {}, rules({ lookup })),
      (e: Error) => e instanceof OutboundError && /192\.0\.2\.99, not a loopback address/.test(e.message),
    );
  });
});

describe("fetchOutbound over https", () => {
  test("checks the server's certificate: a self-signed one is refused", async () => {
    const dir = tempDir();
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ],
      { stdio: "ignore" },
    );
    const tls = createHttpsServer({ key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) }, (_req, res) => res.end("{}"));
    await new Promise<void>((resolve) => tls.listen(0, "127.0.0.1", resolve));
    try {
      await assert.rejects(fetchOutbound(`https://localhost:${(tls.address() as AddressInfo).port}/jwks`, {}, rules()), {
        code: "DEPTH_ZERO_SELF_SIGNED_CERT",
      });
    } finally {
      tls.closeAllConnections();
      await new Promise<void>((resolve) => tls.close(() => resolve()));
    }
  });
});
