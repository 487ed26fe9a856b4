// SPEC §5: failures are throttled (429 + Retry-After, in each dialect's own
// error shape) per client IP and per credential, yet a caller presenting
// valid credentials is never locked out, and a valid token is honoured even
// from a throttled IP. Limits kept short for most of the file:
// SSOD_THROTTLE_IP_LIMIT=5, SSOD_THROTTLE_CREDENTIAL_LIMIT=3; the defaults
// (30 per IP, 10 per credential) at the end, through the legacy dialect. The
// audit log records each engagement once, and never the secrets that were tried.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createAdminAccount } from "../src/core/admin-accounts";
import { apiPhp, type LegacyAnswer } from "./helpers/http";
import { callerJwt, lobHeaders } from "./helpers/identity-provider";
import { openTestServer, type TestServer } from "./helpers/runtime";
import { basicAuth, createSource } from "./helpers/sources";

const IP_LIMIT = 5;
const CRED_LIMIT = 3;
const PASSWORD = "the real admin password";

let s: TestServer;
let adminKey: string;
type Src = { clientId: string; clientSecret: string; code: string };
let source: Src;
/** Sources whose client ids take the failures of the per-IP LOB case (round robin, so no one id reaches its own limit). */
const pool: Src[] = [];
/** One source per per-credential case: its client id is the credential under attack. */
const victims: Record<string, Src> = {};
const triedSecrets: string[] = [];
const tally = { requests: 0, throttled: 0 };

let nextIp = 1;
/** A client IP no other test has used. */
const freshIp = () => {
  const n = nextIp++;
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
};

async function call(method: string, path: string, options: Parameters<TestServer["request"]>[2] = {}) {
  const r = await s.request(method, path, options);
  tally.requests++;
  if (r.status === 429) tally.throttled++;
  return r;
}

before(async () => {
  s = await openTestServer({ SSOD_THROTTLE_IP_LIMIT: String(IP_LIMIT), SSOD_THROTTLE_CREDENTIAL_LIMIT: String(CRED_LIMIT) });
  adminKey = s.adminKey;
  await createAdminAccount(s.runtime.core, "victim", PASSWORD);
  await createAdminAccount(s.runtime.core, "target", PASSWORD);
  source = await createSource(s, { code: "target", name: "Target", validForSeconds: 600 });
  const make = (code: string) => createSource(s, { code, validForSeconds: 600 });
  for (let i = 0; i < 6; i++) pool.push(await make(`pool${i}`));
  for (const kind of ["v1", "tyk", "lob"]) victims[kind] = await make(`victim-${kind}`);
});

after(async () => {
  await s?.close();
});

// ---- the attempts, one per dialect ----

const wrongKey = () => {
  const key = `ssod_ak_${"W".repeat(42)}${String.fromCharCode(65 + Math.floor(Math.random() * 26))}`;
  triedSecrets.push(key);
  return key;
};
const basic = (clientId: string, clientSecret: string) => basicAuth({ clientId, clientSecret }).authorization;
const lobBody = JSON.stringify({ CIINo: "1", LOBId: "2", Functionality: "3" });
const goodJwt = (of: Src = source) => callerJwt(of);
const badJwt = (clientId: string) => {
  const secret = `wrong-${Math.random()}`;
  triedSecrets.push(secret);
  return callerJwt({ clientId, clientSecret: secret });
};
let poolTurn = 0;

interface Dialect {
  name: string;
  /** One failed attempt from `ip` (optionally against the credential `cred`). */
  fail(ip: string, cred?: string): Promise<Response>;
  /** The status of an ordinary failure (before the limit). */
  failStatus: number;
  /** Checks a 429 body is in the dialect's own shape. */
  shape(body: string, type: string): void;
  /** The same dialect with valid credentials from `ip`: must be served. */
  valid(ip: string): Promise<Response>;
  validStatus: number;
  /** What the valid credential gets from a throttled IP, when not validStatus. */
  validWhenThrottled?: number;
}

