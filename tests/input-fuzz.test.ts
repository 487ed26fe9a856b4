// SPEC §5: "No request, however malformed, gets a 5xx or a stack trace."
// Property tests (fast-check) throw random and malformed input at every
// endpoint of every dialect, in process: random and broken JSON, wrong content
// types, form bodies, huge strings and numbers, deep nesting,
// prototype-pollution keys, NUL bytes, invalid UTF-8 (raw bytes), SQL-looking
// text. What the text it cannot store whole (NUL) gets, and that text it can
// (SQL) comes back literally. The 64 KiB limit on the wire and slow clients
// are tests/body-limit-and-timeouts.test.ts.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { problemOf } from "./helpers/http";
import { callerJwt as signCallerJwt } from "./helpers/identity-provider";
import { openTestServer, type TestServer } from "./helpers/runtime";
import { basicAuth, createSource } from "./helpers/sources";

const RUNS = 200;

// ---- checks every answer must pass ----

/** A stack trace or an exception's text in a body. */
const STACK = /(^|\n)\s+at \S|\b(?:Error|TypeError|RangeError|SyntaxError|ReferenceError|URIError|SqliteError|LibsqlError): |\.ts:\d+:\d+|node_modules\//;

interface Answer {
  status: number;
  body: string;
}

const tally = { requests: 0, byStatus: new Map<number, number>() };

function count(status: number) {
  tally.requests++;
  tally.byStatus.set(status, (tally.byStatus.get(status) ?? 0) + 1);
}

/** Whether an answer breaks the promise (a 5xx, or a stack trace in the body); the reason if so. */
function violation(a: Answer): string | undefined {
  if (a.status >= 500) return `status ${a.status}: ${a.body.slice(0, 300)}`;
  if (STACK.test(a.body)) return `stack trace in a ${a.status} body: ${a.body.slice(0, 300)}`;
  return undefined;
}

// ---- generators ----

const NASTY_STRINGS = [
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "\ud800",
  "\udfff\ud800",
  "\uffff\ufffe",
  "\u202e\u2028\u2029",
  "'; DROP TABLE sso_sources; --",
  '" OR 1=1 --',
  "%",
  "_",
  "\\",
  "%00",
  "../../../../etc/passwd",
  "<script>alert(1)</script>",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: template-injection text, meant literally
  "${7*7}{{7*7}}",
  "__proto__",
  "constructor",
  "prototype",
  "a@b.co",
  "ALICE@EXAMPLE.COM",
  "x@" + "a".repeat(300) + ".com",
  "Enabled",
  "Disabled",
  "enabled",
  "dashboard",
  "portal",
  "2030-12-31 23:59:59",
  "2030-12-31T23:59:59Z",
  "1970-01-01T00:00:00Z",
  "0000-00-00 00:00:00",
  "+275760-09-13T00:00:00.000Z",
  "9999-12-31T23:59:59Z",
  "NaN",
  "Infinity",
  "-1",
  "1e400",
  "0x10",
  "sso.create",
  "sso.update",
  "sso.delete",
  "sso.get",
  "sso.list",
  "admin.login",
  "admin.logout",
  "1,2,3",
  ",,,",
  "1," + "9".repeat(40),
  "https://evil.example/",
  "javascript:alert(1)",
  "http://[::1]:99999/",
  "::ffff:127.0.0.1/200",
  "0.0.0.0/0",
  "default",
  "nonce",
  "jwt",
];

const RAW_NUMBERS = [
  "0",
  "-0",
  "1",
  "-1",
  "1.5",
  "1e308",
  "-1e308",
  "1e400",
  "-1e400",
  "1e-400",
  "123456789012345678901234567890",
  "9007199254740993",
  "-9007199254740993",
  "4294967296",
  "0.000000000000000000001",
];

const PROTO_KEYS = ["__proto__", "constructor", "prototype", "toString", "valueOf", "hasOwnProperty", "__defineGetter__", "isPrototypeOf"];

const hugeString = fc.integer({ min: 1_000, max: 70_000 }).map((n) => "x".repeat(n));
const anyText = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: hugeString },
);

/** A JSON scalar, written out raw (so 1e400 and huge integers stay as sent). */
const rawScalar: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom("null", "true", "false", "[]", "{}", ...RAW_NUMBERS),
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
  anyText.map((s) => JSON.stringify(s)),
);

