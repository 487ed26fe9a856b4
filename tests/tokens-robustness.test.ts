// SPEC §5: "No request, however malformed, gets a 5xx or a stack trace." For
// the token endpoints of every dialect, against the built server as a real
// process (a crash must fail a test, not the test runner): targeted inputs
// (lone UTF-16 surrogates in claims, refused in each dialect's shape; claims
// too big for a jwt) and fast-check generated requests, each issued token
// read back through introspection and redemption.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { generateAdminKey } from "../src/core/admin-keys";
import { callerJwt, lobHeaders } from "./helpers/identity-provider";
import { type ServerProcess, startBuiltServer, stopAll } from "./helpers/process";
import { NO_THROTTLE } from "./helpers/runtime";
import { basicAuth } from "./helpers/sources";

const adminKey = generateAdminKey();
const ENV = { SSOD_ADMIN_API_KEY: adminKey, ...NO_THROTTLE };

let server: ServerProcess | undefined;
const crashes: string[] = [];

interface Source {
  code: string;
  clientId: string;
  clientSecret: string;
}
let source: Source;

const alive = (s: ServerProcess) => s.child.exitCode === null && s.child.signalCode === null;

/** The running server; a fresh one (and its source) when the last one died. */
async function live(): Promise<ServerProcess> {
  if (server && alive(server)) return server;
  if (server) {
    const panic =
      server
        .stderr()
        .split("\n")
        .find((l) => /panic|Error/.test(l)) ?? "";
    crashes.push(`${String(server.child.signalCode ?? server.child.exitCode)} ${panic}`);
  }
  server = await startBuiltServer({ env: ENV });
  const r = await fetch(`${server.url}/v1/sources`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json" },
    body: JSON.stringify({ code: "fz", name: "Fuzz", validForSeconds: 300, redirectUrls: ["https://app.example/"] }),
  });
  assert.equal(r.status, 201);
  source = (await r.json()) as Source;
  return server;
}

const admin = { authorization: `Bearer ${adminKey}` };
const basic = () => basicAuth(source);

