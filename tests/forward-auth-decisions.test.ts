// SPEC §8 at the endpoint itself (in-process, no proxy): GET /v1/forward-auth
// reads the original request from either form of forwarded headers, lets a
// valid session of a user inside the app's rule through with all six Remote-*
// headers, sends everyone else to the portal or refuses them, audits only the
// 403s of the rule, counts every decision, and answers nothing but 200, 302,
// 401 and 403 — for garbage headers, for paths servers read differently, and
// with the store gone.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { eq } from "drizzle-orm";
import fc from "fast-check";
import { apps } from "../src/store/schema";
import {
  ALICE,
  BOB,
  type ForwardAuthWorld,
  forwardAuthWorld,
  forwardedHeaders,
  inProcess,
  originalHeaders,
  REMOTE,
  remoteOf,
  type SignedIn,
} from "./helpers/forward-auth";
import { openTestServer, type TestServer } from "./helpers/runtime";
import { type Sqld, startSqld } from "./helpers/sqld";

const PORTAL = "https://portal.fa.test/start";
let s: TestServer;
let world: ForwardAuthWorld;
let alice: SignedIn;
let bob: SignedIn;

before(async () => {
  s = await openTestServer({ SSOD_LOGIN_URL: PORTAL });
  world = await forwardAuthWorld(inProcess(s), s.adminKey);
  alice = await world.signIn(ALICE);
  bob = await world.signIn(BOB);
});
after(() => s.close());

const decide = (headers: Record<string, string>, query = "") => s.request("GET", `/v1/forward-auth${query}`, { headers });
const loginFor = (url: string) => `${PORTAL}?return_to=${encodeURIComponent(url)}`;

async function auditCount(action: string): Promise<number> {
  const r = await s.request("GET", `/v1/audit?action=${action}&limit=500`, { headers: { authorization: `Bearer ${s.adminKey}` } });
  assert.equal(r.status, 200);
  return ((await r.json()) as { items: unknown[] }).items.length;
}

describe("a valid session of a user inside the rule", () => {
  test("Caddy/Traefik form: 200 with all six Remote-* headers", async () => {
    const r = await decide({ ...forwardedHeaders("https://app.fa.test/docs/page?x=1"), cookie: alice.cookie });
    assert.equal(r.status, 200, await r.clone().text());
    const remote = remoteOf(r.headers);
    assert.equal(remote["remote-user"], "CII-0001", "the external id");
    assert.equal(remote["remote-email"], "alice@example.com");
    assert.equal(remote["remote-name"], "Alice Liddell");
    assert.equal(remote["remote-groups"], "staff,dev%2Cops", "comma-separated, a comma inside a name escaped");
    assert.equal(remote["remote-org"], "", "present, empty: the default org");
    assert.match(remote["remote-user-id"] ?? "", /^[0-9a-f-]{36}$/);
    assert.equal(r.headers.get("cache-control"), "no-store", "no proxy may keep a decision");
  });

  test("nginx form (X-Original-URL): the same 200; the port and ssod's own query string do not matter", async () => {
    const r = await decide({ ...originalHeaders("http://app.fa.test:8443/"), cookie: `other=1; ${alice.cookie}; more=2` }, "?x-original-url=http://evil.test/");
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("remote-user"), "CII-0001");
  });

  test("a wildcard of one label: a.open.fa.test is protected, a.b.open.fa.test is not", async () => {
    assert.equal((await decide({ ...forwardedHeaders("http://a.open.fa.test/"), cookie: bob.cookie })).status, 200);
    assert.equal((await decide({ ...forwardedHeaders("http://a.b.open.fa.test/"), cookie: bob.cookie })).status, 403);
  });

  test("Remote-User falls back to the email; values outside printable ASCII are percent-encoded as UTF-8, % as %25", async () => {
    const carol = await world.signIn({ email: "carol@example.com", displayName: " José 100% «ok» ", groups: ["staff", "équipe"] });
    const r = await decide({ ...forwardedHeaders("http://app.fa.test/"), cookie: carol.cookie });
    assert.equal(r.status, 200);
    const remote = remoteOf(r.headers);
    assert.equal(remote["remote-user"], "carol@example.com");
    assert.equal(remote["remote-name"], "Jos%C3%A9 100%25 %C2%ABok%C2%BB");
    assert.equal(decodeURIComponent(remote["remote-name"]!), "José 100% «ok»", "the display name was trimmed when it was stored");
    assert.equal(remote["remote-groups"], "staff,%C3%A9quipe");
    for (const h of REMOTE) assert.match(remote[h] ?? "", /^[\x20-\x7e]*$/, `${h} is printable ASCII`);
  });
});

