// SPEC §5 "Landings", the parts tests/landings.test.ts leaves out: the
// confirmation page's GET works from any link (mail, chat, another site:
// Sec-Fetch-Site cross-site, a foreign Referer), HEAD spends nothing for a
// confirming source either, and the confirmation's POST must come from ssod's
// own page at Tyk's /tap and /sso too, not only at /v1/login.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { openTestServer, type TestServer } from "./helpers/runtime";
import { basicAuth, type CreatedSource, createSource } from "./helpers/sources";

let s: TestServer;
let admin: Record<string, string>;
let confirm: CreatedSource;

before(async () => {
  s = await openTestServer();
  admin = { authorization: `Bearer ${s.adminKey}` };
  confirm = await createSource(s, { code: "confirm-links", landing: "confirm" });
});
after(() => s.close());

async function token() {
  const r = await s.request("POST", "/v1/tokens", { json: { user: { email: "linked@example.com" } }, headers: basicAuth(confirm) });
  return ((await r.json()) as { token: string }).token;
}

async function nonce(forSection: "dashboard" | "portal") {
  const r = await s.request("POST", "/api/sso", { json: { emailAddress: "linked@example.com", forSection }, headers: basicAuth(confirm) });
  return ((await r.json()) as { Meta: string }).Meta;
}

const active = async (t: string) =>
  ((await (await s.request("POST", "/v1/tokens/introspect", { json: { token: t }, headers: admin })).json()) as { active: boolean }).active;

/** What a browser sends when the user clicks a link on another site (a webmail, a chat). */
const FROM_ANOTHER_SITE = { "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate", referer: "https://mail.example.net/inbox" };

test("the confirmation page's GET works from a link on another site, and spends nothing", async () => {
  for (const [path, make] of [
    ["/v1/login?token=", token],
    ["/tap?nonce=", () => nonce("dashboard")],
    ["/sso?nonce=", () => nonce("portal")],
  ] as const) {
    const t = await make();
    const page = await s.request("GET", `${path}${t}`, { headers: FROM_ANOTHER_SITE });
    const html = await page.text();
    assert.equal(page.status, 200, `${path}: ${html.slice(0, 200)}`);
    assert.match(html, /<form method="post"/, `${path}: the confirmation page`);
    assert.equal(page.headers.get("set-cookie"), null);
    assert.equal(await active(t), true, `${path}: the GET spent nothing`);
  }
});

test("HEAD of a confirming source's landing spends nothing either", async () => {
  const t = await token();
  const head = await s.request("HEAD", `/v1/login?token=${t}`, { headers: FROM_ANOTHER_SITE });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("set-cookie"), null);
  assert.equal(await active(t), true);
});

test("Tyk's /tap and /sso confirmation POSTs from another site are refused and spend nothing; from ssod's page they sign in", async () => {
  for (const [path, section] of [
    ["/tap", "dashboard"],
    ["/sso", "portal"],
  ] as const) {
    const t = await nonce(section);
    for (const headers of [{ origin: "https://evil.example" }, { "sec-fetch-site": "cross-site" }, { origin: "null" }] as Record<string, string>[]) {
      const r = await s.request("POST", path, { form: { nonce: t }, headers });
      assert.equal(r.status, 403, `${path} ${JSON.stringify(headers)}: ${r.status}`);
      assert.equal(r.headers.get("set-cookie"), null);
    }
    assert.equal(await active(t), true, `${path}: nothing spent`);
    const own = await s.request("POST", path, { form: { nonce: t }, headers: { origin: "http://ssod.test", "sec-fetch-site": "same-origin" } });
    assert.equal(own.status, 200, path);
    assert.match(own.headers.get("set-cookie") ?? "", /ssod_session=/);
  }
});