/** Sends a request; fails (naming the request) on a 5xx or when the process died answering it. */
async function send(
  method: string,
  path: string,
  options: { body?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; text: string; headers: Headers }> {
  const s = await live();
  let response: Response;
  try {
    response = await fetch(`${s.url}${path}`, { method, headers: options.headers, body: options.body, redirect: "manual" });
  } catch (error) {
    await new Promise((r) => setTimeout(r, 100));
    assert.fail(
      `${method} ${path} ${options.body?.slice(0, 200) ?? ""}: no answer (${(error as Error).message}); process alive: ${alive(s)}; ${
        s
          .stderr()
          .split("\n")
          .find((l) => l.includes("panicked")) ?? ""
      }`,
    );
  }
  const text = await response.text();
  assert.ok(response.status < 500, `${method} ${path} ${options.body?.slice(0, 200) ?? ""} → ${response.status} ${text.slice(0, 300)}`);
  await new Promise((r) => setImmediate(r));
  assert.ok(alive(s), `${method} ${path}: the process died after answering`);
  return { status: response.status, text, headers: response.headers };
}

const jsonHeaders = (auth: Record<string, string>) => ({ ...auth, "content-type": "application/json" });

/** Reads a token back every way there is: introspection, then redemption. */
async function readBack(token: string) {
  const info = await send("POST", "/v1/tokens/introspect", { body: JSON.stringify({ token }), headers: jsonHeaders(admin) });
  assert.equal(info.status, 200, info.text);
  const redeemed = await send("POST", "/v1/tokens/redeem", { body: JSON.stringify({ token }), headers: jsonHeaders(admin) });
  assert.ok(redeemed.status === 200 || redeemed.status === 400, redeemed.text);
  // And users list still reads.
  const users = await send("GET", "/v1/users?limit=500", { headers: admin });
  assert.equal(users.status, 200);
}

before(async () => {
  await live();
});

after(async () => {
  await stopAll([server]);
  if (crashes.length) console.log(`ssod processes that died during this file: ${crashes.length}\n${crashes.join("\n")}`);
});

/** A /v1 refusal of unclean text: 400 invalid-request, pointing at the field. */
function assertInvalidAt(answer: { status: number; text: string; headers: Headers }, pointer: string, detail: string) {
  assert.equal(answer.status, 400, answer.text);
  assert.equal(answer.headers.get("content-type"), "application/problem+json");
  const problem = JSON.parse(answer.text) as { type: string; errors: { pointer: string; detail: string }[] };
  assert.equal(problem.type, "urn:ssod:problem:invalid-request");
  assert.deepEqual(problem.errors, [{ pointer, detail }]);
}

const LONE = "must be valid Unicode (a lone surrogate is not)";

describe("claims with lone UTF-16 surrogates (valid JSON escapes, not valid Unicode) are refused in each dialect's shape, and the server lives on", () => {
  // JSON text written by hand: "\ud800" is a legal JSON string escape. send() fails on a 5xx or a dead process.
  test("v1: a displayName with \\ud800 → 400 invalid-request at /user/displayName", { timeout: 60_000 }, async () => {
    const issued = await send("POST", "/v1/tokens", { body: '{"user":{"email":"lone@example.com","displayName":"x\\ud800y"}}', headers: jsonHeaders(admin) });
    assertInvalidAt(issued, "/user/displayName", LONE);
  });

  test("v1: groups, orgId and externalId with lone surrogates → 400 invalid-request, each at its field", { timeout: 60_000 }, async () => {
    await live();
    for (const [user, pointer] of [
      ['{"email":"g@example.com","groups":["\\udfff"]}', "/user/groups/0"],
      ['{"email":"o@example.com","orgId":"\\udc00"}', "/user/orgId"],
      ['{"externalId":"\\ud83d"}', "/user/externalId"],
    ] as const) {
      assertInvalidAt(await send("POST", "/v1/tokens", { body: `{"user":${user}}`, headers: jsonHeaders(basic()) }), pointer, LONE);
    }
  });

  test("Tyk: a lone surrogate in displayName → 400 errors naming displayName; no nonce to land with", { timeout: 60_000 }, async () => {
    const issued = await send("POST", "/api/sso", {
      body: '{"emailAddress":"tyk-lone@example.com","displayName":"\\udc00","forSection":"portal"}',
      headers: jsonHeaders({ "admin-auth": adminKey }),
    });
    assert.equal(issued.status, 400, issued.text);
    assert.deepEqual(JSON.parse(issued.text), { errors: [{ title: "Bad Request", detail: `displayName ${LONE}` }] });
  });

  test("LOB: a CIINo of lone surrogates → 400 ReturnCode 0 naming CIINo", { timeout: 60_000 }, async () => {
    await live();
    const issued = await send("POST", "/GenerateSSOToken", {
      body: '{"CIINo":"\\ud800\\ud800","LOBId":"01","Functionality":"D"}',
      headers: lobHeaders(source.clientId, await callerJwt(source)),
    });
    assert.equal(issued.status, 400, issued.text);
    assert.deepEqual(JSON.parse(issued.text), { ReturnCode: "0", ReturnMessage: `Bad Request: CIINo ${LONE}` });
  });
});

describe("tokens ssod issues are tokens ssod can redeem", () => {
  const biggest = {
    user: {
      email: `${"e".repeat(60)}@${"d".repeat(60)}.example.com`,
      displayName: "N".repeat(200),
      externalId: "X".repeat(128),
      orgId: "O".repeat(128),
      groups: Array.from({ length: 100 }, (_, i) => `${i}-`.padEnd(128, "g")),
    },
    section: "S".repeat(64),
    lobId: "L".repeat(128),
    functionality: "F".repeat(128),
  };

  test("every claim at its maximum size: a jwt is refused at issue (too long to carry, 400 at /user), a nonce carries them and redeems", {
    timeout: 60_000,
  }, async () => {
    const jwt = await send("POST", "/v1/tokens", { body: JSON.stringify({ ...biggest, format: "jwt" }), headers: jsonHeaders(admin) });
    assertInvalidAt(jwt, "/user", "too much to carry in a token");
    assert.match((JSON.parse(jwt.text) as { detail: string }).detail, /over 8192: .*use format "nonce"/);
    const issued = await send("POST", "/v1/tokens", { body: JSON.stringify({ ...biggest, format: "nonce" }), headers: jsonHeaders(admin) });
    assert.equal(issued.status, 201, issued.text);
    const { token } = JSON.parse(issued.text) as { token: string };
    const info = await send("POST", "/v1/tokens/introspect", { body: JSON.stringify({ token }), headers: jsonHeaders(admin) });
    assert.equal(info.status, 200, `introspect: ${info.text.slice(0, 200)}`);
    assert.equal((JSON.parse(info.text) as { active: boolean }).active, true);
    const redeemed = await send("POST", "/v1/tokens/redeem", { body: JSON.stringify({ token }), headers: jsonHeaders(admin) });
    assert.equal(redeemed.status, 200, `a token issued with 201 is refused at redemption: ${redeemed.text.slice(0, 200)}`);
    assert.deepEqual((JSON.parse(redeemed.text) as { claims: { groups: string[] } }).claims.groups, biggest.user.groups);
  });

  test("a jwt of ~5 kB (30 groups of 128 characters) is redeemable at its own loginUrl", { timeout: 60_000 }, async () => {
    const groups = Array.from({ length: 30 }, (_, i) => `${i}-`.padEnd(128, "g"));
    const issued = await send("POST", "/v1/tokens", {
      body: JSON.stringify({ user: { email: "wide@example.com", groups }, format: "jwt" }),
      headers: jsonHeaders(admin),
    });
    assert.equal(issued.status, 201);
    const { token, loginUrl } = JSON.parse(issued.text) as { token: string; loginUrl: string };
    const url = new URL(loginUrl);
    const landed = await send("GET", url.pathname + url.search, { headers: { accept: "application/json" } });
    assert.equal(landed.status, 200, `the loginUrl of a ${token.length}-character jwt answers ${landed.status}: ${landed.text}`);
  });
});

// ---- generated requests ----

const text = fc.string({ unit: "grapheme", maxLength: 40 });
const anyJson = fc.jsonValue({ maxDepth: 3 });
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const caseOf = (name: string) => fc.constantFrom(name, name.toLowerCase(), name.toUpperCase(), name[0]!.toUpperCase() + name.slice(1));

const v1IssueBody = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record(
      {
        user: fc.oneof(
          fc.record(
            {
              email: maybe(fc.oneof(fc.emailAddress(), text)),
              displayName: maybe(text),
              externalId: maybe(text),
              orgId: maybe(text),
              groups: maybe(fc.oneof(fc.array(text, { maxLength: 5 }), anyJson)),
            },
            { requiredKeys: [] },
          ),
          anyJson,
        ),
        section: maybe(fc.oneof(text, anyJson)),
        lobId: maybe(text),
        functionality: maybe(text),
        ttlSeconds: maybe(fc.oneof(fc.integer(), fc.double(), text)),
        format: maybe(fc.constantFrom("nonce", "jwt", "lob-jwt", "JWT", "")),
        registeredOnly: maybe(fc.oneof(fc.boolean(), text)),
        redirectUrl: maybe(fc.oneof(fc.constant("https://app.example/"), fc.webUrl(), text)),
        sourceCode: maybe(fc.oneof(fc.constantFrom("default", "fz", "missing"), text)),
      },
      { requiredKeys: ["user"] },
    ),
  },
  { weight: 1, arbitrary: anyJson },
);