const dialects: Dialect[] = [
  {
    name: "v1 Bearer admin key",
    fail: (ip) => call("GET", "/v1/sources", { headers: { authorization: `Bearer ${wrongKey()}` }, ip }),
    failStatus: 401,
    shape: (body, type) => {
      assert.match(type, /^application\/problem\+json/);
      const p = JSON.parse(body) as { type: string; status: number; title: string };
      assert.equal(p.status, 429);
      assert.equal(p.type, "urn:ssod:problem:too-many-failures");
    },
    valid: (ip) => call("GET", "/v1/sources", { headers: { authorization: `Bearer ${adminKey}` }, ip }),
    validStatus: 200,
  },
  {
    name: "legacy APIKey",
    fail: (ip) => call("POST", "/api.php", { json: { Command: "sso.list", APIKey: wrongKey() }, ip }),
    failStatus: 401,
    shape: (body) => assert.deepEqual(JSON.parse(body), { Success: false, ErrorCode: [103], ErrorText: ["Too many failed attempts, retry later"] }),
    valid: (ip) => call("POST", "/api.php", { form: { Command: "sso.list", APIKey: adminKey }, ip }),
    validStatus: 200,
  },
  {
    name: "Tyk admin-auth",
    fail: (ip) => call("POST", "/api/sso", { json: { emailAddress: "x@example.com" }, headers: { "admin-auth": wrongKey() }, ip }),
    failStatus: 401,
    shape: (body) => {
      const b = JSON.parse(body) as { errors: { title: string; detail: string }[] };
      assert.deepEqual(Object.keys(b), ["errors"]);
      assert.equal(b.errors.length, 1);
      assert.equal(b.errors[0]!.title, "Too Many Requests");
    },
    valid: (ip) => call("POST", "/admin/sso", { json: { emailAddress: "x@example.com" }, headers: { "admin-auth": adminKey }, ip }),
    validStatus: 200,
  },
  {
    name: "v1 Basic (client secret)",
    fail: (ip, cred) => {
      const secret = `ssod_cs_wrong${Math.random()}`;
      triedSecrets.push(secret);
      return call("POST", "/v1/tokens", {
        json: { user: { email: "x@example.com" } },
        headers: { authorization: basic(cred ?? `unknown-${Math.random()}`, secret) },
        ip,
      });
    },
    failStatus: 401,
    shape: (body) => assert.equal((JSON.parse(body) as { type: string }).type, "urn:ssod:problem:too-many-failures"),
    valid: (ip) =>
      call("POST", "/v1/tokens", { json: { user: { email: "x@example.com" } }, headers: { authorization: basic(source.clientId, source.clientSecret) }, ip }),
    validStatus: 201,
  },
  {
    name: "Tyk Basic (client secret)",
    fail: (ip, cred) =>
      call("POST", "/api/sso", { json: { emailAddress: "x@example.com" }, headers: { authorization: basic(cred ?? `unknown-${Math.random()}`, "nope") }, ip }),
    failStatus: 401,
    shape: (body) => assert.equal((JSON.parse(body) as { errors: { title: string }[] }).errors[0]!.title, "Too Many Requests"),
    valid: (ip) =>
      call("POST", "/api/sso", { json: { emailAddress: "x@example.com" }, headers: { authorization: basic(source.clientId, source.clientSecret) }, ip }),
    validStatus: 200,
  },
  {
    name: "LOB unknown client id",
    fail: async (ip) => call("POST", "/GenerateSSOToken", { body: lobBody, headers: lobHeaders(`nobody-${Math.random()}`, await goodJwt()), ip }),
    failStatus: 403,
    shape: (body) => {
      const b = JSON.parse(body) as Record<string, string>;
      assert.deepEqual(Object.keys(b), ["ReturnCode", "ReturnMessage"]);
      assert.equal(b.ReturnCode, "0");
    },
    valid: async (ip) => call("POST", "/GenerateSSOToken", { body: lobBody, headers: lobHeaders(source.clientId, await goodJwt()), ip }),
    validStatus: 200,
  },
  {
    name: "LOB bad caller JWT",
    fail: async (ip, cred) => {
      const id = cred ?? pool[poolTurn++ % pool.length]!.clientId;
      return call("POST", "/GenerateSSOToken", { body: lobBody, headers: lobHeaders(id, await badJwt(id)), ip });
    },
    failStatus: 401,
    shape: (body) => assert.equal((JSON.parse(body) as { ReturnCode: string }).ReturnCode, "0"),
    valid: async (ip) => call("POST", "/GenerateSSOToken", { body: lobBody, headers: lobHeaders(source.clientId, await goodJwt()), ip }),
    validStatus: 200,
  },
  {
    name: "legacy admin.login (wrong password)",
    fail: (ip, cred) => {
      const password = `wrong password ${Math.random()}`;
      triedSecrets.push(password);
      return call("POST", "/api.php", {
        json: { Command: "admin.login", Username: cred ?? `nobody${Math.floor(Math.random() * 1e9)}`, Password: password },
        ip,
      });
    },
    failStatus: 401,
    shape: (body) => assert.deepEqual((JSON.parse(body) as { ErrorCode: number[] }).ErrorCode, [103]),
    valid: (ip) => call("POST", "/api.php", { json: { Command: "admin.login", Username: "victim", Password: PASSWORD }, ip }),
    validStatus: 200,
    // Passwords are the exception (SPEC §5): past the IP's limit even the right one is refused, unchecked.
    validWhenThrottled: 429,
  },
];

