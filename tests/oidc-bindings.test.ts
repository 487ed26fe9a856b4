// SPEC §6 and §7, the security promises tests/oidc.test.ts leaves out,
// through the built file with openid-client's relying parties:
// - a code is bound to its app and to its redirect URI (RFC 6749 §4.1.3):
//   another app, or another of the app's own redirect URIs, gets invalid_grant;
// - a code lives at most 60 s (its row in the store says when it dies);
// - the access rule's orgIds (not only allowedGroups) refuse a user: access_denied;
// - ending a session by POST /v1/session/logout, or deleting the user, ends
//   every token issued under it;
// - the provider's secrets at rest: no app client secret, code, access,
//   refresh or ID token, or provider cookie is in the store's files.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import * as client from "openid-client";
import { sha256 } from "../src/core/crypto";
import { Browser, freePort, type Portal, type RelyingParty, startPortal, startRelyingParty } from "./helpers/oidc";
import { type ServerProcess, startBuiltServer, stopAll } from "./helpers/process";
import { tempDir } from "./helpers/temp";

const ADMIN_KEY = `ssod_ak_${"b".repeat(43)}`;
const admin = { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" };
const ALICE = { email: "alice@example.com", displayName: "Alice", externalId: "ALICE-1", orgId: "org1", groups: ["staff"] };

type Party = RelyingParty & { clientId: string; clientSecret: string | undefined };

let ssod: ServerProcess;
let dir: string;
let issuer: string;
let portal: Portal;
const parties: Party[] = [];
/** Every secret the provider handed out in this file, for the search at rest. */
const handedOut = new Map<string, string>();

async function api(method: string, path: string, json?: unknown) {
  const r = await fetch(`${issuer}${path}`, { method, headers: admin, ...(json === undefined ? {} : { body: JSON.stringify(json) }) });
  return { status: r.status, body: (await r.json().catch(() => null)) as Record<string, unknown> };
}

/** A confidential relying party (client_secret_basic); extra app fields and redirect URIs as given. */
async function party(app: Record<string, unknown> = {}, extraRedirect?: (callbackUrl: string) => string): Promise<Party> {
  const rp = await startRelyingParty({
    issuer,
    auth: "basic",
    register: async (callbackUrl) => {
      const made = await api("POST", "/v1/apps", {
        name: `RP ${parties.length}`,
        redirectUris: [callbackUrl, ...(extraRedirect ? [extraRedirect(callbackUrl)] : [])],
        ...app,
      });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      handedOut.set(`client secret of ${made.body.clientId}`, made.body.clientSecret as string);
      return { clientId: made.body.clientId as string, clientSecret: made.body.clientSecret as string };
    },
  });
  parties.push(rp);
  return rp;
}

/** Signs in through the relying party (and the portal when there is no ssod session); the JSON the app answers. */
async function signIn(browser: Browser, rp: Party, params: Record<string, string> = {}) {
  const done = await browser.navigate(rp.loginUrl(params));
  return { status: done.response.status, json: JSON.parse(done.body || "{}") as Record<string, unknown> };
}

/** An authorization that stops at the app's callback: the code, and what its exchange needs. */
async function codeFor(browser: Browser, rp: Party) {
  const stopped = await browser.navigate(rp.loginUrl(), { stop: (u) => u.href.startsWith(rp.callbackUrl) });
  const callback = new URL(stopped.url);
  const code = callback.searchParams.get("code");
  assert.ok(code, `no code at the callback: ${stopped.url}`);
  handedOut.set(`code ${code.slice(0, 6)}`, code);
  return { code, verifier: rp.verifierFor(callback.searchParams.get("state")!) };
}

/** The token endpoint, called by hand with `as`'s credentials. */
async function exchange(as: Party, fields: Record<string, string>) {
  const r = await fetch(`${issuer}/oidc/token`, {
    method: "POST",
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(as.clientId)}:${encodeURIComponent(as.clientSecret!)}`).toString("base64")}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({ grant_type: "authorization_code", ...fields }),
  });
  return { status: r.status, body: (await r.json()) as Record<string, string> };
}

/** Remembers what a completed sign-in handed the app. */
function keep(rp: Party) {
  const { tokens } = rp.signedIn.at(-1)!;
  handedOut.set(`access token of ${rp.clientId}`, tokens.access_token);
  if (tokens.refresh_token) handedOut.set(`refresh token of ${rp.clientId}`, tokens.refresh_token);
  if (tokens.id_token) handedOut.set(`ID token signature of ${rp.clientId}`, tokens.id_token.split(".")[2]!);
  return tokens;
}

before(async () => {
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  dir = tempDir("ssod-oidc-bindings-");
  portal = await startPortal(issuer, ALICE);
  ssod = await startBuiltServer({
    dir,
    env: {
      SSOD_DATABASE_URL: `file:${join(dir, "ssod.db")}`,
      SSOD_PORT: String(port),
      SSOD_PUBLIC_URL: issuer,
      SSOD_ADMIN_API_KEY: ADMIN_KEY,
      SSOD_LOGIN_URL: portal.startUrl,
      SSOD_KEY_PUBLISH_LEAD: "0",
      SSOD_KEY_CHECK_MS: "0",
      SSOD_APP_REFRESH_MS: "0",
    },
  });
  const source = await api("POST", "/v1/sources", { code: "portal", name: "Portal", validForSeconds: 120 });
  assert.equal(source.status, 201);
  portal.source = { clientId: source.body.clientId as string, clientSecret: source.body.clientSecret as string };
});

after(async () => {
  for (const rp of parties) await rp.close();
  await portal?.close();
  await stopAll([ssod]);
});

describe("a code is bound to its app and its redirect URI", () => {
  test("a code issued to one app is refused at another app's token endpoint: invalid_grant, no tokens", async () => {
    const [mine, theirs] = [await party(), await party()];
    const browser = new Browser();
    const { code, verifier } = await codeFor(browser, mine);
    const stolen = await exchange(theirs, { code, redirect_uri: mine.callbackUrl, code_verifier: verifier });
    assert.equal(stolen.status, 400, JSON.stringify(stolen.body));
    assert.equal(stolen.body.error, "invalid_grant");
    assert.equal(stolen.body.access_token, undefined);
  });

  test("a code exchanged with another of the app's registered redirect URIs is refused: invalid_grant", async () => {
    const rp = await party({}, (cb) => cb.replace(/\/cb$/, "/other-cb"));
    const browser = new Browser();
    const { code, verifier } = await codeFor(browser, rp);
    const moved = await exchange(rp, { code, redirect_uri: rp.callbackUrl.replace(/\/cb$/, "/other-cb"), code_verifier: verifier });
    assert.equal(moved.status, 400, JSON.stringify(moved.body));
    assert.equal(moved.body.error, "invalid_grant");
    assert.equal(moved.body.access_token, undefined);
  });

  test("a code lives at most 60 seconds: its row in the store expires within a minute of its issue", async () => {
    const rp = await party();
    const before = Math.floor(Date.now() / 1000);
    const { code } = await codeFor(new Browser(), rp);
    const { createClient } = await import("@libsql/client/sqlite3");
    const store = createClient({ url: `file:${join(dir, "ssod.db")}`, intMode: "number" });
    try {
      const rows = await store.execute({ sql: "SELECT expires_at FROM oidc_payloads WHERE kind = 'AuthorizationCode' AND id = ?", args: [sha256(code)] });
      assert.equal(rows.rows.length, 1, "the code is stored under its hash");
      const life = Number(rows.rows[0]!.expires_at) - before;
      assert.ok(life > 0 && life <= 61, `the code lives ${life} s`);
    } finally {
      store.close();
    }
  });
});

describe("the access rule's orgIds", () => {
  test("a user whose org the app does not list: access_denied at the app, audited; an app listing it admits her", async () => {
    const closed = await party({ orgIds: ["org2"] });
    const denied = await signIn(new Browser(), closed);
    assert.equal(denied.json.error, "access_denied", JSON.stringify(denied.json));
    const audit = (await api("GET", "/v1/audit?action=app.access_denied")).body.items as { target: string; detail: { via: string } }[];
    assert.ok(audit.some((row) => row.target === closed.clientId && row.detail.via === "oidc"));
    const open = await party({ orgIds: ["org2", "org1"] });
    assert.equal((await signIn(new Browser(), open)).status, 200);
  });
});

describe("every token dies with the session it was issued under", () => {
  test("POST /v1/session/logout: the refresh token and the access token are dead", async () => {
    const rp = await party();
    const browser = new Browser();
    assert.equal((await signIn(browser, rp, { scope: "openid offline_access", prompt: "consent" })).status, 200);
    const tokens = keep(rp);
    assert.ok(tokens.refresh_token);
    const cookie = browser.cookie(issuer, "ssod_session");
    assert.ok(cookie);
    const out = await fetch(`${issuer}/v1/session/logout`, { method: "POST", headers: { cookie: `ssod_session=${cookie}`, origin: issuer } });
    assert.equal(out.status, 204);
    await assert.rejects(client.refreshTokenGrant(rp.config, tokens.refresh_token), (e: { error?: string }) => e.error === "invalid_grant");
    assert.equal((await fetch(`${issuer}/oidc/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status, 401);
  });

  test("deleting the user: the refresh token and the access token are dead", async () => {
    portal.user = { email: "doomed@example.com", displayName: "Doomed", orgId: "org1" };
    try {
      const rp = await party();
      assert.equal((await signIn(new Browser(), rp, { scope: "openid offline_access", prompt: "consent" })).status, 200);
      const tokens = keep(rp);
      const sub = rp.signedIn.at(-1)!.claims.sub as string;
      assert.equal((await fetch(`${issuer}/oidc/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status, 200);
      assert.equal((await api("DELETE", `/v1/users/${sub}`)).status, 204);
      await assert.rejects(client.refreshTokenGrant(rp.config, tokens.refresh_token!), (e: { error?: string }) => e.error === "invalid_grant");
      assert.equal((await fetch(`${issuer}/oidc/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status, 401);
    } finally {
      portal.user = ALICE;
    }
  });
});