const tykBody = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        maybe(fc.tuple(caseOf("emailAddress"), fc.oneof(fc.emailAddress(), text, anyJson))),
        maybe(fc.tuple(caseOf("displayName"), fc.oneof(text, anyJson))),
        maybe(fc.tuple(caseOf("forSection"), fc.oneof(fc.constantFrom("dashboard", "portal"), text))),
        maybe(fc.tuple(caseOf("groupID"), fc.oneof(text, anyJson))),
        maybe(fc.tuple(caseOf("groupsIDs"), fc.oneof(fc.constant(null), fc.array(text, { maxLength: 4 }), anyJson))),
        maybe(fc.tuple(caseOf("orgID"), fc.oneof(text, anyJson))),
        maybe(fc.tuple(caseOf("ssoonlyForRegisteredUsers"), fc.oneof(fc.boolean(), anyJson))),
        maybe(
          fc.tuple(
            caseOf("expiresAt"),
            fc.oneof(
              fc.integer({ min: -120, max: 400 }).map((s) => new Date(Date.now() + s * 1000).toISOString()),
              text,
            ),
          ),
        ),
        maybe(fc.tuple(caseOf("sourceCode"), fc.oneof(fc.constantFrom("default", "fz", "nope"), text))),
      )
      .map((pairs) => Object.fromEntries(pairs.filter((p) => p !== undefined))),
  },
  { weight: 1, arbitrary: anyJson },
);

const lobBody = fc.oneof(
  fc.record({ CIINo: fc.oneof(text, anyJson), LOBId: fc.oneof(text, anyJson), Functionality: fc.oneof(text, anyJson) }, { requiredKeys: [] }),
  anyJson,
);

