// Authentication of POST /api.php (seed 002, SPEC §2.3, §5): APIKey or
// SessionID from admin.login, the codes a failure gets, admin sessions that
// expire and close, and audit rows for failures that hold no secret. Its
// throttling (per IP and per username, never of valid credentials) is in
// tests/throttling.test.ts with every other dialect's.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { createAdminAccount } from "../src/core/admin-accounts";
import { apiPhp } from "./helpers/http";
import { openTestServer, type TestServer } from "./helpers/runtime";

type Body = Record<string, unknown>;

const PASSWORD = "a long password 123";
const LEGACY_TIME = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/;

function legacyTimeMs(text: string): number {
  const m = LEGACY_TIME.exec(text);
  assert.ok(m, `YYYY-MM-DD HH:MM:SS: ${text}`);
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return Date.UTC(y, mo - 1, d, h, mi, se);
}

const refused = (code: number, text: string) => ({ Success: false, ErrorCode: [code], ErrorText: [text] });
const AUTH_REQUIRED = refused(101, "Authentication required: APIKey or SessionID");
const AUTH_FAILED = refused(102, "Authentication failed");
const BAD_LOGIN = refused(104, "Invalid username or password");

/** A well-formed admin key that was never issued. */
const unknownKey = () => `ssod_ak_${randomBytes(32).toString("base64url")}`;
/** A distinct client IP per test, so the per-IP throttle of one test does not leak into another. */
let ipSeq = 10;
const newIp = () => `203.0.113.${++ipSeq}`;

