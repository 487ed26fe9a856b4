// SPEC §8, the promises tests/forward-auth-decisions.test.ts leaves open, at
// the endpoint itself (in-process): forward-auth refusals are not throttled —
// neither answered 429 nor counted against the proxy's address, whose real
// callers would then be refused —; an address already throttled still gets
// every decision; no decision but the rule's 403 writes to the store, and each
// one reads the store at most once; the rule's 403 leaves one audit row that
// names the app, the user and the address, and no session id; an allowed
// request's six Remote-* headers are ssod's, whatever the request carried.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
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

const PORTAL = "https://portal.fa.test/start";
let s: TestServer;
let world: ForwardAuthWorld;
let alice: SignedIn;
let bob: SignedIn;

before(async () => {
  // Low limits: 5 failures per address, 3 per credential, then 429.
  s = await openTestServer({ SSOD_LOGIN_URL: PORTAL, SSOD_THROTTLE_IP_LIMIT: "5", SSOD_THROTTLE_CREDENTIAL_LIMIT: "3" });
  world = await forwardAuthWorld(inProcess(s), s.adminKey);
  alice = await world.signIn(ALICE);
  bob = await world.signIn(BOB);
});
after(() => s.close());

const decide = (headers: Record<string, string>, ip = "127.0.0.1") => s.request("GET", "/v1/forward-auth", { headers, ip });
const wrongAdminKey = (ip: string) =>
  s.request("POST", "/v1/tokens", { json: { user: { email: "x@example.com" } }, headers: { authorization: `Bearer ssod_ak_${"x".repeat(43)}` }, ip });

/** Every kind of refusal forward auth gives, with the status each must get. */
const REFUSALS: [string, Record<string, string>, number][] = [
  ["malformed (nothing forwarded)", {}, 401],
  ["malformed (a path read differently)", { ...forwardedHeaders("http://app.fa.test/"), "x-forwarded-uri": "/x/..%2Fadmin" }, 401],
  ["no session, Caddy form", { ...forwardedHeaders("http://app.fa.test/"), accept: "text/html" }, 302],
  ["an unknown session, Caddy form", { ...forwardedHeaders("http://app.fa.test/"), cookie: `ssod_session=${"A".repeat(43)}` }, 302],
  ["no session, nginx form", originalHeaders("http://app.fa.test/"), 401],
  ["no session, JSON", { ...forwardedHeaders("http://app.fa.test/"), accept: "application/json" }, 401],
  ["a host no app protects", forwardedHeaders("http://nothing.fa.test/"), 403],
  ["a user outside the rule", { ...forwardedHeaders("http://app.fa.test/"), cookie: "(bob)" }, 403],
];
const withCookies = (headers: Record<string, string>) => (headers.cookie === "(bob)" ? { ...headers, cookie: bob.cookie } : headers);

describe("forward-auth refusals are not throttled (every request comes from the proxy's address)", () => {
  test("80 refusals of every kind from one address are each answered as usual, never 429; the user inside the rule still gets 200", async () => {
    const proxy = "10.0.0.5";
    for (let round = 0; round < 10; round++) {
      for (const [name, headers, status] of REFUSALS) {
        const r = await decide(withCookies(headers), proxy);
        assert.equal(r.status, status, `round ${round}, ${name}`);
        assert.equal(r.headers.get("retry-after"), null, `round ${round}, ${name}: no Retry-After`);
      }
    }
    const r = await decide({ ...forwardedHeaders("http://app.fa.test/"), cookie: alice.cookie }, proxy);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("remote-user"), "CII-0001");
  });

  test("… and they count for nothing: the proxy's address is not throttled for its other callers", async () => {
    const proxy = "10.0.0.6";
    for (let i = 0; i < 40; i++) {
      const [, headers] = REFUSALS[i % REFUSALS.length]!;
      await decide(withCookies(headers), proxy);
    }
    // Were refusals counted, this address would be 8 times over its limit of 5.
    const first = await wrongAdminKey(proxy);
    assert.equal(first.status, 401, "a first failed authentication from that address is a 401, not a 429");
    const issued = await s.request("POST", "/v1/tokens", {
      json: { user: { email: "y@example.com" } },
      headers: { authorization: `Bearer ${s.adminKey}` },
      ip: proxy,
    });
    assert.equal(issued.status, 201);
  });

  test("an address throttled for failed authentications still gets every decision, each as usual", async () => {
    const proxy = "10.0.0.7";
    let throttled = false;
    for (let i = 0; i < 10 && !throttled; i++) throttled = (await wrongAdminKey(proxy)).status === 429;
    assert.ok(throttled, "the address is throttled");
    assert.equal((await decide({ ...forwardedHeaders("http://app.fa.test/"), cookie: alice.cookie }, proxy)).status, 200);
    assert.equal((await decide({ ...originalHeaders("http://app.fa.test/"), cookie: alice.cookie }, proxy)).status, 200);
    for (const [name, headers, status] of REFUSALS) assert.equal((await decide(withCookies(headers), proxy)).status, status, name);
  });
});

