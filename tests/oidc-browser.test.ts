// The OpenID Connect sign-in in a real browser: Chromium, with ssod, the
// portal and the app each on a site of its own (ssod.localhost, portal.localhost,
// app.localhost: names a browser resolves to loopback), so cookies and SameSite behave as
// deployed. The app is openid-client (tests/helpers/oidc.ts).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { launchChromium } from "./helpers/chromium";
import { freePort, loopbackFetch, type Portal, type RelyingParty, startPortal, startRelyingParty } from "./helpers/oidc";
import { type ServerProcess, startBuiltServer, stopAll } from "./helpers/process";

const ADMIN_KEY = `ssod_ak_${"b".repeat(43)}`;
const admin = { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" };
const ALICE = { email: "alice@example.com", displayName: "Alice", groups: ["staff"] };

let ssod: ServerProcess;
let issuer: string;
let portal: Portal;
let rp: RelyingParty;
let chromium: Browser;

async function api(method: string, path: string, json?: unknown) {
  const r = await loopbackFetch(`${issuer}${path}`, { method, headers: admin, ...(json === undefined ? {} : { body: JSON.stringify(json) }) });
  return { status: r.status, body: (await r.json().catch(() => null)) as Record<string, unknown> };
}

/** What the app's callback answered (JSON, which Chromium shows as text). */
async function appAnswer(page: Page): Promise<Record<string, unknown>> {
  const text = (await page.textContent("body")) ?? "";
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(`the browser ended at ${page.url()} on a page:\n${text.slice(0, 600)}`);
  }
}

before(async () => {
  const port = await freePort();
  issuer = `http://ssod.localhost:${port}`;
  portal = await startPortal(issuer, ALICE, "portal.localhost");
  ssod = await startBuiltServer({
    env: { SSOD_PORT: String(port), SSOD_PUBLIC_URL: issuer, SSOD_ADMIN_API_KEY: ADMIN_KEY, SSOD_LOGIN_URL: portal.startUrl, SSOD_APP_REFRESH_MS: "0" },
  });
  rp = await startRelyingParty({
    issuer,
    auth: "basic",
    host: "app.localhost",
    register: async (callbackUrl) => {
      const made = await api("POST", "/v1/apps", {
        name: "The app",
        redirectUris: [callbackUrl],
        postLogoutRedirectUris: [callbackUrl.replace(/\/cb$/, "/bye")],
      });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      return { clientId: made.body.clientId as string, clientSecret: made.body.clientSecret as string };
    },
  });
  // The portal's source may send a token straight to the app's sign-in (the portal-first link).
  const source = await api("POST", "/v1/sources", { code: "portal", name: "Portal", validForSeconds: 120, redirectUrls: [rp.loginUrl()] });
  assert.equal(source.status, 201, JSON.stringify(source.body));
  portal.source = { clientId: source.body.clientId as string, clientSecret: source.body.clientSecret as string };
  chromium = await launchChromium();
});

after(async () => {
  await chromium?.close();
  await rp?.close();
  await portal?.close();
  await stopAll([ssod]);
});

describe("signing in to an OpenID Connect app in Chromium", () => {
  let context: BrowserContext;
  before(async () => {
    context = await chromium.newContext();
  });
  after(() => context?.close());

  test("no ssod session: the app → ssod → the portal → ssod → the app, signed in", { timeout: 60_000 }, async () => {
    const before = portal.handOffs;
    const page = await context.newPage();
    await page.goto(rp.loginUrl());
    const answer = await appAnswer(page);
    assert.equal(answer.email, ALICE.email);
    assert.deepEqual(answer.groups, ALICE.groups);
    assert.equal(new URL(page.url()).origin, new URL(rp.url).origin);
    assert.equal(portal.handOffs, before + 1, "one hand-off");
    const cookie = (await context.cookies(issuer)).find((c) => c.name === "ssod_session");
    assert.ok(cookie, "the browser holds an ssod session at ssod's own site");
    assert.equal(cookie.sameSite, "Lax");
    await page.close();
  });

  test("a second visit: straight back with a code, no hand-off", { timeout: 60_000 }, async () => {
    const before = portal.handOffs;
    const page = await context.newPage();
    await page.goto(rp.loginUrl());
    assert.equal((await appAnswer(page)).email, ALICE.email);
    assert.equal(portal.handOffs, before, "no hand-off");
    await page.close();
  });

  test("response_mode=form_post: the provider's self-submitting form runs in the browser (CSP allows it)", { timeout: 60_000 }, async () => {
    const page = await context.newPage();
    await page.goto(rp.loginUrl({ response_mode: "form_post" }));
    await page.waitForURL(`${rp.url}/cb`);
    assert.equal((await appAnswer(page)).email, ALICE.email);
    await page.close();
  });

  test("logout without a hint: the confirmation page's button signs the browser out", { timeout: 60_000 }, async () => {
    const page = await context.newPage();
    await page.goto(`${issuer}/oidc/session/end?client_id=${encodeURIComponent((rp as unknown as { clientId: string }).clientId)}`);
    assert.equal(await page.title(), "Sign out?");
    await Promise.all([page.waitForURL((url) => url.pathname !== "/oidc/session/end"), page.locator("button").first().click()]);
    assert.equal(await page.title(), "Signed out", await page.content());
    const cookie = (await context.cookies(issuer)).find((c) => c.name === "ssod_session");
    assert.equal(cookie, undefined, "the ssod session cookie is gone");
    const before = portal.handOffs;
    await page.goto(rp.loginUrl());
    assert.equal((await appAnswer(page)).email, ALICE.email);
    assert.equal(portal.handOffs, before + 1, "signed out: the next sign-in goes through the portal again");
    await page.close();
  });
});

describe("logout with an id_token_hint, in Chromium", () => {
  test("the page submits itself to ssod (its script runs under the CSP) and lands at the app's post-logout URI with state", { timeout: 60_000 }, async () => {
    const context = await chromium.newContext();
    try {
      const page = await context.newPage();
      await page.goto(rp.loginUrl());
      assert.equal((await appAnswer(page)).email, ALICE.email);
      const idToken = rp.signedIn.at(-1)!.tokens.id_token!;
      const bye = rp.callbackUrl.replace(/\/cb$/, "/bye");
      const end = new URL(`${issuer}/oidc/session/end`);
      end.search = new URLSearchParams({ id_token_hint: idToken, post_logout_redirect_uri: bye, state: "s-1" }).toString();
      await Promise.all([page.waitForURL((url) => url.href.startsWith(bye)), page.goto(end.href)]);
      assert.equal(new URL(page.url()).searchParams.get("state"), "s-1");
      assert.equal(
        (await context.cookies(issuer)).find((c) => c.name === "ssod_session"),
        undefined,
        "signed out at ssod",
      );
    } finally {
      await context.close();
    }
  });
});

describe("portal-first, in Chromium", () => {
  test("the portal's link (a token whose redirectUrl is the app's sign-in) lands signed in at the app, with one hand-off", { timeout: 60_000 }, async () => {
    const context = await chromium.newContext();
    try {
      const page = await context.newPage();
      const before = portal.handOffs;
      await page.goto(`${portal.startUrl}?return_to=${encodeURIComponent(rp.loginUrl())}`);
      assert.equal((await appAnswer(page)).email, ALICE.email);
      assert.equal(portal.handOffs, before + 1, "the portal's own hand-off, and no second one");
    } finally {
      await context.close();
    }
  });
});