describe("no valid session", () => {
  const url = "http://app.fa.test/p/x?a=1&b=2";

  test("Caddy/Traefik form, a browser: 302 to the login URL with return_to the original URL, encoded", async () => {
    const r = await decide({ ...forwardedHeaders(url), accept: "text/html" });
    assert.equal(r.status, 302);
    assert.equal(r.headers.get("location"), loginFor(url));
    assert.equal(new URL(r.headers.get("location")!).searchParams.get("return_to"), url, "b=2 stays inside return_to");
  });

  test("Caddy/Traefik form, Accept: application/json: 401 (Location names the login URL)", async () => {
    const r = await decide({ ...forwardedHeaders(url), accept: "application/json" });
    assert.equal(r.status, 401);
    assert.equal(r.headers.get("location"), loginFor(url));
    assert.equal(r.headers.get("content-type"), "application/problem+json");
  });

  test("nginx form: 401 with the encoded login URL in Location (for the documented error_page)", async () => {
    const r = await decide({ ...originalHeaders(url), accept: "text/html" });
    assert.equal(r.status, 401);
    assert.equal(r.headers.get("location"), loginFor(url));
  });

  test("an unknown, malformed, expired or logged-out session is no session", async () => {
    for (const cookie of ["ssod_session=", `ssod_session=${"A".repeat(43)}`, "ssod_session=not-a-session", `ssod_session=${alice.session}x`]) {
      const r = await decide({ ...forwardedHeaders(url), cookie });
      assert.equal(r.status, 302, cookie);
      assert.equal(r.headers.get("remote-user"), null);
    }
    const leaving = await world.signIn({ email: "leaving@example.com", groups: ["staff"] });
    assert.equal((await decide({ ...forwardedHeaders(url), cookie: leaving.cookie })).status, 200);
    const out = await s.request("POST", "/v1/session/logout", { headers: { cookie: leaving.cookie, origin: "http://ssod.test" } });
    assert.equal(out.status, 204);
    assert.equal((await decide({ ...forwardedHeaders(url), cookie: leaving.cookie })).status, 302);
  });

  test("an expired session is no session", async () => {
    const soon = await world.signIn({ email: "expiring@example.com", groups: ["staff"] });
    const headers = { ...forwardedHeaders("http://app.fa.test/"), cookie: soon.cookie };
    assert.equal((await decide(headers)).status, 200);
    await s.runtime.store.driver.execute({
      sql: "UPDATE login_sessions SET expires_at = ? WHERE user_id = (SELECT id FROM users WHERE email = 'expiring@example.com')",
      args: [Date.now() - 1],
    });
    assert.equal((await decide(headers)).status, 302);
  });

  test("the app's own loginUrl wins over SSOD_LOGIN_URL", async () => {
    const r0 = await s.request("POST", "/v1/apps", {
      json: { name: "Own portal", loginUrl: "https://other-portal.fa.test/begin?lang=en", forwardAuth: { hosts: ["own.fa.test"] } },
      headers: { authorization: `Bearer ${s.adminKey}` },
    });
    assert.equal(r0.status, 201);
    const r = await decide(forwardedHeaders("http://own.fa.test/x"));
    assert.equal(r.headers.get("location"), `https://other-portal.fa.test/begin?lang=en&return_to=${encodeURIComponent("http://own.fa.test/x")}`);
  });
});

