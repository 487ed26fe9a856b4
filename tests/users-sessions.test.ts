// The user directory (GET/PATCH/DELETE /v1/users…) and login sessions
// (GET /v1/login, GET /v1/session, POST /v1/session/logout, DELETE
// /v1/users/{id}/sessions) with the cookie's flags over http and https.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { problemOf } from "./helpers/http";
import { NO_THROTTLE, openTestServer, type TestServer } from "./helpers/runtime";
import { basicAuth, createSource } from "./helpers/sources";
import { issueOk, tykNonce } from "./helpers/tokens";

let s: TestServer;
let secure: TestServer; // SSOD_PUBLIC_URL=https://ssod.test
let admin: Record<string, string>;

interface UserJson {
  id: string;
  orgId: string;
  email: string | null;
  displayName: string | null;
  externalId: string | null;
  groups: string[];
  source: string | null;
  createdAt: string;
  updatedAt: string;
  lastLoginAt: string | null;
}

interface Page {
  items: UserJson[];
  nextCursor: string | null;
}

const USER_KEYS = ["id", "orgId", "email", "displayName", "externalId", "groups", "source", "createdAt", "updatedAt", "lastLoginAt"];
const COOKIE = /^ssod_session=([A-Za-z0-9_-]{43}); Max-Age=(28799|28800); Path=\/; HttpOnly; SameSite=Lax$/;
const SECURE_COOKIE = /^ssod_session=([A-Za-z0-9_-]{43}); Max-Age=(28799|28800); Path=\/; HttpOnly; Secure; SameSite=Lax$/;

/** A token for `user` from the server's admin key (the default source unless `extra` names another). */
const issue = (server: TestServer, user: Record<string, unknown>, extra: Record<string, unknown> = {}) => issueOk(server, { user, ...extra });

/** Creates (or finds) a user by redeeming a token for it; answers the user's id. */
async function userFor(user: Record<string, unknown>): Promise<string> {
  // Distinct creation times, so "newest first" has one right answer.
  await sleep(3);
  const t = await issue(s, user);
  const r = await s.request("POST", "/v1/tokens/redeem", { json: { token: t.token }, headers: admin });
  assert.equal(r.status, 200, await r.clone().text());
  return ((await r.json()) as { user: { id: string } }).user.id;
}

/** Signs in through GET /v1/login; answers the cookie pair "ssod_session=…" and the full Set-Cookie. */
async function login(server: TestServer, user: Record<string, unknown>): Promise<{ cookie: string; setCookie: string }> {
  const t = await issue(server, user);
  const r = await server.request("GET", new URL(t.loginUrl).pathname + new URL(t.loginUrl).search);
  assert.equal(r.status, 200, await r.clone().text());
  const setCookie = r.headers.get("set-cookie") ?? "";
  return { cookie: setCookie.split(";")[0]!, setCookie };
}

async function listUsers(query: string): Promise<Page> {
  const r = await s.request("GET", `/v1/users${query}`, { headers: admin });
  assert.equal(r.status, 200, await r.clone().text());
  return (await r.json()) as Page;
}

const ids: Record<string, string> = {};

before(async () => {
  s = await openTestServer(NO_THROTTLE);
  secure = await openTestServer({ ...NO_THROTTLE, SSOD_PUBLIC_URL: "https://ssod.test" });
  admin = { authorization: `Bearer ${s.adminKey}` };
  // A small directory, made the way users are made: by redemptions.
  ids.alice = await userFor({ email: "alice@example.com", displayName: "Alice Andersson", orgId: "acme", groups: ["admins", "staff"] });
  ids.malice = await userFor({ email: "malice@example.com", displayName: "Mal Ice", orgId: "acme", groups: ["staff"] });
  ids.bob = await userFor({ email: "bob@example.com", displayName: "Bob Builder", orgId: "acme" });
  ids.carol = await userFor({ email: "carol@example.com", displayName: "Carol Anders", orgId: "globex", groups: ["admins"] });
  ids.ext = await userFor({ externalId: "EXT-42", displayName: "Externally Known" });
  ids.pct = await userFor({ email: "percent_user@example.com", displayName: "100% Real" });
});

