// A real browser through the real built server: Chromium (playwright-core)
// opens a loginUrl, ssod redeems the token, sets its session cookie and sends
// the browser on (303) to a small target app on another loopback port; that
// app reads the browser's ssod_session cookie (cookies on 127.0.0.1 are shared
// across ports) and asks ssod's GET /v1/session who it is.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { type Browser, type BrowserContext, chromium } from "playwright-core";
import { generateAdminKey } from "../src/core/admin-keys";
import { type ServerProcess, startBuiltServer, stopAll } from "./helpers/process";
import { basicAuth as basic } from "./helpers/sources";
import { freePort } from "./helpers/sqld";

let ssod: ServerProcess;
let ssodUrl: string;
let adminKey: string;
let app: Server;
let appUrl: string;
let browser: Browser;
const appRequests: { path: string; referer: string | undefined; cookie: string | undefined }[] = [];

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function cookieValue(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return rest.join("=");
  }
  return undefined;
}

/** The target app: /welcome shows who ssod says the browser's session belongs to. */
function startApp(): Promise<Server> {
  const server = createServer((req, res) => {
    void (async () => {
      if (req.url !== "/welcome") {
        res.writeHead(404).end();
        return;
      }
      appRequests.push({ path: req.url, referer: req.headers.referer, cookie: req.headers.cookie });
      const session = cookieValue(req, "ssod_session");
      let body: string;
      if (!session) body = `<p id="who">no session cookie</p>`;
      else {
        const r = await fetch(`${ssodUrl}/v1/session`, { headers: { cookie: `ssod_session=${session}` } });
        if (r.status !== 200) body = `<p id="who">ssod said ${r.status}</p>`;
        else {
          const { user } = (await r.json()) as { user: { email: string; displayName: string | null } };
          body = `<p id="who">${escapeHtml(user.email)}</p><p id="name">${escapeHtml(user.displayName ?? "")}</p>`;
        }
      }
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(`<!doctype html><title>Target app</title>${body}`);
    })().catch((error: unknown) => {
      res.writeHead(500).end(String(error));
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

async function api(method: string, path: string, json: unknown, headers: Record<string, string>) {
  return fetch(`${ssodUrl}${path}`, { method, headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(json) });
}

let source: { clientId: string; clientSecret: string };

before(async () => {
  app = await startApp();
  appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
  // SSOD_PUBLIC_URL must name the port before the server starts: pick a free one.
  const port = await freePort();
  adminKey = generateAdminKey();
  ssod = await startBuiltServer({ env: { SSOD_PORT: String(port), SSOD_PUBLIC_URL: `http://127.0.0.1:${port}`, SSOD_ADMIN_API_KEY: adminKey } });
  ssodUrl = ssod.url.replace(/\/+$/, "");
  assert.equal(ssodUrl, `http://127.0.0.1:${port}`);
  const r = await api(
    "POST",
    "/v1/sources",
    { code: "target-app", name: "Target app", validForSeconds: 120, redirectUrls: [`${appUrl}/welcome`] },
    { authorization: `Bearer ${adminKey}` },
  );
  assert.equal(r.status, 201, await r.clone().text());
  source = (await r.json()) as { clientId: string; clientSecret: string };
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

// Whatever before() got to: the browser, ssod and the target app.
after(async () => {
  await browser?.close();
  await stopAll([ssod]);
  await new Promise<void>((resolve) => (app ? app.close(() => resolve()) : resolve()));
});

describe("signing in through a real browser", () => {
  let context: BrowserContext;
  before(async () => {
    context = await browser.newContext();
  });
  after(() => context?.close());

  test("loginUrl → 303 (no-referrer, no-store, cookie) → the target app shows the user's email", { timeout: 60_000 }, async () => {
    const r = await api(
      "POST",
      "/v1/tokens",
      { user: { email: "browser.user@example.com", displayName: "Browser User" }, redirectUrl: `${appUrl}/welcome` },
      basic(source),
    );
    assert.equal(r.status, 201);
    const { loginUrl, token } = (await r.json()) as { loginUrl: string; token: string };
    assert.equal(loginUrl, `${ssodUrl}/v1/login?token=${encodeURIComponent(token)}`);

    const page = await context.newPage();
    const final = await page.goto(loginUrl);
    assert.ok(final);
    assert.equal(final.status(), 200);
    assert.equal(page.url(), `${appUrl}/welcome`);
    assert.equal(await page.textContent("#who"), "browser.user@example.com");
    assert.equal(await page.textContent("#name"), "Browser User");

    // The redirect ssod answered.
    const first = final.request().redirectedFrom();
    assert.ok(first, "the landing was a redirect");
    assert.equal(first.url(), loginUrl);
    const redirect = await first.response();
    assert.ok(redirect);
    assert.equal(redirect.status(), 303);
    // allHeaders(): headers() leaves out Set-Cookie.
    const headers = await redirect.allHeaders();
    assert.equal(headers.location, `${appUrl}/welcome`);
    assert.equal(headers["referrer-policy"], "no-referrer");
    assert.equal(headers["cache-control"], "no-store");
    assert.match(headers["set-cookie"] ?? "", /^ssod_session=[A-Za-z0-9_-]{43}; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Lax$/);

    // The nonce did not travel to the target app in a Referer.
    const arrivals = appRequests.filter((a) => a.path === "/welcome");
    assert.equal(arrivals.length, 1);
    assert.equal(arrivals[0]!.referer, undefined);

    // The browser holds the cookie as ssod set it.
    const cookies = await context.cookies(ssodUrl);
    const session = cookies.find((c) => c.name === "ssod_session");
    assert.ok(session);
    assert.deepEqual(
      { domain: session.domain, path: session.path, httpOnly: session.httpOnly, secure: session.secure, sameSite: session.sameSite },
      {
        domain: "127.0.0.1",
        path: "/",
        httpOnly: true,
        secure: false,
        sameSite: "Lax",
      },
    );
    // HttpOnly: page scripts cannot read it.
    assert.equal(await page.evaluate(() => (globalThis as unknown as { document: { cookie: string } }).document.cookie.includes("ssod_session")), false);
    await page.close();
  });

  test("a second visit of the same loginUrl shows the 400 page", { timeout: 60_000 }, async () => {
    const r = await api("POST", "/v1/tokens", { user: { email: "twice@example.com" }, redirectUrl: `${appUrl}/welcome` }, basic(source));
    const { loginUrl } = (await r.json()) as { loginUrl: string };
    const page = await context.newPage();
    const first = await page.goto(loginUrl);
    assert.equal(first?.status(), 200);
    assert.equal(await page.textContent("#who"), "twice@example.com");
    const second = await page.goto(loginUrl);
    assert.ok(second);
    assert.equal(second.status(), 400);
    assert.equal(page.url(), loginUrl);
    assert.equal(await page.title(), "Sign-in link not valid");
    assert.match((await page.textContent("h1")) ?? "", /not valid/);
    assert.equal(second.headers()["cache-control"], "no-store");
    assert.equal(second.headers()["referrer-policy"], "no-referrer");
    await page.close();
  });

  test("a Tyk portal nonce at /sso lands the same way", { timeout: 60_000 }, async () => {
    const r = await api("POST", "/api/sso", { EmailAddress: "tyk.browser@example.com", ForSection: "portal", DisplayName: "Tyk Browser" }, basic(source));
    assert.equal(r.status, 200);
    const { Meta } = (await r.json()) as { Meta: string };
    const page = await context.newPage();
    await page.goto(`${ssodUrl}/sso?nonce=${Meta}`);
    assert.equal(page.url(), `${appUrl}/welcome`);
    assert.equal(await page.textContent("#who"), "tyk.browser@example.com");
    await page.close();
  });

  test('a source with landing "confirm": the page\'s button (a same-origin form POST) signs the browser in', { timeout: 60_000 }, async () => {
    const made = await api(
      "POST",
      "/v1/sources",
      { code: "confirming-app", name: "Confirming app", validForSeconds: 120, landing: "confirm", redirectUrls: [`${appUrl}/welcome`] },
      { authorization: `Bearer ${adminKey}` },
    );
    assert.equal(made.status, 201, await made.clone().text());
    const confirming = (await made.json()) as { clientId: string; clientSecret: string };
    const r = await api("POST", "/v1/tokens", { user: { email: "confirms@example.com" } }, basic(confirming));
    const { loginUrl } = (await r.json()) as { loginUrl: string };
    const page = await context.newPage();
    await page.goto(loginUrl);
    assert.equal(new URL(page.url()).origin, ssodUrl, "the GET shows the confirmation page and spends nothing");
    await Promise.all([page.waitForURL(`${appUrl}/welcome`), page.locator("button").first().click()]);
    assert.equal(await page.textContent("#who"), "confirms@example.com");
    assert.equal(appRequests.at(-1)!.referer, undefined, "the token's page sent no Referer on to the app");
    await page.close();
  });

  test("POST /v1/session/logout sent by another origin's page is refused; from ssod's own origin it ends the session", { timeout: 60_000 }, async () => {
    const r = await api("POST", "/v1/tokens", { user: { email: "leaving@example.com" } }, basic(source));
    const { loginUrl } = (await r.json()) as { loginUrl: string };
    const page = await context.newPage();
    await page.goto(loginUrl);
    assert.equal(await page.textContent("#who"), "leaving@example.com", "the source's only redirect URL is used");
    // The target app's page (another origin) makes the browser post to ssod: the browser sends its Origin, ssod refuses.
    await page.evaluate(async (url) => {
      await fetch(`${url}/v1/session/logout`, { method: "POST", credentials: "include", mode: "no-cors" });
    }, ssodUrl);
    assert.equal(
      (await context.cookies(ssodUrl)).some((c) => c.name === "ssod_session"),
      true,
      "another origin could not sign the user out",
    );
    await page.goto(`${appUrl}/welcome`);
    assert.equal(await page.textContent("#who"), "leaving@example.com");
    // From a page of ssod's own origin (one whose CSP lets it fetch ssod), it works.
    await page.goto(`${ssodUrl}/docs`);
    const status = await page.evaluate(async (url) => (await fetch(`${url}/v1/session/logout`, { method: "POST", credentials: "include" })).status, ssodUrl);
    assert.equal(status, 204);
    assert.equal(
      (await context.cookies(ssodUrl)).some((c) => c.name === "ssod_session"),
      false,
      "the cookie was cleared",
    );
    await page.goto(`${appUrl}/welcome`);
    assert.equal(await page.textContent("#who"), "no session cookie");
    await page.close();
  });
});
