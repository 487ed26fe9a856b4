// Hardening of what browsers see (SPEC §1, §3, §4): the session cookie's
// flags (HttpOnly; SameSite=Lax; Path=/; Secure only behind an https
// SSOD_PUBLIC_URL); no open redirect (a redirectUrl off the allowlist is
// refused at issue, near-misses included, and a URL removed from the list
// after issue is no longer followed); the security headers on every HTML
// answer and Cache-Control: no-store on every answer that carries a token or a
// session; and no token, key, secret or password in the built server's logs,
// even when they travel in a query string.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { SignJWT } from "jose";
import { createAdminAccount } from "../src/core/admin-accounts";
import { generateAdminKey } from "../src/core/admin-keys";
import { startBuiltServer, type ServerProcess } from "./helpers/process";
import { openTestServer, type TestServer } from "./helpers/runtime";

const ALLOWED = "https://app.example/welcome";
const ALLOWED_2 = "https://app.example:8443/cb?x=1";

let http: TestServer; // SSOD_PUBLIC_URL http://ssod.test
let https: TestServer; // SSOD_PUBLIC_URL https://sso.example.com
let src: { id: number; code: string; clientId: string; clientSecret: string };

const admin = (server: TestServer) => ({ authorization: `Bearer ${server.adminKey}` });

async function issue(server: TestServer, body: Record<string, unknown>) {
  return server.request("POST", "/v1/tokens", { json: { user: { email: "browser@example.com" }, ...body }, headers: admin(server) });
}

async function tokenFor(server: TestServer, body: Record<string, unknown> = {}): Promise<string> {
  const r = await issue(server, body);
  assert.equal(r.status, 201, await r.clone().text());
  return ((await r.json()) as { token: string }).token;
}

async function tykNonce(server: TestServer, section: "dashboard" | "portal"): Promise<string> {
  const r = await server.request("POST", "/api/sso", { json: { emailAddress: "tyk@example.com", forSection: section }, headers: { authorization: server.adminKey } });
  assert.equal(r.status, 200);
  return ((await r.json()) as { Meta: string }).Meta;
}

before(async () => {
  http = await openTestServer({ SSOD_THROTTLE_IP_LIMIT: "1000000" });
  https = await openTestServer({ SSOD_PUBLIC_URL: "https://sso.example.com", SSOD_THROTTLE_IP_LIMIT: "1000000" });
  const r = await http.request("POST", "/v1/sources", { json: { code: "app", name: "App", validForSeconds: 600, redirectUrls: [ALLOWED, ALLOWED_2] }, headers: admin(http) });
  assert.equal(r.status, 201);
  src = (await r.json()) as typeof src;
});

after(async () => {
  await http?.close();
  await https?.close();
});

