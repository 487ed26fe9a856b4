// The audit trail of tokens (SPEC §1, §3): token.issue and token.redeem rows
// with source code and user id, failed redemptions, no secret or token text
// anywhere in GET /v1/audit; and the sweeper deleting expired tokens.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { sweepOnce } from "../src/core/sweeper";
import { rowObjects } from "../src/store/driver";
import { lobHeaders, callerJwt as signCallerJwt } from "./helpers/identity-provider";
import { NO_THROTTLE, openTestServer, type TestServer } from "./helpers/runtime";
import { basicAuth as basic, type CreatedSource, createSource as createSourceOn } from "./helpers/sources";
import { issueOk as issueOn } from "./helpers/tokens";

let s: TestServer;
let admin: Record<string, string>;

interface AuditItem {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string | null;
  outcome: "success" | "failure";
  ip: string | null;
  sourceCode: string | null;
  userId: string | null;
  detail: Record<string, unknown> | null;
}

const createSource = (body: Record<string, unknown>) => createSourceOn(s, body);

const issueOk = (headers: Record<string, string>, json: unknown) => issueOn(s, json, headers);

async function auditPage(query: string): Promise<{ items: AuditItem[]; nextCursor: string | null }> {
  const r = await s.request("GET", `/v1/audit${query}`, { headers: admin });
  assert.equal(r.status, 200, await r.clone().text());
  return (await r.json()) as { items: AuditItem[]; nextCursor: string | null };
}

/** Every audit event, page by page, as the raw text of each page too. */
async function wholeAudit(): Promise<{ items: AuditItem[]; text: string }> {
  const items: AuditItem[] = [];
  let text = "";
  let cursor: string | null = null;
  for (;;) {
    const r = await s.request("GET", `/v1/audit?limit=7${cursor ? `&cursor=${cursor}` : ""}`, { headers: admin });
    assert.equal(r.status, 200);
    const page = await r.text();
    text += page;
    const body = JSON.parse(page) as { items: AuditItem[]; nextCursor: string | null };
    items.push(...body.items);
    if (!body.nextCursor) break;
    cursor = body.nextCursor;
  }
  return { items, text };
}

async function tokenRows(refNo: string): Promise<number> {
  const result = await s.runtime.store.driver.query({ sql: "SELECT count(*) AS n FROM sso_tokens WHERE ref_no = ?", args: [refNo] });
  return Number(rowObjects(result)[0]!.n);
}

let src: CreatedSource;

before(async () => {
  s = await openTestServer({ ...NO_THROTTLE, SSOD_SWEEP_GRACE: "0" });
  admin = { authorization: `Bearer ${s.adminKey}` };
  src = await createSource({ code: "aud" });
});

after(() => s?.close());