function objectText(entries: [string, string][]): string {
  // Written by hand: an object literal would turn "__proto__" into a prototype.
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`;
}

function keyArb(fields: string[]): fc.Arbitrary<string> {
  const known =
    fields.length > 0
      ? [fc.constantFrom(...fields), fc.constantFrom(...fields).map((f) => f.toUpperCase()), fc.constantFrom(...fields).map((f) => f.toLowerCase())]
      : [];
  return fc.oneof(...known, fc.constantFrom(...PROTO_KEYS), fc.string({ maxLength: 12 }), fc.string({ unit: "binary", maxLength: 12 }));
}

function rawValue(fields: string[]): fc.Arbitrary<string> {
  const { value } = fc.letrec<{ value: string; array: string; object: string }>((tie) => ({
    value: fc.oneof({ depthSize: "small", maxDepth: 4 }, rawScalar, tie("array"), tie("object")),
    array: fc.array(tie("value"), { maxLength: 4 }).map((xs) => `[${xs.join(",")}]`),
    object: fc.array(fc.tuple(keyArb(fields), tie("value")), { maxLength: 5 }).map(objectText),
  }));
  return value;
}

/** Nested `depth` levels deep, as objects, arrays, or objects inside a known field. */
function deepText(depth: number, kind: "object" | "array" | "field" | "proto", field: string): string {
  switch (kind) {
    case "object":
      return `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
    case "array":
      return `${"[".repeat(depth)}1${"]".repeat(depth)}`;
    case "field":
      return `{${JSON.stringify(field)}:${'{"a":'.repeat(depth)}1${"}".repeat(depth)}}`;
    case "proto":
      return `${'{"__proto__":'.repeat(depth)}1${"}".repeat(depth)}`;
  }
}

function formText(fields: string[]): fc.Arbitrary<string> {
  const formKey = fc.oneof(
    keyArb(fields),
    fc.constantFrom(
      "Options[PerformLogin]",
      "Options[ReturnUserData]",
      "options.performlogin",
      "__proto__[polluted]",
      "constructor[prototype][polluted]",
      "a[b][c][d]",
      "[]",
      "a[",
      "a]",
    ),
  );
  return fc.array(fc.tuple(formKey, anyText), { maxLength: 8 }).map((pairs) => pairs.map(([k, v]) => `${encodeLoose(k)}=${encodeLoose(v)}`).join("&"));
}