/** A 429 with Retry-After: a whole number of seconds, within the 60 s window. */
function assertRetryAfter(r: Response) {
  const value = r.headers.get("retry-after");
  assert.ok(value !== null, "429 without Retry-After");
  assert.match(value, /^\d+$/);
  assert.ok(Number(value) >= 1 && Number(value) <= 60, `Retry-After: ${value}`);
}

async function auditTargets(action: string): Promise<{ target: string | null; ip: string | null; detail: unknown }[]> {
  const r = await s.request("GET", `/v1/audit?action=${action}&limit=500`, { headers: { authorization: `Bearer ${adminKey}` } });
  assert.equal(r.status, 200);
  return ((await r.json()) as { items: { target: string | null; ip: string | null; detail: unknown }[] }).items;
}

describe(`per client IP: ${IP_LIMIT} failures are answered as usual, then 429 + Retry-After in the dialect's own shape; valid credentials from that IP are still served`, () => {
  for (const d of dialects) {
    test(d.name, async () => {
      const ip = freshIp();
      for (let i = 1; i <= IP_LIMIT; i++) {
        const r = await d.fail(ip);
        assert.equal(r.status, d.failStatus, `failure ${i}: ${await r.text()}`);
      }
      // A flood beyond the limit: every one a 429.
      for (let i = 0; i < 10; i++) {
        const r = await d.fail(ip);
        const text = await r.text();
        assert.equal(r.status, 429, `failure ${IP_LIMIT + 1 + i}: ${text}`);
        assertRetryAfter(r);
        d.shape(text, r.headers.get("content-type") ?? "");
      }
      // The real caller at the same address is served (an admin key, a client secret), however many times;
      // a password is not even checked.
      const ok = await d.valid(ip);
      assert.equal(ok.status, d.validWhenThrottled ?? d.validStatus, `valid credentials from a throttled IP: ${await ok.text()}`);
      for (let i = 0; i < 3; i++) assert.equal((await d.valid(ip)).status, d.validWhenThrottled ?? d.validStatus);
      // The throttle was audited once for this address.
      const engaged = (await auditTargets("throttle.engaged")).filter((e) => e.ip === ip);
      assert.equal(engaged.length, 1, `throttle.engaged for ${ip}: ${JSON.stringify(engaged)}`);
    });
  }

  test("one IP's failures count together across dialects", async () => {
    const ip = freshIp();
    for (let i = 0; i < IP_LIMIT; i++) assert.notEqual((await dialects[i % dialects.length]!.fail(ip)).status, 429);
    for (const d of dialects) {
      const r = await d.fail(ip);
      assert.equal(r.status, 429, `${d.name} after ${IP_LIMIT} failures of other dialects`);
      d.shape(await r.text(), r.headers.get("content-type") ?? "");
    }
  });

  test("X-Forwarded-For is not a way around it (SSOD_TRUST_PROXY is off)", async () => {
    const ip = freshIp();
    const statuses: number[] = [];
    for (let i = 0; i < IP_LIMIT + 3; i++) {
      const r = await call("GET", "/v1/sources", { headers: { authorization: `Bearer ${wrongKey()}`, "x-forwarded-for": `203.0.113.${i + 1}` }, ip });
      statuses.push(r.status);
    }
    assert.deepEqual(statuses, [...Array(IP_LIMIT).fill(401), 429, 429, 429]);
  });

  test("a concurrent flood of 40 from one IP: exactly the first 5 are 401, the rest 429, one audit row", async () => {
    const ip = freshIp();
    const answers = await Promise.all(Array.from({ length: 40 }, () => call("GET", "/v1/sources", { headers: { authorization: `Bearer ${wrongKey()}` }, ip })));
    const statuses = answers.map((r) => r.status);
    assert.equal(statuses.filter((x) => x === 401).length, IP_LIMIT, JSON.stringify(statuses));
    assert.equal(statuses.filter((x) => x === 429).length, 40 - IP_LIMIT);
    for (const r of answers.filter((x) => x.status === 429)) assertRetryAfter(r);
    const engaged = (await auditTargets("throttle.engaged")).filter((e) => e.ip === ip);
    assert.equal(engaged.length, 1);
  });
});

