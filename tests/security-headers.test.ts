// SPEC §1, §3, §4, what browsers and caches see: the security headers
// (Content-Security-Policy that frames nothing, X-Content-Type-Options:
// nosniff, Referrer-Policy: no-referrer) on every HTML answer, signed in,
// refused or throttled; and Cache-Control: no-store on every answer that
// carries a token, a secret or a session, in every dialect.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createAdminAccount } from "../src/core/admin-accounts";
import { callerJwt, lobHeaders } from "./helpers/identity-provider";
import { openTestServer, type TestServer } from "./helpers/runtime";
import { basicAuth, createSource } from "./helpers/sources";
import { issueOk, tykNonce } from "./helpers/tokens";

const ALLOWED = "https://app.example/welcome";

let http: TestServer;
const admin = (server: TestServer) => ({ authorization: `Bearer ${server.adminKey}` });
const tokenFor = async (server: TestServer, body: Record<string, unknown> = {}) =>
  (await issueOk(server, { user: { email: "browser@example.com" }, ...body })).token;
const nonceFor = (server: TestServer, section: "dashboard" | "portal") => tykNonce(server, { emailAddress: "tyk@example.com", forSection: section });

before(async () => {
  http = await openTestServer({ SSOD_THROTTLE_IP_LIMIT: "1000000" });
  await createSource(http, { code: "app", name: "App", validForSeconds: 600, redirectUrls: [ALLOWED] });
});

after(async () => {
  await http?.close();
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
      const pages: [string, TestServer, string, Record<string, string>, number][] = [
        ["signed-in page (/v1/login)", http, `/v1/login?token=${await tokenFor(http)}`, {}, 200],
        ["signed-in page (/tap)", http, `/tap?nonce=${await nonceFor(http, "dashboard")}`, {}, 200],
        ["signed-in page (/sso)", http, `/sso?nonce=${await nonceFor(http, "portal")}`, {}, 200],
        ["failure page (/v1/login)", http, "/v1/login?token=nope-nope-nope-nope", {}, 400],
        ["failure page (/v1/login, no token)", http, "/v1/login", {}, 400],
        ["failure page (/tap)", http, "/tap?nonce=nope-nope-nope-nope", {}, 400],
        ["failure page (/sso, wrong section)", http, `/sso?nonce=${await nonceFor(http, "dashboard")}`, {}, 400],
        // SSOD_THROTTLE_IP_LIMIT=1: the first failure is the failure page, the second the throttled one.
        ["failure page before the throttle", throttling, "/tap?nonce=x", {}, 400],
        ["throttled page", throttling, "/tap?nonce=y", {}, 429],
        ["API docs", http, "/docs", {}, 200],
      ];
      for (const [label, server, path, headers, status] of pages) {
        const r = await server.request("GET", path, { headers, ip: "192.0.2.99" });
        assert.equal(r.status, status, label);
        // Every one of these pages is HTML: the checks below cannot be skipped by a page that is not.
        assert.match(r.headers.get("content-type") ?? "", /^text\/html/, `${label}: not an HTML answer`);
        SECURITY(r, `${label} (${r.status})`);
        const csp = r.headers.get("content-security-policy")!;
        assert.match(csp, /default-src 'none'|default-src 'self'/, `${label}: CSP ${csp}`);
        assert.match(csp, /frame-ancestors 'none'/, `${label}: framable (${csp})`);
      }
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
    const created = (await (
      await check(
        "POST /v1/sources (secrets)",
        http.request("POST", "/v1/sources", { json: { code: "cache", name: "Cache", validForSeconds: 60 }, headers: key }),
        201,
      )
    ).json()) as {
      id: number;
      clientId: string;
      clientSecret: string;
    };
    const rotated = (await (
      await check("POST /v1/sources/{id}/secret", http.request("POST", `/v1/sources/${created.id}/secret`, { headers: key }), 200)
    ).json()) as { clientSecret: string };
    const basic = basicAuth({ clientId: created.clientId, clientSecret: rotated.clientSecret });
    const v1 = (await (
      await check("POST /v1/tokens", http.request("POST", "/v1/tokens", { json: { user: { email: "c@example.com" } }, headers: basic }), 201)
    ).json()) as { token: string };
    await check("POST /v1/tokens/introspect", http.request("POST", "/v1/tokens/introspect", { json: { token: v1.token }, headers: key }), 200);
    const redeemed = (await (
      await check("POST /v1/tokens/redeem", http.request("POST", "/v1/tokens/redeem", { json: { token: v1.token }, headers: key }), 200)
    ).json()) as {
      session: { id: string };
    };
    await check("GET /v1/session", http.request("GET", "/v1/session", { headers: { cookie: `ssod_session=${redeemed.session.id}` } }), 200);
    await check("POST /api/sso", http.request("POST", "/api/sso", { json: { emailAddress: "c@example.com" }, headers: { "admin-auth": http.adminKey } }), 200);
    await check(
      "POST /admin/sso",
      http.request("POST", "/admin/sso", { json: { emailAddress: "c@example.com" }, headers: { "admin-auth": http.adminKey } }),
      200,
    );
    const jwt = await callerJwt({ clientId: created.clientId, clientSecret: rotated.clientSecret });
    await check(
      "POST /GenerateSSOToken",
      http.request("POST", "/GenerateSSOToken", {
        body: JSON.stringify({ CIINo: "1", LOBId: "2", Functionality: "3" }),
        headers: lobHeaders(created.clientId, jwt),
      }),
      200,
    );
    await createAdminAccount(http.runtime.core, "cacher", "a long enough password");
    await check(
      "api.php admin.login (SessionID)",
      http.request("POST", "/api.php", { json: { Command: "admin.login", Username: "cacher", Password: "a long enough password" } }),
      200,
    );
    await check("GET /v1/login 303 (cookie)", http.request("GET", `/v1/login?token=${await tokenFor(http, { sourceCode: "app", redirectUrl: ALLOWED })}`), 303);
    await check("GET /tap 200 (cookie)", http.request("GET", `/tap?nonce=${await nonceFor(http, "dashboard")}`), 200);
    await check(
      "GET /sso 200 JSON (cookie)",
      http.request("GET", `/sso?nonce=${await nonceFor(http, "portal")}`, { headers: { accept: "application/json" } }),
      200,
    );
    assert.equal(seen.length, 13);
  });
});