describe("the session cookie", () => {
  const COOKIE = /^ssod_session=([A-Za-z0-9_-]{43}); Max-Age=(\d+); Path=\/; HttpOnly; (Secure; )?SameSite=Lax$/;

  for (const [label, landing] of [
    ["/v1/login", async (s: TestServer) => `/v1/login?token=${await tokenFor(s)}`],
    ["/tap", async (s: TestServer) => `/tap?nonce=${await tykNonce(s, "dashboard")}`],
    ["/sso", async (s: TestServer) => `/sso?nonce=${await tykNonce(s, "portal")}`],
  ] as const) {
    test(`${label}: HttpOnly; SameSite=Lax; Path=/; no Secure over http, Secure over https`, async () => {
      for (const [server, secure] of [
        [http, false],
        [https, true],
      ] as const) {
        const r = await server.request("GET", await landing(server));
        assert.equal(r.status, 200, await r.clone().text());
        const cookies = r.headers.getSetCookie();
        assert.equal(cookies.length, 1, JSON.stringify(cookies));
        const m = COOKIE.exec(cookies[0]!);
        assert.ok(m, `cookie flags: ${cookies[0]}`);
        assert.equal(Boolean(m[3]), secure, `Secure ${secure ? "missing behind https" : "set over plain http"}: ${cookies[0]}`);
        assert.ok(Number(m[2]) > 0 && Number(m[2]) <= 28_800, `Max-Age ${m[2]}`);
        assert.doesNotMatch(cookies[0]!, /Domain=/i, "a Domain attribute widens the cookie to sibling hosts");
        // The cookie is a working session, and it says who.
        const who = await server.request("GET", "/v1/session", { headers: { cookie: `ssod_session=${m[1]}` } });
        assert.equal(who.status, 200);
        assert.equal(who.headers.get("cache-control"), "no-store");
        // Logging out clears it with the same flags.
        const out = await server.request("POST", "/v1/session/logout", { headers: { cookie: `ssod_session=${m[1]}` } });
        assert.equal(out.status, 204);
        const cleared = out.headers.getSetCookie()[0] ?? "";
        assert.match(cleared, /^ssod_session=; Max-Age=0; Path=\/; HttpOnly; (Secure; )?SameSite=Lax$/);
        assert.equal(/Secure/.test(cleared), secure);
        assert.equal((await server.request("GET", "/v1/session", { headers: { cookie: `ssod_session=${m[1]}` } })).status, 401);
      }
    });
  }

  test("the redemption API returns a session id but sets no cookie", async () => {
    const token = await tokenFor(http);
    const r = await http.request("POST", "/v1/tokens/redeem", { json: { token }, headers: admin(http) });
    assert.equal(r.status, 200);
    assert.deepEqual(r.headers.getSetCookie(), []);
  });
});