describe(`per credential (from a new IP each time): ${CRED_LIMIT} failures, then 429; the owner with the right secret is still served`, () => {
  const byName = (name: string) => dialects.find((d) => d.name === name)!;
  const cases: { label: string; dialect: Dialect; cred: () => string; valid: (ip: string) => Promise<Response>; validStatus: number }[] = [
    {
      label: "admin username on admin.login",
      dialect: byName("legacy admin.login (wrong password)"),
      cred: () => "target",
      valid: (ip) => call("POST", "/api.php", { json: { Command: "admin.login", Username: "target", Password: PASSWORD }, ip }),
      // Past the username's limit the right password is refused too, unchecked; the admin key still works.
      validStatus: 429,
    },
    {
      label: "client id on v1 Basic",
      dialect: byName("v1 Basic (client secret)"),
      cred: () => victims.v1!.clientId,
      valid: (ip) =>
        call("POST", "/v1/tokens", {
          json: { user: { email: "owner@example.com" } },
          headers: { authorization: basic(victims.v1!.clientId, victims.v1!.clientSecret) },
          ip,
        }),
      validStatus: 201,
    },
    {
      label: "client id on Tyk Basic",
      dialect: byName("Tyk Basic (client secret)"),
      cred: () => victims.tyk!.clientId,
      valid: (ip) =>
        call("POST", "/api/sso", {
          json: { emailAddress: "owner@example.com" },
          headers: { authorization: basic(victims.tyk!.clientId, victims.tyk!.clientSecret) },
          ip,
        }),
      validStatus: 200,
    },
    {
      label: "client id on /GenerateSSOToken (bad caller JWT)",
      dialect: byName("LOB bad caller JWT"),
      cred: () => victims.lob!.clientId,
      valid: async (ip) => call("POST", "/GenerateSSOToken", { body: lobBody, headers: lobHeaders(victims.lob!.clientId, await goodJwt(victims.lob!)), ip }),
      validStatus: 200,
    },
  ];
  for (const c of cases) {
    test(c.label, async () => {
      for (let i = 1; i <= CRED_LIMIT; i++) {
        const r = await c.dialect.fail(freshIp(), c.cred());
        assert.equal(r.status, c.dialect.failStatus, `failure ${i}: ${await r.text()}`);
      }
      const attackerIp = freshIp();
      for (let i = 0; i < 5; i++) {
        const r = await c.dialect.fail(i === 0 ? attackerIp : freshIp(), c.cred());
        const text = await r.text();
        assert.equal(r.status, 429, `failure ${CRED_LIMIT + 1 + i} from a fresh IP: ${text}`);
        assertRetryAfter(r);
        c.dialect.shape(text, r.headers.get("content-type") ?? "");
      }
      // The owner, from anywhere (even the attacker's address), is served.
      const fromFresh = await c.valid(freshIp());
      assert.equal(fromFresh.status, c.validStatus, `the owner from a fresh IP: ${await fromFresh.text()}`);
      const fromAttacker = await c.valid(attackerIp);
      assert.equal(fromAttacker.status, c.validStatus, `the owner from the attacker's IP: ${await fromAttacker.text()}`);
      const engaged = (await auditTargets("throttle.engaged")).filter((e) => e.target === c.cred());
      assert.equal(engaged.length, 1, `throttle.engaged for ${c.cred()}: ${engaged.length}`);
    });
  }
});

