// ssod as an OpenID Connect provider (SPEC §7), through the built file, with
// openid-client as the relying party: discovery, the code flow (confidential
// apps with client_secret_basic and client_secret_post, a public app with
// PKCE), ID tokens checked against the JWKS, userinfo, refresh, revocation,
// introspection, logout; the login is the hand-off session; and what is refused.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { decodeProtectedHeader } from "jose";
import * as client from "openid-client";
import { Browser, freePort, type Portal, type RelyingParty, startPortal, startRelyingParty } from "./helpers/oidc";
import { type ServerProcess, startBuiltServer, stopAll } from "./helpers/process";

const ADMIN_KEY = `ssod_ak_${"i".repeat(43)}`;
const admin = { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" };

let ssod: ServerProcess;
let issuer: string;
let portal: Portal;
let portalSource: { clientId: string; clientSecret: string };
const parties: RelyingParty[] = [];

const ALICE = { email: "alice@example.com", displayName: "Alice", externalId: "ALICE-1", orgId: "org1", groups: ["staff", "ops"] };

async function api(method: string, path: string, json?: unknown) {
  const r = await fetch(`${issuer}${path}`, { method, headers: admin, ...(json === undefined ? {} : { body: JSON.stringify(json) }) });
  return { status: r.status, body: (await r.json().catch(() => null)) as Record<string, unknown> };
}

/** A relying party registered as an app (extra app fields as given). */
async function party(auth: "basic" | "post" | "none", app: Record<string, unknown> = {}) {
  const rp = await startRelyingParty({
    issuer,
    auth,
    register: async (callbackUrl) => {
      const made = await api("POST", "/v1/apps", {
        name: `RP ${auth}`,
        redirectUris: [callbackUrl],
        postLogoutRedirectUris: [callbackUrl.replace(/\/cb$/, "/bye")],
        tokenEndpointAuthMethod: auth === "basic" ? "client_secret_basic" : auth === "post" ? "client_secret_post" : "none",
        ...app,
      });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      return { clientId: made.body.clientId as string, clientSecret: made.body.clientSecret as string | null };
    },
  });
  parties.push(rp);
  return rp;
}

/** Signs in to the relying party through ssod (and, with no ssod session, through the portal). */
async function signIn(browser: Browser, rp: RelyingParty, params: Record<string, string> = {}) {
  const done = await browser.navigate(rp.loginUrl(params));
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(done.body || "{}") as Record<string, unknown>;
  } catch {
    throw new Error(
      `the sign-in ended at ${done.url} (${done.response.status}) with a page, after ${browser.visited.slice(-6).join(" → ")}:\n${done.body.slice(0, 600)}`,
    );
  }
  return { status: done.response.status, json, url: done.url };
}

before(async () => {
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  // The portal's URL goes into ssod's configuration (SSOD_LOGIN_URL): it starts first, and gets its source once ssod has made it.
  portal = await startPortal(issuer, ALICE);
  ssod = await startBuiltServer({
    env: {
      SSOD_PORT: String(port),
      SSOD_PUBLIC_URL: issuer,
      SSOD_ADMIN_API_KEY: ADMIN_KEY,
      SSOD_LOGIN_URL: portal.startUrl,
      SSOD_KEY_PUBLISH_LEAD: "0",
      SSOD_KEY_CHECK_MS: "0",
      SSOD_APP_REFRESH_MS: "0",
      SSOD_THROTTLE_CREDENTIAL_LIMIT: "3",
    },
  });
  const source = await api("POST", "/v1/sources", { code: "portal", name: "Portal", validForSeconds: 120 });
  assert.equal(source.status, 201);
  portalSource = { clientId: source.body.clientId as string, clientSecret: source.body.clientSecret as string };
  portal.source = portalSource;
});

after(async () => {
  for (const line of ssod?.stdout().split("\n") ?? []) if (/"level":"(error|warn)"/.test(line)) process.stdout.write(`# ssod: ${line.slice(0, 1500)}\n`);
  for (const rp of parties) await rp.close();
  await portal?.close();
  await stopAll([ssod]);
});

