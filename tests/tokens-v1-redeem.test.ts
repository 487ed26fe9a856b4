// POST /v1/tokens/redeem, /introspect and /revoke (SPEC §3, §5): the answer's
// shape per the source's options, one indistinguishable 400 for every token
// that cannot be redeemed, registeredOnly and createNewUserIfNotExists,
// per-org case-insensitive emails, and exactly-once under concurrency.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { NO_THROTTLE, openTestServer, type TestServer } from "./helpers/runtime";
import { basicAuth as basic, type CreatedSource, createSource as createSourceOn } from "./helpers/sources";
import { introspect as introspectOn, issueOk as issueOn } from "./helpers/tokens";

let s: TestServer;
let admin: Record<string, string>;

const INVALID = { type: "urn:ssod:problem:invalid-token", title: "Invalid or expired token", status: 400 };

interface Redeemed {
  tokenRefNo: string;
  source: string;
  claims: Record<string, unknown>;
  created: boolean;
  user?: { id: string; email: string | null; displayName: string | null; externalId: string | null; orgId: string; groups: string[] };
  session?: { id: string; expiresAt: string };
}

const createSource = (body: Record<string, unknown>) => createSourceOn(s, body);

const issueOk = (headers: Record<string, string>, json: unknown) => issueOn(s, json, headers);

const redeem = (token: string, headers = admin) => s.request("POST", "/v1/tokens/redeem", { json: { token }, headers });

async function redeemOk(token: string, headers = admin): Promise<Redeemed> {
  const r = await redeem(token, headers);
  assert.equal(r.status, 200, await r.clone().text());
  assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
  return (await r.json()) as Redeemed;
}

/** The one refusal every unusable token gets: status, type and body, byte for byte. */
async function assertRefused(r: Response, label: string): Promise<string> {
  assert.equal(r.status, 400, label);
  assert.equal(r.headers.get("content-type"), "application/problem+json", label);
  const text = await r.text();
  assert.deepEqual(JSON.parse(text), INVALID, label);
  return text;
}

const introspect = (token: string) => introspectOn(s, token);

const isoNear = (iso: string, expectedMs: number, slackMs: number) => Math.abs(Date.parse(iso) - expectedMs) <= slackMs;

let full: CreatedSource; // all three options on
let noUserData: CreatedSource;
let noLogin: CreatedSource;
let noCreate: CreatedSource;
let short: CreatedSource; // validForSeconds 1

before(async () => {
  s = await openTestServer(NO_THROTTLE);
  admin = { authorization: `Bearer ${s.adminKey}` };
  full = await createSource({ code: "full" });
  noUserData = await createSource({ code: "no-user-data", options: { returnUserData: false } });
  noLogin = await createSource({ code: "no-login", options: { performLogin: false } });
  noCreate = await createSource({ code: "no-create", options: { createNewUserIfNotExists: false } });
  short = await createSource({ code: "short", validForSeconds: 1 });
});

after(() => s?.close());