describe("token events", () => {
  test("token.issue: one row per token with the source code, the issuer and the subject; no user yet", async () => {
    const t = await issueOk(basic(src), { user: { email: "Audit@Example.com" } });
    const { items } = await auditPage(`?action=token.issue&source=aud`);
    const row = items.find((i) => i.target === t.tokenRefNo);
    assert.ok(row, "a token.issue row targets the tokenRefNo");
    assert.equal(new Date(row.at).toISOString(), row.at);
    assert.deepEqual(
      { ...row, id: 0, at: "" },
      {
        id: 0,
        at: "",
        actor: "source:aud",
        action: "token.issue",
        target: t.tokenRefNo,
        outcome: "success",
        ip: "127.0.0.1",
        sourceCode: "aud",
        userId: null,
        detail: { dialect: "v1", format: "nonce", subject: "Audit@Example.com" },
      },
    );
    assert.equal(items.filter((i) => i.target === t.tokenRefNo).length, 1);
  });

  test("token.issue by an admin key names the key as actor and the default source", async () => {
    const t = await issueOk(admin, { user: { externalId: "EXT-AUD" }, format: "jwt" });
    const { items } = await auditPage(`?action=token.issue&source=default`);
    const row = items.find((i) => i.target === t.tokenRefNo)!;
    assert.ok(row);
    assert.match(row.actor, /^admin_key:\d+$/);
    assert.equal(row.sourceCode, "default");
    assert.deepEqual(row.detail, { dialect: "v1", format: "jwt", subject: "EXT-AUD" });
  });

  test("token.redeem: the redeemer, the token's source code and the user id", async () => {
    const t = await issueOk(basic(src), { user: { email: "redeemed@example.com" } });
    const r = await s.request("POST", "/v1/tokens/redeem", { json: { token: t.token }, headers: admin });
    assert.equal(r.status, 200);
    const userId = ((await r.json()) as { user: { id: string } }).user.id;
    const { items } = await auditPage(`?action=token.redeem&source=aud`);
    const row = items.find((i) => i.target === t.tokenRefNo)!;
    assert.ok(row, "a token.redeem row targets the tokenRefNo");
    assert.match(row.actor, /^admin_key:\d+$/);
    assert.deepEqual(
      { ...row, id: 0, at: "", actor: "" },
      {
        id: 0,
        at: "",
        actor: "",
        action: "token.redeem",
        target: t.tokenRefNo,
        outcome: "success",
        ip: "127.0.0.1",
        sourceCode: "aud",
        userId,
        detail: { dialect: "v1", via: "api", reason: null },
      },
    );
    // Filtering by user finds it.
    const byUser = await auditPage(`?user=${userId}`);
    assert.ok(byUser.items.some((i) => i.action === "token.redeem" && i.target === t.tokenRefNo));
    assert.ok(byUser.items.every((i) => i.userId === userId));
  });

  test("a second redemption adds no second token.redeem row", async () => {
    const t = await issueOk(basic(src), { user: { email: "twice@example.com" } });
    for (let i = 0; i < 3; i++) await s.request("POST", "/v1/tokens/redeem", { json: { token: t.token }, headers: basic(src) });
    const { items } = await auditPage(`?action=token.redeem&source=aud&limit=500`);
    assert.equal(items.filter((i) => i.target === t.tokenRefNo).length, 1);
    assert.equal(items.find((i) => i.target === t.tokenRefNo)!.actor, "source:aud");
  });

  test("a redemption refused for its user is audited as token.redeem_failed with the tokenRefNo and no user", async () => {
    const t = await issueOk(basic(src), { user: { email: "nobody-yet@example.com" }, registeredOnly: true });
    const r = await s.request("POST", "/v1/tokens/redeem", { json: { token: t.token }, headers: admin });
    assert.equal(r.status, 400);
    const { items } = await auditPage(`?action=token.redeem_failed&source=aud`);
    const row = items.find((i) => i.target === t.tokenRefNo)!;
    assert.ok(row);
    assert.deepEqual(
      { outcome: row.outcome, userId: row.userId, sourceCode: row.sourceCode, detail: row.detail },
      {
        outcome: "failure",
        userId: null,
        sourceCode: "aud",
        detail: { dialect: "v1", via: "api", reason: "user not found or not allowed" },
      },
    );
  });

  test("an unknown token at /v1/tokens/redeem is audited as token.redeem_failed, naming nothing secret", async () => {
    const bogus = randomBytes(32).toString("base64url");
    const r = await s.request("POST", "/v1/tokens/redeem", { json: { token: bogus }, headers: admin });
    assert.equal(r.status, 400);
    const { items } = await auditPage(`?action=token.redeem_failed&limit=1`);
    const row = items[0]!;
    assert.equal(row.action, "token.redeem_failed");
    assert.equal(row.outcome, "failure");
    assert.match(row.actor, /^admin_key:\d+$/);
    assert.equal(row.target, null);
    assert.deepEqual(row.detail, { via: "api" });
    assert.ok(!JSON.stringify(items).includes(bogus));
  });

  test("the log is newest first and cursor-paged without gaps or repeats", async () => {
    const { items } = await wholeAudit();
    const ids = items.map((i) => i.id);
    assert.ok(ids.length > 7, "more than one page");
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! < ids[i - 1]!, `ids not descending at ${i}`);
    assert.equal(new Set(ids).size, ids.length);
  });
});