describe("discovery", () => {
  test("GET /.well-known/openid-configuration: the issuer is SSOD_PUBLIC_URL, the JWKS ssod's own, code flow only", async () => {
    const r = await fetch(`${issuer}/.well-known/openid-configuration`, { headers: { host: "evil.example:666" } });
    assert.equal(r.status, 200);
    const d = (await r.json()) as Record<string, unknown>;
    assert.equal(d.issuer, issuer);
    assert.equal(d.jwks_uri, `${issuer}/.well-known/jwks.json`);
    assert.equal(d.authorization_endpoint, `${issuer}/oidc/auth`, "a forged Host does not move the endpoints");
    for (const field of ["token_endpoint", "userinfo_endpoint", "end_session_endpoint", "revocation_endpoint", "introspection_endpoint"])
      assert.match(String(d[field]), new RegExp(`^${issuer}/oidc/`));
    assert.deepEqual(d.response_types_supported, ["code"]);
    assert.deepEqual(d.response_modes_supported, ["query", "form_post"]);
    assert.deepEqual(d.code_challenge_methods_supported, ["S256"]);
    assert.deepEqual(d.subject_types_supported, ["public"]);
    assert.ok((d.id_token_signing_alg_values_supported as string[]).includes("RS256"));
    for (const scope of ["openid", "profile", "email", "groups", "offline_access"]) assert.ok((d.scopes_supported as string[]).includes(scope), scope);
    const jwks = (await (await fetch(`${issuer}/.well-known/jwks.json`)).json()) as { keys: { alg: string; d?: string }[] };
    assert.ok(
      jwks.keys.some((k) => k.alg === "RS256"),
      "an RS256 key is published (OpenID Connect requires it)",
    );
    assert.ok(
      jwks.keys.every((k) => k.d === undefined),
      "no private part",
    );
  });
});

