// The Tyk-style nonce API (seed 000, SPEC §2.1): POST /api/sso and
// /admin/sso with the three ways of sending an admin key or a source's own
// credentials, sso.NonceTokenRequest in camelCase and PascalCase, the seed's
// answers, and browser redemption at /tap (dashboard) and /sso (portal).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { NO_THROTTLE, openTestServer, type TestServer } from "./helpers/runtime";
import { basicAuth as basic, type CreatedSource, createSource as createSourceOn } from "./helpers/sources";
import { introspect as introspectOn } from "./helpers/tokens";

let s: TestServer;
let admin: Record<string, string>;

const ENDPOINTS = ["/api/sso", "/admin/sso"] as const;
const JSON_ACCEPT = { accept: "application/json" };
/** A refused landing asked for JSON answers in seed 000's own error shape. */
const TYK_INVALID_TOKEN = { errors: [{ title: "Bad Request", detail: "Invalid or expired token" }] };

interface RedeemedJson {
  signedIn: true;
  tokenRefNo: string;
  source: string;
  user?: { id: string; email: string | null; displayName: string | null; externalId: string | null; orgId: string; groups: string[] };
}

const createSource = (body: Record<string, unknown>) => createSourceOn(s, body);

const nonceReq = (headers: Record<string, string>, json: unknown, path: string = "/api/sso") => s.request("POST", path, { json, headers });

/** Asserts the seed's 200 answer, byte for byte, and returns the nonce. */
async function nonceOk(headers: Record<string, string>, json: unknown, path: string = "/api/sso"): Promise<string> {
  const r = await nonceReq(headers, json, path);
  const text = await r.text();
  assert.equal(r.status, 200, text);
  assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
  const body = JSON.parse(text) as { Meta: string };
  assert.match(body.Meta, /^[A-Za-z0-9_-]{43}$/, "the nonce is 32 random bytes as base64url");
  assert.equal(text, JSON.stringify({ Status: "OK", Message: "SSO Nonce created", Meta: body.Meta }));
  return body.Meta;
}

/** Asserts seed 000's api.ErrorResponse with one error of this title. */
async function assertErrors(r: Response, status: number, title: string): Promise<string> {
  const text = await r.text();
  assert.equal(r.status, status, text);
  assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
  const body = JSON.parse(text) as { errors: { title: string; detail: string }[] };
  assert.deepEqual(Object.keys(body), ["errors"]);
  assert.equal(body.errors.length, 1);
  assert.deepEqual(Object.keys(body.errors[0]!), ["title", "detail"]);
  assert.equal(body.errors[0]!.title, title);
  assert.equal(typeof body.errors[0]!.detail, "string");
  assert.ok(body.errors[0]!.detail.length > 0);
  return body.errors[0]!.detail;
}

const introspect = (token: string) => introspectOn(s, token);

async function landJson(path: "/tap" | "/sso", nonce: string): Promise<RedeemedJson> {
  const r = await s.request("GET", `${path}?nonce=${nonce}`, { headers: JSON_ACCEPT });
  assert.equal(r.status, 200, await r.clone().text());
  return (await r.json()) as RedeemedJson;
}

async function assertLandingRefused(path: "/tap" | "/sso", nonce: string) {
  const r = await s.request("GET", `${path}?nonce=${nonce}`, { headers: JSON_ACCEPT });
  assert.equal(r.status, 400);
  assert.deepEqual(await r.json(), TYK_INVALID_TOKEN);
}

let tykSource: CreatedSource;
let withRedirect: CreatedSource;

before(async () => {
  s = await openTestServer(NO_THROTTLE);
  admin = { authorization: `Bearer ${s.adminKey}` };
  tykSource = await createSource({ code: "tyk-src", validForSeconds: 600 });
  withRedirect = await createSource({ code: "tyk-redirect", redirectUrls: ["https://portal.example/home"] });
});

after(() => s?.close());