describe("the provider's secrets at rest", () => {
  test("no app client secret, code, access, refresh or ID token, or provider cookie is in the store's files", async () => {
    // One more sign-in with a refresh token, rotated once, and the browser's provider cookies.
    const rp = await party();
    const browser = new Browser();
    assert.equal((await signIn(browser, rp, { scope: "openid offline_access", prompt: "consent" })).status, 200);
    handedOut.set("code of the last sign-in", new URL(rp.callbacks.at(-1)!.url).searchParams.get("code")!);
    const tokens = keep(rp);
    const rotated = await client.refreshTokenGrant(rp.config, tokens.refresh_token!);
    handedOut.set("rotated refresh token", rotated.refresh_token!);
    handedOut.set("access token from the refresh", rotated.access_token);
    for (const name of ["ssod_oidc", "ssod_oidc.sig", "ssod_session"]) {
      const value = browser.cookie(issuer, name);
      if (value) handedOut.set(`cookie ${name}`, value);
    }
    assert.ok(handedOut.has("cookie ssod_oidc"), "the provider's session cookie");

    const files = ["ssod.db", "ssod.db-wal"].filter((f) => existsSync(join(dir, f))).map((f) => [f, readFileSync(join(dir, f))] as const);
    const all = Buffer.concat(files.map(([, bytes]) => bytes));
    const found: string[] = [];
    for (const [label, secret] of handedOut) for (const [file, bytes] of files) if (bytes.includes(Buffer.from(secret))) found.push(`${label} in ${file}`);
    assert.deepEqual(found, [], `${handedOut.size} secrets searched for`);
    assert.ok(all.includes(Buffer.from(sha256(rotated.refresh_token!))), "a control: the rotated refresh token's hash is there");
  });
});