describe("browser redemptions (no credentials: the token is the credential)", () => {
  const landings: [string, (token: string) => string, boolean][] = [
    ["/tap (HTML)", (t) => `/tap?nonce=${t}`, false],
    ["/sso (JSON)", (t) => `/sso?nonce=${t}`, true],
    ["/v1/login (HTML)", (t) => `/v1/login?token=${t}`, false],
    ["/v1/login (JSON)", (t) => `/v1/login?token=${t}`, true],
  ];
  const junk = () => `junk${"x".repeat(20)}${Math.floor(Math.random() * 1e9)}`;

  for (const [label, path, json] of landings) {
    test(`${label}: ${IP_LIMIT} junk tokens are 400, then 429 + Retry-After; a valid token from that IP is honoured`, async () => {
      const ip = freshIp();
      const headers: Record<string, string> = json ? { accept: "application/json" } : {};
      for (let i = 1; i <= IP_LIMIT; i++) {
        const r = await call("GET", path(junk()), { headers, ip });
        assert.equal(r.status, 400, `failure ${i}`);
        await r.text();
      }
      for (let i = 0; i < 5; i++) {
        const r = await call("GET", path(junk()), { headers, ip });
        const text = await r.text();
        assert.equal(r.status, 429);
        assertRetryAfter(r);
        // Asked for JSON, the refusal is in the landing's dialect: problem+json for /v1/login, seed 000's errors[] for /tap and /sso.
        if (json && label.startsWith("/v1")) assert.equal((JSON.parse(text) as { type: string }).type, "urn:ssod:problem:too-many-failures");
        else if (json) assert.equal((JSON.parse(text) as { errors: { title: string }[] }).errors[0]!.title, "Too Many Requests");
        else {
          assert.match(r.headers.get("content-type") ?? "", /^text\/html/);
          assert.match(text, /Too many attempts/);
        }
      }
      // A real token from the throttled address is honoured.
      let token: string;
      if (label.startsWith("/v1")) {
        const r = await s.request("POST", "/v1/tokens", { json: { user: { email: "browser@example.com" } }, headers: { authorization: `Bearer ${adminKey}` } });
        token = ((await r.json()) as { token: string }).token;
      } else {
        const r = await s.request("POST", "/api/sso", {
          json: { emailAddress: "browser@example.com", forSection: label.startsWith("/tap") ? "dashboard" : "portal" },
          headers: { authorization: adminKey },
        });
        token = ((await r.json()) as { Meta: string }).Meta;
      }
      const ok = await call("GET", path(token), { headers, ip });
      const text = await ok.text();
      assert.equal(ok.status, 200, `a valid token from a throttled IP: ${ok.status} ${text.slice(0, 200)}`);
      assert.match(ok.headers.get("set-cookie") ?? "", /ssod_session=/);
      // Used once, it is now junk like the rest: throttled.
      assert.equal((await call("GET", path(token), { headers, ip })).status, 429);
    });
  }

  test("an authenticated caller is never throttled: 20 redemptions of a consumed token are all 400", async () => {
    const ip = freshIp();
    const r = await s.request("POST", "/v1/tokens", { json: { user: { email: "race@example.com" } }, headers: { authorization: `Bearer ${adminKey}` } });
    const token = ((await r.json()) as { token: string }).token;
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      const a = await call("POST", "/v1/tokens/redeem", {
        json: { token: i % 2 ? token : `unknown-${i}-${"y".repeat(30)}` },
        headers: { authorization: basic(source.clientId, source.clientSecret) },
        ip,
      });
      statuses.push(a.status);
    }
    assert.deepEqual(statuses, [400, 200, ...Array(18).fill(400)]);
    // Nor did those count against the IP: a failed login from it is an ordinary 401.
    assert.equal((await dialects[0]!.fail(ip)).status, 401);
  });
});

