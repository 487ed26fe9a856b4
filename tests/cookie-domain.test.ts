// SSOD_COOKIE_DOMAIN (SPEC §8): the session cookie carries that Domain
// wherever it is set or cleared, so that it reaches the hosts forward auth
// protects and a logout removes it; ssod warns once at start when its public
// URL's host is not under that domain (browsers would drop the cookie).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { loadConfig } from "../src/config";
import { type ServerProcess, startBuiltServer, stopAll } from "./helpers/process";
import { openTestServer, type TestServer } from "./helpers/runtime";

describe("with SSOD_COOKIE_DOMAIN", () => {
  let s: TestServer;
  before(async () => {
    s = await openTestServer({ SSOD_COOKIE_DOMAIN: ".FA.test", SSOD_PUBLIC_URL: "http://ssod.fa.test" });
  });
  after(() => s.close());

  test("the cookie /v1/login sets has the Domain, and the logout clears that same cookie", async () => {
    const issued = await s.request("POST", "/v1/tokens", { json: { user: { email: "dora@example.com" } }, headers: { authorization: `Bearer ${s.adminKey}` } });
    assert.equal(issued.status, 201);
    const { token } = (await issued.json()) as { token: string };
    const landed = await s.request("GET", `/v1/login?token=${token}`);
    const set = landed.headers.get("set-cookie") ?? "";
    assert.match(set, /^ssod_session=[A-Za-z0-9_-]{43}; Max-Age=\d+; Domain=\.fa\.test; Path=\/; HttpOnly; SameSite=Lax$/);
    const cookie = set.split(";")[0]!;

    const out = await s.request("POST", "/v1/session/logout", { headers: { cookie, origin: "http://ssod.fa.test" } });
    assert.equal(out.status, 204);
    assert.match(out.headers.get("set-cookie") ?? "", /^ssod_session=; Max-Age=0; Domain=\.fa\.test; Path=\/; HttpOnly; SameSite=Lax$/);
  });
});

describe("without it", () => {
  let s: TestServer;
  before(async () => {
    s = await openTestServer();
  });
  after(() => s.close());

  test("the cookie is host-only", async () => {
    const issued = await s.request("POST", "/v1/tokens", { json: { user: { email: "erin@example.com" } }, headers: { authorization: `Bearer ${s.adminKey}` } });
    const { token } = (await issued.json()) as { token: string };
    const set = (await s.request("GET", `/v1/login?token=${token}`)).headers.get("set-cookie") ?? "";
    assert.match(set, /^ssod_session=[A-Za-z0-9_-]{43}; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Lax$/);
  });
});

test("a value that is not a domain stops the start, naming the variable", () => {
  for (const bad of ["https://example.com", ".example.com:8080", "exa mple.com", "*.example.com"]) {
    assert.throws(() => loadConfig({ SSOD_COOKIE_DOMAIN: bad }), /SSOD_COOKIE_DOMAIN: expected a domain name/, bad);
  }
  assert.equal(loadConfig({ SSOD_COOKIE_DOMAIN: " .Example.com " }).cookieDomain, ".example.com");
});

describe("the warning at start (the built server)", () => {
  const servers: (ServerProcess | undefined)[] = [];
  after(() => stopAll(servers));
  const warning = (out: string) =>
    out
      .split("\n")
      .filter((l) => l.includes('"level":"warn"') || l.includes('"level":40'))
      .filter((l) => l.includes("SSOD_COOKIE_DOMAIN"));

  test("one log line when SSOD_PUBLIC_URL's host is not under the domain; none when it is", async () => {
    const outside = await startBuiltServer({ env: { SSOD_COOKIE_DOMAIN: ".fa.test", SSOD_PUBLIC_URL: "http://ssod.example.com" } });
    servers.push(outside);
    const inside = await startBuiltServer({ env: { SSOD_COOKIE_DOMAIN: ".fa.test", SSOD_PUBLIC_URL: "http://ssod.fa.test:8080" } });
    servers.push(inside);
    // The warning is written before the server serves; give the log a moment to reach the pipe.
    for (let i = 0; i < 50 && warning(outside.stdout()).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(warning(outside.stdout()).length, 1, outside.stdout());
    assert.match(warning(outside.stdout())[0]!, /"cookieDomain":"\.fa\.test"/);
    assert.equal(warning(inside.stdout()).length, 0, inside.stdout());
  });
});
