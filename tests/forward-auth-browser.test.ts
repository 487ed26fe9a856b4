// SPEC §6 and §8 in a real browser: Chromium, with host names of the test's
// own (ssod.fa.test, portal.fa.test, app.fa.test, all 127.0.0.1), the built
// ssod with SSOD_COOKIE_DOMAIN=.fa.test, and Caddy protecting app.fa.test as
// the README configures it.
// - The portal hand-off: a token whose redirectUrl is the protected page;
//   /v1/login sets the cookie for .fa.test and sends the browser there; Caddy
//   lets it through, signed in.
// - A browser with no session asks for a protected page: ssod sends it to the
//   portal (SSOD_LOGIN_URL, a small page of this test), which issues a token
//   with redirectUrl = return_to; the browser comes back to the page it asked
//   for, signed in.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { after, before, describe, test } from "node:test";
import type { Browser } from "playwright-core";
import { generateAdminKey } from "../src/core/admin-keys";
import { launchChromium } from "./helpers/chromium";
import { forwardAuthWorld, overHttp } from "./helpers/forward-auth";
import { type ServerProcess, startBuiltServer, stopAll } from "./helpers/process";
import { type Echo, type ReverseProxy, startCaddy, startEcho } from "./helpers/proxies";
import { freePort } from "./helpers/sqld";

let ssod: ServerProcess | undefined;
let echo: Echo | undefined;
let caddy: ReverseProxy | undefined;
let portal: Server | undefined;
let browser: Browser | undefined;
/** What the browser calls ssod (SSOD_PUBLIC_URL). */
let ssodUrl: string;
/** Where the test's own code reaches it (no resolver maps fa.test here). */
let ssodApi: string;
let appUrl: string;
let basic: string;
const portalVisits: string[] = [];

/** The portal: signs its user in by asking ssod for a token that goes back to return_to. */
function startPortal(port: number): Promise<Server> {
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://portal.fa.test");
      if (url.pathname !== "/start") return res.writeHead(404).end();
      const returnTo = url.searchParams.get("return_to") ?? "";
      portalVisits.push(returnTo);
      const r = await fetch(`${ssodApi}/v1/tokens`, {
        method: "POST",
        headers: { authorization: basic, "content-type": "application/json" },
        body: JSON.stringify({ user: { email: "pat@example.com", displayName: "Pat Portal", groups: ["staff"] }, redirectUrl: returnTo }),
      });
      if (r.status !== 201) return res.writeHead(500).end(await r.text());
      const { loginUrl } = (await r.json()) as { loginUrl: string };
      res.writeHead(302, { location: loginUrl }).end();
    })().catch((error: unknown) => res.writeHead(500).end(String(error)));
  });
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}

before(async () => {
  const [ssodPort, portalPort] = [await freePort(), await freePort()];
  ssodUrl = `http://ssod.fa.test:${ssodPort}`;
  const adminKey = generateAdminKey();
  ssod = await startBuiltServer({
    env: {
      SSOD_PORT: String(ssodPort),
      SSOD_PUBLIC_URL: ssodUrl,
      SSOD_COOKIE_DOMAIN: ".fa.test",
      SSOD_LOGIN_URL: `http://portal.fa.test:${portalPort}/start`,
      SSOD_ADMIN_API_KEY: adminKey,
    },
  });
  ssodApi = ssod.url;
  const world = await forwardAuthWorld(overHttp(ssodApi), adminKey);
  basic = `Basic ${Buffer.from(`${world.source.clientId}:${world.source.clientSecret}`).toString("base64")}`;
  portal = await startPortal(portalPort);
  echo = await startEcho();
  caddy = await startCaddy({ ssod: `127.0.0.1:${ssodPort}`, upstream: `127.0.0.1:${echo.port}` });
  appUrl = `http://app.fa.test:${caddy.port}`;
  browser = await launchChromium(["--host-resolver-rules=MAP *.fa.test 127.0.0.1"]);
});

after(async () => {
  await browser?.close();
  await caddy?.stop();
  await stopAll([ssod]);
  await echo?.close();
  await new Promise<void>((resolve) => (portal ? portal.close(() => resolve()) : resolve()));
});

/** The identity headers the protected app received for the page the browser shows. */
const remoteOf = (seen: { rawHeaders: string[] }) => {
  const out: Record<string, string> = {};
  for (let i = 0; i < seen.rawHeaders.length; i += 2)
    if (/^remote-/i.test(seen.rawHeaders[i]!)) out[seen.rawHeaders[i]!.toLowerCase()] = seen.rawHeaders[i + 1]!;
  return out;
};

describe("a browser behind Caddy", () => {
  test("the portal hand-off: /v1/login sets the .fa.test cookie, then the protected page opens signed in", { timeout: 60_000 }, async () => {
    const context = await browser!.newContext();
    try {
      const page = await context.newPage();
      const protectedPage = `${appUrl}/welcome`;
      const r = await fetch(`${ssodApi}/v1/tokens`, {
        method: "POST",
        headers: { authorization: basic, "content-type": "application/json" },
        body: JSON.stringify({ user: { email: "lee@example.com", displayName: "Lee", groups: ["staff"] }, redirectUrl: protectedPage }),
      });
      assert.equal(r.status, 201, await r.clone().text());
      const { loginUrl } = (await r.json()) as { loginUrl: string };
      assert.ok(loginUrl.startsWith(`${ssodUrl}/v1/login?token=`));

      const shown = await page.goto(loginUrl);
      assert.equal(page.url(), protectedPage);
      assert.equal(shown?.status(), 200);
      const seen = (await shown!.json()) as { url: string; rawHeaders: string[] };
      assert.equal(seen.url, "/welcome");
      assert.equal(remoteOf(seen)["remote-user"], "lee@example.com");
      assert.equal(remoteOf(seen)["remote-name"], "Lee");

      const cookie = (await context.cookies(ssodUrl)).find((c) => c.name === "ssod_session");
      assert.equal(cookie?.domain, ".fa.test", "a cookie for every host under fa.test");
      assert.equal(cookie?.httpOnly, true);
    } finally {
      await context.close();
    }
  });

  test("no session: sent to the portal, which hands the browser back to the page it asked for, signed in", { timeout: 60_000 }, async () => {
    const context = await browser!.newContext();
    try {
      const page = await context.newPage();
      const asked = `${appUrl}/deep/page?x=1&y=two%20words`;
      const visits = portalVisits.length;
      const shown = await page.goto(asked);
      assert.deepEqual(portalVisits.slice(visits), [asked], "the portal got return_to, the page asked for");
      assert.equal(page.url(), asked, "back where it started");
      assert.equal(shown?.status(), 200);
      const seen = (await shown!.json()) as { url: string; rawHeaders: string[] };
      assert.equal(seen.url, "/deep/page?x=1&y=two%20words");
      assert.equal(remoteOf(seen)["remote-user"], "pat@example.com");
      assert.equal(remoteOf(seen)["remote-groups"], "staff");

      // Signed in now: the next page opens at once, without the portal.
      const again = await page.goto(`${appUrl}/other`);
      assert.equal(again?.status(), 200);
      assert.equal(portalVisits.length, visits + 1);
    } finally {
      await context.close();
    }
  });
});