/** Percent-encodes any string, lone surrogates included (as their UTF-8 replacement). */
function encodeLoose(s: string): string {
  return [...Buffer.from(s, "utf8")]
    .map((b) => (/[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, "0")}`))
    .join("");
}

const BROKEN_PERCENT = ["%", "%zz", "%E0%A4%A", "%C0%AF", "%00", "%FF%FE", "%ED%A0%80", "%F4%90%80%80", "a%2", "%%%", "+%2B+"];

const queryValue: fc.Arbitrary<string> = fc.oneof(
  anyText.map((s) => encodeLoose(s.slice(0, 5000))),
  fc.constantFrom(...BROKEN_PERCENT),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => [...bytes].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("")),
  fc.string({ unit: "grapheme-ascii", maxLength: 200 }).map((s) => s.replace(/[#&\s]/g, "")),
  fc.constantFrom("A".repeat(43), "a.b.c", "eyJhbGciOiJub25lIn0.eyJ9.", "x".repeat(5000)),
);

const CONTENT_TYPES = [
  undefined,
  "application/json",
  "application/json; charset=utf-8",
  "APPLICATION/JSON",
  "application/problem+json",
  "application/x-www-form-urlencoded",
  "multipart/form-data",
  "multipart/form-data; boundary=zz",
  "text/plain",
  "text/html",
  "application/xml",
  "application/json; charset=utf-16",
  "application/jsonx",
  "*/*",
  "",
];

type Body = string | Buffer;

interface Shape {
  /** Field names of a valid request (mutated by the generator so the fuzz reaches past validation). */
  fields: string[];
  /** A valid request body, as [name, raw JSON] entries. */
  template: () => [string, string][];
}

/** Bodies for one endpoint: mostly near-valid objects, plus every kind of junk. */
function bodyArb(shape: Shape): fc.Arbitrary<{ body: Body | undefined; type: string | undefined; label: string }> {
  const value = rawValue(shape.fields);
  const nearValid = fc
    .tuple(
      fc.array(fc.nat(), { maxLength: 2 }),
      fc.array(fc.tuple(keyArb(shape.fields), value), { maxLength: 3 }),
      fc.constantFrom(...CONTENT_TYPES),
      fc.nat(4),
    )
    .map(([dropped, extra, type, jsonType]) => {
      const template = shape.template();
      const gone = new Set(dropped.map((n) => n % template.length));
      const base = template.filter((_, i) => !gone.has(i));
      return { body: objectText([...base, ...extra]), type: jsonType > 0 ? "application/json" : type, label: "near-valid object" };
    });
  return fc.oneof(
    { weight: 6, arbitrary: nearValid },
    { weight: 2, arbitrary: fc.tuple(value, fc.constantFrom(...CONTENT_TYPES)).map(([body, type]) => ({ body, type, label: "random JSON" })) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.integer({ min: 1, max: 12_000 }), fc.constantFrom("object" as const, "array" as const, "field" as const, "proto" as const))
        .map(([depth, kind]) => ({ body: deepText(depth, kind, shape.fields[0] ?? "a"), type: "application/json", label: `nested ${depth} deep (${kind})` })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.string({ unit: "binary", maxLength: 200 }), fc.constantFrom(...CONTENT_TYPES))
        .map(([body, type]) => ({ body, type, label: "random text" })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.uint8Array({ maxLength: 200 }), fc.constantFrom(...CONTENT_TYPES))
        .map(([bytes, type]) => ({ body: Buffer.from(bytes), type, label: "raw bytes" })),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 16 }), fc.nat()).map(([bytes, at]) => {
        // Valid JSON with invalid UTF-8 spliced into one of its strings.
        const text = objectText(shape.template());
        const quote = text.indexOf('"', (at % Math.max(1, text.length - 1)) + 1);
        const cut = quote < 0 ? 1 : quote + 1;
        return {
          body: Buffer.concat([Buffer.from(text.slice(0, cut)), Buffer.from(bytes.map((b) => b | 0x80)), Buffer.from(text.slice(cut))]),
          type: "application/json",
          label: "invalid UTF-8 inside JSON",
        };
      }),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(formText(shape.fields), fc.constantFrom("application/x-www-form-urlencoded", undefined, "application/json"))
        .map(([body, type]) => ({ body, type, label: "form" })),
    },
    {
      weight: 1,
      arbitrary: fc.nat().map((at) => {
        const text = objectText(shape.template());
        return { body: text.slice(0, at % text.length), type: "application/json", label: "truncated JSON" };
      }),
    },
    { weight: 1, arbitrary: fc.constant({ body: undefined, type: "application/json", label: "no body" }) },
  );
}

// ---- the server under test ----

let s: TestServer;
let adminKey: string;
let source: { id: number; code: string; clientId: string; clientSecret: string };
let patchTarget: { id: number; code: string };
let callerJwt: string;
let protoBefore: string[];

const j = (value: unknown) => JSON.stringify(value);

async function send(method: string, path: string, body: Body | undefined, headers: Record<string, string>, ip: string): Promise<Answer> {
  const r = await s.request(method, path, { body: body as string | undefined, headers, ip });
  const answer = { status: r.status, body: await r.text() };
  count(answer.status);
  return answer;
}

before(async () => {
  protoBefore = Object.getOwnPropertyNames(Object.prototype).sort();
  s = await openTestServer();
  adminKey = s.adminKey;
  source = await createSource(s, { code: "fuzz", name: "Fuzz", validForSeconds: 600, redirectUrls: ["https://app.example/in"] });
  patchTarget = await createSource(s, { code: "fuzz-patch", name: "Patched", validForSeconds: 600 });
  callerJwt = await signCallerJwt(source, { exp: Math.floor(Date.now() / 1000) + 3600 });
});

after(async () => {
  await s?.close();
});

// ---- the endpoints ----

interface Endpoint {
  name: string;
  method: string;
  path: fc.Arbitrary<string>;
  headers: fc.Arbitrary<Record<string, string>>;
  /** Absent for GET endpoints. */
  shape?: Shape;
}

const adminHeaders = () => ({ authorization: `Bearer ${adminKey}` });
const basicHeaders = () => basicAuth(source);

/** Mostly valid credentials (to reach the handler), sometimes junk. */
function v1Auth(): fc.Arbitrary<Record<string, string>> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constant(null).map((): Record<string, string> => adminHeaders()) },
    { weight: 2, arbitrary: fc.constant(null).map((): Record<string, string> => basicHeaders()) },
    {
      weight: 2,
      arbitrary: fc
        .constantFrom(
          "",
          "Bearer",
          "Bearer ",
          "Basic",
          "Basic !!!!",
          "Basic " + Buffer.from(":").toString("base64"),
          "Basic " + Buffer.from("\u0000:\u0000").toString("base64"),
          "Basic " + Buffer.from(`${"a".repeat(5000)}:${"b".repeat(5000)}`).toString("base64"),
          "Bearer ssod_ak_" + "A".repeat(43),
          "Bearer " + "x".repeat(8000),
          "Digest foo",
          "bearer\tssod_ak_",
        )
        .map((authorization): Record<string, string> => (authorization ? { authorization } : {})),
    },
  );
}

const tykAuth: fc.Arbitrary<Record<string, string>> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .constantFrom("bearer", "bare", "admin-auth")
      .map((how): Record<string, string> => (how === "bearer" ? adminHeaders() : how === "bare" ? { authorization: adminKey } : { "admin-auth": adminKey })),
  },
  { weight: 1, arbitrary: fc.constant(null).map((): Record<string, string> => basicHeaders()) },
  {
    weight: 2,
    arbitrary: fc.constantFrom<Record<string, string>>(
      {},
      { authorization: "junk junk junk" },
      { "admin-auth": "x".repeat(3000) },
      { authorization: "Basic Og==" },
    ),
  },
);

const lobHeaders = fc
  .record({
    version: fc.constantFrom("1.0.0", "1.0.0", "1.0.0", "2.0.0", "", " 1.0.0 ", "x".repeat(500)),
    clientId: fc.oneof(
      { weight: 5, arbitrary: fc.constant("<source>") },
      { weight: 1, arbitrary: fc.constantFrom("", "nope", "x".repeat(300), "default", "%00") },
    ),
    authorization: fc.oneof(
      { weight: 5, arbitrary: fc.constantFrom("<jwt>", "Bearer <jwt>") },
      {
        weight: 2,
        arbitrary: fc.constantFrom("", "Bearer", "a.b.c", "eyJhbGciOiJub25lIn0.eyJleHAiOjk5OTk5OTk5OTl9.", "Bearer " + "A".repeat(6000), "...", "a.b"),
      },
    ),
  })
  .map(({ version, clientId, authorization }) => {
    const headers: Record<string, string> = {};
    if (version) headers["x-api-version"] = version;
    const id = clientId === "<source>" ? source.clientId : clientId;
    if (id) headers["x-lob-client-id"] = id;
    const auth = authorization.replace("<jwt>", callerJwt);
    if (auth) headers.authorization = auth;
    return headers;
  });

const legacyFields = [
  "Command",
  "APIKey",
  "SessionID",
  "SourceID",
  "SourceName",
  "SourceCode",
  "SourceDescription",
  "ExpiresAt",
  "ValidForSeconds",
  "Options",
  "Username",
  "Password",
];
const legacyShape: Shape = {
  fields: legacyFields,
  template: () => [
    [
      "Command",
      j(fc.sample(fc.constantFrom("sso.create", "sso.update", "sso.delete", "sso.get", "sso.list", "admin.login", "admin.logout", "SSO.CREATE", "nope"), 1)[0]),
    ],
    ["APIKey", j(adminKey)],
    ["SourceID", j(String(patchTarget.id))],
    ["SourceName", j("Legacy fuzz")],
    ["SourceCode", j(`lf${Math.floor(Math.random() * 1e9)}`)],
    ["SourceDescription", j("from the fuzzer")],
    ["ExpiresAt", j("2031-01-01 00:00:00")],
    ["ValidForSeconds", j("120")],
    [
      "Options",
      objectText([
        ["PerformLogin", j("Enabled")],
        ["ReturnUserData", j("Disabled")],
        ["CreateNewUserIfNotExists", j("Enabled")],
      ]),
    ],
  ],
};

const tykFields = [
  "emailAddress",
  "displayName",
  "expiresAt",
  "forSection",
  "groupID",
  "groupsIDs",
  "orgID",
  "ssoonlyForRegisteredUsers",
  "userNotAllowed",
  "sourceCode",
];
const tykShape: Shape = {
  fields: tykFields,
  template: () => [
    ["EmailAddress", j("fuzz@example.com")],
    ["DisplayName", j("Fuzz")],
    ["ForSection", j("portal")],
    ["GroupID", j("g1")],
    ["GroupsIDs", j(["g2", "g3"])],
    ["OrgID", j("org-1")],
    ["SSOOnlyForRegisteredUsers", "false"],
    ["expiresAt", j(new Date(Date.now() + 30_000).toISOString())],
  ],
};

const lobShape: Shape = {
  fields: ["CIINo", "LOBId", "Functionality"],
  template: () => [
    ["CIINo", j("10001004")],
    ["LOBId", j("01")],
    ["Functionality", j("D")],
  ],
};

const sourceFields = ["code", "clientId", "name", "description", "expiresAt", "validForSeconds", "options", "allowedIps", "redirectUrls", "identityProvider"];
const sourceShape = (create: boolean): Shape => ({
  fields: sourceFields,
  template: () => [
    ...(create ? ([["code", j(`vf${Math.floor(Math.random() * 1e9)}`)]] as [string, string][]) : []),
    ["name", j("Native fuzz")],
    ["description", j("d")],
    ["expiresAt", j("2031-01-01T00:00:00Z")],
    ["validForSeconds", "300"],
    [
      "options",
      objectText([
        ["performLogin", "true"],
        ["returnUserData", "false"],
      ]),
    ],
    ["allowedIps", j(["10.0.0.0/8", "::1"])],
    ["redirectUrls", j(["https://app.example/in", "http://localhost:3000/cb"])],
    [
      "identityProvider",
      fc.sample(
        fc.constantFrom("null", j({ issuer: "https://idp.example", jwksUrl: "https://idp.example/jwks.json", audience: "aud", requiredScope: "s" })),
        1,
      )[0]!,
    ],
  ],
});

const tokenFields = ["user", "section", "lobId", "functionality", "ttlSeconds", "format", "registeredOnly", "redirectUrl", "sourceCode"];
const tokenShape: Shape = {
  fields: [...tokenFields, "email", "displayName", "externalId", "orgId", "groups"],
  template: () => [
    [
      "user",
      objectText([
        ["email", j("fuzz@example.com")],
        ["displayName", j("Fuzz")],
        ["externalId", j("X1")],
        ["orgId", j("o")],
        ["groups", j(["a"])],
      ]),
    ],
    ["section", j("portal")],
    ["ttlSeconds", "60"],
    ["format", j(fc.sample(fc.constantFrom("nonce", "jwt"), 1)[0])],
    ["registeredOnly", "false"],
    ["redirectUrl", j("https://app.example/in")],
    ["sourceCode", j("fuzz")],
  ],
};

/** A live token now and then, so redeem/introspect/revoke also take their success paths. */
async function liveToken(): Promise<string> {
  const r = await s.request("POST", "/v1/tokens", { json: { user: { email: "live@example.com" } }, headers: adminHeaders() });
  return ((await r.json()) as { token: string }).token;
}

const tokenBodyShape = (extra: string[]): Shape => ({
  fields: ["token", ...extra],
  template: () => [["token", j("<live>")], ...extra.map((f): [string, string] => [f, j("1234")])],
});

const anyPathId = fc.oneof(
  { weight: 4, arbitrary: fc.constant(null).map(() => String(patchTarget.id)) },
  { weight: 1, arbitrary: fc.constant(null).map(() => patchTarget.code) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "0",
      "-1",
      "999999999999999",
      "9".repeat(40),
      "1e3",
      "%00",
      "%zz",
      "%C0%AF",
      "a%2Fb",
      "..",
      "__proto__",
      "constructor",
      "x".repeat(300),
      "1.5",
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 20 }).map(encodeLoose) },
);

function endpoints(): Endpoint[] {
  const fixed = (path: string) => fc.constant(path);
  return [
    { name: "POST /api.php", method: "POST", path: fixed("/api.php"), headers: fc.constant({}), shape: legacyShape },
    { name: "POST /api/sso", method: "POST", path: fixed("/api/sso"), headers: tykAuth, shape: tykShape },
    { name: "POST /admin/sso", method: "POST", path: fixed("/admin/sso"), headers: tykAuth, shape: tykShape },
    { name: "POST /GenerateSSOToken", method: "POST", path: fixed("/GenerateSSOToken"), headers: lobHeaders, shape: lobShape },
    { name: "POST /v1/sources", method: "POST", path: fixed("/v1/sources"), headers: v1Auth(), shape: sourceShape(true) },
    { name: "PATCH /v1/sources/{id}", method: "PATCH", path: anyPathId.map((id) => `/v1/sources/${id}`), headers: v1Auth(), shape: sourceShape(false) },
    { name: "POST /v1/tokens", method: "POST", path: fixed("/v1/tokens"), headers: v1Auth(), shape: tokenShape },
    { name: "POST /v1/tokens/redeem", method: "POST", path: fixed("/v1/tokens/redeem"), headers: v1Auth(), shape: tokenBodyShape([]) },
    { name: "POST /v1/tokens/introspect", method: "POST", path: fixed("/v1/tokens/introspect"), headers: v1Auth(), shape: tokenBodyShape([]) },
    { name: "POST /v1/tokens/revoke", method: "POST", path: fixed("/v1/tokens/revoke"), headers: v1Auth(), shape: tokenBodyShape(["tokenRefNo"]) },
    { name: "GET /v1/users?q=", method: "GET", path: queryValue.map((q) => `/v1/users?q=${q}`), headers: v1Auth() },
    {
      name: "GET /tap?nonce=",
      method: "GET",
      path: queryValue.map((q) => `/tap?nonce=${q}`),
      headers: fc.constantFrom<Record<string, string>>({}, { accept: "application/json" }),
    },
    {
      name: "GET /sso?nonce=",
      method: "GET",
      path: queryValue.map((q) => `/sso?nonce=${q}`),
      headers: fc.constantFrom<Record<string, string>>({}, { accept: "application/json" }),
    },
    {
      name: "GET /v1/login?token=",
      method: "GET",
      path: queryValue.map((q) => `/v1/login?token=${q}`),
      headers: fc.constantFrom<Record<string, string>>({}, { accept: "application/json" }),
    },
  ];
}

describe("no request, however malformed, gets a 5xx or a stack trace (fast-check, every endpoint of every dialect)", () => {
  for (const endpoint of endpoints()) {
    test(endpoint.name, { timeout: 60_000 }, async (t) => {
      const requestArb = fc.record({
        path: endpoint.path,
        headers: endpoint.headers,
        body: endpoint.shape ? bodyArb(endpoint.shape) : fc.constant({ body: undefined, type: undefined, label: "GET" }),
        ip: fc.ipV4(),
      });
      let runs = 0;
      // fc.check, not fc.assert: a counterexample may be 60 KB of braces, so the report is written here, short.
      const details = await fc.check(
        fc.asyncProperty(requestArb, async ({ path, headers, body, ip }) => {
          runs++;
          const all: Record<string, string> = { ...headers };
          if (body.type !== undefined) all["content-type"] = body.type;
          let payload = body.body;
          if (typeof payload === "string" && payload.includes('"<live>"')) payload = payload.replace('"<live>"', j(await liveToken()));
          const answer = await send(endpoint.method, path, payload, all, ip);
          const wrong = violation(answer);
          if (wrong) {
            const sent = payload === undefined ? "no body" : typeof payload === "string" ? j(payload.slice(0, 120)) : `<${payload.length} bytes>`;
            throw new Error(`${endpoint.method} ${path.slice(0, 80)} with ${body.label}, content-type ${j(body.type)}, body ${sent}: ${wrong}`);
          }
        }),
        { numRuns: RUNS, endOnFailure: true },
      );
      t.diagnostic(`${endpoint.name}: ${runs} requests${details.failed ? "" : ", none 5xx, no stack trace"}`);
      if (details.failed) {
        const message = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
        assert.fail(`after ${details.numRuns} runs (seed ${details.seed}, path ${details.counterexamplePath}): ${message}`);
      }
    });
  }
});

describe("hand-picked malformed input, every POST endpoint", () => {
  const POSTS: [string, string, () => Record<string, string>][] = [
    ["POST", "/api.php", () => ({})],
    ["POST", "/api/sso", adminHeaders],
    ["POST", "/admin/sso", () => ({ "admin-auth": adminKey })],
    ["POST", "/GenerateSSOToken", () => ({ "x-api-version": "1.0.0", "x-lob-client-id": source.clientId, authorization: `Bearer ${callerJwt}` })],
    ["POST", "/v1/sources", adminHeaders],
    ["PATCH", "/v1/sources/<id>", adminHeaders],
    ["POST", "/v1/tokens", adminHeaders],
    ["POST", "/v1/tokens/redeem", adminHeaders],
    ["POST", "/v1/tokens/introspect", adminHeaders],
    ["POST", "/v1/tokens/revoke", adminHeaders],
  ];
  const CASES: [string, () => Body][] = [
    ["JSON nested 2,000 deep (objects)", () => deepText(2_000, "object", "x")],
    ["JSON nested 5,000 deep (objects)", () => deepText(5_000, "object", "x")],
    ["JSON nested 10,000 deep (objects, 60 KB)", () => deepText(10_000, "object", "x")],
    ["JSON nested 5,000 deep inside a known field", () => deepText(5_000, "field", "Options")],
    ["JSON nested 5,000 deep under __proto__", () => deepText(5_000, "proto", "x")],
    ["JSON arrays nested 30,000 deep", () => deepText(30_000, "array", "x")],
    ["invalid UTF-8 bytes", () => Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0x22, 0x7d])],
    ["NUL bytes", () => Buffer.from('{"a":"\u0000\u0000","\u0000":1}\u0000')],
    ["a UTF-16 BOM", () => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('{"a":1}', "utf16le")])],
    ["a UTF-8 BOM", () => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"a":1}')])],
    ["numbers beyond double", () => '{"validForSeconds":1e400,"ttlSeconds":-1e400,"SourceID":123456789012345678901234567890,"CIINo":1e-400}'],
    ["duplicate keys", () => '{"a":1,"a":{"b":2},"a":[3]}'],
    ["a 60 KB string", () => j({ x: "y".repeat(60_000) })],
  ];
  for (const [method, rawPath, headers] of POSTS) {
    test(`${method} ${rawPath}`, async (t) => {
      const path = rawPath.replace("<id>", String(patchTarget.id));
      const failures: string[] = [];
      for (const [label, body] of CASES) {
        for (const type of ["application/json", "application/x-www-form-urlencoded", "text/plain"]) {
          const answer = await send(method, path, body(), { ...headers(), "content-type": type }, "198.51.100.7");
          const wrong = violation(answer);
          if (wrong) failures.push(`${label} as ${type}: ${wrong.slice(0, 160)}`);
        }
      }
      t.diagnostic(`${CASES.length * 3} requests, ${failures.length} broke the promise`);
      assert.deepEqual(failures, [], `${method} ${rawPath} answered 5xx or a stack trace`);
    });
  }
});

test("prototype-pollution keys change nothing: no polluted Object.prototype, no borrowed credentials", async () => {
  const bodies = [
    '{"__proto__":{"apikey":"<key>","polluted":1},"Command":"sso.list"}',
    '{"constructor":{"prototype":{"apikey":"<key>","polluted":1}},"Command":"sso.list"}',
    '{"Command":"sso.list","__proto__":{"isAdmin":true}}',
  ];
  for (const body of bodies) {
    const answer = await send("POST", "/api.php", body.replace("<key>", adminKey), { "content-type": "application/json" }, "198.51.100.8");
    assert.equal(answer.status, 401, answer.body);
    assert.deepEqual(JSON.parse(answer.body), { Success: false, ErrorCode: [101], ErrorText: ["Authentication required: APIKey or SessionID"] });
  }
  const form = await send(
    "POST",
    "/api.php",
    `Command=sso.list&__proto__[apikey]=${adminKey}&constructor[prototype][apikey]=${adminKey}&__proto__.polluted=1`,
    { "content-type": "application/x-www-form-urlencoded" },
    "198.51.100.8",
  );
  assert.equal(form.status, 401, form.body);
  const tyk = await send(
    "POST",
    "/api/sso",
    '{"__proto__":{"emailAddress":"p@example.com"},"constructor":{"prototype":{"emailAddress":"p@example.com"}}}',
    { ...adminHeaders(), "content-type": "application/json" },
    "198.51.100.8",
  );
  assert.equal(tyk.status, 400, tyk.body);
  const v1 = await send(
    "POST",
    "/v1/tokens",
    '{"user":{"__proto__":{"email":"p@example.com"}}}',
    { ...adminHeaders(), "content-type": "application/json" },
    "198.51.100.8",
  );
  assert.equal(v1.status, 400, v1.body);
  assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), protoBefore, "Object.prototype gained properties");
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(({} as Record<string, unknown>).apikey, undefined);
  assert.equal(({} as Record<string, unknown>).isAdmin, undefined);
});

test("SQL-looking text is stored and returned literally (v1, legacy, user search)", async () => {
  const SQL = "'; DROP TABLE sso_sources; --";
  const admin = adminHeaders();
  let r = await s.request("POST", "/v1/sources", {
    json: { code: "sqlish", name: SQL, description: `${SQL} " OR 1=1 -- %_\\`, validForSeconds: 60 },
    headers: admin,
  });
  assert.equal(r.status, 201, await r.clone().text());
  const created = (await r.json()) as { id: number; name: string; description: string };
  assert.equal(created.name, SQL);
  r = await s.request("GET", `/v1/sources/${created.id}`, { headers: admin });
  assert.equal(r.status, 200);
  const read = (await r.json()) as { name: string; description: string };
  assert.equal(read.name, SQL);
  assert.equal(read.description, `${SQL} " OR 1=1 -- %_\\`);
  // The legacy dialect reads the same row back, word for word.
  r = await s.request("POST", "/api.php", { json: { Command: "sso.get", APIKey: adminKey, SourceID: String(created.id) } });
  assert.equal(r.status, 200);
  assert.equal(((await r.json()) as { Source: { SourceName: string } }).Source.SourceName, SQL);
  // A legacy create with SQL in every text field.
  r = await s.request("POST", "/api.php", {
    form: {
      Command: "sso.create",
      APIKey: adminKey,
      SourceName: `Robert'); DROP TABLE users;--`,
      SourceCode: "sqlish2",
      SourceDescription: SQL,
      ValidForSeconds: "60",
    },
  });
  assert.equal(r.status, 200, await r.clone().text());
  const legacyId = ((await r.json()) as { SSOSourceID: number }).SSOSourceID;
  r = await s.request("GET", `/v1/sources/${legacyId}`, { headers: admin });
  assert.deepEqual(((await r.json()) as { name: string; description: string }).name, `Robert'); DROP TABLE users;--`);
  // Every table is still there.
  r = await s.request("GET", "/v1/sources", { headers: admin });
  assert.equal(r.status, 200);
  assert.ok(((await r.json()) as { items: unknown[] }).items.length >= 4);

  // A user whose name is SQL, found by searching for that SQL; LIKE wildcards are literal.
  const name = "Bobby'); DROP TABLE users;-- 100%_sure";
  r = await s.request("POST", "/v1/tokens", { json: { user: { email: "bobby@example.com", displayName: name } }, headers: admin });
  const token = ((await r.json()) as { token: string }).token;
  r = await s.request("POST", "/v1/tokens/redeem", { json: { token }, headers: admin });
  assert.equal(r.status, 200);
  r = await s.request("GET", `/v1/users?q=${encodeURIComponent("'); DROP TABLE users;--")}`, { headers: admin });
  const found = (await r.json()) as { items: { displayName: string }[] };
  assert.deepEqual(
    found.items.map((u) => u.displayName),
    [name],
  );
  // Each wildcard finds only names holding it literally, and finds Bobby exactly when his name holds it (so the check is never over an empty list alone).
  for (const [wildcard, inBobby] of [
    ["%", true],
    ["_", true],
    ["%%", false],
    ["\\", false],
  ] as const) {
    r = await s.request("GET", `/v1/users?q=${encodeURIComponent(wildcard)}`, { headers: admin });
    assert.equal(r.status, 200);
    const items = ((await r.json()) as { items: { displayName: string | null }[] }).items;
    assert.ok(
      items.every((u) => (u.displayName ?? "").toLowerCase().includes(wildcard)),
      `q=${wildcard} matched ${items.length} users as a wildcard`,
    );
    assert.equal(
      items.some((u) => u.displayName === name),
      inBobby,
      `q=${wildcard}: Bobby ${inBobby ? "not found" : "found"}`,
    );
  }
  r = await s.request("GET", `/v1/users?q=${encodeURIComponent("100%_sure")}`, { headers: admin });
  assert.equal(((await r.json()) as { items: unknown[] }).items.length, 1);
});