test("the window slides: after SSOD_THROTTLE_WINDOW seconds without failures the IP is answered normally again", async () => {
  const short = await openTestServer({ SSOD_THROTTLE_IP_LIMIT: "2", SSOD_THROTTLE_WINDOW: "2" });
  try {
    const attempt = () => short.request("GET", "/v1/sources", { headers: { authorization: `Bearer ${wrongKey()}` }, ip: "192.0.2.55" });
    assert.deepEqual([(await attempt()).status, (await attempt()).status], [401, 401]);
    const throttled = await attempt();
    assert.equal(throttled.status, 429);
    assert.ok(Number(throttled.headers.get("retry-after")) <= 2, `Retry-After ${throttled.headers.get("retry-after")} exceeds the 2 s window`);
    await sleep(2_200);
    assert.equal((await attempt()).status, 401, "the window did not drain");
  } finally {
    await short.close();
  }
});

test("the audit log holds failures but none of the secrets that were tried", async (t) => {
  const r = await s.request("GET", "/v1/audit?limit=500", { headers: { authorization: `Bearer ${adminKey}` } });
  const text = await r.text();
  const leaked = triedSecrets.filter((secret) => text.includes(secret));
  assert.deepEqual(leaked, []);
  assert.ok(!text.includes(PASSWORD) && !text.includes(source.clientSecret) && !text.includes(adminKey));
  const engaged = await auditTargets("throttle.engaged");
  t.diagnostic(
    `requests tried: ${tally.requests}; answered 429: ${tally.throttled}; throttle.engaged rows: ${engaged.length}; secrets tried: ${triedSecrets.length}, found in the audit log: ${leaked.length}`,
  );
});

// ---- the default limits (SSOD_THROTTLE_* unset) ----

const LEGACY_PASSWORD = "a long password 123";
const legacyRefusal = (code: number, text: string) => ({ Success: false, ErrorCode: [code], ErrorText: [text] });
const AUTH_FAILED = legacyRefusal(102, "Authentication failed");
const TOO_MANY = legacyRefusal(103, "Too many failed attempts, retry later");
const BAD_LOGIN = legacyRefusal(104, "Invalid username or password");
/** A well-formed admin key that was never issued. */
const unknownKey = () => `ssod_ak_${randomBytes(32).toString("base64url")}`;
/** A distinct client IP per test, so the per-IP throttle of one test does not leak into another. */
let ipSeq = 10;
const newIp = () => `203.0.113.${++ipSeq}`;