describe("no open redirect", () => {
  const NEAR_MISSES = [
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
    "https://app.example%40evil.example/welcome",
    "https://app.example/%77elcome", // encoded path
    "https://app.example/welcome%2F",
    "https://app.example\\@evil.example/welcome", // backslash
    "https://app.example:8443/cb?x=2", // query
    "https://app.example:8443/cb",
    "https://app.example:8443/cb?x=1&y=2",
    "https://app.example:8443/cb?X=1",
    "//evil.example/welcome", // scheme-relative
    "/welcome",
    "javascript:alert(1)//https://app.example/welcome",
    "data:text/html,<script>alert(1)</script>",
    "ftp://app.example/welcome",
    "",
  ];

  test(`refused at issue: ${NEAR_MISSES.length} near-misses of the allowlist, each a 400`, async () => {
    const admitted: string[] = [];
    for (const url of NEAR_MISSES) {
      const r = await issue(http, { sourceCode: "app", redirectUrl: url });
      const body = (await r.json()) as { type?: string };
      if (r.status !== 400) admitted.push(`${JSON.stringify(url)} → ${r.status}`);
      else assert.match(body.type ?? "", /^urn:ssod:problem:(redirect-not-allowed|invalid-request)$/);
    }
    assert.deepEqual(admitted, [], "near-misses of the allowlist were accepted");
  });

  test("through source credentials too, and never for a URL on another source's list", async () => {
    const other = await http.request("POST", "/v1/sources", { json: { code: "other", name: "Other", validForSeconds: 60, redirectUrls: ["https://other.example/in"] }, headers: admin(http) });
    const created = (await other.json()) as { clientId: string; clientSecret: string };
    const r = await http.request("POST", "/v1/tokens", {
      json: { user: { email: "x@example.com" }, redirectUrl: ALLOWED },
      headers: { authorization: `Basic ${Buffer.from(`${created.clientId}:${created.clientSecret}`).toString("base64")}` },
    });
    assert.equal(r.status, 400);
    assert.equal(((await r.json()) as { type: string }).type, "urn:ssod:problem:redirect-not-allowed");
  });

  test("exact and equivalent spellings are accepted and redirect to the allow-listed URL itself", async () => {
    for (const [asked, expected] of [
      [ALLOWED, ALLOWED],
      ["HTTPS://APP.EXAMPLE/welcome", ALLOWED],
      ["https://app.example:443/welcome", ALLOWED],
      [ALLOWED_2, ALLOWED_2],
    ]) {
      const token = await tokenFor(http, { sourceCode: "app", redirectUrl: asked });
      const r = await http.request("GET", `/v1/login?token=${token}`);
      assert.equal(r.status, 303);
      assert.equal(r.headers.get("location"), expected);
      assert.equal(r.headers.get("cache-control"), "no-store");
      assert.equal(r.headers.get("referrer-policy"), "no-referrer");
    }
  });

  test("a URL removed from the allowlist after issue is no longer followed", async () => {
    const make = async (code: string, urls: string[]) => {
      const r = await http.request("POST", "/v1/sources", { json: { code, name: code, validForSeconds: 600, redirectUrls: urls }, headers: admin(http) });
      assert.equal(r.status, 201);
    };
    const patch = async (code: string, urls: string[]) => {
      const r = await http.request("PATCH", `/v1/sources/${code}`, { json: { redirectUrls: urls }, headers: admin(http) });
      assert.equal(r.status, 200, await r.clone().text());
    };
    const removed = "https://gone.example/in";
    // Replaced by another single URL: the browser goes there, not to the removed one.
    await make("shrink1", [removed, "https://kept.example/in"]);
    let token = await tokenFor(http, { sourceCode: "shrink1", redirectUrl: removed });
    await patch("shrink1", ["https://kept.example/in"]);
    let r = await http.request("GET", `/v1/login?token=${token}`);
    assert.notEqual(r.headers.get("location"), removed);
    assert.equal(r.status, 303);
    assert.equal(r.headers.get("location"), "https://kept.example/in");
    // Replaced by two others: no redirect at all, the signed-in page.
    await make("shrink2", [removed]);
    token = await tokenFor(http, { sourceCode: "shrink2", redirectUrl: removed });
    await patch("shrink2", ["https://a.example/", "https://b.example/"]);
    r = await http.request("GET", `/v1/login?token=${token}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("location"), null);
    // The list emptied.
    await make("shrink3", [removed]);
    token = await tokenFor(http, { sourceCode: "shrink3", redirectUrl: removed });
    await patch("shrink3", []);
    r = await http.request("GET", `/v1/login?token=${token}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("location"), null);
    // Through the legacy dialect: sso.update keeps the list, so a URL still listed is still followed.
    await make("shrink4", [removed]);
    token = await tokenFor(http, { sourceCode: "shrink4", redirectUrl: removed });
    const id = ((await (await http.request("GET", "/v1/sources/shrink4", { headers: admin(http) })).json()) as { id: number }).id;
    const legacy = await http.request("POST", "/api.php", { json: { Command: "sso.update", APIKey: http.adminKey, SourceID: String(id), SourceName: "renamed", SourceCode: "shrink4", ValidForSeconds: "600" } });
    assert.equal(legacy.status, 200, await legacy.clone().text());
    r = await http.request("GET", `/v1/login?token=${token}`);
    assert.equal(r.headers.get("location"), removed);
  });
});