describe("what a decision costs the store", () => {
  async function storeCalls() {
    const text = await (await s.request("GET", "/metrics")).text();
    const count = (kind: string) => Number(new RegExp(`^ssod_store_call_duration_seconds_count\\{kind="${kind}"\\} (\\d+)$`, "m").exec(text)?.[1] ?? 0);
    return { reads: count("read"), writes: count("write") };
  }
  async function auditTotal(): Promise<number> {
    const r = await s.request("GET", "/v1/audit?limit=500", { headers: { authorization: `Bearer ${s.adminKey}` } });
    return ((await r.json()) as { items: unknown[] }).items.length;
  }

  test("200s, 302s and 401s (no session, an unknown one, malformed, either form) write nothing; each reads the store at most once", async (t) => {
    const decisions: [Record<string, string>, number][] = [
      [{ ...forwardedHeaders("http://app.fa.test/"), cookie: alice.cookie }, 200],
      [{ ...originalHeaders("http://app.fa.test/"), cookie: alice.cookie }, 200],
      [{ ...forwardedHeaders("http://a.open.fa.test/"), cookie: bob.cookie }, 200],
      ...REFUSALS.filter(([, , status]) => status !== 403).map(([, headers, status]) => [headers, status] as [Record<string, string>, number]),
    ];
    await decide(decisions[0]![0]); // the app directory is fresh
    const audited = await auditTotal();
    const before = await storeCalls();
    let n = 0;
    for (let round = 0; round < 5; round++) {
      for (const [headers, status] of decisions) {
        // One at a time: no decision shares its read with another.
        assert.equal((await decide(headers)).status, status, JSON.stringify(headers));
        n++;
      }
    }
    const after = await storeCalls();
    t.diagnostic(`${n} decisions: ${after.reads - before.reads} store reads, ${after.writes - before.writes} writes`);
    assert.equal(after.writes, before.writes, "no write for any of them");
    // One keyed read (the session) per decision at most, and one more if the app directory's time to re-read came.
    assert.ok(after.reads - before.reads <= n + 1, `${after.reads - before.reads} reads for ${n} decisions`);
    // The /metrics and /v1/audit reads of this test are outside the window above; the audit log is unchanged.
    assert.equal(await auditTotal(), audited, "nothing audited");
  });
});

describe("the 403 of the app's rule is audited", () => {
  test("one app.access_denied row naming the app, the user and the client's address; no session id in it", async () => {
    const rows = async () => {
      const r = await s.request("GET", "/v1/audit?action=app.access_denied&limit=500", { headers: { authorization: `Bearer ${s.adminKey}` } });
      return ((await r.json()) as { items: Record<string, unknown>[] }).items;
    };
    const before = (await rows()).length;
    const r = await decide({ ...forwardedHeaders("http://app.fa.test/page"), cookie: bob.cookie }, "192.0.2.44");
    assert.equal(r.status, 403);
    const after = await rows();
    assert.equal(after.length, before + 1);
    const row = after[0]!;
    const bobId = remoteOf((await decide({ ...forwardedHeaders("http://a.open.fa.test/"), cookie: bob.cookie })).headers)["remote-user-id"];
    assert.equal(row.target, world.apps["Staff wiki"]!.clientId, "the app that refused");
    assert.equal(row.actor, `user:${bobId}`, "the user refused");
    assert.equal(row.ip, "192.0.2.44", "the client's address");
    assert.equal(row.outcome, "failure");
    assert.deepEqual((row.detail as { via?: string }).via, "forward-auth");
    assert.ok(!JSON.stringify(row).includes(bob.session), "never the session id");
  });
});

describe("the six Remote-* headers are ssod's alone", () => {
  test("a user with no email, name, group or org: all six present, the empty ones empty, whatever Remote-* the request carried", async () => {
    const dave = await world.signIn({ externalId: "CII-0002", groups: ["staff"] });
    const spoofed = {
      "remote-user": "admin",
      "remote-email": "admin@evil.test",
      "remote-name": "Admin",
      "remote-groups": "admins",
      "remote-org": "evil",
      "remote-user-id": "0",
    };
    for (const headers of [forwardedHeaders("http://app.fa.test/"), originalHeaders("http://app.fa.test/")]) {
      const r = await decide({ ...headers, ...spoofed, cookie: dave.cookie });
      assert.equal(r.status, 200);
      const remote = remoteOf(r.headers);
      for (const h of REMOTE) assert.notEqual(remote[h], null, `${h} is present`);
      assert.equal(remote["remote-user"], "CII-0002");
      assert.equal(remote["remote-email"], "");
      assert.equal(remote["remote-name"], "");
      assert.equal(remote["remote-groups"], "staff");
      assert.equal(remote["remote-org"], "");
      assert.match(remote["remote-user-id"]!, /^[0-9a-f-]{36}$/);
    }
    // Anonymous, with the same headers: no identity at all.
    const r = await decide({ ...forwardedHeaders("http://app.fa.test/"), ...spoofed, accept: "application/json" });
    assert.equal(r.status, 401);
    for (const h of REMOTE) assert.equal(r.headers.get(h), null, h);
  });
});
