// SPEC §5: every failed authentication is in the audit log — one row each,
// or, while its source is throttled, one row per burst with its count — and
// none is dropped. A failed admin.login names the username only when that
// account exists; /GenerateSSOToken's 403s are audited like its 401s.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { SignJWT } from "jose";
import { createAdminAccount } from "../src/core/admin-accounts";
import { openTestServer, type TestServer } from "./helpers/runtime";
import { createSource } from "./helpers/sources";

let s: TestServer;
before(async () => {
  s = await openTestServer({ SSOD_THROTTLE_IP_LIMIT: "10", SSOD_THROTTLE_CREDENTIAL_LIMIT: "5", SSOD_THROTTLE_WINDOW: "1" });
  await createAdminAccount(s.runtime.core, "realadmin", "the real admin password");
});
after(() => s.close());

interface Row {
  action: string;
  target: string | null;
  ip: string;
  detail: { count?: number; throttled?: boolean; via?: string; reason?: string } | null;
}

async function rows(action: string, ip?: string): Promise<Row[]> {
  const r = await s.request("GET", `/v1/audit?action=${action}&limit=500`, { headers: { authorization: `Bearer ${s.adminKey}` }, ip: "127.0.0.250" });
  return ((await r.json()) as { items: Row[] }).items.filter((row) => ip === undefined || row.ip === ip);
}

/** The failures a set of rows stands for: one each, or a burst's count. */
const failuresIn = (list: Row[]) => list.reduce((n, row) => n + (row.detail?.throttled ? row.detail.count! : 1), 0);

test("120 failed admin keys from one IP: every one is counted in the audit log, throttled ones in burst rows", async () => {
  const ip = "192.0.2.10";
  const statuses: number[] = [];
  for (let i = 0; i < 120; i++)
    statuses.push((await s.request("GET", "/v1/sources", { headers: { authorization: `Bearer ssod_ak_${"q".repeat(43)}` }, ip })).status);
  assert.equal(statuses.filter((x) => x === 429).length, 110);
  // The burst ends once it has been quiet for the throttle window (1 s here).
  await new Promise((r) => setTimeout(r, 2500));
  const audited = await rows("admin.auth_failed", ip);
  assert.equal(failuresIn(audited), 120, JSON.stringify(audited.map((r) => r.detail)));
  assert.equal(audited.filter((r) => !r.detail?.throttled).length, 10, "one row for each failure answered 401");
  assert.ok(audited.filter((r) => r.detail?.throttled).length < 5, "the throttled ones share a few burst rows");
});

test("throttled failures still open at shutdown are written then", async () => {
  const other = await openTestServer({ SSOD_THROTTLE_IP_LIMIT: "2", SSOD_THROTTLE_WINDOW: "3600" });
  const ip = "192.0.2.20";
  for (let i = 0; i < 7; i++) await other.request("GET", "/v1/sources", { headers: { authorization: `Bearer ssod_ak_${"w".repeat(43)}` }, ip });
  await other.close();
  const reopened = await openTestServer({ SSOD_DATABASE_URL: `file:${other.dir}/ssod.db`, SSOD_ADMIN_API_KEY: other.adminKey });
  const r = await reopened.request("GET", "/v1/audit?action=admin.auth_failed", { headers: { authorization: `Bearer ${other.adminKey}` } });
  const audited = ((await r.json()) as { items: Row[] }).items.filter((row) => row.ip === ip);
  await reopened.close();
  assert.equal(failuresIn(audited), 7);
});

test("a failed admin.login names the username only when the account exists", async () => {
  const login = (Username: string, ip: string) =>
    s.request("POST", "/api.php", { json: { Command: "admin.login", Username, Password: "not the password" }, ip });
  assert.equal((await login("realadmin", "192.0.2.30")).status, 401);
  assert.equal((await login("my password is hunter2", "192.0.2.31")).status, 401);
  const logged = await rows("admin.auth_failed");
  assert.equal(logged.find((r) => r.ip === "192.0.2.30")?.target, "realadmin");
  const typo = logged.find((r) => r.ip === "192.0.2.31");
  assert.ok(typo, "the failure is audited");
  assert.equal(typo.target, null, "but not what was typed as the username");
  assert.ok(!JSON.stringify(logged).includes("hunter2"));
});

test("a throttled admin.login is refused before its password is checked, and still audited", async () => {
  const ip = "192.0.2.40";
  for (let i = 0; i < 5; i++) await s.request("POST", "/api.php", { json: { Command: "admin.login", Username: "realadmin", Password: `guess ${i}` }, ip });
  const right = await s.request("POST", "/api.php", { json: { Command: "admin.login", Username: "realadmin", Password: "the real admin password" }, ip });
  assert.equal(right.status, 429, "the right password says nothing while throttled");
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(failuresIn(await rows("admin.auth_failed", ip)), 6);
  // The window over, the right password works again.
  const later = await s.request("POST", "/api.php", { json: { Command: "admin.login", Username: "realadmin", Password: "the real admin password" }, ip });
  assert.equal(later.status, 200);
});

test("/GenerateSSOToken: a valid caller token issued to another client (403) is audited", async () => {
  const source = await createSource(s, { code: "lob-403" });
  const jwt = await new SignJWT({ client_id: "someone-else" })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(new TextEncoder().encode(source.clientSecret));
  const r = await s.request("POST", "/GenerateSSOToken", {
    json: { CIINo: "1", LOBId: "2", Functionality: "3" },
    headers: { "x-api-version": "1.0.0", "x-lob-client-id": source.clientId, authorization: `Bearer ${jwt}` },
    ip: "192.0.2.50",
  });
  assert.equal(r.status, 403);
  const audited = await rows("source.auth_failed", "192.0.2.50");
  assert.equal(audited.length, 1);
  assert.equal(audited[0]!.target, source.clientId);
  assert.match(audited[0]!.detail!.reason!, /another client/);
});