describe("no secret reaches the audit log", () => {
  test("no token text (nonce, jwt, Tyk nonce, LOB TokenNo), session id or secret appears in GET /v1/audit", async () => {
    const secrets: string[] = [s.adminKey, src.clientSecret, src.signingSecret];
    // v1 nonces and jwts, redeemed, refused, revoked and left alone.
    for (const format of ["nonce", "jwt"] as const) {
      const redeemed = await issueOk(basic(src), { user: { email: "sec@example.com" }, format });
      const r = await s.request("POST", "/v1/tokens/redeem", { json: { token: redeemed.token }, headers: admin });
      assert.equal(r.status, 200);
      const session = ((await r.json()) as { session: { id: string } }).session.id;
      await s.request("POST", "/v1/tokens/redeem", { json: { token: redeemed.token }, headers: admin });
      const revoked = await issueOk(basic(src), { user: { email: "sec@example.com" }, format });
      await s.request("POST", "/v1/tokens/revoke", { json: { token: revoked.token }, headers: admin });
      await s.request("POST", "/v1/tokens/introspect", { json: { token: revoked.token }, headers: admin });
      const idle = await issueOk(basic(src), { user: { email: "sec@example.com" }, format });
      secrets.push(redeemed.token, session, revoked.token, idle.token);
    }
    // Browser redemption: a cookie is set, then logged out.
    const browser = await issueOk(basic(src), { user: { email: "sec@example.com" } });
    const landing = await s.request("GET", `/v1/login?token=${browser.token}`);
    assert.equal(landing.status, 200);
    const cookie = /ssod_session=([^;]+)/.exec(landing.headers.get("set-cookie") ?? "")![1]!;
    await s.request("POST", "/v1/session/logout", { headers: { cookie: `ssod_session=${cookie}` } });
    await s.request("GET", `/v1/login?token=${browser.token}`);
    secrets.push(browser.token, cookie);
    // Tyk: a dashboard nonce tried at the portal endpoint, then redeemed.
    const tyk = await s.request("POST", "/api/sso", {
      json: { emailAddress: "sec@example.com", forSection: "dashboard" },
      headers: { "admin-auth": s.adminKey },
    });
    assert.equal(tyk.status, 200);
    const nonce = ((await tyk.json()) as { Meta: string }).Meta;
    assert.equal((await s.request("GET", `/sso?nonce=${nonce}`)).status, 400);
    assert.equal((await s.request("GET", `/tap?nonce=${nonce}`)).status, 200);
    secrets.push(nonce);
    // LOB: a caller JWT signed with the client secret, a TokenNo back.
    const callerJwt = await signCallerJwt(src);
    const lob = await s.request("POST", "/GenerateSSOToken", {
      body: JSON.stringify({ CIINo: "SEC-1", LOBId: "01", Functionality: "D" }),
      headers: lobHeaders(src.clientId, callerJwt),
    });
    assert.equal(lob.status, 200);
    const tokenNo = ((await lob.json()) as { TokenNo: string }).TokenNo;
    assert.equal((await s.request("POST", "/v1/tokens/redeem", { json: { token: tokenNo }, headers: admin })).status, 200);
    secrets.push(callerJwt, tokenNo);
    // Failed authentications with secrets that are almost right.
    await s.request("POST", "/v1/tokens", {
      json: { user: { email: "x@example.com" } },
      headers: basic({ clientId: src.clientId, clientSecret: `${src.clientSecret}X` }),
    });
    await s.request("POST", "/v1/tokens", { json: { user: { email: "x@example.com" } }, headers: { authorization: `Bearer ${s.adminKey}X` } });
    secrets.push(`${src.clientSecret}X`, `${s.adminKey}X`);

    const { items, text } = await wholeAudit();
    for (const secret of secrets) {
      assert.ok(!text.includes(secret), `the audit log holds a secret: ${secret.slice(0, 12)}…`);
      // Nor any long piece of one (a JWT's signature, a token's tail).
      assert.ok(!text.includes(secret.slice(-24)), `the audit log holds the end of a secret: ${secret.slice(0, 12)}…`);
    }
    assert.ok(
      items.some((i) => i.action === "token.redeem" && i.detail?.via === "browser"),
      "browser redemptions are audited",
    );
    assert.ok(
      items.some((i) => i.action === "token.redeem" && i.detail?.dialect === "tyk"),
      "tyk redemptions are audited",
    );
    assert.ok(
      items.some((i) => i.action === "token.issue" && i.detail?.dialect === "lob"),
      "lob issues are audited",
    );
  });
});

describe("the sweeper", () => {
  test("sweepOnce deletes expired tokens (grace 0), keeps live ones, and honours the grace period", async () => {
    const brief = await createSource({ code: "brief", validForSeconds: 1 });
    const expiring = await issueOk(basic(brief), { user: { email: "sweep@example.com" } });
    const consumed = await issueOk(basic(brief), { user: { email: "sweep@example.com" } });
    assert.equal((await s.request("POST", "/v1/tokens/redeem", { json: { token: consumed.token }, headers: admin })).status, 200);
    const live = await issueOk(basic(src), { user: { email: "sweep@example.com" } });
    await sleep(1_200);
    assert.equal(await tokenRows(expiring.tokenRefNo), 1, "an expired token is kept until swept");

    // With a grace period of an hour the freshly expired tokens stay.
    const core = s.runtime.core;
    const grace = core.settings.sweepGraceSeconds;
    assert.equal(grace, 0);
    (core.settings as { sweepGraceSeconds: number }).sweepGraceSeconds = 3600;
    try {
      await sweepOnce(core);
      assert.equal(await tokenRows(expiring.tokenRefNo), 1);
    } finally {
      (core.settings as { sweepGraceSeconds: number }).sweepGraceSeconds = grace;
    }

    const removed = await sweepOnce(core);
    assert.ok(removed >= 2, `sweepOnce reported ${removed}`);
    assert.equal(await tokenRows(expiring.tokenRefNo), 0, "the expired token is gone");
    assert.equal(await tokenRows(consumed.tokenRefNo), 0, "the expired consumed token is gone");
    assert.equal(await tokenRows(live.tokenRefNo), 1, "the live token stays");
    // The swept token is still refused the usual way; the live one still works.
    const r = await s.request("POST", "/v1/tokens/redeem", { json: { token: expiring.token }, headers: admin });
    assert.equal(r.status, 400);
    assert.deepEqual(await r.json(), { type: "urn:ssod:problem:invalid-token", title: "Invalid or expired token", status: 400 });
    assert.equal((await s.request("POST", "/v1/tokens/redeem", { json: { token: live.token }, headers: admin })).status, 200);
    // A second pass has nothing left to do with those tokens, and the audit rows of a swept token remain.
    assert.equal(await sweepOnce(core), 0);
    const { items } = await auditPage(`?action=token.issue&source=brief`);
    assert.ok(items.some((i) => i.target === expiring.tokenRefNo));
  });
});