describe("POST /api/sso and /admin/sso: who may ask", () => {
  for (const path of ENDPOINTS) {
    test(`${path}: the admin key as Authorization: Bearer, bare Authorization, and admin-auth`, async () => {
      for (const headers of <Record<string, string>[]>[
        { authorization: `Bearer ${s.adminKey}` },
        { authorization: `bearer ${s.adminKey}` },
        { authorization: s.adminKey },
        { "admin-auth": s.adminKey },
      ]) {
        const nonce = await nonceOk(headers, { emailAddress: "tyk-auth@example.com" }, path);
        const info = await introspect(nonce);
        assert.equal(info.source, "default", JSON.stringify(headers));
        assert.equal(info.token_type, "nonce");
      }
    });

    test(`${path}: a source's Basic credentials issue for that source`, async () => {
      const nonce = await nonceOk(basic(tykSource), { emailAddress: "tyk-src@example.com" }, path);
      assert.equal((await introspect(nonce)).source, "tyk-src");
    });

    test(`${path}: no key, a wrong key, wrong Basic credentials → 401 errors`, async () => {
      await assertErrors(await nonceReq({}, { emailAddress: "x@example.com" }, path), 401, "Unauthorized");
      await assertErrors(await nonceReq({ authorization: `Bearer ssod_ak_${"B".repeat(43)}` }, { emailAddress: "x@example.com" }, path), 401, "Unauthorized");
      await assertErrors(await nonceReq({ authorization: `ssod_ak_${"C".repeat(43)}` }, { emailAddress: "x@example.com" }, path), 401, "Unauthorized");
      await assertErrors(await nonceReq({ "admin-auth": "nope" }, { emailAddress: "x@example.com" }, path), 401, "Unauthorized");
      await assertErrors(
        await nonceReq(basic({ clientId: tykSource.clientId, clientSecret: "wrong" }), { emailAddress: "x@example.com" }, path),
        401,
        "Unauthorized",
      );
      await assertErrors(await nonceReq({ authorization: "Bearer" }, { emailAddress: "x@example.com" }, path), 401, "Unauthorized");
    });
  }

  test("an admin key with sourceCode issues for that source; a source's credentials with another code → 403", async () => {
    const nonce = await nonceOk({ "admin-auth": s.adminKey }, { emailAddress: "sc@example.com", sourceCode: "tyk-src" });
    assert.equal((await introspect(nonce)).source, "tyk-src");
    await assertErrors(await nonceReq(basic(tykSource), { emailAddress: "sc@example.com", sourceCode: "default" }), 403, "Forbidden");
    await assertErrors(await nonceReq({ "admin-auth": s.adminKey }, { emailAddress: "sc@example.com", sourceCode: "missing-src" }), 400, "Bad Request");
  });

  test("an expired source issues no nonce", async () => {
    const old = await createSource({ code: "tyk-old", expiresAt: "2021-06-01T00:00:00Z" });
    await assertErrors(await nonceReq(basic(old), { emailAddress: "old@example.com" }), 403, "Forbidden");
    await assertErrors(await nonceReq({ "admin-auth": s.adminKey }, { emailAddress: "old@example.com", sourceCode: "tyk-old" }), 403, "Forbidden");
  });
});