describe("the 200 answer", () => {
  test("all options on: {tokenRefNo, source, claims, created, user, session}; the session id is in the answer, never in a cookie", async () => {
    const t = await issueOk(basic(full), {
      user: { email: "Shape@Example.com", displayName: "Shape Person", externalId: "SH-1", orgId: "acme", groups: ["red", "blue"] },
      section: "portal",
      lobId: "L7",
      functionality: "D",
    });
    const before = Date.now();
    const r = await redeem(t.token);
    assert.equal(r.status, 200, await r.clone().text());
    // The API is not a browser landing: it answers the session id and sets no cookie.
    assert.deepEqual(r.headers.getSetCookie(), []);
    const body = (await r.json()) as Redeemed;
    assert.deepEqual(Object.keys(body), ["tokenRefNo", "source", "claims", "created", "user", "session"]);
    assert.equal(body.tokenRefNo, t.tokenRefNo);
    assert.equal(body.source, "full");
    assert.deepEqual(body.claims, {
      email: "Shape@Example.com",
      displayName: "Shape Person",
      externalId: "SH-1",
      orgId: "acme",
      groups: ["red", "blue"],
      section: "portal",
      lobId: "L7",
      functionality: "D",
    });
    assert.equal(body.created, true);
    assert.deepEqual(Object.keys(body.user!), ["id", "email", "displayName", "externalId", "orgId", "groups"]);
    assert.match(body.user!.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.deepEqual(
      { ...body.user!, id: "" },
      { id: "", email: "Shape@Example.com", displayName: "Shape Person", externalId: "SH-1", orgId: "acme", groups: ["red", "blue"] },
    );
    assert.deepEqual(Object.keys(body.session!), ["id", "expiresAt"]);
    assert.match(body.session!.id, /^[A-Za-z0-9_-]{43}$/);
    // The default session lifetime is 8 hours.
    assert.ok(isoNear(body.session!.expiresAt, before + 28_800_000, 5_000), body.session!.expiresAt);
    // The session id works as the browser's cookie.
    const session = await s.request("GET", "/v1/session", { headers: { cookie: `ssod_session=${body.session!.id}` } });
    assert.equal(session.status, 200);
    assert.equal(((await session.json()) as { user: { id: string } }).user.id, body.user!.id);
  });

  test("claims list only what the token carried", async () => {
    const t = await issueOk(basic(full), { user: { email: "bare@example.com" } });
    const body = await redeemOk(t.token);
    assert.deepEqual(body.claims, { email: "bare@example.com" });
    assert.deepEqual({ ...body.user!, id: "" }, { id: "", email: "bare@example.com", displayName: null, externalId: null, orgId: "", groups: [] });
  });

  test("the same user again: created false, same id", async () => {
    const a = await redeemOk((await issueOk(basic(full), { user: { email: "again@example.com" } })).token);
    const b = await redeemOk((await issueOk(basic(full), { user: { email: "again@example.com" } })).token);
    assert.equal(a.created, true);
    assert.equal(b.created, false);
    assert.equal(b.user!.id, a.user!.id);
  });

  test("returnUserData off: no user in the answer, the session still there", async () => {
    const t = await issueOk(basic(noUserData), { user: { email: "nud@example.com" } });
    const body = await redeemOk(t.token);
    assert.deepEqual(Object.keys(body), ["tokenRefNo", "source", "claims", "created", "session"]);
    assert.equal(body.source, "no-user-data");
    assert.equal(body.created, true);
  });

  test("performLogin off: no session in the answer, the user still there", async () => {
    const t = await issueOk(basic(noLogin), { user: { email: "nl@example.com" } });
    const body = await redeemOk(t.token);
    assert.deepEqual(Object.keys(body), ["tokenRefNo", "source", "claims", "created", "user"]);
    assert.equal(body.source, "no-login");
    assert.equal(body.user!.email, "nl@example.com");
  });

  test("any source's credentials (the target app) or an admin key may redeem; nothing else", async () => {
    const t1 = await issueOk(basic(full), { user: { email: "who@example.com" } });
    assert.equal((await redeemOk(t1.token, basic(noLogin))).source, "full");
    const t2 = await issueOk(basic(full), { user: { email: "who@example.com" } });
    const none = await s.request("POST", "/v1/tokens/redeem", { json: { token: t2.token } });
    assert.equal(none.status, 401);
    const wrong = await redeem(t2.token, basic({ clientId: full.clientId, clientSecret: "nope" }));
    assert.equal(wrong.status, 401);
    // Still unredeemed after the refused attempts.
    assert.equal((await introspect(t2.token)).active, true);
    await redeemOk(t2.token);
  });

  test("a malformed redeem body → 400 invalid-request, not the token answer", async () => {
    for (const json of [{}, { token: "" }, { token: 5 }, { token: "x", extra: 1 }]) {
      const r = await s.request("POST", "/v1/tokens/redeem", { json, headers: admin });
      assert.equal(r.status, 400, JSON.stringify(json));
      assert.equal(((await r.json()) as { type: string }).type, "urn:ssod:problem:invalid-request");
    }
    const notJson = await s.request("POST", "/v1/tokens/redeem", { body: "token=x", headers: { ...admin, "content-type": "text/plain" } });
    assert.equal(notJson.status, 415);
  });
});

describe("one answer for every token that cannot be redeemed", () => {
  test("consumed, unknown, revoked (by token and by tokenRefNo) and expired tokens all get the identical 400", async () => {
    const answers: [string, string][] = [];

    const used = await issueOk(basic(full), { user: { email: "same@example.com" } });
    await redeemOk(used.token);
    answers.push(["second redemption", await assertRefused(await redeem(used.token), "second redemption")]);

    answers.push(["unknown", await assertRefused(await redeem(randomBytes(32).toString("base64url")), "unknown")]);
    answers.push(["garbage", await assertRefused(await redeem("not a token at all"), "garbage")]);

    const revoked = await issueOk(basic(full), { user: { email: "same@example.com" } });
    const rv = await s.request("POST", "/v1/tokens/revoke", { json: { token: revoked.token }, headers: admin });
    assert.equal(rv.status, 200);
    assert.deepEqual(await rv.json(), {});
    answers.push(["revoked", await assertRefused(await redeem(revoked.token), "revoked")]);

    const byRef = await issueOk(basic(full), { user: { email: "same@example.com" } });
    const rv2 = await s.request("POST", "/v1/tokens/revoke", { json: { tokenRefNo: byRef.tokenRefNo }, headers: basic(full) });
    assert.equal(rv2.status, 200);
    answers.push(["revoked by ref", await assertRefused(await redeem(byRef.token), "revoked by ref")]);

    const expiring = await issueOk(basic(short), { user: { email: "same@example.com" } });
    assert.equal((await introspect(expiring.token)).active, true);
    await sleep(1_200);
    assert.deepEqual(await introspect(expiring.token), { active: false });
    answers.push(["expired", await assertRefused(await redeem(expiring.token), "expired")]);

    const distinct = new Set(answers.map(([, text]) => text));
    assert.equal(distinct.size, 1, `answers differ: ${JSON.stringify(answers)}`);
  });

  test("a token whose source expired (or was deleted) after issue gets the same 400", async () => {
    const src = await createSource({ code: "fading" });
    const t = await issueOk(basic(src), { user: { email: "fade@example.com" } });
    const t2 = await issueOk(basic(src), { user: { email: "fade@example.com" } });
    const patched = await s.request("PATCH", `/v1/sources/${src.id}`, { json: { expiresAt: "2020-01-01T00:00:00Z" }, headers: admin });
    assert.equal(patched.status, 200, await patched.clone().text());
    assert.deepEqual(await introspect(t.token), { active: false });
    await assertRefused(await redeem(t.token), "source expired");
    const gone = await s.request("DELETE", `/v1/sources/${src.id}`, { headers: admin });
    assert.equal(gone.status, 204);
    await assertRefused(await redeem(t2.token), "source deleted");
  });

  test("revoking answers {} whether or not there was such a token", async () => {
    const r = await s.request("POST", "/v1/tokens/revoke", { json: { token: randomBytes(32).toString("base64url") }, headers: admin });
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), {});
    const r2 = await s.request("POST", "/v1/tokens/revoke", { json: { tokenRefNo: "123456789012345678" }, headers: admin });
    assert.equal(r2.status, 200);
    assert.deepEqual(await r2.json(), {});
    const bad = await s.request("POST", "/v1/tokens/revoke", { json: { tokenRefNo: "12ab" }, headers: admin });
    assert.equal(bad.status, 400);
    const neither = await s.request("POST", "/v1/tokens/revoke", { json: {}, headers: admin });
    assert.equal(neither.status, 400);
  });

  test("a source cannot revoke another source's token (200, but the token stays live)", async () => {
    const t = await issueOk(basic(full), { user: { email: "mine@example.com" } });
    const r = await s.request("POST", "/v1/tokens/revoke", { json: { token: t.token }, headers: basic(noLogin) });
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), {});
    assert.equal((await introspect(t.token)).active, true);
    await redeemOk(t.token);
  });

  test("a consumed token cannot be revoked after the fact (it stays consumed, no error)", async () => {
    const t = await issueOk(basic(full), { user: { email: "late-revoke@example.com" } });
    await redeemOk(t.token);
    const r = await s.request("POST", "/v1/tokens/revoke", { json: { token: t.token }, headers: admin });
    assert.equal(r.status, 200);
    await assertRefused(await redeem(t.token), "after revoke");
  });
});