describe("generated requests never get a 5xx", () => {
  test("POST /v1/tokens (and every 201 read back)", { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(v1IssueBody, fc.boolean(), async (body, asSource) => {
        await live();
        const r = await send("POST", "/v1/tokens", { body: JSON.stringify(body), headers: jsonHeaders(asSource ? basic() : admin) });
        if (r.status === 201) await readBack((JSON.parse(r.text) as { token: string }).token);
        else assert.equal(r.headers.get("content-type"), "application/problem+json", r.text);
      }),
      { numRuns: 150 },
    );
  });

  test("POST /v1/tokens/redeem, /introspect and /revoke with any body", { timeout: 120_000 }, async () => {
    const bodies = fc.oneof(anyJson, fc.record({ token: fc.oneof(text, anyJson) }), fc.record({ tokenRefNo: fc.oneof(text, fc.integer(), anyJson) }));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("redeem", "introspect", "revoke"), bodies, async (op, body) => {
        const r = await send("POST", `/v1/tokens/${op}`, { body: JSON.stringify(body), headers: jsonHeaders(admin) });
        assert.ok([200, 400].includes(r.status), `${op} ${JSON.stringify(body)} → ${r.status}`);
      }),
      { numRuns: 150 },
    );
  });

  test("raw bodies of any text at the token endpoints", { timeout: 120_000 }, async () => {
    const paths = fc.constantFrom("/v1/tokens", "/v1/tokens/redeem", "/v1/tokens/introspect", "/api/sso", "/admin/sso");
    await fc.assert(
      fc.asyncProperty(
        paths,
        fc.string({ unit: "grapheme", maxLength: 200 }),
        fc.constantFrom("application/json", "application/json; charset=utf-8", "text/plain", ""),
        async (path, body, type) => {
          const headers: Record<string, string> = path.startsWith("/v1") ? { ...admin } : { "admin-auth": adminKey };
          if (type) headers["content-type"] = type;
          const r = await send("POST", path, { body, headers });
          assert.ok(r.status < 500);
        },
      ),
      { numRuns: 150 },
    );
  });

  test("POST /api/sso with any mix of field spellings and values (every 200 read back)", { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(tykBody, async (body) => {
        const r = await send("POST", "/api/sso", { body: JSON.stringify(body), headers: jsonHeaders({ "admin-auth": adminKey }) });
        if (r.status === 200) await readBack((JSON.parse(r.text) as { Meta: string }).Meta);
        else assert.ok(Array.isArray((JSON.parse(r.text) as { errors: unknown[] }).errors), r.text);
      }),
      { numRuns: 150 },
    );
  });

  test("POST /GenerateSSOToken with any headers and body (every 200 read back)", { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(
        lobBody,
        fc.constantFrom("good", "none", "garbage", "bearer"),
        fc.constantFrom("1.0.0", "2.0.0", ""),
        fc.constantFrom("own", "unknown", ""),
        async (body, auth, version, client) => {
          const s = await live();
          void s;
          const caller = await callerJwt(source);
          const headers: Record<string, string> = { "content-type": "application/json" };
          if (version) headers["x-api-version"] = version;
          if (client) headers["x-lob-client-id"] = client === "own" ? source.clientId : "unknown-client";
          if (auth === "good") headers.authorization = caller;
          if (auth === "bearer") headers.authorization = `Bearer ${caller}`;
          if (auth === "garbage") headers.authorization = "eyJ.garbage.x";
          const r = await send("POST", "/GenerateSSOToken", { body: JSON.stringify(body), headers });
          const answer = JSON.parse(r.text) as { ReturnCode: string; TokenNo?: string };
          if (r.status === 200) {
            assert.equal(answer.ReturnCode, "1");
            await readBack(answer.TokenNo!);
          } else assert.equal(answer.ReturnCode, "0", r.text);
        },
      ),
      { numRuns: 150 },
    );
  });

  test("GET /tap, /sso and /v1/login with any query", { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("/tap?nonce=", "/sso?nonce=", "/v1/login?token="),
        fc.string({ unit: "grapheme", maxLength: 120 }),
        fc.boolean(),
        async (prefix, value, json) => {
          const r = await send("GET", `${prefix}${encodeURIComponent(value)}`, { headers: json ? { accept: "application/json" } : {} });
          assert.equal(r.status, 400);
        },
      ),
      { numRuns: 150 },
    );
  });
});
