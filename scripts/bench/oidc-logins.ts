// OpenID Connect logins per second for `npm run bench`: 50 browsers, each with
// an ssod session (a hand-off through /v1/login), sign in to one confidential
// app over and over with the authorization code flow — GET the authorization
// endpoint and follow the provider's redirects (its interaction, where ssod
// finds the session, and back) to the app's redirect URI, then redeem the code
// at the token endpoint. A login is all of that; the app itself is never
// visited (its redirect URI is only where the code is read from).
import { Browser } from "../../tests/helpers/oidc";
import { CONNECTIONS, json } from "./endpoints";

const REDIRECT_URI = "http://127.0.0.1:9/callback";

export interface LoginFigures {
  loginsPerSecond: number;
  /** HTTP requests one login took (redirects followed, and the token request). */
  requestsPerLogin: number;
  p50Ms: number;
  p99Ms: number;
  failures: number;
}

/** Signs in `CONNECTIONS` browsers, then runs logins for a warm-up and for `seconds`. */
export async function measureOidcLogins(url: string, adminKey: string, seconds: number, warmupSeconds: number): Promise<LoginFigures> {
  const admin = { authorization: `Bearer ${adminKey}`, "content-type": "application/json" };
  const app = await json(`${url}/v1/apps`, { method: "POST", headers: admin, body: JSON.stringify({ name: "Bench OIDC app", redirectUris: [REDIRECT_URI] }) });
  const source = await json(`${url}/v1/sources`, {
    method: "POST",
    headers: admin,
    body: JSON.stringify({ code: "bench_oidc", name: "Bench OIDC", validForSeconds: 3600 }),
  });
  const sourceAuth = `Basic ${Buffer.from(`${source.clientId}:${source.clientSecret}`).toString("base64")}`;
  const appAuth = `Basic ${Buffer.from(`${app.clientId}:${app.clientSecret}`).toString("base64")}`;
  const discovery = await json(`${url}/.well-known/openid-configuration`, {});

  const browsers = await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, i) => {
      const { token } = await json(`${url}/v1/tokens`, {
        method: "POST",
        headers: { authorization: sourceAuth, "content-type": "application/json" },
        body: JSON.stringify({ user: { email: `oidc${i}@example.com`, displayName: `OIDC ${i}` } }),
      });
      const browser = new Browser();
      await browser.navigate(`${url}/v1/login?token=${encodeURIComponent(String(token))}`);
      return browser;
    }),
  );

  let requests = 0;
  /** One login of one browser: its duration in ms, or undefined when it did not end in tokens. */
  async function login(browser: Browser, n: number): Promise<number | undefined> {
    const started = performance.now();
    const state = `s${n}`;
    const authorize = new URL(String(discovery.authorization_endpoint));
    authorize.search = new URLSearchParams({
      client_id: String(app.clientId),
      redirect_uri: REDIRECT_URI,
      response_type: "code",
      scope: "openid email profile",
      state,
      nonce: `n${n}`,
    }).toString();
    const before = browser.visited.length;
    const landed = await browser.navigate(authorize.href, { stop: (u) => u.href.startsWith(REDIRECT_URI) });
    requests += browser.visited.length - before + 1;
    const back = new URL(landed.url);
    const code = back.searchParams.get("code");
    if (!code || back.searchParams.get("state") !== state) return undefined;
    const tokens = await fetch(String(discovery.token_endpoint), {
      method: "POST",
      headers: { authorization: appAuth, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: REDIRECT_URI }),
    });
    const body = (await tokens.json()) as { id_token?: string };
    return tokens.ok && body.id_token ? performance.now() - started : undefined;
  }

  async function run(forSeconds: number): Promise<{ durations: number[]; failures: number }> {
    const until = performance.now() + forSeconds * 1000;
    const durations: number[] = [];
    let failures = 0;
    let n = 0;
    await Promise.all(
      browsers.map(async (browser) => {
        while (performance.now() < until) {
          const ms = await login(browser, n++).catch(() => undefined);
          if (ms === undefined) failures++;
          else durations.push(ms);
        }
      }),
    );
    return { durations, failures };
  }

  await run(warmupSeconds);
  requests = 0;
  const { durations, failures } = await run(seconds);
  const sorted = durations.sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return {
    loginsPerSecond: Math.round(durations.length / seconds),
    requestsPerLogin: durations.length + failures > 0 ? requests / (durations.length + failures) : 0,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    failures,
  };
}