describe("which users a token may resolve to", () => {
  test("registeredOnly for an unknown user → the same 400; a registeredOnly token succeeds once the user exists", async () => {
    const refused = await issueOk(basic(full), { user: { email: "later@example.com" }, registeredOnly: true });
    await assertRefused(await redeem(refused.token), "registeredOnly, unknown user");
    // Nobody was created.
    const users = await s.request("GET", "/v1/users?q=later%40example.com", { headers: admin });
    assert.deepEqual(((await users.json()) as { items: unknown[] }).items, []);

    const created = await redeemOk((await issueOk(basic(full), { user: { email: "later@example.com" } })).token);
    assert.equal(created.created, true);

    const allowed = await issueOk(basic(full), { user: { email: "LATER@example.com" }, registeredOnly: true });
    const body = await redeemOk(allowed.token);
    assert.equal(body.created, false);
    assert.equal(body.user!.id, created.user!.id);
  });

  test("createNewUserIfNotExists off: an unknown user is refused with the same 400, a known one is let in", async () => {
    const t = await issueOk(basic(noCreate), { user: { email: "stranger@example.com" } });
    await assertRefused(await redeem(t.token), "no-create, unknown user");
    const t2 = await issueOk(basic(noCreate), { user: { externalId: "STRANGER-9" } });
    await assertRefused(await redeem(t2.token), "no-create, unknown external id");

    const known = await redeemOk((await issueOk(basic(full), { user: { email: "known@example.com" } })).token);
    const body = await redeemOk((await issueOk(basic(noCreate), { user: { email: "known@example.com" } })).token);
    assert.equal(body.created, false);
    assert.equal(body.user!.id, known.user!.id);
    assert.equal(body.source, "no-create");
  });

  test("emails are unique per org regardless of case; the same email in another org is another user", async () => {
    const a = await redeemOk((await issueOk(basic(full), { user: { email: "Alice@X.com" } })).token);
    const b = await redeemOk((await issueOk(basic(full), { user: { email: "alice@x.com" } })).token);
    const c = await redeemOk((await issueOk(basic(full), { user: { email: "ALICE@X.COM", orgId: "org2" } })).token);
    const d = await redeemOk((await issueOk(basic(full), { user: { email: "alice@X.com", orgId: "org2" } })).token);
    assert.equal(a.created, true);
    assert.equal(b.created, false);
    assert.equal(b.user!.id, a.user!.id);
    assert.equal(c.created, true);
    assert.notEqual(c.user!.id, a.user!.id);
    assert.equal(c.user!.orgId, "org2");
    assert.equal(d.created, false);
    assert.equal(d.user!.id, c.user!.id);
    const list = (await (await s.request("GET", "/v1/users?q=alice%40x.com", { headers: admin })).json()) as { items: { id: string; orgId: string }[] };
    assert.deepEqual(list.items.map((u) => u.id).sort(), [a.user!.id, c.user!.id].sort());
  });

  test("an external id names the same user across redemptions", async () => {
    const a = await redeemOk((await issueOk(basic(full), { user: { externalId: "CII-77" } })).token);
    const b = await redeemOk((await issueOk(basic(full), { user: { externalId: "CII-77", displayName: "Now Named" } })).token);
    assert.equal(b.created, false);
    assert.equal(b.user!.id, a.user!.id);
    assert.equal(b.user!.displayName, "Now Named", "a redemption refreshes the display name");
  });

  test("groups a token carries replace the user's; a token without groups leaves them", async () => {
    const a = await redeemOk((await issueOk(basic(full), { user: { email: "grp@example.com", groups: ["one", "two"] } })).token);
    assert.deepEqual(a.user!.groups, ["one", "two"]);
    const b = await redeemOk((await issueOk(basic(full), { user: { email: "grp@example.com" } })).token);
    assert.deepEqual(b.user!.groups, ["one", "two"]);
    const c = await redeemOk((await issueOk(basic(full), { user: { email: "grp@example.com", groups: ["three"] } })).token);
    assert.deepEqual(c.user!.groups, ["three"]);
  });
});