describe("the code flow, with the hand-off session as the login", () => {
  test("client_secret_basic: no session → the portal → back signed in; the ID token checks out against the JWKS; a second visit needs no hand-off", async () => {
    const rp = await party("basic", { allowedGroups: ["staff"] });
    const browser = new Browser();
    const before = portal.handOffs;
    const first = await signIn(browser, rp);
    assert.equal(first.status, 200, JSON.stringify(first.json));
    assert.deepEqual(first.json, { email: ALICE.email, groups: ALICE.groups, sub: first.json.sub });
    assert.equal(portal.handOffs, before + 1, "one hand-off from the portal");
    const { claims, userinfo, tokens } = rp.signedIn.at(-1)!;
    // openid-client verified the signature with the JWKS, iss, aud, exp, iat and the nonce.
    assert.equal(decodeProtectedHeader(tokens.id_token!).alg, "RS256");
    assert.equal(claims.iss, issuer);
    assert.equal(claims.aud, rp.clientId);
    for (const claim of ["sub", "exp", "iat", "auth_time", "nonce"]) assert.ok(claims[claim] !== undefined, `${claim} in the ID token`);
    const user = (await api("GET", `/v1/users/${claims.sub}`)).body;
    assert.equal(user.email, ALICE.email, "sub is the user's id, as /v1/users shows it");
    assert.deepEqual(
      {
        email: claims.email,
        email_verified: claims.email_verified,
        name: claims.name,
        preferred_username: claims.preferred_username,
        groups: claims.groups,
        org_id: claims.org_id,
      },
      { email: ALICE.email, email_verified: true, name: ALICE.displayName, preferred_username: ALICE.externalId, groups: ALICE.groups, org_id: ALICE.orgId },
    );
    assert.deepEqual(
      { email: userinfo.email, groups: userinfo.groups, name: userinfo.name },
      { email: ALICE.email, groups: ALICE.groups, name: ALICE.displayName },
    );
    assert.match(tokens.access_token, /^[A-Za-z0-9_-]{40,}$/, "an opaque access token");
    assert.equal(tokens.refresh_token, undefined, "no refresh token without offline_access");

    const second = await signIn(browser, rp);
    assert.equal(second.status, 200);
    assert.equal(portal.handOffs, before + 1, "the second visit needed no hand-off");
  });

  test("client_secret_post with offline_access: refresh rotates, carries a new ID token; a rotated refresh token used again kills the family", async () => {
    const rp = await party("post");
    const browser = new Browser();
    const done = await signIn(browser, rp, { scope: "openid email offline_access", prompt: "consent" });
    assert.equal(done.status, 200, JSON.stringify(done.json));
    const { tokens } = rp.signedIn.at(-1)!;
    assert.ok(tokens.refresh_token, "a refresh token for offline_access");
    const refreshed = await client.refreshTokenGrant(rp.config, tokens.refresh_token);
    assert.ok(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token, "rotated");
    assert.ok(refreshed.id_token, "an ID token on refresh too");
    assert.equal(refreshed.claims()!.sub, rp.signedIn.at(-1)!.claims.sub);
    await assert.rejects(client.refreshTokenGrant(rp.config, tokens.refresh_token), (e: { error?: string }) => e.error === "invalid_grant");
    await assert.rejects(
      client.refreshTokenGrant(rp.config, refreshed.refresh_token),
      (e: { error?: string }) => e.error === "invalid_grant",
      "the family died",
    );
    const userinfo = await fetch(`${issuer}/oidc/me`, { headers: { authorization: `Bearer ${refreshed.access_token}` } });
    assert.equal(userinfo.status, 401);
    assert.match(userinfo.headers.get("www-authenticate") ?? "", /error="invalid_token"/);
    const audit = (await api("GET", "/v1/audit?limit=200")).body.items as { action: string; target: string; outcome: string }[];
    assert.ok(
      audit.some((r) => r.action === "oidc.refresh" && r.target === rp.clientId && r.outcome === "success"),
      "the refresh is audited",
    );
    assert.ok(
      audit.some((r) => r.action === "oidc.refresh" && r.target === rp.clientId && r.outcome === "failure"),
      "so is the reuse",
    );
  });

  test("/metrics counts sign-ins per app", async () => {
    const rp = await party("basic");
    const count = async () => {
      const text = await (await fetch(`${issuer}/metrics`)).text();
      return Number(new RegExp(`^ssod_oidc_logins_total\\{app="${rp.clientId}"\\} (\\d+)$`, "m").exec(text)?.[1] ?? 0);
    };
    const browser = new Browser();
    assert.equal((await signIn(browser, rp)).status, 200);
    assert.equal((await signIn(browser, rp)).status, 200);
    assert.equal(await count(), 2);
  });

  test("a public app: PKCE S256 and no secret; without PKCE, or with a wrong verifier, refused", async () => {
    const rp = await party("none");
    const browser = new Browser();
    const ok = await signIn(browser, rp);
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.equal(ok.json.email, ALICE.email);
    const noPkce = await signIn(browser, rp, { pkce: "off" });
    assert.equal(noPkce.json.error, "invalid_request");
    const wrong = await signIn(browser, rp, { verifier_for_challenge: client.randomPKCECodeVerifier() });
    assert.equal(wrong.status, 400);
    assert.equal((wrong.json.cause as { error: string }).error, "invalid_grant", "a wrong verifier");
  });
});