// ---------------------------------------------------------------------------
describe("the default limits, through the legacy dialect: 30 failures per IP, 10 per username", () => {
  let s: TestServer;
  before(async () => {
    s = await openTestServer();
    await createAdminAccount(s.runtime.core, "dave", LEGACY_PASSWORD);
    await createAdminAccount(s.runtime.core, "erin", LEGACY_PASSWORD);
  });
  after(() => s?.close());

  function assertThrottled(r: LegacyAnswer) {
    assert.equal(r.status, 429);
    assert.deepEqual(r.body, TOO_MANY);
    const retry = r.headers.get("retry-after");
    assert.match(retry ?? "", /^\d+$/, `Retry-After: ${retry}`);
    assert.ok(Number(retry) >= 1 && Number(retry) <= 60, `Retry-After: ${retry}`);
  }

  test("30 failed APIKeys from one IP are 401s; the 31st is 429 + Retry-After, code 103", async () => {
    const ip = newIp();
    for (let i = 1; i <= 30; i++) {
      const r = await apiPhp(s, { json: { Command: "sso.list", APIKey: unknownKey() }, ip });
      assert.equal(r.status, 401, `attempt ${i}: ${r.text}`);
      assert.deepEqual(r.body, AUTH_FAILED);
    }
    assertThrottled(await apiPhp(s, { json: { Command: "sso.list", APIKey: unknownKey() }, ip }));
    assertThrottled(await apiPhp(s, { json: { Command: "sso.list", SessionID: "nope" }, ip }));
    // Another IP is not affected.
    const other = await apiPhp(s, { json: { Command: "sso.list", APIKey: unknownKey() }, ip: newIp() });
    assert.equal(other.status, 401);
    assert.deepEqual(other.body, AUTH_FAILED);
  });

  test("valid credentials from a throttled IP are never refused: APIKey and SessionID; a password is refused unchecked", async () => {
    const ip = newIp();
    const login = await apiPhp(s, { json: { Command: "admin.login", Username: "erin", Password: LEGACY_PASSWORD }, ip });
    assert.equal(login.body.Success, true);
    for (let i = 0; i < 31; i++) await apiPhp(s, { json: { Command: "sso.list", APIKey: unknownKey() }, ip });
    assertThrottled(await apiPhp(s, { json: { Command: "sso.list", APIKey: unknownKey() }, ip }));

    const byKey = await apiPhp(s, { json: { Command: "sso.list", APIKey: s.adminKey }, ip });
    assert.equal(byKey.status, 200, byKey.text);
    assert.equal(byKey.body.Success, true);
    const created = await apiPhp(s, {
      json: { Command: "sso.create", APIKey: s.adminKey, SourceName: "t", SourceCode: "throttled_ip_ok", ValidForSeconds: 5 },
      ip,
    });
    assert.equal(created.status, 200, created.text);
    assert.equal(created.body.Success, true);
    const bySession = await apiPhp(s, { json: { Command: "sso.list", SessionID: login.body.SessionID }, ip });
    assert.equal(bySession.status, 200, bySession.text);
    // A valid request that fails validation is a 400 with its own codes, not a 429.
    const invalid = await apiPhp(s, { json: { Command: "sso.create", APIKey: s.adminKey }, ip });
    assert.equal(invalid.status, 400);
    assert.deepEqual(invalid.body.ErrorCode, [1, 2, 7]);
    // The right password from the throttled IP is refused without being checked: a guesser learns nothing.
    const relog = await apiPhp(s, { json: { Command: "admin.login", Username: "erin", Password: LEGACY_PASSWORD }, ip });
    assertThrottled(relog);
  });

  test("admin.login: 10 wrong passwords for one username (each from its own IP), then 429", async () => {
    for (let i = 1; i <= 10; i++) {
      const r = await apiPhp(s, { json: { Command: "admin.login", Username: "dave", Password: `wrong ${i}` }, ip: newIp() });
      assert.equal(r.status, 401, `attempt ${i}: ${r.text}`);
      assert.deepEqual(r.body, BAD_LOGIN);
    }
    const eleventh = await apiPhp(s, { json: { Command: "admin.login", Username: "dave", Password: "wrong 11" }, ip: newIp() });
    assertThrottled(eleventh);
    // Another username from a fresh IP is not throttled.
    const other = await apiPhp(s, { json: { Command: "admin.login", Username: "erin", Password: "wrong" }, ip: newIp() });
    assert.equal(other.status, 401);
    assert.deepEqual(other.body, BAD_LOGIN);
    // The right password is refused too while the username is over its limit (the owner has the admin key).
    const owner = await apiPhp(s, { json: { Command: "admin.login", Username: "dave", Password: LEGACY_PASSWORD }, ip: newIp() });
    assertThrottled(owner);
  });

  test("admin.login: 30 failures from one IP over many usernames, then 429 from that IP", async () => {
    const ip = newIp();
    for (let i = 1; i <= 30; i++) {
      const r = await apiPhp(s, { json: { Command: "admin.login", Username: `user${i}`, Password: "whatever" }, ip });
      assert.equal(r.status, 401, `attempt ${i}`);
    }
    assertThrottled(await apiPhp(s, { json: { Command: "admin.login", Username: "user31", Password: "whatever" }, ip }));
  });
});
