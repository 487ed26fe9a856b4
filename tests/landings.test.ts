// SPEC §5 "Landings" and "Cross-site requests": HEAD never spends a token; a
// source with landing "confirm" answers the GET with a page whose button
// POSTs the token back, and only that same-origin POST spends it; a state
// change on the session cookie refuses a request another site sent.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { openTestServer, type TestServer } from "./helpers/runtime";
import { basicAuth, type CreatedSource, createSource } from "./helpers/sources";

let s: TestServer;
let admin: Record<string, string>;
let direct: CreatedSource;
let confirm: CreatedSource;

before(async () => {
  s = await openTestServer();
  admin = { authorization: `Bearer ${s.adminKey}` };
  direct = await createSource(s, { code: "direct-landing" });
  confirm = await createSource(s, { code: "confirm-landing", landing: "confirm" });
});
after(() => s.close());

async function token(source: CreatedSource) {
  const r = await s.request("POST", "/v1/tokens", { json: { user: { email: "lander@example.com" } }, headers: basicAuth(source) });
  return ((await r.json()) as { token: string }).token;
}

async function nonce(source: CreatedSource, forSection: "dashboard" | "portal") {
  const r = await s.request("POST", "/api/sso", { json: { emailAddress: "lander@example.com", forSection }, headers: basicAuth(source) });
  return ((await r.json()) as { Meta: string }).Meta;
}

const active = async (t: string) =>
  ((await (await s.request("POST", "/v1/tokens/introspect", { json: { token: t }, headers: admin })).json()) as { active: boolean }).active;

describe("HEAD", () => {
  for (const [path, make] of [
    ["/v1/login?token=", () => token(direct)],
    ["/tap?nonce=", () => nonce(direct, "dashboard")],
    ["/sso?nonce=", () => nonce(direct, "portal")],
  ] as const) {
    test(`HEAD ${path.split("?")[0]} spends nothing and sets no cookie; the GET after it signs in`, async () => {
      const t = await make();
      const head = await s.request("HEAD", `${path}${t}`);
      assert.equal(head.status, 200);
      assert.equal(head.headers.get("set-cookie"), null);
      assert.equal(await active(t), true);
      const get = await s.request("GET", `${path}${t}`);
      assert.equal(get.status, 200);
      assert.match(get.headers.get("set-cookie") ?? "", /ssod_session=/);
    });
  }
});