test("NUL bytes in text fields are refused with a 400 naming the field, in each dialect's shape: nothing is stored cut off at the NUL", async () => {
  const admin = adminHeaders();
  const NUL = "must not contain NUL characters";
  // A source's name and description.
  let r = await s.request("POST", "/v1/sources", {
    json: { code: "nul-src", name: "before\u0000after", description: "d1\u0000d2", validForSeconds: 60 },
    headers: admin,
  });
  assert.equal(r.status, 400);
  let problem = await problemOf(r);
  assert.equal(problem.type, "urn:ssod:problem:invalid-request");
  assert.deepEqual(problem.errors, [{ pointer: "/name", detail: NUL }]);
  assert.equal((await s.request("GET", "/v1/sources/nul-src", { headers: admin })).status, 404, "a refused source was stored");
  // Legacy sso.create: the body is refused as a whole (code 105).
  r = await s.request("POST", "/api.php", {
    json: { Command: "sso.create", APIKey: adminKey, SourceName: "L\u0000M", SourceCode: "nul-legacy", ValidForSeconds: "60" },
  });
  assert.equal(r.status, 400);
  assert.deepEqual(await r.json(), { Success: false, ErrorCode: [105], ErrorText: ["Invalid request body"] });
  assert.equal((await s.request("GET", "/v1/sources/nul-legacy", { headers: admin })).status, 404, "a refused legacy source was stored");
  // Tyk: the field is named in the error's detail.
  r = await s.request("POST", "/api/sso", { json: { emailAddress: "nul@example.com", displayName: "Dis\u0000play" }, headers: admin });
  assert.equal(r.status, 400);
  assert.deepEqual(await r.json(), { errors: [{ title: "Bad Request", detail: `displayName ${NUL}` }] });
  // A token's claims: the external id names the user, so "nul-victim\0other" cut at the NUL would sign in as "nul-victim".
  r = await s.request("POST", "/v1/tokens", { json: { user: { externalId: "nul-victim" } }, headers: admin });
  const victim = (await (
    await s.request("POST", "/v1/tokens/redeem", { json: { token: ((await r.json()) as { token: string }).token }, headers: admin })
  ).json()) as { user: { id: string } };
  r = await s.request("POST", "/v1/tokens", { json: { user: { externalId: "nul-victim\u0000other", displayName: "Dis\u0000play" } }, headers: admin });
  assert.equal(r.status, 400);
  problem = await problemOf(r);
  assert.equal(problem.type, "urn:ssod:problem:invalid-request");
  assert.deepEqual(problem.errors, [{ pointer: "/user/externalId", detail: NUL }]);
  const users = (await (await s.request("GET", "/v1/users?q=nul-victim", { headers: admin })).json()) as { items: { id: string }[] };
  assert.deepEqual(
    users.items.map((u) => u.id),
    [victim.user.id],
    "the victim is still the only user of that external id",
  );
});

test("after the fuzzing: /healthz answers and valid requests still work", async (t) => {
  const health = await s.request("GET", "/healthz");
  assert.equal(health.status, 200);
  const r = await s.request("POST", "/v1/tokens", { json: { user: { email: "after@example.com" } }, headers: adminHeaders() });
  assert.equal(r.status, 201);
  const token = ((await r.json()) as { token: string }).token;
  const redeemed = await s.request("POST", "/v1/tokens/redeem", { json: { token }, headers: adminHeaders() });
  assert.equal(redeemed.status, 200);
  const statuses = [...tally.byStatus]
    .sort((a, b) => a[0] - b[0])
    .map(([k, v]) => `${k}×${v}`)
    .join(" ");
  t.diagnostic(`in-process requests tried: ${tally.requests}; statuses: ${statuses}`);
  assert.ok(tally.requests > 1_000, `only ${tally.requests} requests were tried`);
});