describe("sso.NonceTokenRequest", () => {
  test("every field in camelCase", async () => {
    const expiresAt = new Date(Date.now() + 300_000);
    expiresAt.setMilliseconds(0);
    const nonce = await nonceOk(basic(tykSource), {
      displayName: "Camel Case",
      emailAddress: "camel@example.com",
      expiresAt: expiresAt.toISOString(),
      forSection: "portal",
      groupID: "admins",
      groupsIDs: ["devs", "ops"],
      orgID: "org-camel",
      ssoonlyForRegisteredUsers: false,
    });
    const info = await introspect(nonce);
    assert.deepEqual(
      { ...info, iat: 0 },
      {
        active: true,
        token_type: "nonce",
        client_id: tykSource.clientId,
        source: "tyk-src",
        jti: info.jti,
        iat: 0,
        exp: expiresAt.getTime() / 1000,
        sub: "camel@example.com",
        email: "camel@example.com",
        name: "Camel Case",
        org_id: "org-camel",
        groups: ["admins", "devs", "ops"],
        section: "portal",
      },
    );
    assert.match(String(info.jti), /^\d+$/);
    const landed = await landJson("/sso", nonce);
    assert.deepEqual(
      { ...landed.user!, id: "" },
      { id: "", email: "camel@example.com", displayName: "Camel Case", externalId: null, orgId: "org-camel", groups: ["admins", "devs", "ops"] },
    );
    assert.equal(landed.source, "tyk-src");
    assert.equal(landed.tokenRefNo, info.jti);
  });

  test("every field in PascalCase, as the Tyk Dashboard documents and Tyk Identity Broker sends it", async () => {
    const expiresAt = new Date(Date.now() + 200_000);
    expiresAt.setMilliseconds(0);
    const nonce = await nonceOk(basic(tykSource), {
      DisplayName: "Pascal Case",
      EmailAddress: "pascal@example.com",
      ExpiresAt: expiresAt.toISOString(),
      ForSection: "dashboard",
      GroupID: "readers",
      GroupsIDs: ["writers"],
      OrgID: "org-pascal",
      SSOOnlyForRegisteredUsers: false,
      UserNotAllowed: false,
    });
    const info = await introspect(nonce);
    assert.equal(info.email, "pascal@example.com");
    assert.equal(info.name, "Pascal Case");
    assert.equal(info.org_id, "org-pascal");
    assert.deepEqual(info.groups, ["readers", "writers"]);
    assert.equal(info.section, "dashboard");
    assert.equal(info.exp, expiresAt.getTime() / 1000);
    const landed = await landJson("/tap", nonce);
    assert.deepEqual(
      { ...landed.user!, id: "" },
      { id: "", email: "pascal@example.com", displayName: "Pascal Case", externalId: null, orgId: "org-pascal", groups: ["readers", "writers"] },
    );
  });

  test("field names in any case (Go's case-insensitive decoding)", async () => {
    const nonce = await nonceOk(admin, { EMAILADDRESS: "upper@example.com", forsection: "portal", DISPLAYNAME: "Upper", orgid: "o" });
    const info = await introspect(nonce);
    assert.equal(info.email, "upper@example.com");
    assert.equal(info.section, "portal");
    assert.equal(info.name, "Upper");
    assert.equal(info.org_id, "o");
  });

  test("SSOOnlyForRegisteredUsers in PascalCase refuses an unknown user like the camelCase field", async () => {
    const nonce = await nonceOk(admin, { EmailAddress: "pascal-unknown@example.com", ForSection: "portal", SSOOnlyForRegisteredUsers: true });
    await assertLandingRefused("/sso", nonce);
  });

  test("GroupsIDs: null is an empty list; alone, it gives the user no groups", async () => {
    const n1 = await nonceOk(admin, { EmailAddress: "null-groups@example.com", ForSection: "portal", GroupsIDs: null });
    assert.deepEqual((await introspect(n1)).groups, []);
    assert.deepEqual((await landJson("/sso", n1)).user!.groups, []);
    const n2 = await nonceOk(admin, { EmailAddress: "null-groups2@example.com", ForSection: "portal", GroupID: "solo", GroupsIDs: null });
    assert.deepEqual((await introspect(n2)).groups, ["solo"]);
    assert.deepEqual((await landJson("/sso", n2)).user!.groups, ["solo"]);
  });

  test("groupID and groupsIDs are merged without duplicates into the user's groups", async () => {
    const nonce = await nonceOk(admin, { emailAddress: "merge@example.com", forSection: "portal", groupID: "g1", groupsIDs: ["g2", "g1", "g3", "g2"] });
    const landed = await landJson("/sso", nonce);
    assert.deepEqual(landed.user!.groups, ["g1", "g2", "g3"]);
    const users = (await (await s.request("GET", "/v1/users?q=merge%40example.com", { headers: admin })).json()) as { items: { groups: string[] }[] };
    assert.deepEqual(
      users.items.map((u) => u.groups),
      [["g1", "g2", "g3"]],
    );
    // A later nonce without groups leaves them; one with groups replaces them.
    await landJson("/sso", await nonceOk(admin, { emailAddress: "merge@example.com", forSection: "portal" }));
    const again = await landJson("/sso", await nonceOk(admin, { emailAddress: "merge@example.com", forSection: "portal", groupsIDs: ["g9"] }));
    assert.deepEqual(again.user!.groups, ["g9"]);
  });

  test("400 errors: missing or bad email, bad forSection, expiresAt in the past, beyond the source's limit or malformed", async () => {
    const cases: [string, unknown][] = [
      ["no email", { forSection: "portal" }],
      ["bad email", { emailAddress: "not-an-email" }],
      ["email not a string", { emailAddress: 42 }],
      ["bad forSection", { emailAddress: "e@example.com", forSection: "admin" }],
      ["expiresAt in the past", { emailAddress: "e@example.com", expiresAt: new Date(Date.now() - 60_000).toISOString() }],
      // The default source allows 60 seconds.
      ["expiresAt beyond the source limit", { emailAddress: "e@example.com", expiresAt: new Date(Date.now() + 120_000).toISOString() }],
      ["expiresAt not RFC 3339", { emailAddress: "e@example.com", expiresAt: "tomorrow" }],
      ["groupsIDs not a list", { emailAddress: "e@example.com", groupsIDs: "g1" }],
      ["ssoonlyForRegisteredUsers not a boolean", { emailAddress: "e@example.com", ssoonlyForRegisteredUsers: "yes" }],
    ];
    for (const [label, json] of cases) {
      const r = await nonceReq({ "admin-auth": s.adminKey }, json);
      assert.equal(r.status, 400, label);
      await assertErrors(r, 400, "Bad Request");
    }
    const detail = await assertErrors(await nonceReq({ "admin-auth": s.adminKey }, { emailAddress: "nope" }), 400, "Bad Request");
    assert.match(detail, /emailAddress/);
    const sectionDetail = await assertErrors(
      await nonceReq({ "admin-auth": s.adminKey }, { emailAddress: "e@example.com", ForSection: "x" }),
      400,
      "Bad Request",
    );
    assert.match(sectionDetail, /forSection/);
  });

  test("expiresAt within a longer source's limit is honoured; just beyond it is refused", async () => {
    const ok = new Date(Date.now() + 590_000);
    ok.setMilliseconds(0);
    const nonce = await nonceOk(basic(tykSource), { emailAddress: "exp@example.com", expiresAt: ok.toISOString() });
    assert.equal((await introspect(nonce)).exp, ok.getTime() / 1000);
    await assertErrors(
      await nonceReq(basic(tykSource), { emailAddress: "exp@example.com", expiresAt: new Date(Date.now() + 610_000).toISOString() }),
      400,
      "Bad Request",
    );
  });

  test("expiresAt with a UTC offset or nanoseconds (as Go's time.Time marshals) is read as the same instant", async () => {
    const at = new Date(Date.now() + 40_000);
    at.setMilliseconds(0);
    const local = new Date(at.getTime() + 2 * 3_600_000).toISOString().replace(/\.000Z$/, "+02:00");
    const n1 = await nonceOk(admin, { emailAddress: "offset@example.com", expiresAt: local });
    assert.equal((await introspect(n1)).exp, at.getTime() / 1000);
    const n2 = await nonceOk(admin, { emailAddress: "offset@example.com", expiresAt: at.toISOString().replace(/\.000Z$/, ".000000001Z") });
    assert.equal((await introspect(n2)).exp, at.getTime() / 1000);
  });

  test("a body that is not a JSON object → 400 errors; a non-JSON Content-Type → 415 errors", async () => {
    await assertErrors(
      await s.request("POST", "/api/sso", { body: "{not json", headers: { ...admin, "content-type": "application/json" } }),
      400,
      "Bad Request",
    );
    await assertErrors(await s.request("POST", "/api/sso", { body: "[]", headers: { ...admin, "content-type": "application/json" } }), 400, "Bad Request");
    await assertErrors(await s.request("POST", "/api/sso", { body: "null", headers: { ...admin, "content-type": "application/json" } }), 400, "Bad Request");
    await assertErrors(await s.request("POST", "/api/sso", { form: { emailAddress: "f@example.com" }, headers: admin }), 415, "Unsupported Media Type");
  });
});