// ---------------------------------------------------------------------------
describe("credentials", () => {
  let s: TestServer;
  before(async () => {
    s = await openTestServer();
    await createAdminAccount(s.runtime.core, "alice", PASSWORD);
  });
  after(() => s?.close());

  test("no APIKey and no SessionID → 101, HTTP 401", async () => {
    for (const json of [{ Command: "sso.list" }, { Command: "sso.list", APIKey: "" }, { Command: "sso.list", SessionID: "" }]) {
      const r = await apiPhp(s, { json, ip: newIp() });
      assert.equal(r.status, 401);
      assert.deepEqual(r.body, AUTH_REQUIRED);
    }
    const form = await apiPhp(s, { form: { Command: "sso.create", SourceName: "n", SourceCode: "c", ValidForSeconds: "5" }, ip: newIp() });
    assert.equal(form.status, 401);
    assert.deepEqual(form.body, AUTH_REQUIRED);
  });

  test("no credentials: nothing is created", async () => {
    const r = await apiPhp(s, { json: { Command: "sso.create", SourceName: "n", SourceCode: "unauth_code", ValidForSeconds: 5 }, ip: newIp() });
    assert.deepEqual(r.body, AUTH_REQUIRED);
    const list = await apiPhp(s, { json: { Command: "sso.list", APIKey: s.adminKey } });
    assert.ok(!(list.body.Sources as Body[]).some((x) => x.SourceCode === "unauth_code"));
  });

  test("a bad APIKey → 102, HTTP 401 (unknown, malformed, another key's prefix)", async () => {
    for (const key of [unknownKey(), "nonsense", s.adminKey.slice(0, -1), `${s.adminKey}x`, s.adminKey.toUpperCase()]) {
      const r = await apiPhp(s, { json: { Command: "sso.list", APIKey: key }, ip: newIp() });
      assert.equal(r.status, 401, key);
      assert.deepEqual(r.body, AUTH_FAILED, key);
    }
  });

  test("a bad APIKey with a valid sso.create body creates nothing", async () => {
    const r = await apiPhp(s, {
      json: { Command: "sso.create", APIKey: unknownKey(), SourceName: "n", SourceCode: "badkey_code", ValidForSeconds: 5 },
      ip: newIp(),
    });
    assert.deepEqual(r.body, AUTH_FAILED);
    const list = await apiPhp(s, { json: { Command: "sso.list", APIKey: s.adminKey } });
    assert.ok(!(list.body.Sources as Body[]).some((x) => x.SourceCode === "badkey_code"));
  });

  test("a bad SessionID → 102, HTTP 401", async () => {
    for (const sid of ["wrong", randomBytes(32).toString("base64url"), "x".repeat(43), "' OR 1=1 --"]) {
      const r = await apiPhp(s, { json: { Command: "sso.list", SessionID: sid }, ip: newIp() });
      assert.equal(r.status, 401, sid);
      assert.deepEqual(r.body, AUTH_FAILED, sid);
    }
  });

  test("admin.login: wrong password or unknown user → 104, HTTP 401", async () => {
    for (const [user, password] of [
      ["alice", "not the password"],
      ["alice", PASSWORD.toUpperCase()],
      ["nobody", PASSWORD],
      ["alice", ""],
    ] as const) {
      const r = await apiPhp(s, { json: { Command: "admin.login", Username: user, Password: password }, ip: newIp() });
      assert.equal(r.status, 401, `${user}/${password}`);
      assert.deepEqual(r.body, BAD_LOGIN);
      assert.ok(!("SessionID" in r.body));
    }
    const missing = await apiPhp(s, { json: { Command: "admin.login" }, ip: newIp() });
    assert.equal(missing.status, 401);
    assert.deepEqual(missing.body, BAD_LOGIN);
  });

  test("admin.login: success body, a SessionID that works, ExpiresAt about 1 h ahead (default)", async () => {
    const started = Date.now();
    const r = await apiPhp(s, { json: { Command: "admin.login", Username: "alice", Password: PASSWORD }, ip: newIp() });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(Object.keys(r.body).sort(), ["ErrorCode", "ErrorText", "ExpiresAt", "SessionID", "Success"]);
    assert.equal(r.body.Success, true);
    assert.equal(r.body.ErrorCode, 0);
    assert.equal(r.body.ErrorText, "");
    assert.match(String(r.body.SessionID), /^[A-Za-z0-9_-]{43}$/);
    const expires = legacyTimeMs(String(r.body.ExpiresAt));
    // Whole seconds, UTC: 3600 s from now, give or take the truncation and the test's own time.
    assert.ok(expires >= started + 3600_000 - 2000 && expires <= Date.now() + 3600_000 + 1000, `ExpiresAt ${r.body.ExpiresAt}`);

    const list = await apiPhp(s, { json: { Command: "sso.list", SessionID: r.body.SessionID } });
    assert.equal(list.status, 200);
    assert.equal(list.body.Success, true);
  });

  test("admin.login in a form body, field names in any case", async () => {
    const r = await apiPhp(s, { form: { command: "admin.login", USERNAME: "alice", password: PASSWORD }, ip: newIp() });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.Success, true);
    const list = await apiPhp(s, { form: { Command: "sso.list", sessionid: String(r.body.SessionID) } });
    assert.equal(list.body.Success, true);
  });

  test("each login gets its own SessionID, stored only as a hash", async () => {
    const a = await apiPhp(s, { json: { Command: "admin.login", Username: "alice", Password: PASSWORD }, ip: newIp() });
    const b = await apiPhp(s, { json: { Command: "admin.login", Username: "alice", Password: PASSWORD }, ip: newIp() });
    assert.notEqual(a.body.SessionID, b.body.SessionID);
    const rows = await s.runtime.store.driver.query({ sql: "SELECT * FROM admin_sessions", args: [] });
    const dump = JSON.stringify(rows.rows);
    assert.ok(!dump.includes(String(a.body.SessionID)), "SessionID stored in the clear");
    assert.ok(!dump.includes(String(b.body.SessionID)), "SessionID stored in the clear");
  });

  test("an expired SessionID → 102", async () => {
    const login = await apiPhp(s, { json: { Command: "admin.login", Username: "alice", Password: PASSWORD }, ip: newIp() });
    const sid = String(login.body.SessionID);
    assert.equal((await apiPhp(s, { json: { Command: "sso.list", SessionID: sid } })).body.Success, true);
    // No fake clock: the session's expiry is moved into the past in the store itself.
    await s.runtime.store.driver.execute({ sql: "UPDATE admin_sessions SET expires_at = ?", args: [Date.now() - 1000] });
    const r = await apiPhp(s, { json: { Command: "sso.list", SessionID: sid }, ip: newIp() });
    assert.equal(r.status, 401);
    assert.deepEqual(r.body, AUTH_FAILED);
  });

  test("admin.logout closes the session", async () => {
    const login = await apiPhp(s, { json: { Command: "admin.login", Username: "alice", Password: PASSWORD }, ip: newIp() });
    const sid = String(login.body.SessionID);
    const out = await apiPhp(s, { json: { Command: "admin.logout", SessionID: sid } });
    assert.equal(out.status, 200);
    assert.deepEqual(out.body, { Success: true, ErrorCode: 0, ErrorText: "" });
    const r = await apiPhp(s, { json: { Command: "sso.list", SessionID: sid }, ip: newIp() });
    assert.deepEqual(r.body, AUTH_FAILED);
  });
});

