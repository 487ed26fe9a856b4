// The OpenID Connect provider on three instances that share one sqld, behind
// a load balancer (SPEC §7: any instance serves any step): a sign-in whose
// authorization, token and userinfo requests each go to another instance, and
// two instances racing one code, of which exactly one wins, and the winner's
// tokens die with the loser's attempt.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type Balancer, startBalancer } from "./helpers/balancer";
import { Browser, freePort, type Portal, type RelyingParty, startPortal, startRelyingParty } from "./helpers/oidc";
import { type ServerProcess, startBuiltServers, stopAll } from "./helpers/process";
import { type Sqld, startSqld } from "./helpers/sqld";

const ADMIN_KEY = `ssod_ak_${"m".repeat(43)}`;
const admin = { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" };
const ALICE = { email: "alice@example.com", displayName: "Alice" };

let sqld: Sqld;
let instances: ServerProcess[];
let balancer: Balancer;
let portal: Portal;
let rp: RelyingParty & { clientId: string; clientSecret: string | undefined };

async function api(method: string, path: string, json?: unknown) {
  const r = await fetch(`${balancer.url}${path}`, { method, headers: admin, ...(json === undefined ? {} : { body: JSON.stringify(json) }) });
  return { status: r.status, body: (await r.json().catch(() => null)) as Record<string, unknown> };
}

before(async () => {
  sqld = await startSqld();
  // The issuer is the balancer's URL, the same for every instance, as behind a real one.
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  portal = await startPortal(issuer, ALICE);
  instances = await startBuiltServers(3, {
    env: {
      SSOD_DATABASE_URL: sqld.url,
      SSOD_DATABASE_AUTH_TOKEN: sqld.token,
      SSOD_MASTER_KEY: "7".repeat(64),
      SSOD_ADMIN_API_KEY: ADMIN_KEY,
      SSOD_PUBLIC_URL: issuer,
      SSOD_LOGIN_URL: portal.startUrl,
      SSOD_APP_REFRESH_MS: "0",
    },
  });
  balancer = await startBalancer(
    instances.map((i) => i.url),
    port,
  );
  const source = await api("POST", "/v1/sources", { code: "portal", name: "Portal", validForSeconds: 120 });
  assert.equal(source.status, 201, JSON.stringify(source.body));
  portal.source = { clientId: source.body.clientId as string, clientSecret: source.body.clientSecret as string };
  rp = await startRelyingParty({
    issuer,
    auth: "basic",
    register: async (callbackUrl) => {
      const made = await api("POST", "/v1/apps", { name: "The app", redirectUris: [callbackUrl] });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      return { clientId: made.body.clientId as string, clientSecret: made.body.clientSecret as string };
    },
  });
});

after(async () => {
  await rp?.close();
  await balancer?.close();
  await portal?.close();
  await stopAll(instances ?? [], "SIGKILL");
  await sqld?.stop();
});

/** The instance index for a path: authorization and its interaction on 0, the token endpoint on 1, userinfo on 2. */
const byStep = (path: string) => {
  if (path.startsWith("/oidc/auth") || path.startsWith("/oidc/interaction") || path === "/v1/login") return 0;
  if (path === "/oidc/token") return 1;
  if (path === "/oidc/me") return 2;
  return undefined;
};

describe("three instances on one sqld", () => {
  test("the authorization on one, the token on another, userinfo on the third: signed in", async () => {
    balancer.pick = byStep;
    const done = await new Browser().navigate(rp.loginUrl());
    assert.equal(done.response.status, 200, done.body);
    assert.equal((JSON.parse(done.body) as { email: string }).email, ALICE.email);
    const servedBy = (path: string) => new Set(balancer.served.filter((s) => s.path === path).map((s) => s.upstream));
    assert.deepEqual([...servedBy("/oidc/token")], [1]);
    assert.deepEqual([...servedBy("/oidc/me")], [2]);
    assert.ok(servedBy("/oidc/auth").has(0));
    // A refresh-less app: the ID token's signature checked out against the JWKS one instance published (openid-client checked it).
    assert.ok(rp.signedIn.at(-1)!.claims.sub);
  });

  test("two instances racing one code: exactly one wins, and the winner's access token dies", async () => {
    balancer.pick = byStep;
    const browser = new Browser();
    // Signed in at ssod once, so the next authorizations answer with a code at once.
    assert.equal((await browser.navigate(rp.loginUrl())).response.status, 200);
    for (let round = 0; round < 5; round++) {
      const stopped = await browser.navigate(rp.loginUrl(), { stop: (u) => u.href.startsWith(rp.callbackUrl) });
      const callback = new URL(stopped.url);
      const code = callback.searchParams.get("code");
      assert.ok(code, stopped.url);
      // The relying party never sees this callback: the test redeems the code itself, on two instances at once.
      const verifier = rp.verifierFor(callback.searchParams.get("state")!);
      const exchange = (instance: ServerProcess) =>
        fetch(`${instance.url}/oidc/token`, {
          method: "POST",
          headers: {
            authorization: `Basic ${Buffer.from(`${encodeURIComponent(rp.clientId)}:${encodeURIComponent(rp.clientSecret!)}`).toString("base64")}`,
            "content-type": "application/x-www-form-urlencoded",
          },
          body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: rp.callbackUrl, code_verifier: verifier }),
        }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, string> }));
      const answers = await Promise.all([exchange(instances[0]!), exchange(instances[1]!)]);
      const winners = answers.filter((a) => a.status === 200);
      const losers = answers.filter((a) => a.status === 400);
      assert.equal(winners.length, 1, `round ${round}: ${JSON.stringify(answers)}`);
      assert.equal(losers.length, 1);
      assert.equal(losers[0]!.body.error, "invalid_grant");
      const me = await fetch(`${instances[2]!.url}/oidc/me`, { headers: { authorization: `Bearer ${winners[0]!.body.access_token}` } });
      assert.equal(me.status, 401, `round ${round}: the winner's access token is revoked with the code's grant`);
      assert.match(me.headers.get("www-authenticate") ?? "", /error="invalid_token"/);
    }
  });
});