describe("what a browser may see", () => {
  test("the 302, 401 and 403 (Caddy and Traefik pass them on) carry the headers of every page", async () => {
    for (const headers of [forwardedHeaders("http://app.fa.test/"), originalHeaders("http://app.fa.test/"), forwardedHeaders("http://nothing.fa.test/"), {}]) {
      const r = await decide({ ...headers, accept: "text/html" });
      assert.ok([302, 401, 403].includes(r.status));
      assert.equal(r.headers.get("cache-control"), "no-store");
      assert.match(r.headers.get("content-security-policy") ?? "", /default-src 'none'/);
      assert.equal(r.headers.get("x-frame-options"), "DENY");
      assert.equal(r.headers.get("referrer-policy"), "no-referrer");
    }
  });
});

describe("refused", () => {
  test("a user outside the rule: 403, audited once per refusal; allowed and anonymous decisions write nothing", async () => {
    const denied = await auditCount("app.access_denied");
    const all = await auditCount("");
    const r = await decide({ ...forwardedHeaders("http://app.fa.test/"), cookie: bob.cookie });
    assert.equal(r.status, 403);
    assert.equal(r.headers.get("remote-user"), null);
    assert.equal(await auditCount("app.access_denied"), denied + 1);
    assert.equal(await auditCount(""), all + 1);
    for (const headers of [{ cookie: alice.cookie }, {}] as Record<string, string>[]) {
      await decide({ ...forwardedHeaders("http://app.fa.test/"), ...headers });
      await decide({ ...originalHeaders("http://app.fa.test/"), ...headers });
    }
    assert.equal(await auditCount(""), all + 1, "200, 302 and 401 are not audited");
  });

  test("path prefixes: the longest decides (/admin wants admins)", async () => {
    assert.equal((await decide({ ...forwardedHeaders("http://app.fa.test/admin/users"), cookie: alice.cookie })).status, 403);
    assert.equal((await decide({ ...forwardedHeaders("http://app.fa.test/adminx"), cookie: alice.cookie })).status, 403, "a prefix, not a segment");
    assert.equal((await decide({ ...forwardedHeaders("http://app.fa.test/docs/admin"), cookie: alice.cookie })).status, 200);
  });

  test("a path that servers read differently, leading to another app, is refused (401), not judged by the laxer app", async () => {
    const at = (path: string) => ({ ...forwardedHeaders("http://app.fa.test/"), "x-forwarded-uri": path, cookie: alice.cookie });
    for (const path of ["/x/..%2Fadmin", "/x/../admin", "/x/%2e%2e/admin", "//admin", "/x/..;/admin", "/x\\..\\admin", "/%61dmin", "/admin/../x", "/x/%zz"]) {
      const r = await decide(at(path));
      assert.equal(r.status, 401, path);
    }
    // The same kinds of path within one app are judged as usual.
    assert.equal((await decide(at("/docs/../guide/%7Ea"))).status, 200);
    assert.equal((await decide(at("/.well-known/x"))).status, 200);
    assert.equal((await decide(at("/admin/../admin/x"))).status, 403, "every reading is the admin area");
  });

  test("apps on one host: a host named exactly beats a wildcard whichever is older; a host and prefix already protected is refused (409)", async () => {
    const admin = { authorization: `Bearer ${s.adminKey}` };
    const make = (body: unknown) => s.request("POST", "/v1/apps", { json: body, headers: admin });
    // The open wildcard app is older: it must not decide for a host the staff-only app names exactly.
    const open = await make({ name: "Everything under shared", forwardAuth: { hosts: ["*.shared.fa.test"] } });
    assert.equal(open.status, 201);
    const staff = await make({ name: "Staff tool", forwardAuth: { hosts: ["tool.shared.fa.test"] }, allowedGroups: ["staff"] });
    assert.equal(staff.status, 201);
    assert.equal((await decide({ ...forwardedHeaders("http://tool.shared.fa.test/"), cookie: bob.cookie })).status, 403);
    assert.equal((await decide({ ...forwardedHeaders("http://tool.shared.fa.test/"), cookie: alice.cookie })).status, 200);
    assert.equal((await decide({ ...forwardedHeaders("http://else.shared.fa.test/"), cookie: bob.cookie })).status, 200);

    const again = await make({ name: "Staff tool, again", forwardAuth: { hosts: ["tool.shared.fa.test"], pathPrefixes: ["/"] } });
    assert.equal(again.status, 409, JSON.stringify(await again.clone().json()));
    const problem = (await again.json()) as { detail: string };
    assert.match(problem.detail, /already protects tool\.shared\.fa\.test under \//);
    const staffId = ((await staff.json()) as { id: number }).id;
    assert.equal(
      (await s.request("PATCH", `/v1/apps/${staffId}`, { json: { forwardAuth: { hosts: ["tool.shared.fa.test"] } }, headers: admin })).status,
      200,
      "an app may keep its own routes",
    );
  });

  test("two apps naming the same host and prefix (two instances' writes at once) decide together: a user must pass both rules", async () => {
    const admin = { authorization: `Bearer ${s.adminKey}` };
    const made = await s.request("POST", "/v1/apps", { json: { name: "Open twin", forwardAuth: { hosts: ["twin-a.fa.test"] } }, headers: admin });
    const strict = await s.request("POST", "/v1/apps", {
      json: { name: "Strict twin", forwardAuth: { hosts: ["twin-b.fa.test"] }, allowedGroups: ["staff"] },
      headers: admin,
    });
    assert.equal(made.status, 201);
    assert.equal(strict.status, 201);
    // What two writes racing past the 409 check leave: the strict app on the open one's host, as another instance wrote it.
    const strictId = ((await strict.json()) as { id: number }).id;
    await s.runtime.core.store.db.update(apps).set({ forwardAuthHosts: '["twin-a.fa.test"]' }).where(eq(apps.id, strictId));
    s.runtime.core.apps.invalidate();
    assert.equal((await decide({ ...forwardedHeaders("http://twin-a.fa.test/"), cookie: bob.cookie })).status, 403, "the stricter rule holds");
    assert.equal((await decide({ ...forwardedHeaders("http://twin-a.fa.test/"), cookie: alice.cookie })).status, 200);
  });

  test("a host no app protects: 403 with or without a session", async () => {
    for (const headers of [{ cookie: alice.cookie }, {}] as Record<string, string>[]) {
      assert.equal((await decide({ ...forwardedHeaders("http://nothing.fa.test/"), ...headers })).status, 403);
      assert.equal((await decide({ ...originalHeaders("http://nothing.fa.test/"), ...headers })).status, 403);
    }
  });
});

describe("forwarded headers missing or malformed: 401, never 200, never 5xx", () => {
  const good = forwardedHeaders("http://app.fa.test/ok");
  const cases: [string, Record<string, string>][] = [
    ["nothing forwarded", {}],
    ["X-Forwarded-Host empty (Caddy, HTTP/1.0 without Host)", { ...good, "x-forwarded-host": "" }],
    ["X-Forwarded-Host empty + a client's X-Original-URL", { ...good, "x-forwarded-host": "", ...originalHeaders("http://app.fa.test/") }],
    ["both forms at once", { ...good, ...originalHeaders("http://app.fa.test/") }],
    ["two hosts (a chain, or a duplicate header)", { ...good, "x-forwarded-host": "nothing.fa.test, app.fa.test" }],
    ["host with userinfo", { ...good, "x-forwarded-host": "x@app.fa.test" }],
    ["host with a path", { ...good, "x-forwarded-host": "app.fa.test/x" }],
    ["host with a bad port", { ...good, "x-forwarded-host": "app.fa.test:99999" }],
    ["no method", { ...good, "x-forwarded-method": "" }],
    ["a method with a space", { ...good, "x-forwarded-method": "GET X" }],
    ["no proto", { ...good, "x-forwarded-proto": "" }],
    ["proto ftp", { ...good, "x-forwarded-proto": "ftp" }],
    ["no URI", { ...good, "x-forwarded-uri": "" }],
    ["URI not from /", { ...good, "x-forwarded-uri": "ok" }],
    ["URI with a fragment", { ...good, "x-forwarded-uri": "/ok#x" }],
    ["URI with a space", { ...good, "x-forwarded-uri": "/o k" }],
    ["URI with a tab", { ...good, "x-forwarded-uri": "/o\tk" }],
    ["URI with raw UTF-8", { ...good, "x-forwarded-uri": "/caf\u00c3\u00a9" }],
    ["no X-Original-Method", { "x-original-url": "http://app.fa.test/" }],
    ["X-Original-URL http:///app.fa.test/x (WHATWG: host app.fa.test)", originalHeaders("http:///app.fa.test/x")],
    ["X-Original-URL http:\\\\app.fa.test\\x", originalHeaders("http:\\\\app.fa.test\\x")],
    ["X-Original-URL http:app.fa.test/x", originalHeaders("http:app.fa.test/x")],
    ["X-Original-URL with userinfo", originalHeaders("http://nothing.fa.test@app.fa.test/")],
    ["X-Original-URL with a tab in the host", originalHeaders("http://app.fa\t.test/")],
    ["X-Original-URL without a path", originalHeaders("http://app.fa.test")],
    ["X-Original-URL relative", originalHeaders("/x")],
    ["X-Original-URL javascript:", originalHeaders("javascript://app.fa.test/%0aalert(1)")],
    ["X-Original-URL with a space", originalHeaders("http://app.fa.test/a b")],
  ];
  for (const [name, headers] of cases) {
    test(name, async () => {
      const r = await decide({ ...headers, cookie: alice.cookie, accept: "text/html" });
      assert.equal(r.status, 401, `${name}: ${await r.clone().text()}`);
      assert.equal(r.headers.get("location"), null, "no redirect on a malformed request");
      assert.equal(r.headers.get("remote-user"), null);
      // The session is fine: the page says the proxy's request is what cannot be judged, not "sign in".
      const page = await r.text();
      assert.match(page, /This request could not be checked/);
      assert.doesNotMatch(page, /Not signed in/);
      assert.equal(r.headers.get("www-authenticate"), null, "no password dialog in the browser");
    });
  }

  test("property: one field of a request that would pass, corrupted or left out, is a 401", async () => {
    // Characters that make each field malformed wherever they are put (whitespace only inside: HTTP trims the ends).
    const NOT_IN_HOST = [
      "@",
      "#",
      "/",
      "\\",
      ",",
      "%",
      "?",
      "'",
      '"',
      "<",
      "(",
      "*",
      "!",
      ";",
      "=",
      "&",
      "+",
      "~",
      "$",
      "[",
      "]",
      "\u00e9",
      "\u0080",
      "\x7f",
      "\x01",
    ];
    const NOT_IN_METHOD = ["@", "/", "\\", ",", "?", '"', "<", "(", ";", "=", "[", "]", ":", "\u00e9", "\u0080", "\x7f", "\x01"];
    const NOT_IN_URI = ["#", "\u00e9", "\u00ff", "\u0080", "\x7f", "\x01"];
    const insert = (value: string, bad: string[]) =>
      fc
        .tuple(fc.constantFrom(...bad, " ", "\t"), fc.nat({ max: value.length }))
        .filter(([c, at]) => !/\s/.test(c) || (at > 0 && at < value.length))
        .map(([c, at]) => `${value.slice(0, at)}${c}${value.slice(at)}`);
    const valid = { ...forwardedHeaders("http://app.fa.test/ok"), "x-forwarded-host": "app.fa.test:8080" };
    const nginx = originalHeaders("http://app.fa.test:8080/ok");
    const requests = fc.oneof(
      insert("app.fa.test", NOT_IN_HOST).map((v) => ({ ...valid, "x-forwarded-host": v })),
      // In a URL, a / ? or # ends the host: what is left is another, well-formed URL.
      insert(
        "app.fa.test",
        NOT_IN_HOST.filter((c) => !"/?#".includes(c)),
      ).map((v) => ({ ...nginx, "x-original-url": `http://${v}/ok` })),
      insert("http", NOT_IN_HOST).map((v) => ({ ...valid, "x-forwarded-proto": v })),
      insert("GET", NOT_IN_METHOD).map((v) => ({ ...valid, "x-forwarded-method": v })),
      insert("GET", NOT_IN_METHOD).map((v) => ({ ...nginx, "x-original-method": v })),
      insert("/ok", NOT_IN_URI).map((v) => ({ ...valid, "x-forwarded-uri": v })),
      insert("/ok", NOT_IN_URI).map((v) => ({ ...nginx, "x-original-url": `http://app.fa.test${v}` })),
      insert("8080", NOT_IN_METHOD).map((v) => ({ ...valid, "x-forwarded-host": `app.fa.test:${v}` })),
      fc
        .constantFrom("x-forwarded-method", "x-forwarded-proto", "x-forwarded-uri")
        .map((gone) => Object.fromEntries(Object.entries(valid).filter(([k]) => k !== gone))),
      fc.constant({ "x-original-url": nginx["x-original-url"]! }),
    );
    assert.equal((await decide({ ...valid, cookie: alice.cookie })).status, 200, "uncorrupted, it passes");
    assert.equal((await decide({ ...nginx, cookie: alice.cookie })).status, 200, "uncorrupted, it passes");
    await fc.assert(
      fc.asyncProperty(requests, async (headers) => {
        const r = await decide({ ...headers, cookie: alice.cookie });
        assert.equal(r.status, 401, `${JSON.stringify(headers)} → ${r.status}`);
      }),
      { numRuns: 400 },
    );
  });

  test("property: any forwarded headers at all, with a valid session: only 200, 302, 401 or 403, and 200 only for the protected host", async () => {
    const value = fc.oneof(
      fc.string(),
      fc.string({ unit: "binary-ascii" }),
      fc.constantFrom("app.fa.test", "a.open.fa.test", "http", "https", "GET", "/", "/admin", "http://app.fa.test/", "http:///app.fa.test/"),
    );
    const names = fc.constantFrom("x-forwarded-host", "x-forwarded-proto", "x-forwarded-method", "x-forwarded-uri", "x-original-url", "x-original-method");
    await fc.assert(
      fc.asyncProperty(fc.dictionary(names, value), async (forwarded) => {
        let headers: Headers;
        try {
          headers = new Headers(forwarded);
        } catch {
          return;
        }
        headers.set("cookie", alice.cookie);
        const r = await s.request("GET", "/v1/forward-auth", { headers: Object.fromEntries(headers) });
        assert.ok([200, 302, 401, 403].includes(r.status), `${JSON.stringify(forwarded)} → ${r.status}`);
        if (r.status === 200) {
          const host = headers.get("x-forwarded-host") ?? new URL(headers.get("x-original-url")!).hostname;
          assert.match(host, /^(app\.fa\.test|[a-z0-9_-]+\.open\.fa\.test)(:\d+)?$/i, `${JSON.stringify(forwarded)} let through`);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("the cost of a decision", () => {
  test("concurrent decisions share one keyed read of the store, and none writes", async () => {
    const calls = async () => {
      const text = await (await s.request("GET", "/metrics")).text();
      const count = (kind: string) => Number(new RegExp(`^ssod_store_call_duration_seconds_count\\{kind="${kind}"\\} (\\d+)$`, "m").exec(text)?.[1] ?? 0);
      return { reads: count("read"), writes: count("write") };
    };
    const headers = { ...forwardedHeaders("http://app.fa.test/"), cookie: alice.cookie };
    await decide(headers); // the app directory is fresh
    const before = await calls();
    const answers = await Promise.all(Array.from({ length: 50 }, () => decide(headers)));
    assert.deepEqual(new Set(answers.map((r) => r.status)), new Set([200]));
    const after = await calls();
    assert.equal(after.writes, before.writes, "no write per decision");
    // One read for the fifty sessions, and at most one more if the app directory's time to re-read came.
    assert.ok(after.reads - before.reads <= 2, `${after.reads - before.reads} reads for 50 decisions`);
  });
});

describe("metrics", () => {
  test("/metrics counts decisions by app and outcome", async () => {
    const read = async () => (await (await s.request("GET", "/metrics")).text()).split("\n").filter((l) => l.startsWith("ssod_forward_auth_decisions_total"));
    const wiki = world.apps["Staff wiki"]!.clientId;
    await decide({ ...forwardedHeaders("http://app.fa.test/"), cookie: alice.cookie });
    await decide({ ...forwardedHeaders("http://app.fa.test/"), cookie: bob.cookie });
    await decide(forwardedHeaders("http://app.fa.test/"));
    await decide({ ...forwardedHeaders("http://app.fa.test/"), accept: "application/json" });
    await decide(forwardedHeaders("http://nothing.fa.test/"));
    await decide({});
    const lines = await read();
    const count = (app: string, outcome: string) =>
      Number(lines.find((l) => l.startsWith(`ssod_forward_auth_decisions_total{app="${app}",outcome="${outcome}"}`))?.split(" ")[1] ?? 0);
    for (const [app, outcome] of [
      [wiki, "allow"],
      [wiki, "forbidden"],
      [wiki, "redirect"],
      [wiki, "unauthenticated"],
      ["", "no_app"],
      ["", "malformed"],
    ] as const) {
      assert.ok(count(app, outcome) >= 1, `${app} ${outcome} in ${lines.join("\n")}`);
    }
    const before = count(wiki, "allow");
    await decide({ ...forwardedHeaders("http://app.fa.test/"), cookie: alice.cookie });
    assert.equal(count(wiki, "allow"), before, "read before the decision");
    const after = (await read()).find((l) => l.startsWith(`ssod_forward_auth_decisions_total{app="${wiki}",outcome="allow"}`));
    assert.equal(Number(after?.split(" ")[1]), before + 1);
  });
});

describe("without a login URL", () => {
  let bare: TestServer;
  let signedIn: SignedIn;
  before(async () => {
    bare = await openTestServer();
    const w = await forwardAuthWorld(inProcess(bare), bare.adminKey);
    signedIn = await w.signIn(BOB);
  });
  after(() => bare?.close());

  test("a browser gets the 401 page that says to sign in through the portal (Caddy and Traefik show it); nginx gets its 401", async () => {
    for (const headers of [forwardedHeaders("http://app.fa.test/"), originalHeaders("http://app.fa.test/")]) {
      const r = await bare.request("GET", "/v1/forward-auth", { headers: { ...headers, accept: "text/html" } });
      assert.equal(r.status, 401);
      assert.equal(r.headers.get("location"), null);
      assert.match(r.headers.get("content-type") ?? "", /^text\/html/);
      assert.match(await r.text(), /Sign in through your portal/);
    }
    // The rule still holds.
    const r = await bare.request("GET", "/v1/forward-auth", { headers: { ...forwardedHeaders("http://app.fa.test/"), cookie: signedIn.cookie } });
    assert.equal(r.status, 403);
  });
});

describe("with the store gone", () => {
  let sqld: Sqld;
  let remote: TestServer;
  let signedIn: SignedIn;
  before(async () => {
    sqld = await startSqld();
    remote = await openTestServer({
      SSOD_DATABASE_URL: sqld.url,
      SSOD_DATABASE_AUTH_TOKEN: sqld.token,
      SSOD_MASTER_KEY: "7".repeat(64),
      SSOD_STORE_TIMEOUT: "2",
      SSOD_LOGIN_URL: PORTAL,
    });
    const w = await forwardAuthWorld(inProcess(remote), remote.adminKey);
    signedIn = await w.signIn(ALICE);
  });
  after(async () => {
    await remote?.close().catch(() => {});
    await sqld?.stop();
  });

  test("fail closed: 401 (never 200, never a 5xx nginx would turn into a 500)", async () => {
    const headers = { ...forwardedHeaders("http://app.fa.test/"), cookie: signedIn.cookie };
    assert.equal((await remote.request("GET", "/v1/forward-auth", { headers })).status, 200);
    await sqld.stop();
    for (const h of [headers, { ...originalHeaders("http://app.fa.test/"), cookie: signedIn.cookie }]) {
      const r = await remote.request("GET", "/v1/forward-auth", { headers: h });
      assert.equal(r.status, 401, await r.clone().text());
      assert.equal(r.headers.get("remote-user"), null);
      assert.equal(r.headers.get("location"), null, "not sent to a portal that cannot sign anyone in now");
    }
  });
});