describe("headers", () => {
  const SECURITY = (r: Response, what: string) => {
    assert.ok(r.headers.get("content-security-policy"), `${what}: no Content-Security-Policy`);
    assert.equal(r.headers.get("x-content-type-options"), "nosniff", `${what}: X-Content-Type-Options`);
    assert.equal(r.headers.get("referrer-policy"), "no-referrer", `${what}: Referrer-Policy`);
  };

  test("every HTML answer carries CSP, nosniff and no-referrer", async () => {
    const throttling = await openTestServer({ SSOD_THROTTLE_IP_LIMIT: "1" });
    try {
      const pages: [string, TestServer, string, Record<string, string>][] = [
        ["signed-in page (/v1/login)", http, `/v1/login?token=${await tokenFor(http)}`, {}],
        ["signed-in page (/tap)", http, `/tap?nonce=${await tykNonce(http, "dashboard")}`, {}],
        ["signed-in page (/sso)", http, `/sso?nonce=${await tykNonce(http, "portal")}`, {}],
        ["failure page (/v1/login)", http, "/v1/login?token=nope-nope-nope-nope", {}],
        ["failure page (/v1/login, no token)", http, "/v1/login", {}],
        ["failure page (/tap)", http, "/tap?nonce=nope-nope-nope-nope", {}],
        ["failure page (/sso, wrong section)", http, `/sso?nonce=${await tykNonce(http, "dashboard")}`, {}],
        ["throttled page", throttling, "/tap?nonce=x", {}],
        ["throttled page (2)", throttling, "/tap?nonce=y", {}],
        ["API docs", http, "/docs", {}],
      ];
      let html = 0;
      for (const [label, server, path, headers] of pages) {
        const r = await server.request("GET", path, { headers, ip: "192.0.2.99" });
        const type = r.headers.get("content-type") ?? "";
        if (/text\/html/.test(type)) html++;
        SECURITY(r, `${label} (${r.status})`);
        if (/text\/html/.test(type)) {
          const csp = r.headers.get("content-security-policy")!;
          assert.match(csp, /default-src 'none'|default-src 'self'/, `${label}: CSP ${csp}`);
          assert.match(csp, /frame-ancestors 'none'/, `${label}: framable (${csp})`);
        }
      }
      assert.ok(html >= 8, `only ${html} HTML answers were seen`);
    } finally {
      await throttling.close();
    }
  });

  test("Cache-Control: no-store on every answer that carries a token, a secret or a session", async () => {
    const seen: string[] = [];
    const check = async (label: string, r: Response | Promise<Response>, status: number) => {
      const answer = await r;
      assert.equal(answer.status, status, `${label}: ${await answer.clone().text()}`);
      assert.equal(answer.headers.get("cache-control"), "no-store", `${label}: Cache-Control ${answer.headers.get("cache-control")}`);
      assert.equal(answer.headers.get("x-content-type-options"), "nosniff");
      seen.push(label);
      return answer;
    };
    const key = admin(http);
    const created = (await (await check("POST /v1/sources (secrets)", http.request("POST", "/v1/sources", { json: { code: "cache", name: "Cache", validForSeconds: 60 }, headers: key }), 201)).json()) as {
      id: number;
      clientId: string;
      clientSecret: string;
    };
    const rotated = (await (await check("POST /v1/sources/{id}/secret", http.request("POST", `/v1/sources/${created.id}/secret`, { headers: key }), 200)).json()) as { clientSecret: string };
    const basic = { authorization: `Basic ${Buffer.from(`${created.clientId}:${rotated.clientSecret}`).toString("base64")}` };
    const v1 = (await (await check("POST /v1/tokens", http.request("POST", "/v1/tokens", { json: { user: { email: "c@example.com" } }, headers: basic }), 201)).json()) as { token: string };
    await check("POST /v1/tokens/introspect", http.request("POST", "/v1/tokens/introspect", { json: { token: v1.token }, headers: key }), 200);
    const redeemed = (await (await check("POST /v1/tokens/redeem", http.request("POST", "/v1/tokens/redeem", { json: { token: v1.token }, headers: key }), 200)).json()) as {
      session: { id: string };
    };
    await check("GET /v1/session", http.request("GET", "/v1/session", { headers: { cookie: `ssod_session=${redeemed.session.id}` } }), 200);
    await check("POST /api/sso", http.request("POST", "/api/sso", { json: { emailAddress: "c@example.com" }, headers: { "admin-auth": http.adminKey } }), 200);
    await check("POST /admin/sso", http.request("POST", "/admin/sso", { json: { emailAddress: "c@example.com" }, headers: { "admin-auth": http.adminKey } }), 200);
    const jwt = await new SignJWT({ client_id: created.clientId }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("5m").sign(new TextEncoder().encode(rotated.clientSecret));
    await check(
      "POST /GenerateSSOToken",
      http.request("POST", "/GenerateSSOToken", {
        body: JSON.stringify({ CIINo: "1", LOBId: "2", Functionality: "3" }),
        headers: { "x-api-version": "1.0.0", "x-lob-client-id": created.clientId, "content-type": "application/json", authorization: jwt },
      }),
      200,
    );
    await createAdminAccount(http.runtime.core, "cacher", "a long enough password");
    await check("api.php admin.login (SessionID)", http.request("POST", "/api.php", { json: { Command: "admin.login", Username: "cacher", Password: "a long enough password" } }), 200);
    await check("GET /v1/login 303 (cookie)", http.request("GET", `/v1/login?token=${await tokenFor(http, { sourceCode: "app", redirectUrl: ALLOWED })}`), 303);
    await check("GET /tap 200 (cookie)", http.request("GET", `/tap?nonce=${await tykNonce(http, "dashboard")}`), 200);
    await check("GET /sso 200 JSON (cookie)", http.request("GET", `/sso?nonce=${await tykNonce(http, "portal")}`, { headers: { accept: "application/json" } }), 200);
    assert.equal(seen.length, 13);
  });
});

describe("the built server's log", () => {
  let server: ServerProcess;
  const secrets = new Map<string, string>();
  let key: string;

  before(async () => {
    key = generateAdminKey();
    secrets.set("admin key", key);
    // trace: the most the server ever logs.
    server = await startBuiltServer({ env: { SSOD_ADMIN_API_KEY: key, SSOD_LOG_LEVEL: "trace" } });
  });

  after(async () => {
    if (server && server.child.exitCode === null) {
      server.kill("SIGTERM");
      await server.exited;
    }
  });

  test("holds none of the tokens, keys, secrets, passwords or session ids it handled (query strings included)", { timeout: 30_000 }, async (t) => {
    const base = server.url;
    const json = { "content-type": "application/json" };
    const auth = { authorization: `Bearer ${key}`, ...json };
    const post = (path: string, body: unknown, headers: Record<string, string> = auth) => fetch(`${base}${path}`, { method: "POST", headers, body: JSON.stringify(body) });

    let r = await post("/v1/sources", { code: "logged", name: "Logged", validForSeconds: 600, redirectUrls: ["https://app.example/in"] });
    const source = (await r.json()) as { id: number; clientId: string; clientSecret: string; signingSecret: string };
    secrets.set("client secret", source.clientSecret);
    secrets.set("signing secret", source.signingSecret);
    r = await post(`/v1/sources/${source.id}/secret`, {});
    const rotated = (await r.json()) as { clientSecret: string; signingSecret: string };
    secrets.set("rotated client secret", rotated.clientSecret);
    secrets.set("rotated signing secret", rotated.signingSecret);
    const basic = { authorization: `Basic ${Buffer.from(`${source.clientId}:${rotated.clientSecret}`).toString("base64")}`, ...json };

    const issued: string[] = [];
    for (const format of ["nonce", "jwt", "nonce", "jwt", "nonce"]) {
      r = await post("/v1/tokens", { user: { email: "log@example.com" }, format, redirectUrl: "https://app.example/in" }, basic);
      const body = (await r.json()) as { token: string };
      issued.push(body.token);
      secrets.set(`v1 ${format} token ${issued.length}`, body.token);
    }
    const nonces: string[] = [];
    for (const section of ["dashboard", "portal", "dashboard"]) {
      r = await post("/api/sso", { emailAddress: "tyk@example.com", forSection: section });
      const nonce = ((await r.json()) as { Meta: string }).Meta;
      nonces.push(nonce);
      secrets.set(`tyk ${section} nonce ${nonces.length}`, nonce);
    }
    const callerJwt = await new SignJWT({ client_id: source.clientId }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("5m").sign(new TextEncoder().encode(rotated.clientSecret));
    secrets.set("LOB caller JWT", callerJwt);
    r = await fetch(`${base}/GenerateSSOToken`, {
      method: "POST",
      headers: { "x-api-version": "1.0.0", "x-lob-client-id": source.clientId, authorization: `Bearer ${callerJwt}`, ...json },
      body: JSON.stringify({ CIINo: "C1", LOBId: "L1", Functionality: "F1" }),
    });
    const lob = (await r.json()) as { TokenNo: string };
    secrets.set("LOB TokenNo", lob.TokenNo);

    // Redemptions: in query strings (browser), in bodies (API).
    r = await fetch(`${base}/v1/login?token=${encodeURIComponent(issued[0]!)}`, { redirect: "manual" });
    assert.equal(r.status, 303);
    const cookie = /ssod_session=([^;]+)/.exec(r.headers.get("set-cookie") ?? "")![1]!;
    secrets.set("session cookie", cookie);
    r = await fetch(`${base}/v1/login?token=${encodeURIComponent(issued[1]!)}&utm=${encodeURIComponent(key)}`, { redirect: "manual" });
    assert.equal(r.status, 303);
    r = await fetch(`${base}/tap?nonce=${nonces[0]}`);
    assert.equal(r.status, 200);
    r = await fetch(`${base}/sso?nonce=${nonces[1]}`, { headers: { accept: "application/json" } });
    assert.equal(r.status, 200);
    // Refused ones: a used token again, a nonce at the wrong section, a token-shaped junk string.
    r = await fetch(`${base}/v1/login?token=${encodeURIComponent(issued[0]!)}`);
    assert.equal(r.status, 400);
    r = await fetch(`${base}/sso?nonce=${nonces[2]}`);
    assert.equal(r.status, 400);
    r = await post("/v1/tokens/introspect", { token: issued[2] });
    assert.equal(r.status, 200);
    r = await post("/v1/tokens/redeem", { token: issued[2] }, basic);
    const api = (await r.json()) as { session: { id: string } };
    secrets.set("API session id", api.session.id);
    r = await post("/v1/tokens/redeem", { token: lob.TokenNo });
    assert.equal(r.status, 200);
    r = await post("/v1/tokens/revoke", { token: issued[3] });
    assert.equal(r.status, 200);
    // Tokens where they do not belong: in the query of other routes, in a 404, in a failing body.
    await fetch(`${base}/healthz?token=${issued[4]}`);
    await fetch(`${base}/v1/tokens/redeem?token=${issued[4]}`, { method: "POST", headers: auth, body: "{" });
    await fetch(`${base}/nowhere?nonce=${nonces[2]}&key=${key}`);
    await post("/v1/tokens/redeem", { token: issued[4], extra: issued[4] });
    await fetch(`${base}/v1/sources`, { headers: { authorization: `Bearer ${key.slice(0, -1)}X` } });
    secrets.set("near-miss admin key", `${key.slice(0, -1)}X`);
    r = await fetch(`${base}/v1/session`, { headers: { cookie: `ssod_session=${cookie}` } });
    assert.equal(r.status, 200);
    // The legacy dialect: a password and the SessionID it yields, form-encoded and as JSON.
    const password = "log-test password 1234";
    secrets.set("wrong admin password", password);
    await fetch(`${base}/api.php`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: `Command=admin.login&Username=nobody&Password=${encodeURIComponent(password)}` });
    await fetch(`${base}/api.php`, { method: "POST", headers: json, body: JSON.stringify({ Command: "sso.list", APIKey: key }) });
    await fetch(`${base}/api.php?APIKey=${key}`, { method: "POST", headers: json, body: JSON.stringify({ Command: "sso.list", APIKey: key }) });

    // Stop it, so every buffered line is written.
    server.kill("SIGTERM");
    assert.equal(await server.exited, 0);
    const stdout = server.stdout();
    const stderr = server.stderr();
    const lines = stdout.trim().split("\n");
    for (const line of lines) JSON.parse(line); // one JSON object a line
    assert.ok(lines.some((l) => l.includes('"path":"/v1/login"')), "the request log has the landings (by path)");
    const leaks = [...secrets].flatMap(([label, value]) => [
      ...(stdout.includes(value) ? [`${label} in stdout`] : []),
      ...(stderr.includes(value) ? [`${label} in stderr`] : []),
      // Percent-encoded too.
      ...(encodeURIComponent(value) !== value && stdout.includes(encodeURIComponent(value)) ? [`${label} (encoded) in stdout`] : []),
    ]);
    t.diagnostic(`${lines.length} log lines, ${secrets.size} secrets and tokens searched for, ${leaks.length} found`);
    assert.deepEqual(leaks, [], "secrets in the log");
    assert.doesNotMatch(stdout, /nonce=|token=|APIKey=|Password/, "a query string or a password field reached the log");
  });
});