// ---------------------------------------------------------------------------
describe("admin session lifetime (SSOD_ADMIN_SESSION_TTL)", () => {
  let s: TestServer;
  before(async () => {
    s = await openTestServer({ SSOD_ADMIN_SESSION_TTL: "60" });
    await createAdminAccount(s.runtime.core, "carol", PASSWORD);
  });
  after(() => s?.close());

  test("ExpiresAt is 60 s ahead with SSOD_ADMIN_SESSION_TTL=60, and the session row says the same", async () => {
    const started = Date.now();
    const r = await apiPhp(s, { json: { Command: "admin.login", Username: "carol", Password: PASSWORD } });
    assert.equal(r.status, 200, r.text);
    const expires = legacyTimeMs(String(r.body.ExpiresAt));
    assert.ok(expires >= started + 60_000 - 2000 && expires <= Date.now() + 60_000 + 1000, `ExpiresAt ${r.body.ExpiresAt}`);
    const rows = await s.runtime.store.driver.query({ sql: "SELECT expires_at FROM admin_sessions", args: [] });
    assert.equal(rows.rows.length, 1);
    const stored = Number(rows.rows[0]![0]);
    assert.ok(Math.abs(stored - expires) < 1000, `stored ${stored} vs shown ${expires}`);
  });
});

// ---------------------------------------------------------------------------
describe("audit of failed authentication", () => {
  let s: TestServer;
  before(async () => {
    s = await openTestServer();
    await createAdminAccount(s.runtime.core, "frank", PASSWORD);
  });
  after(() => s?.close());

  async function auditText(query: string): Promise<{ items: Body[]; text: string }> {
    const r = await s.request("GET", `/v1/audit${query}`, { headers: { authorization: `Bearer ${s.adminKey}` } });
    assert.equal(r.status, 200);
    const text = await r.text();
    return { items: (JSON.parse(text) as { items: Body[] }).items, text };
  }

  test("failed APIKey, SessionID and password each leave a row, with no secret in it", async () => {
    const wrongKey = unknownKey();
    const wrongSession = randomBytes(32).toString("base64url");
    const wrongPassword = `hunter2-${randomBytes(8).toString("hex")}`;
    const ip = "198.51.100.7";
    assert.deepEqual((await apiPhp(s, { json: { Command: "sso.list", APIKey: wrongKey }, ip })).body, AUTH_FAILED);
    assert.deepEqual((await apiPhp(s, { json: { Command: "sso.list", SessionID: wrongSession }, ip })).body, AUTH_FAILED);
    assert.deepEqual((await apiPhp(s, { json: { Command: "admin.login", Username: "frank", Password: wrongPassword }, ip })).body, BAD_LOGIN);
    // And a successful login, whose SessionID must not be logged either.
    const login = await apiPhp(s, { json: { Command: "admin.login", Username: "frank", Password: PASSWORD }, ip });
    const sid = String(login.body.SessionID);

    const { items, text } = await auditText("?action=admin.auth_failed&limit=500");
    assert.ok(items.length >= 3, text);
    for (const item of items) {
      assert.equal(item.action, "admin.auth_failed");
      assert.equal(item.outcome, "failure");
    }
    const mine = items.filter((i) => i.ip === ip);
    assert.equal(mine.length, 3, text);
    assert.ok(
      mine.some((i) => i.target === "frank"),
      "the username tried is recorded",
    );

    const all = await auditText("?limit=500");
    for (const secret of [wrongKey, wrongSession, wrongPassword, PASSWORD, sid, s.adminKey]) {
      assert.ok(!text.includes(secret), `secret in the filtered audit: ${secret}`);
      assert.ok(!all.text.includes(secret), `secret in the audit: ${secret}`);
    }
    // Not even a fragment of the wrong key past its public prefix.
    assert.ok(!all.text.includes(wrongKey.slice(8, 24)));
  });

  test("a throttled flood is audited: at least one row per failure answered 401", async () => {
    const ip = "198.51.100.99";
    const keys = Array.from({ length: 35 }, unknownKey);
    for (const key of keys) await apiPhp(s, { json: { Command: "sso.list", APIKey: key }, ip });
    const { items, text } = await auditText("?action=admin.auth_failed&limit=500");
    const fromIp = items.filter((i) => i.ip === ip);
    assert.ok(fromIp.length >= 30, `${fromIp.length} rows`);
    for (const key of keys) assert.ok(!text.includes(key));
  });
});