describe("introspection (RFC 7662)", () => {
  test("active:true with the claims, then {active:false} once redeemed", async () => {
    const before = Math.floor(Date.now() / 1000);
    const t = await issueOk(basic(full), {
      user: { email: "Intro@Example.com", displayName: "Intro", externalId: "IN-1", orgId: "acme", groups: ["g"] },
      section: "dashboard",
      lobId: "L",
      functionality: "F",
    });
    const after = Math.floor(Date.now() / 1000);
    const info = await introspect(t.token);
    const iat = info.iat as number;
    assert.ok(iat >= before && iat <= after);
    assert.deepEqual(info, {
      active: true,
      token_type: "nonce",
      client_id: full.clientId,
      source: "full",
      jti: t.tokenRefNo,
      iat,
      exp: iat + 300,
      sub: "Intro@Example.com",
      email: "Intro@Example.com",
      name: "Intro",
      external_id: "IN-1",
      org_id: "acme",
      groups: ["g"],
      section: "dashboard",
      lob_id: "L",
      functionality: "F",
    });
    assert.equal(info.exp, Math.floor(Date.parse(t.expiresAt) / 1000));
    // Introspection does not consume.
    assert.equal((await introspect(t.token)).active, true);
    await redeemOk(t.token);
    const r = await s.request("POST", "/v1/tokens/introspect", { json: { token: t.token }, headers: admin });
    assert.equal(r.status, 200);
    assert.equal(await r.text(), '{"active":false}');
  });

  test("an unknown or revoked token is {active:false}; a source may introspect too; no credentials → 401", async () => {
    assert.deepEqual(await introspect(randomBytes(32).toString("base64url")), { active: false });
    const t = await issueOk(basic(full), { user: { email: "rv@example.com" } });
    const bySource = await s.request("POST", "/v1/tokens/introspect", { json: { token: t.token }, headers: basic(noLogin) });
    assert.equal(bySource.status, 200);
    assert.equal(((await bySource.json()) as { active: boolean }).active, true);
    await s.request("POST", "/v1/tokens/revoke", { json: { token: t.token }, headers: admin });
    assert.deepEqual(await introspect(t.token), { active: false });
    const none = await s.request("POST", "/v1/tokens/introspect", { json: { token: t.token } });
    assert.equal(none.status, 401);
  });
});