describe("refused", () => {
  test("a replayed code is refused, and what the first use issued is revoked", async () => {
    const rp = await party("basic");
    const browser = new Browser();
    assert.equal((await signIn(browser, rp)).status, 200);
    const first = rp.signedIn.at(-1)!;
    const callback = rp.callbacks.at(-1)!;
    await assert.rejects(
      client.authorizationCodeGrant(rp.config, new URL(callback.url), {
        expectedState: callback.state,
        expectedNonce: callback.nonce,
        pkceCodeVerifier: callback.verifier,
      }),
      (e: { error?: string }) => e.error === "invalid_grant",
    );
    const userinfo = await fetch(`${issuer}/oidc/me`, { headers: { authorization: `Bearer ${first.tokens.access_token}` } });
    assert.equal(userinfo.status, 401, "the first use's access token died with its grant");
  });

  test("a redirect_uri that is not registered: a 400 page at ssod, never a redirect", async () => {
    const rp = await party("basic");
    const url = client.buildAuthorizationUrl(rp.config, { redirect_uri: "https://evil.example/cb", scope: "openid", state: "s", nonce: "n" });
    const r = await fetch(url, { redirect: "manual" });
    assert.equal(r.status, 400);
    assert.equal(r.headers.get("location"), null);
    assert.match(r.headers.get("content-type") ?? "", /text\/html/);
  });

  test("prompt=none without a session: login_required at the app, without a page; with one: a code", async () => {
    const rp = await party("basic");
    const fresh = new Browser();
    const none = await signIn(fresh, rp, { prompt: "none" });
    assert.equal(none.json.error, "login_required");
    assert.ok(none.json.state, "state comes back");
    assert.equal((await signIn(fresh, rp)).status, 200);
    const again = await signIn(fresh, rp, { prompt: "none" });
    assert.equal(again.status, 200, "prompt=none with an ssod session: a code");
  });

  test("a user outside the app's rule: access_denied at the app, audited", async () => {
    const rp = await party("basic", { allowedGroups: ["admins"] });
    const denied = await signIn(new Browser(), rp);
    assert.equal(denied.json.error, "access_denied");
    const audit = (await api("GET", "/v1/audit?action=app.access_denied")).body.items as { target: string; detail: { via: string } }[];
    assert.ok(audit.some((row) => row.target === rp.clientId && row.detail.via === "oidc"));
  });

  test("after an admin ends the user's sessions, the refresh token and the access token are dead", async () => {
    const rp = await party("basic");
    const browser = new Browser();
    assert.equal((await signIn(browser, rp, { scope: "openid offline_access", prompt: "consent" })).status, 200);
    const { tokens, claims } = rp.signedIn.at(-1)!;
    assert.equal((await fetch(`${issuer}/oidc/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status, 200);
    assert.equal((await api("DELETE", `/v1/users/${claims.sub}/sessions`)).status, 200);
    await assert.rejects(client.refreshTokenGrant(rp.config, tokens.refresh_token!), (e: { error?: string }) => e.error === "invalid_grant");
    assert.equal((await fetch(`${issuer}/oidc/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status, 401);
  });

  test("failed client authentication is throttled like a source's: 401s, then 429 invalid_client with Retry-After; the right secret is still served", async () => {
    const rp = await party("basic");
    const wrong = {
      authorization: `Basic ${Buffer.from(`${rp.clientId}:not-the-secret`).toString("base64")}`,
      "content-type": "application/x-www-form-urlencoded",
    };
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 5; i++) {
      last = await fetch(`${issuer}/oidc/token`, { method: "POST", headers: wrong, body: "grant_type=refresh_token&refresh_token=x" });
      statuses.push(last.status);
    }
    assert.deepEqual(statuses, [401, 401, 401, 429, 429]);
    assert.ok(Number(last!.headers.get("retry-after")) > 0);
    assert.equal(((await last!.json()) as { error: string }).error, "invalid_client");
    const right = await fetch(`${issuer}/oidc/token`, {
      method: "POST",
      headers: {
        authorization: `Basic ${Buffer.from(`${rp.clientId}:${rp.clientSecret}`).toString("base64")}`,
        "content-type": "application/x-www-form-urlencoded",
      },
      body: "grant_type=refresh_token&refresh_token=x",
    });
    assert.equal(((await right.json()) as { error: string }).error, "invalid_grant", "authenticated: the request itself is judged");
  });
});

describe("prompt, max_age and response modes", () => {
  test("prompt=login sends a signed-in browser through the portal once more, and back", async () => {
    const rp = await party("basic");
    const browser = new Browser();
    assert.equal((await signIn(browser, rp)).status, 200);
    const before = portal.handOffs;
    const again = await signIn(browser, rp, { prompt: "login" });
    assert.equal(again.status, 200, JSON.stringify(again.json));
    assert.equal(portal.handOffs, before + 1, "a fresh hand-off, then a code: no loop");
  });

  test("a portal that sends the browser back without a hand-off: login_required at the app after three trips, no loop", async (t) => {
    const rp = await party("basic");
    portal.handsOff = false;
    t.after(() => {
      portal.handsOff = true;
    });
    const browser = new Browser();
    const refused = await signIn(browser, rp);
    assert.equal(refused.json.error, "login_required");
    assert.equal(browser.visited.filter((u) => u.startsWith(portal.startUrl)).length, 3);
  });

  test("max_age older than the session: through the portal; auth_time follows the new sign-in", async () => {
    const rp = await party("basic");
    const browser = new Browser();
    assert.equal((await signIn(browser, rp)).status, 200);
    const firstAuth = Number(rp.signedIn.at(-1)!.claims.auth_time);
    await new Promise((r) => setTimeout(r, 2_100));
    const before = portal.handOffs;
    assert.equal((await signIn(browser, rp, { max_age: "1" })).status, 200);
    assert.equal(portal.handOffs, before + 1);
    assert.ok(Number(rp.signedIn.at(-1)!.claims.auth_time) > firstAuth);
    assert.equal((await signIn(browser, rp, { max_age: "600" })).status, 200);
    assert.equal(portal.handOffs, before + 1, "a recent enough sign-in is reused");
  });

  test("response_mode=form_post: the code arrives by a self-submitting form; fragment is refused", async () => {
    const rp = await party("basic");
    const browser = new Browser();
    const posted = await signIn(browser, rp, { response_mode: "form_post" });
    assert.equal(posted.status, 200, JSON.stringify(posted.json));
    assert.equal(posted.json.email, ALICE.email);
    const fragment = await browser.navigate(rp.loginUrl({ response_mode: "fragment" }), { stop: (u) => u.origin === new URL(rp.url).origin });
    assert.match(fragment.url, /#.*error=invalid_request|[?&]error=invalid_request/);
  });
});

describe("keys and token kinds", () => {
  for (const alg of ["ES256", "EdDSA"] as const) {
    test(`an app asking for ${alg} ID tokens gets them, verified against the JWKS`, async () => {
      const rp = await party("basic", { idTokenSignedResponseAlg: alg });
      assert.equal((await signIn(new Browser(), rp)).status, 200);
      const header = decodeProtectedHeader(rp.signedIn.at(-1)!.tokens.id_token!);
      assert.equal(header.alg, alg);
      const jwks = (await (await fetch(`${issuer}/.well-known/jwks.json`)).json()) as { keys: { kid: string; alg: string }[] };
      assert.ok(
        jwks.keys.some((k) => k.kid === header.kid && k.alg === alg),
        "its key is published",
      );
    });
  }

  test("a named resource (RFC 8707) gets an RFC 9068 JWT access token for it; another app's origin is refused", async () => {
    const rp = await party("basic");
    const resource = `${rp.url}/api`;
    assert.equal((await signIn(new Browser(), rp, { resource, userinfo: "off" })).status, 200);
    const at = rp.signedIn.at(-1)!.tokens.access_token;
    assert.equal(decodeProtectedHeader(at).typ, "at+jwt");
    const claims = JSON.parse(Buffer.from(at.split(".")[1]!, "base64url").toString()) as Record<string, unknown>;
    assert.equal(claims.aud, resource);
    assert.equal(claims.client_id, rp.clientId);
    const refused = await signIn(new Browser(), rp, { resource: "https://somewhere-else.example/api" });
    assert.equal(refused.json.error, "invalid_target");
  });

  test("revocation and introspection (RFC 7009, RFC 7662) for the app's own tokens", async () => {
    const rp = await party("basic");
    assert.equal((await signIn(new Browser(), rp)).status, 200);
    const { tokens } = rp.signedIn.at(-1)!;
    const live = await client.tokenIntrospection(rp.config, tokens.access_token);
    assert.equal(live.active, true);
    assert.equal(live.client_id, rp.clientId);
    await client.tokenRevocation(rp.config, tokens.access_token);
    assert.equal((await client.tokenIntrospection(rp.config, tokens.access_token)).active, false);
    assert.equal((await fetch(`${issuer}/oidc/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status, 401);
    const audit = (await api("GET", "/v1/audit?limit=200")).body.items as { action: string; target: string }[];
    for (const action of ["oidc.authorization", "oidc.token", "oidc.revocation", "oidc.introspection"])
      assert.ok(
        audit.some((r) => r.action === action && r.target === rp.clientId),
        action,
      );
    assert.ok(!JSON.stringify(audit).includes(tokens.access_token), "no token in the audit log");
  });
});

describe("logout (RP-initiated)", () => {
  test("with an id_token_hint of the current session: ends the ssod session at once, back to the registered URI with state", async () => {
    const rp = await party("basic");
    const browser = new Browser();
    assert.equal((await signIn(browser, rp, { scope: "openid offline_access", prompt: "consent" })).status, 200);
    const { tokens } = rp.signedIn.at(-1)!;
    const cookie = browser.cookie(issuer, "ssod_session");
    assert.ok(cookie);
    const bye = `${rp.url}/bye`;
    const end = client.buildEndSessionUrl(rp.config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: bye, state: "st-1" });
    const done = await browser.navigate(end.href, { stop: (u) => u.href.startsWith(bye) });
    assert.equal(done.url, `${bye}?state=st-1`);
    assert.equal(browser.cookie(issuer, "ssod_session"), undefined, "the cookie is cleared");
    assert.equal((await fetch(`${issuer}/v1/session`, { headers: { cookie: `ssod_session=${cookie}` } })).status, 401, "the ssod session ended");
    await assert.rejects(client.refreshTokenGrant(rp.config, tokens.refresh_token!), (e: { error?: string }) => e.error === "invalid_grant");
    const audit = (await api("GET", "/v1/audit?action=oidc.logout")).body.items as { target: string }[];
    assert.ok(audit.some((r) => r.target === rp.clientId));
  });

  test("without a hint: a confirmation page; its POST from another site is refused, from this one it signs out", async () => {
    const rp = await party("basic");
    const browser = new Browser();
    assert.equal((await signIn(browser, rp)).status, 200);
    const cookie = browser.cookie(issuer, "ssod_session")!;
    const page = await browser.navigate(`${issuer}/oidc/session/end`);
    assert.equal(page.response.status, 200);
    assert.match(page.body, /Sign out\?/);
    assert.equal((await fetch(`${issuer}/v1/session`, { headers: { cookie: `ssod_session=${cookie}` } })).status, 200, "a GET ends nothing");
    const form = /action="([^"]+)"[\s\S]*?name="xsrf" value="([^"]+)"/.exec(page.body)!;
    const body = new URLSearchParams({ xsrf: form[2]!, logout: "yes" });
    const crossSite = await browser.fetch(new URL(form[1]!, issuer).href, {
      method: "POST",
      body,
      headers: { "content-type": "application/x-www-form-urlencoded", origin: "https://evil.example" },
    });
    assert.equal(crossSite.status, 403);
    assert.equal((await fetch(`${issuer}/v1/session`, { headers: { cookie: `ssod_session=${cookie}` } })).status, 200);
    const own = await browser.fetch(new URL(form[1]!, issuer).href, {
      method: "POST",
      body,
      headers: { "content-type": "application/x-www-form-urlencoded", origin: issuer },
    });
    assert.ok(own.status < 400, `${own.status}`);
    assert.equal((await fetch(`${issuer}/v1/session`, { headers: { cookie: `ssod_session=${cookie}` } })).status, 401);
  });
});
