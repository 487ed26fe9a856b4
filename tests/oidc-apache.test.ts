// A real OpenID Connect relying party against the built server: Debian's
// Apache with mod_auth_openidc, configured with the README's block and
// registered with the README's command (run in the server's folder), protects
// a small app. A browser that opens the app signs in through ssod (and the
// portal), the app sees the user's claims, and mod_auth_openidc's logout ends
// the ssod session; a logout to a URL the app did not register leaves it.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type Apache, apacheAppArgs, apacheLogoutUrl, apacheOidcSite, startApache } from "./helpers/apache";
import { Browser, freePort, type Portal, startPortal } from "./helpers/oidc";
import { runBuilt, type ServerProcess, startBuiltServer, stopAll } from "./helpers/process";

const ADMIN_KEY = `ssod_ak_${"p".repeat(43)}`;
const admin = { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" };
const ALICE = { email: "alice@example.com", displayName: "Alice", groups: ["staff", "ops"] };

let ssod: ServerProcess;
let issuer: string;
let portal: Portal;
let backend: Server;
let apache: Apache;
let site: string;

async function api(method: string, path: string, json?: unknown) {
  const r = await fetch(`${issuer}${path}`, { method, headers: admin, ...(json === undefined ? {} : { body: JSON.stringify(json) }) });
  return { status: r.status, body: (await r.json().catch(() => null)) as Record<string, unknown> };
}

before(async () => {
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  portal = await startPortal(issuer, ALICE);
  ssod = await startBuiltServer({
    env: { SSOD_PORT: String(port), SSOD_PUBLIC_URL: issuer, SSOD_ADMIN_API_KEY: ADMIN_KEY, SSOD_LOGIN_URL: portal.startUrl, SSOD_APP_REFRESH_MS: "0" },
  });
  const source = await api("POST", "/v1/sources", { code: "portal", name: "Portal", validForSeconds: 120 });
  assert.equal(source.status, 201);
  portal.source = { clientId: source.body.clientId as string, clientSecret: source.body.clientSecret as string };
  // The protected app answers with the headers Apache passed it.
  backend = createServer((req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ path: req.url, headers: req.headers }));
  });
  await new Promise<void>((resolve) => backend.listen(0, "127.0.0.1", resolve));
  const apachePort = await freePort();
  site = `http://127.0.0.1:${apachePort}`;
  // `node ssod.mjs app create …` in the server's folder, as the README says.
  const app = await runBuilt(apacheAppArgs(site), { dir: ssod.dir, file: join(ssod.dir, "ssod.mjs"), env: { SSOD_CACHE_DIR: join(ssod.dir, ".cache") } });
  assert.equal(app.code, 0, app.stderr);
  const printed = (label: string) => new RegExp(`^${label} +(\\S+)$`, "m").exec(app.stdout)?.[1] ?? "";
  apache = await startApache(
    apachePort,
    { issuer, clientId: printed("client id"), clientSecret: printed("client secret"), site, passphrase: "test-passphrase-of-some-length" },
    `127.0.0.1:${(backend.address() as AddressInfo).port}`,
  );
});

after(async () => {
  await apache?.stop();
  await new Promise<void>((resolve) => (backend ? backend.close(() => resolve()) : resolve()));
  await portal?.close();
  await stopAll([ssod]);
});