describe("exactly once under concurrency", () => {
  test("200 parallel redemptions of one token: exactly one 200, 199 identical 400s, never a 5xx", async () => {
    const t = await issueOk(basic(full), { user: { email: "race@example.com" } });
    const responses = await Promise.all(Array.from({ length: 200 }, () => redeem(t.token)));
    const statuses = responses.map((r) => r.status);
    assert.ok(
      statuses.every((code) => code < 500),
      `5xx seen: ${statuses.filter((c) => c >= 500).join(",")}`,
    );
    assert.equal(statuses.filter((code) => code === 200).length, 1);
    assert.equal(statuses.filter((code) => code === 400).length, 199);
    const texts = await Promise.all(responses.filter((r) => r.status === 400).map((r) => r.text()));
    assert.equal(new Set(texts).size, 1);
    assert.deepEqual(JSON.parse(texts[0]!), INVALID);
    const winner = (await responses.find((r) => r.status === 200)!.json()) as Redeemed;
    assert.equal(winner.tokenRefNo, t.tokenRefNo);
    // And one user was made, not several.
    const users = (await (await s.request("GET", "/v1/users?q=race%40example.com", { headers: admin })).json()) as { items: unknown[] };
    assert.equal(users.items.length, 1);
  });

  test("many different tokens redeemed in parallel each succeed exactly once", async () => {
    const tokens = await Promise.all(Array.from({ length: 50 }, (_, i) => issueOk(basic(full), { user: { email: `many-${i}@example.com` } })));
    const attempts = tokens.flatMap((t) => [t.token, t.token]);
    const responses = await Promise.all(attempts.map((token) => redeem(token)));
    const ok = new Map<string, number>();
    for (const [i, r] of responses.entries()) {
      assert.ok(r.status === 200 || r.status === 400, `status ${r.status}`);
      if (r.status === 200) ok.set(attempts[i]!, (ok.get(attempts[i]!) ?? 0) + 1);
    }
    assert.equal(ok.size, 50);
    assert.ok([...ok.values()].every((n) => n === 1));
  });

  test("20 tokens for one new user, redeemed in parallel, create that user once", async () => {
    const tokens = await Promise.all(Array.from({ length: 20 }, () => issueOk(basic(full), { user: { email: "Burst@Example.com" } })));
    const bodies = await Promise.all(tokens.map((t) => redeemOk(t.token)));
    assert.equal(new Set(bodies.map((b) => b.user!.id)).size, 1, "one user for one email");
    assert.equal(bodies.filter((b) => b.created).length, 1, "created once");
  });
});