describe('landing "confirm"', () => {
  test("the GET shows a page whose form posts the token back, spending nothing; the page's POST signs in, once", async () => {
    const t = await token(confirm);
    const page = await s.request("GET", `/v1/login?token=${t}`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get("set-cookie"), null);
    const html = await page.text();
    assert.match(html, /<form method="post" action="\/v1\/login">/);
    assert.ok(html.includes(`name="token" value="${t}"`));
    assert.match(page.headers.get("content-security-policy") ?? "", /form-action 'self'[;\s]/);
    // A no-referrer page's form POST would carry Origin: null, which the cross-site rule refuses.
    assert.equal(page.headers.get("referrer-policy"), "same-origin");
    assert.match(html, /<meta name="referrer" content="same-origin"/);
    assert.equal(await active(t), true, "a scanner's GET spent nothing");
    const again = await s.request("GET", `/v1/login?token=${t}`);
    assert.equal(again.status, 200, "a second prefetch still shows the page");
    const post = await s.request("POST", "/v1/login", { form: { token: t }, headers: { origin: "http://ssod.test", "sec-fetch-site": "same-origin" } });
    assert.equal(post.status, 200);
    assert.match(post.headers.get("set-cookie") ?? "", /ssod_session=/);
    assert.equal(await active(t), false);
    assert.equal((await s.request("POST", "/v1/login", { form: { token: t }, headers: { origin: "http://ssod.test" } })).status, 400, "once");
  });

  test("the page may follow where its sign-in leads: form-action names the redirect URL's origin, and no other", async () => {
    const leading = await createSource(s, { code: "confirm-leading", landing: "confirm", redirectUrls: ["https://app.example.com/welcome"] });
    const page = await s.request("GET", `/v1/login?token=${await token(leading)}`);
    assert.equal(page.status, 200);
    // A browser holds the 303 after the form's POST to form-action too: without the origin, the sign-in would stop at ssod.
    assert.match(page.headers.get("content-security-policy") ?? "", /form-action 'self' https:\/\/app\.example\.com;/);
  });

  test("Tyk's /tap and /sso confirm too, each for its own section", async () => {
    const t = await nonce(confirm, "portal");
    const page = await s.request("GET", `/sso?nonce=${t}`);
    assert.match(await page.text(), /<form method="post" action="\/sso">/);
    assert.equal((await s.request("GET", `/tap?nonce=${t}`)).status, 400, "the other section's page shows no confirmation");
    assert.equal((await s.request("POST", "/tap", { form: { nonce: t } })).status, 400);
    assert.equal((await s.request("POST", "/sso", { form: { nonce: t } })).status, 200);
  });

  test("the confirmation's POST from another site is refused and spends nothing", async () => {
    const t = await token(confirm);
    for (const headers of [
      { origin: "https://evil.example" },
      { "sec-fetch-site": "cross-site" },
      { "sec-fetch-site": "same-site" },
      { origin: "null" },
    ] as Record<string, string>[]) {
      const r = await s.request("POST", "/v1/login", { form: { token: t }, headers });
      assert.equal(r.status, 403, JSON.stringify(headers));
    }
    assert.equal(await active(t), true);
  });

  test("a direct source still signs in on the GET", async () => {
    const t = await token(direct);
    assert.match((await s.request("GET", `/v1/login?token=${t}`)).headers.get("set-cookie") ?? "", /ssod_session=/);
  });

  test("api.php sets it as Landing=Confirm (code 15 when not Direct or Confirm)", async () => {
    const made = await s.request("POST", "/api.php", {
      form: { Command: "sso.create", APIKey: s.adminKey, SourceName: "L", SourceCode: "legacy_landing", ValidForSeconds: "60", Landing: "Confirm" },
    });
    const id = ((await made.json()) as { SSOSourceID: number }).SSOSourceID;
    const got = (await (await s.request("POST", "/api.php", { form: { Command: "sso.get", APIKey: s.adminKey, SourceID: String(id) } })).json()) as {
      Source: { Landing: string };
    };
    assert.equal(got.Source.Landing, "Confirm");
    const bad = await s.request("POST", "/api.php", {
      form: {
        Command: "sso.update",
        APIKey: s.adminKey,
        SourceID: String(id),
        SourceName: "L",
        SourceCode: "legacy_landing",
        ValidForSeconds: "60",
        Landing: "Sometimes",
      },
    });
    assert.deepEqual(((await bad.json()) as { ErrorCode: number[] }).ErrorCode, [15]);
  });
});

describe("cross-site state changes on the session cookie", () => {
  test("POST /v1/session/logout from another site is refused and the session lives; from this site it ends", async () => {
    const t = await token(direct);
    const cookie = ((await s.request("GET", `/v1/login?token=${t}`)).headers.get("set-cookie") ?? "").split(";")[0]!;
    for (const headers of [{ origin: "https://evil.example", "content-type": "text/plain" }, { "sec-fetch-site": "cross-site" }] as Record<string, string>[]) {
      const r = await s.request("POST", "/v1/session/logout", { headers: { cookie, ...headers }, body: "x" });
      assert.equal(r.status, 403);
    }
    assert.equal((await s.request("GET", "/v1/session", { headers: { cookie } })).status, 200);
    assert.equal((await s.request("POST", "/v1/session/logout", { headers: { cookie, origin: "http://ssod.test" } })).status, 204);
    assert.equal((await s.request("GET", "/v1/session", { headers: { cookie } })).status, 401);
  });
});