describe("a Tyk nonce's lifetime", () => {
  test("a nonce of the default source lives 60 seconds (introspect: exp - iat = 60)", async () => {
    const nonce = await nonceOk({ "admin-auth": s.adminKey }, { emailAddress: "sixty@example.com" });
    const info = await introspect(nonce);
    assert.equal(info.source, "default");
    assert.equal((info.exp as number) - (info.iat as number), 60);
    const now = Date.now() / 1000;
    assert.ok((info.exp as number) > now + 55 && (info.exp as number) <= now + 60, `exp ${String(info.exp)} not ~60 s from now`);
  });

  test("a nonce of a source with validForSeconds 600 lives 600 seconds", async () => {
    const info = await introspect(await nonceOk(basic(tykSource), { emailAddress: "six-hundred@example.com" }));
    assert.equal((info.exp as number) - (info.iat as number), 600);
  });
});

describe("GET /tap and /sso", () => {
  test("a dashboard nonce: refused at /sso (400), then still redeemed at /tap", async () => {
    const nonce = await nonceOk(admin, { emailAddress: "dash@example.com", forSection: "dashboard" });
    await assertLandingRefused("/sso", nonce);
    assert.equal((await introspect(nonce)).active, true, "the refusal did not consume it");
    const landed = await landJson("/tap", nonce);
    assert.equal(landed.user!.email, "dash@example.com");
  });

  test("a portal nonce: refused at /tap (400), then still redeemed at /sso", async () => {
    const nonce = await nonceOk(admin, { emailAddress: "portal@example.com", forSection: "portal" });
    await assertLandingRefused("/tap", nonce);
    const landed = await landJson("/sso", nonce);
    assert.equal(landed.user!.email, "portal@example.com");
  });

  test("forSection defaults to dashboard", async () => {
    const nonce = await nonceOk(admin, { emailAddress: "default-section@example.com" });
    assert.equal((await introspect(nonce)).section, "dashboard");
    await assertLandingRefused("/sso", nonce);
    await landJson("/tap", nonce);
  });

  test("a nonce is single use at its endpoint", async () => {
    const nonce = await nonceOk(admin, { emailAddress: "once@example.com", forSection: "portal" });
    await landJson("/sso", nonce);
    await assertLandingRefused("/sso", nonce);
    await assertLandingRefused("/tap", nonce);
    const r = await s.request("POST", "/v1/tokens/redeem", { json: { token: nonce }, headers: admin });
    assert.equal(r.status, 400);
  });

  test("a Tyk nonce may also be redeemed by the target app through /v1/tokens/redeem, once", async () => {
    const nonce = await nonceOk(admin, { emailAddress: "api@example.com", forSection: "portal", groupID: "api" });
    const r = await s.request("POST", "/v1/tokens/redeem", { json: { token: nonce }, headers: admin });
    assert.equal(r.status, 200);
    const body = (await r.json()) as { claims: Record<string, unknown>; source: string };
    assert.deepEqual(body.claims, { email: "api@example.com", groups: ["api"], section: "portal" });
    await assertLandingRefused("/sso", nonce);
  });

  test("ssoonlyForRegisteredUsers refuses an unknown user; after the user exists a new nonce is accepted", async () => {
    const refused = await nonceOk(admin, { emailAddress: "reg@example.com", forSection: "portal", ssoonlyForRegisteredUsers: true });
    await assertLandingRefused("/sso", refused);
    const users = (await (await s.request("GET", "/v1/users?q=reg%40example.com", { headers: admin })).json()) as { items: unknown[] };
    assert.deepEqual(users.items, [], "no user was created");
    const created = await landJson("/sso", await nonceOk(admin, { emailAddress: "reg@example.com", forSection: "portal" }));
    const allowed = await landJson("/sso", await nonceOk(admin, { emailAddress: "Reg@Example.com", forSection: "portal", ssoonlyForRegisteredUsers: true }));
    assert.equal(allowed.user!.id, created.user!.id);
  });

  test("a failure answers a 400 HTML page by default, JSON with Accept: application/json", async () => {
    const bogus = randomBytes(32).toString("base64url");
    const html = await s.request("GET", `/tap?nonce=${bogus}`);
    assert.equal(html.status, 400);
    assert.equal(html.headers.get("content-type"), "text/html; charset=UTF-8");
    const page = await html.text();
    assert.match(page, /^<!doctype html>/);
    assert.match(page, /<title>Sign-in link not valid<\/title>/);
    assert.ok(!page.includes(bogus), "the page does not echo the nonce");
    assert.equal(html.headers.get("cache-control"), "no-store");
    assert.equal(html.headers.get("referrer-policy"), "no-referrer");
    const json = await s.request("GET", `/sso?nonce=${bogus}`, { headers: JSON_ACCEPT });
    assert.equal(json.status, 400);
    assert.match(json.headers.get("content-type") ?? "", /^application\/json/);
    assert.deepEqual(await json.json(), TYK_INVALID_TOKEN);
    for (const path of ["/tap", "/sso", "/tap?nonce=", "/sso?nonce=%00%01", "/tap?nonce=a&nonce=b"]) {
      const r = await s.request("GET", path, { headers: JSON_ACCEPT });
      assert.equal(r.status, 400, path);
    }
  });

  test("success without a redirect URL: a 200 HTML page naming the user and the session cookie", async () => {
    const nonce = await nonceOk(admin, { emailAddress: "page@example.com", displayName: "Page <Person>", forSection: "dashboard" });
    const r = await s.request("GET", `/tap?nonce=${nonce}`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("content-type"), "text/html; charset=UTF-8");
    const page = await r.text();
    assert.match(page, /<title>Signed in<\/title>/);
    assert.ok(page.includes("Page &lt;Person&gt;"), "the name is shown, escaped");
    assert.ok(!page.includes("Page <Person>"));
    const cookie = r.headers.get("set-cookie") ?? "";
    assert.match(cookie, /^ssod_session=[A-Za-z0-9_-]{43}; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Lax$/);
    const session = await s.request("GET", "/v1/session", { headers: { cookie: cookie.split(";")[0]! } });
    assert.equal(session.status, 200);
    assert.equal(((await session.json()) as { user: { email: string } }).user.email, "page@example.com");
  });

  test("success with the source's redirect URL: 303 to it", async () => {
    const nonce = await nonceOk(basic(withRedirect), { emailAddress: "redir@example.com", forSection: "portal" });
    const r = await s.request("GET", `/sso?nonce=${nonce}`);
    assert.equal(r.status, 303);
    assert.equal(r.headers.get("location"), "https://portal.example/home");
    assert.equal(r.headers.get("referrer-policy"), "no-referrer");
    assert.equal(r.headers.get("cache-control"), "no-store");
    assert.match(r.headers.get("set-cookie") ?? "", /^ssod_session=/);
  });
});