describe("Apache mod_auth_openidc signs in through ssod", () => {
  const browser = new Browser();

  test("the README's block, registration command and logout link are the ones run here", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    for (const shown of [`node ssod.mjs ${apacheAppArgs("https://wiki.example.com").join(" ")}`, apacheLogoutUrl("https://wiki.example.com")]) {
      assert.ok(readme.includes(shown), `README.md holds: ${shown}`);
    }
    const block = apacheOidcSite({
      issuer: "https://sso.example.com",
      clientId: "app_…",
      clientSecret: "ssod_as_…",
      site: "https://wiki.example.com",
      passphrase: "<a long random string>",
    });
    assert.ok(readme.includes(block), `README.md holds:\n${block}`);
  });

  test("no session anywhere: the app → ssod → the portal → ssod → Apache → the app, which sees the user's claims", async () => {
    const before = portal.handOffs;
    const done = await browser.navigate(`${site}/wiki/page`);
    assert.equal(done.response.status, 200, `${done.url}: ${done.body.slice(0, 400)}\n${apache.log().slice(-2000)}`);
    const seen = JSON.parse(done.body) as { path: string; headers: Record<string, string> };
    assert.equal(seen.path, "/wiki/page");
    assert.equal(seen.headers.oidc_claim_email, ALICE.email);
    assert.equal(seen.headers.oidc_claim_email_verified, "1");
    assert.equal(seen.headers.oidc_claim_name, ALICE.displayName);
    assert.equal(seen.headers.oidc_claim_groups, "staff,ops");
    const me = await fetch(`${issuer}/v1/session`, { headers: { cookie: `ssod_session=${browser.cookie(issuer, "ssod_session")}` } });
    assert.equal(((await me.json()) as { user: { id: string } }).user.id, seen.headers.oidc_claim_sub, "sub is the user's id");
    assert.equal(portal.handOffs, before + 1);
  });

  test("Apache's session gone, ssod's still there: signed in again with no hand-off", async () => {
    for (const name of ["mod_auth_openidc_session", "mod_auth_openidc_session_chunks"]) browser.forget(site, name);
    const before = portal.handOffs;
    const done = await browser.navigate(`${site}/again`);
    assert.equal(done.response.status, 200, done.body.slice(0, 400));
    assert.equal((JSON.parse(done.body) as { headers: Record<string, string> }).headers.oidc_claim_email, ALICE.email);
    assert.equal(portal.handOffs, before, "no hand-off");
  });

  test("a logout to a URL the app did not register is refused and the ssod session stays: the next visit signs straight back in", async () => {
    const session = browser.cookie(issuer, "ssod_session");
    assert.ok(session);
    const refused = await browser.navigate(`${site}/redirect_uri?logout=${encodeURIComponent(`${site}/elsewhere`)}`, {
      stop: (u) => u.href.startsWith(`${site}/elsewhere`),
    });
    assert.equal(refused.response.status, 400, `${refused.url}: ${refused.body.slice(0, 400)}`);
    assert.match(refused.body, /post_logout_redirect_uri not registered/);
    assert.equal(browser.cookie(site, "mod_auth_openidc_session"), undefined, "Apache's own session is gone");
    const me = await fetch(`${issuer}/v1/session`, { headers: { cookie: `ssod_session=${session}` } });
    assert.equal(me.status, 200, "the ssod session stays");
    const before = portal.handOffs;
    const seen = browser.visited.length;
    const back = await browser.navigate(`${site}/back`);
    assert.equal(back.response.status, 200, back.body.slice(0, 400));
    assert.ok(
      browser.visited.slice(seen).some((u) => u.startsWith(`${issuer}/oidc/auth`)),
      "signed in again through ssod",
    );
    assert.equal(portal.handOffs, before, "no hand-off");
  });

  test("mod_auth_openidc's logout link (id_token_hint) ends the ssod session on the page's POST, and comes back to the registered URI", async () => {
    const session = browser.cookie(issuer, "ssod_session");
    assert.ok(session);
    const done = await browser.navigate(apacheLogoutUrl(site), { stop: (u) => u.href.startsWith(`${site}/bye`) });
    assert.match(done.url, new RegExp(`^${site}/bye`), `${done.url}: ${done.body.slice(0, 400)}`);
    assert.ok(
      browser.visited.some((u) => u.startsWith(`${issuer}/oidc/session/end/confirm`)),
      `the self-submitting page posted to /oidc/session/end/confirm: ${browser.visited.join("\n")}`,
    );
    assert.equal(browser.cookie(issuer, "ssod_session"), undefined, "the browser's ssod cookie is cleared");
    const me = await fetch(`${issuer}/v1/session`, { headers: { cookie: `ssod_session=${session}` } });
    assert.equal(me.status, 401, "and the session is over at ssod");
  });
});