after(async () => {
  await s?.close();
  await secure?.close();
});

describe("GET /v1/users", () => {
  test("lists users newest first as {items, nextCursor}", async () => {
    const page = await listUsers("");
    assert.equal(page.nextCursor, null);
    assert.deepEqual(
      page.items.map((u) => u.id),
      [ids.pct, ids.ext, ids.carol, ids.bob, ids.malice, ids.alice],
    );
    const alice = page.items.find((u) => u.id === ids.alice)!;
    assert.deepEqual(Object.keys(alice), USER_KEYS);
    assert.deepEqual(
      { ...alice, createdAt: "", updatedAt: "", lastLoginAt: "" },
      {
        id: ids.alice,
        orgId: "acme",
        email: "alice@example.com",
        displayName: "Alice Andersson",
        externalId: null,
        groups: ["admins", "staff"],
        source: "default",
        createdAt: "",
        updatedAt: "",
        lastLoginAt: "",
      },
    );
    for (const time of [alice.createdAt, alice.updatedAt, alice.lastLoginAt!]) assert.equal(new Date(time).toISOString(), time);
  });

  test("q matches the start of an email, case-insensitively, not its middle", async () => {
    assert.deepEqual(
      (await listUsers("?q=ali")).items.map((u) => u.id),
      [ids.alice],
    );
    assert.deepEqual(
      (await listUsers("?q=ALICE%40")).items.map((u) => u.id),
      [ids.alice],
    );
    assert.deepEqual(
      (await listUsers("?q=bob%40example.com")).items.map((u) => u.id),
      [ids.bob],
    );
    assert.deepEqual(
      (await listUsers("?q=lice%40")).items.map((u) => u.id),
      [],
      "'lice@' is inside emails, not at their start (and in no display name)",
    );
  });

  test("q matches any part of a display name, case-insensitively", async () => {
    assert.deepEqual(
      (await listUsers("?q=nders")).items.map((u) => u.id),
      [ids.carol, ids.alice],
    );
    assert.deepEqual(
      (await listUsers("?q=BUILDER")).items.map((u) => u.id),
      [ids.bob],
    );
  });

  test("q matches an external id exactly", async () => {
    assert.deepEqual(
      (await listUsers("?q=EXT-42")).items.map((u) => u.id),
      [ids.ext],
    );
    assert.deepEqual(
      (await listUsers("?q=EXT-4")).items.map((u) => u.id),
      [],
    );
  });

  test("q's LIKE wildcards are taken literally", async () => {
    assert.deepEqual(
      (await listUsers("?q=%25")).items.map((u) => u.id),
      [ids.pct],
      "'%' only in '100% Real'",
    );
    assert.deepEqual(
      (await listUsers("?q=_")).items.map((u) => u.id),
      [],
      "'_' is at no email's start nor in a name",
    );
    assert.deepEqual(
      (await listUsers("?q=percent_")).items.map((u) => u.id),
      [ids.pct],
    );
  });

  test("orgId and group filters, alone and with q", async () => {
    assert.deepEqual(
      (await listUsers("?orgId=acme")).items.map((u) => u.id),
      [ids.bob, ids.malice, ids.alice],
    );
    assert.deepEqual(
      (await listUsers("?orgId=globex")).items.map((u) => u.id),
      [ids.carol],
    );
    assert.deepEqual((await listUsers("?orgId=nowhere")).items, []);
    assert.deepEqual(
      (await listUsers("?group=admins")).items.map((u) => u.id),
      [ids.carol, ids.alice],
    );
    assert.deepEqual(
      (await listUsers("?group=staff&orgId=acme")).items.map((u) => u.id),
      [ids.malice, ids.alice],
    );
    assert.deepEqual(
      (await listUsers("?group=admins&q=nders&orgId=globex")).items.map((u) => u.id),
      [ids.carol],
    );
    assert.deepEqual((await listUsers("?group=adm")).items, [], "groups match whole");
  });

  test("paging with limit and nextCursor walks every user once", async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Page = await listUsers(`?limit=4${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      assert.ok(page.items.length <= 4);
      seen.push(...page.items.map((u) => u.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    const all = (await listUsers("?limit=500")).items.map((u) => u.id);
    assert.deepEqual(seen, all);
    assert.equal(new Set(seen).size, seen.length);
    assert.equal(pages, Math.ceil(all.length / 4));
    const two = await listUsers("?orgId=acme&limit=2");
    assert.equal(two.items.length, 2);
    assert.equal(typeof two.nextCursor, "string");
    const rest = await listUsers(`?orgId=acme&limit=2&cursor=${encodeURIComponent(two.nextCursor!)}`);
    assert.deepEqual(
      rest.items.map((u) => u.id),
      [ids.alice],
    );
    assert.equal(rest.nextCursor, null);
  });

  test("bad limit or cursor → 400; no admin key → 401; a source's credentials → 403", async () => {
    for (const q of ["?limit=0", "?limit=501", "?limit=abc", "?cursor=not-a-cursor"]) {
      const r = await s.request("GET", `/v1/users${q}`, { headers: admin });
      assert.equal(r.status, 400, q);
      assert.equal((await problemOf(r)).type, "urn:ssod:problem:invalid-request");
    }
    assert.equal((await s.request("GET", "/v1/users")).status, 401);
    const src = await createSource(s, { code: "users-src", name: "U", validForSeconds: 60 });
    const r = await s.request("GET", "/v1/users", { headers: basicAuth(src) });
    assert.equal(r.status, 403);
    assert.equal((await problemOf(r)).type, "urn:ssod:problem:forbidden");
  });
});

describe("GET/PATCH/DELETE /v1/users/{id}", () => {
  test("GET a user; an unknown id → 404 problem", async () => {
    const r = await s.request("GET", `/v1/users/${ids.bob}`, { headers: admin });
    assert.equal(r.status, 200);
    const bob = (await r.json()) as UserJson;
    assert.deepEqual(Object.keys(bob), USER_KEYS);
    assert.equal(bob.email, "bob@example.com");
    const missing = await s.request("GET", "/v1/users/00000000-0000-4000-8000-000000000000", { headers: admin });
    assert.equal(missing.status, 404);
    assert.deepEqual(await problemOf(missing), { type: "urn:ssod:problem:not-found", title: "Not found", status: 404, detail: "no such user" });
  });

  test("PATCH changes the given fields only", async () => {
    const id = await userFor({ email: "patch-me@example.com", displayName: "Before", orgId: "acme", groups: ["a"] });
    const before = (await (await s.request("GET", `/v1/users/${id}`, { headers: admin })).json()) as UserJson;
    const r = await s.request("PATCH", `/v1/users/${id}`, { json: { displayName: "After", groups: ["b", "c"], externalId: "PATCHED-1" }, headers: admin });
    assert.equal(r.status, 200, await r.clone().text());
    const after = (await r.json()) as UserJson;
    assert.deepEqual({ ...after, updatedAt: "" }, { ...before, displayName: "After", groups: ["b", "c"], externalId: "PATCHED-1", updatedAt: "" });
    assert.ok(Date.parse(after.updatedAt) >= Date.parse(before.updatedAt));
    assert.deepEqual(await (await s.request("GET", `/v1/users/${id}`, { headers: admin })).json(), after);
    // A redemption by the new external id finds this user.
    const t = await issue(s, { externalId: "PATCHED-1", orgId: "acme" });
    const redeemed = (await (await s.request("POST", "/v1/tokens/redeem", { json: { token: t.token }, headers: admin })).json()) as {
      created: boolean;
      user: { id: string };
    };
    assert.equal(redeemed.created, false);
    assert.equal(redeemed.user.id, id);
  });

  test("PATCH email: to another user's email in the same org → 409 (any case); in another org it is fine", async () => {
    const id = await userFor({ email: "mover@example.com", orgId: "acme" });
    const clash = await s.request("PATCH", `/v1/users/${id}`, { json: { email: "bob@example.com" }, headers: admin });
    assert.equal(clash.status, 409);
    const p = await problemOf(clash);
    assert.equal(p.type, "urn:ssod:problem:conflict");
    assert.equal(p.title, "Conflict");
    assert.equal(p.status, 409);
    const clashCase = await s.request("PATCH", `/v1/users/${id}`, { json: { email: "BOB@Example.COM" }, headers: admin });
    assert.equal(clashCase.status, 409);
    // Unchanged after the refusals.
    assert.equal(((await (await s.request("GET", `/v1/users/${id}`, { headers: admin })).json()) as UserJson).email, "mover@example.com");
    // carol@example.com lives in globex: taking it in acme is allowed.
    const ok = await s.request("PATCH", `/v1/users/${id}`, { json: { email: "Carol@example.com" }, headers: admin });
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as UserJson).email, "Carol@example.com");
    // Moving into globex, where carol has it, clashes.
    const move = await s.request("PATCH", `/v1/users/${id}`, { json: { orgId: "globex" }, headers: admin });
    assert.equal(move.status, 409);
    // Its own email in another case is not a clash.
    const self = await s.request("PATCH", `/v1/users/${id}`, { json: { email: "CAROL@example.com" }, headers: admin });
    assert.equal(self.status, 200);
  });

  test("PATCH validation: bad email 400, neither email nor externalId 400, unknown field 400, unknown user 404, not JSON 415", async () => {
    const bad = await s.request("PATCH", `/v1/users/${ids.bob}`, { json: { email: "nope" }, headers: admin });
    assert.equal(bad.status, 400);
    const neither = await s.request("PATCH", `/v1/users/${ids.bob}`, { json: { email: null }, headers: admin });
    assert.equal(neither.status, 400);
    assert.equal((await problemOf(neither)).type, "urn:ssod:problem:invalid-request");
    const extra = await s.request("PATCH", `/v1/users/${ids.bob}`, { json: { id: "x" }, headers: admin });
    assert.equal(extra.status, 400);
    const missing = await s.request("PATCH", "/v1/users/no-such-user", { json: { displayName: "x" }, headers: admin });
    assert.equal(missing.status, 404);
    const form = await s.request("PATCH", `/v1/users/${ids.bob}`, { form: { displayName: "x" }, headers: admin });
    assert.equal(form.status, 415);
  });

  test("DELETE a user → 204; then 404; the user's sessions end; the next token makes a new user", async () => {
    const { cookie } = await login(s, { email: "doomed@example.com" });
    const session = (await (await s.request("GET", "/v1/session", { headers: { cookie } })).json()) as { user: { id: string } };
    const id = session.user.id;
    const r = await s.request("DELETE", `/v1/users/${id}`, { headers: admin });
    assert.equal(r.status, 204);
    assert.equal(await r.text(), "");
    assert.equal((await s.request("GET", `/v1/users/${id}`, { headers: admin })).status, 404);
    assert.equal((await s.request("DELETE", `/v1/users/${id}`, { headers: admin })).status, 404);
    assert.equal((await s.request("GET", "/v1/session", { headers: { cookie } })).status, 401);
    const again = await issue(s, { email: "doomed@example.com" });
    const redeemed = (await (await s.request("POST", "/v1/tokens/redeem", { json: { token: again.token }, headers: admin })).json()) as {
      created: boolean;
      user: { id: string };
    };
    assert.equal(redeemed.created, true);
    assert.notEqual(redeemed.user.id, id);
  });
});

describe("sessions", () => {
  // Every landing that signs a browser in sets the same cookie, over http and (Secure) over https.
  for (const [label, landing] of [
    ["/v1/login", async (server: TestServer) => `/v1/login?token=${(await issue(server, { email: "cookie@example.com" })).token}`],
    ["/tap", async (server: TestServer) => `/tap?nonce=${await tykNonce(server, { emailAddress: "tyk-cookie@example.com", forSection: "dashboard" })}`],
    ["/sso", async (server: TestServer) => `/sso?nonce=${await tykNonce(server, { emailAddress: "tyk-cookie@example.com", forSection: "portal" })}`],
  ] as const) {
    test(`${label} sets the session cookie: HttpOnly; SameSite=Lax; Path=/; no Domain; Secure only over https (SSOD_PUBLIC_URL=https://…), and so is its clearing`, async () => {
      for (const [server, pattern, cleared] of [
        [s, COOKIE, "ssod_session=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"],
        [secure, SECURE_COOKIE, "ssod_session=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax"],
      ] as const) {
        const r = await server.request("GET", await landing(server));
        assert.equal(r.status, 200, await r.clone().text());
        const cookies = r.headers.getSetCookie();
        assert.equal(cookies.length, 1, JSON.stringify(cookies));
        const m = pattern.exec(cookies[0]!);
        assert.ok(m, `cookie flags: ${cookies[0]}`);
        assert.doesNotMatch(cookies[0]!, /Domain=/i, "a Domain attribute widens the cookie to sibling hosts");
        // The cookie is a working session, and it says who.
        const cookie = `ssod_session=${m[1]}`;
        const who = await server.request("GET", "/v1/session", { headers: { cookie } });
        assert.equal(who.status, 200);
        assert.equal(who.headers.get("cache-control"), "no-store");
        // Logging out clears it with the same flags.
        const out = await server.request("POST", "/v1/session/logout", { headers: { cookie } });
        assert.equal(out.status, 204);
        assert.deepEqual(out.headers.getSetCookie(), [cleared]);
        assert.equal((await server.request("GET", "/v1/session", { headers: { cookie } })).status, 401);
      }
    });
  }

  test("over https (SSOD_PUBLIC_URL=https://…) the loginUrl names the https public URL", async () => {
    const t = await issue(secure, { email: "secure@example.com" });
    assert.equal(t.loginUrl, `https://ssod.test/v1/login?token=${encodeURIComponent(t.token)}`);
  });

  test("GET /v1/session with the cookie: {user, session}", async () => {
    const before = Date.now();
    const { cookie } = await login(s, { email: "who@example.com", displayName: "Who Am I", groups: ["g"] });
    const r = await s.request("GET", "/v1/session", { headers: { cookie } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("cache-control"), "no-store");
    const body = (await r.json()) as { user: UserJson; session: { createdAt: string; expiresAt: string; source: string } };
    assert.deepEqual(Object.keys(body), ["user", "session"]);
    assert.deepEqual(Object.keys(body.user), USER_KEYS);
    assert.equal(body.user.email, "who@example.com");
    assert.equal(body.user.displayName, "Who Am I");
    assert.deepEqual(body.user.groups, ["g"]);
    assert.deepEqual(Object.keys(body.session), ["createdAt", "expiresAt", "source"]);
    assert.equal(body.session.source, "default");
    assert.equal(Date.parse(body.session.expiresAt) - Date.parse(body.session.createdAt), 28_800_000);
    assert.ok(Date.parse(body.session.createdAt) >= before - 5 && Date.parse(body.session.createdAt) <= Date.now());
  });

  test("GET /v1/session without a cookie or with a bogus one → 401 problem", async () => {
    const expected = { type: "urn:ssod:problem:no-session", title: "Not signed in", status: 401, detail: "no valid session cookie" };
    assert.deepEqual(await problemOf(await s.request("GET", "/v1/session")), expected);
    for (const cookie of ["ssod_session=", `ssod_session=${"A".repeat(43)}`, "ssod_session=short", "other=1"]) {
      const r = await s.request("GET", "/v1/session", { headers: { cookie } });
      assert.equal(r.status, 401, cookie);
      assert.deepEqual(await problemOf(r), expected);
    }
  });

  test("POST /v1/session/logout → 204, the cookie cleared, the session gone", async () => {
    const { cookie } = await login(s, { email: "leaver@example.com" });
    assert.equal((await s.request("GET", "/v1/session", { headers: { cookie } })).status, 200);
    const r = await s.request("POST", "/v1/session/logout", { headers: { cookie } });
    assert.equal(r.status, 204);
    assert.equal(await r.text(), "");
    assert.equal(r.headers.get("set-cookie"), "ssod_session=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax");
    assert.equal((await s.request("GET", "/v1/session", { headers: { cookie } })).status, 401);
    // Logging out again, or without any cookie, is still a 204.
    assert.equal((await s.request("POST", "/v1/session/logout", { headers: { cookie } })).status, 204);
    assert.equal((await s.request("POST", "/v1/session/logout")).status, 204);
  });

  test("logging out one session leaves the user's other sessions", async () => {
    const one = await login(s, { email: "two-devices@example.com" });
    const two = await login(s, { email: "two-devices@example.com" });
    assert.notEqual(one.cookie, two.cookie);
    await s.request("POST", "/v1/session/logout", { headers: { cookie: one.cookie } });
    assert.equal((await s.request("GET", "/v1/session", { headers: { cookie: one.cookie } })).status, 401);
    assert.equal((await s.request("GET", "/v1/session", { headers: { cookie: two.cookie } })).status, 200);
  });

  test("DELETE /v1/users/{id}/sessions ends every session of that user only", async () => {
    const a = await login(s, { email: "ended@example.com" });
    const b = await login(s, { email: "ended@example.com" });
    const bystander = await login(s, { email: "bystander@example.com" });
    const id = ((await (await s.request("GET", "/v1/session", { headers: { cookie: a.cookie } })).json()) as { user: { id: string } }).user.id;
    const r = await s.request("DELETE", `/v1/users/${id}/sessions`, { headers: admin });
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { ended: 2 });
    assert.equal((await s.request("GET", "/v1/session", { headers: { cookie: a.cookie } })).status, 401);
    assert.equal((await s.request("GET", "/v1/session", { headers: { cookie: b.cookie } })).status, 401);
    assert.equal((await s.request("GET", "/v1/session", { headers: { cookie: bystander.cookie } })).status, 200);
    // Nothing left to end; the user is still there.
    assert.deepEqual(await (await s.request("DELETE", `/v1/users/${id}/sessions`, { headers: admin })).json(), { ended: 0 });
    assert.equal((await s.request("GET", `/v1/users/${id}`, { headers: admin })).status, 200);
    assert.equal((await s.request("DELETE", "/v1/users/no-such-user/sessions", { headers: admin })).status, 404);
    assert.equal((await s.request("DELETE", `/v1/users/${id}/sessions`)).status, 401);
  });

  test("a source with performLogin off signs in without a cookie", async () => {
    await createSource(s, { code: "no-cookie", name: "N", validForSeconds: 60, options: { performLogin: false } });
    const t = await issue(s, { email: "nocookie@example.com" }, { sourceCode: "no-cookie" });
    const r = await s.request("GET", `/v1/login?token=${t.token}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("set-cookie"), null);
  });

  test("GET /v1/login: JSON with Accept: application/json; a reused token → 400", async () => {
    const t = await issue(s, { email: "json-login@example.com", displayName: "Jason" });
    const r = await s.request("GET", `/v1/login?token=${t.token}`, { headers: { accept: "application/json" } });
    assert.equal(r.status, 200);
    const body = (await r.json()) as { signedIn: boolean; tokenRefNo: string; source: string; user: { email: string } };
    assert.deepEqual(Object.keys(body), ["signedIn", "tokenRefNo", "source", "user"]);
    assert.equal(body.signedIn, true);
    assert.equal(body.tokenRefNo, t.tokenRefNo);
    assert.equal(body.source, "default");
    assert.equal(body.user.email, "json-login@example.com");
    const again = await s.request("GET", `/v1/login?token=${t.token}`, { headers: { accept: "application/json" } });
    assert.equal(again.status, 400);
    assert.equal(again.headers.get("content-type"), "application/problem+json");
    assert.deepEqual(await again.json(), { type: "urn:ssod:problem:invalid-token", title: "Invalid or expired token", status: 400 });
    assert.equal(again.headers.get("set-cookie"), null);
  });

  test("GET /v1/login redirects (303) to the token's redirectUrl, or to the source's only one; with several and none chosen, a page", async () => {
    const mk = (code: string, redirectUrls: string[]) => createSource(s, { code, validForSeconds: 60, redirectUrls });
    await mk("one-url", ["https://one.example/landing"]);
    await mk("two-urls", ["https://two.example/a", "https://two.example/b?x=1"]);
    const only = await issue(s, { email: "r1@example.com" }, { sourceCode: "one-url" });
    const r1 = await s.request("GET", `/v1/login?token=${only.token}`);
    assert.equal(r1.status, 303);
    assert.equal(r1.headers.get("location"), "https://one.example/landing");
    assert.match(r1.headers.get("set-cookie") ?? "", COOKIE);
    const chosen = await issue(s, { email: "r2@example.com" }, { sourceCode: "two-urls", redirectUrl: "https://two.example/b?x=1" });
    const r2 = await s.request("GET", `/v1/login?token=${chosen.token}`);
    assert.equal(r2.status, 303);
    assert.equal(r2.headers.get("location"), "https://two.example/b?x=1");
    const unchosen = await issue(s, { email: "r3@example.com" }, { sourceCode: "two-urls" });
    const r3 = await s.request("GET", `/v1/login?token=${unchosen.token}`);
    assert.equal(r3.status, 200);
    assert.equal(r3.headers.get("location"), null);
  });

  test("a redirectUrl given in an exact or equivalent spelling redirects (303) to the allow-listed URL itself", async () => {
    const ALLOWED = "https://app.example/welcome";
    const ALLOWED_2 = "https://app.example:8443/cb?x=1";
    await createSource(s, { code: "app", validForSeconds: 600, redirectUrls: [ALLOWED, ALLOWED_2] });
    for (const [asked, expected] of [
      [ALLOWED, ALLOWED],
      ["HTTPS://APP.EXAMPLE/welcome", ALLOWED],
      ["https://app.example:443/welcome", ALLOWED],
      [ALLOWED_2, ALLOWED_2],
    ]) {
      const token = (await issue(s, { email: "browser@example.com" }, { sourceCode: "app", redirectUrl: asked })).token;
      const r = await s.request("GET", `/v1/login?token=${token}`);
      assert.equal(r.status, 303);
      assert.equal(r.headers.get("location"), expected);
      assert.equal(r.headers.get("cache-control"), "no-store");
      assert.equal(r.headers.get("referrer-policy"), "no-referrer");
    }
  });

  test("a URL removed from the allowlist after issue is no longer followed", async () => {
    const make = (code: string, urls: string[]) => createSource(s, { code, validForSeconds: 600, redirectUrls: urls });
    const patch = async (code: string, urls: string[]) => {
      const r = await s.request("PATCH", `/v1/sources/${code}`, { json: { redirectUrls: urls }, headers: admin });
      assert.equal(r.status, 200, await r.clone().text());
    };
    const tokenFor = async (sourceCode: string, redirectUrl: string) => (await issue(s, { email: "browser@example.com" }, { sourceCode, redirectUrl })).token;
    const removed = "https://gone.example/in";
    // Replaced by another single URL: the browser goes there, not to the removed one.
    await make("shrink1", [removed, "https://kept.example/in"]);
    let token = await tokenFor("shrink1", removed);
    await patch("shrink1", ["https://kept.example/in"]);
    let r = await s.request("GET", `/v1/login?token=${token}`);
    assert.notEqual(r.headers.get("location"), removed);
    assert.equal(r.status, 303);
    assert.equal(r.headers.get("location"), "https://kept.example/in");
    // Replaced by two others: no redirect at all, the signed-in page.
    await make("shrink2", [removed]);
    token = await tokenFor("shrink2", removed);
    await patch("shrink2", ["https://a.example/", "https://b.example/"]);
    r = await s.request("GET", `/v1/login?token=${token}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("location"), null);
    // The list emptied.
    await make("shrink3", [removed]);
    token = await tokenFor("shrink3", removed);
    await patch("shrink3", []);
    r = await s.request("GET", `/v1/login?token=${token}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("location"), null);
    // Through the legacy dialect: sso.update keeps the list, so a URL still listed is still followed.
    await make("shrink4", [removed]);
    token = await tokenFor("shrink4", removed);
    const id = ((await (await s.request("GET", "/v1/sources/shrink4", { headers: admin })).json()) as { id: number }).id;
    const legacy = await s.request("POST", "/api.php", {
      json: { Command: "sso.update", APIKey: s.adminKey, SourceID: String(id), SourceName: "renamed", SourceCode: "shrink4", ValidForSeconds: "600" },
    });
    assert.equal(legacy.status, 200, await legacy.clone().text());
    r = await s.request("GET", `/v1/login?token=${token}`);
    assert.equal(r.headers.get("location"), removed);
  });
});
