// What the OpenID Connect tests stand on: a relying party (a small Hono app
// on openid-client, as a real app would be), a portal that hands its signed-in
// user to ssod (issue a token whose redirectUrl is where to go back, send the
// browser to its loginUrl), and a "browser" that follows redirects and keeps
// cookies per origin and path.
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import * as client from "openid-client";

// ---- a browser ----

interface Cookie {
  value: string;
  path: string;
}

export class Browser {
  readonly #jar = new Map<string, Map<string, Cookie>>();
  /** Every URL it was sent to, in order. */
  readonly visited: string[] = [];

  cookie(origin: string, name: string): string | undefined {
    for (const [key, cookie] of this.#jar.get(origin) ?? []) if (key.split("\n")[0] === name) return cookie.value;
    return undefined;
  }

  /** Forgets an origin's cookie (a browser whose session cookie is gone). */
  forget(origin: string, name: string): void {
    const jar = this.#jar.get(origin);
    for (const key of [...(jar?.keys() ?? [])]) if (key.split("\n")[0] === name) jar!.delete(key);
  }

  #store(url: URL, response: Response): void {
    const jar = this.#jar.get(url.origin) ?? new Map<string, Cookie>();
    this.#jar.set(url.origin, jar);
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(";").map((p) => p.trim());
      const eq = pair!.indexOf("=");
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      const attribute = (n: string) => attributes.find((a) => a.toLowerCase().startsWith(`${n}=`))?.split("=")[1];
      const path = attribute("path") ?? "/";
      const gone = attribute("max-age") === "0" || (attribute("expires") && Date.parse(attribute("expires")!) < Date.now()) || value === "";
      if (gone) jar.delete(`${name}\n${path}`);
      else jar.set(`${name}\n${path}`, { value, path });
    }
  }

  #cookieHeader(url: URL): string | undefined {
    const sent = [...(this.#jar.get(url.origin) ?? [])]
      .filter(([, c]) => url.pathname.startsWith(c.path))
      .map(([key, c]) => `${key.split("\n")[0]}=${c.value}`);
    return sent.length > 0 ? sent.join("; ") : undefined;
  }

  /** One request, cookies sent and kept, no redirect followed. */
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const target = new URL(url);
    this.visited.push(target.href);
    const headers = new Headers(init.headers);
    // What a browser's navigation sends (mod_auth_openidc answers anything else 401, as an API call).
    if (!headers.has("accept")) headers.set("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8");
    headers.set("sec-fetch-mode", "navigate");
    const cookies = this.#cookieHeader(target);
    if (cookies) headers.set("cookie", cookies);
    const response = await navigationRequest(target, init.method ?? "GET", headers, init.body ? String(init.body) : undefined);
    this.#store(target, response);
    return response;
  }

  /** Follows redirects (and self-submitting form_post pages) until an answer that is neither, or `stop` says so. */
  async navigate(url: string, options: { stop?: (url: URL) => boolean; max?: number } = {}): Promise<{ response: Response; url: string; body: string }> {
    let next = url;
    let init: RequestInit = {};
    for (let hop = 0; hop < (options.max ?? 20); hop++) {
      const response = await this.fetch(next, init);
      const location = response.headers.get("location");
      if (response.status >= 300 && response.status < 400 && location) {
        const target = new URL(location, next);
        if (options.stop?.(target)) return { response, url: target.href, body: "" };
        next = target.href;
        init = {};
        continue;
      }
      const body = await response.text();
      const form = /<form[^>]*method="post"[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/i.exec(body);
      // The provider's form_post answer posts itself to the app with a script; a browser would run it.
      if (response.status === 200 && form && /\.submit\(\)/.test(body)) {
        const fields = new URLSearchParams();
        for (const input of form[2]!.matchAll(/<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)) fields.append(input[1]!, decodeEntities(input[2]!));
        // Sent with the Origin of the page that posts (ssod's pages are Referrer-Policy same-origin: a real one).
        const page = new URL(next).origin;
        next = new URL(decodeEntities(form[1]!), next).href;
        init = { method: "POST", body: fields, headers: { "content-type": "application/x-www-form-urlencoded", origin: page } };
        continue;
      }
      return { response, url: next, body };
    }
    throw new Error(`more than ${options.max ?? 20} redirects from ${url}: ${this.visited.slice(-5).join(" → ")}`);
  }
}

/**
 * One HTTP exchange over node:http, as a Response: fetch() would send
 * Sec-Fetch-Mode: cors whatever it is told, and a browser's navigation says navigate.
 */
function navigationRequest(url: URL, method: string, headers: Headers, body: string | undefined): Promise<Response> {
  return new Promise((resolve, reject) => {
    const outgoing = request(url, { method, headers: Object.fromEntries(headers) }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on("data", (chunk: Buffer) => chunks.push(chunk));
      answer.on("error", reject);
      answer.on("end", () => {
        const received = new Headers();
        for (const [name, value] of Object.entries(answer.headers)) {
          for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value]) received.append(name, one);
        }
        const status = answer.statusCode ?? 502;
        const empty = [204, 205, 304].includes(status) || method === "HEAD";
        resolve(new Response(empty ? null : Buffer.concat(chunks), { status, headers: received }));
      });
    });
    outgoing.on("error", reject);
    outgoing.end(body);
  });
}

const decodeEntities = (text: string) =>
  text
    .replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)))
    .replace(/&amp;/g, "&")
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">");

// ---- servers ----

/**
 * Serves on a loopback port; its URL names `host`: 127.0.0.1, or a name
 * under .localhost (app.localhost), which a browser resolves to loopback
 * itself: ssod, the portal and the app then sit on sites of their own, as
 * deployed, and cookies and SameSite behave as they do in production.
 */
function listen(app: Hono, host = "127.0.0.1"): Promise<{ server: Server; url: string }> {
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info: AddressInfo) =>
      resolve({ server: server as Server, url: `http://${host}:${info.port}` }),
    ) as Server;
  });
}

/** fetch for Node, which may not resolve names under .localhost: such a URL goes to 127.0.0.1 on the same port. */
export const loopbackFetch: typeof fetch = (input, init) =>
  fetch(String(input instanceof Request ? input.url : input).replace(/^http:\/\/[a-z0-9.-]+\.localhost:/, "http://127.0.0.1:"), init);

const close = (server: Server) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

/** A port that is free now (to name a server's public URL before it starts). */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

export interface Portal {
  url: string;
  /** The portal's sign-in page: SSOD_LOGIN_URL. */
  startUrl: string;
  /** Who is signed in at the portal (the user it hands to ssod). */
  user: Record<string, unknown>;
  /** The ssod source the portal issues with (set once ssod has made it). */
  source: { clientId: string; clientSecret: string } | undefined;
  handOffs: number;
  /** False: a broken portal, which sends the browser straight back to return_to without a hand-off. */
  handsOff: boolean;
  close(): Promise<void>;
}

/** A portal: its /start?return_to= issues a token for its user (redirectUrl = return_to) and sends the browser to ssod. */
export async function startPortal(ssodUrl: string, user: Record<string, unknown>, host?: string): Promise<Portal> {
  const app = new Hono();
  const portal = { user, handOffs: 0, handsOff: true, source: undefined } as Portal;
  app.get("/start", async (c) => {
    const returnTo = c.req.query("return_to");
    if (!portal.handsOff && returnTo) return c.redirect(returnTo, 303);
    const source = portal.source;
    if (!source) return c.text("the portal has no ssod source yet", 503);
    const r = await loopbackFetch(`${ssodUrl}/v1/tokens`, {
      method: "POST",
      headers: { authorization: `Basic ${Buffer.from(`${source.clientId}:${source.clientSecret}`).toString("base64")}`, "content-type": "application/json" },
      body: JSON.stringify({ user: portal.user, ...(returnTo ? { redirectUrl: returnTo } : {}) }),
    });
    if (r.status !== 201) return c.text(`ssod refused the hand-off: ${r.status} ${await r.text()}`, 502);
    portal.handOffs++;
    return c.redirect(((await r.json()) as { loginUrl: string }).loginUrl, 303);
  });
  const { server, url } = await listen(app, host);
  return Object.assign(portal, { url, startUrl: `${url}/start`, close: () => close(server) });
}

interface SignedIn {
  claims: Record<string, unknown>;
  userinfo: Record<string, unknown>;
  tokens: { access_token: string; id_token?: string; refresh_token?: string; scope?: string };
}

export interface RelyingParty {
  url: string;
  callbackUrl: string;
  config: client.Configuration;
  /** The sign-ins it completed, newest last. */
  signedIn: SignedIn[];
  /** Every callback it got, with what its flow used: to replay a code. */
  callbacks: { url: string; state: string; verifier: string; nonce: string }[];
  /** The PKCE verifier of a sign-in it started (to redeem its code by hand). */
  verifierFor(state: string): string;
  /** The start of a sign-in: /login?scope=…&prompt=… (extra authorization parameters pass through). */
  loginUrl(params?: Record<string, string>): string;
  close(): Promise<void>;
}

/** A relying party on openid-client: /login starts the code flow (PKCE S256, state, nonce), /cb finishes it and asks userinfo. */
export async function startRelyingParty(options: {
  issuer: string;
  auth: "basic" | "post" | "none";
  /** Registers the app at ssod, once the callback URL is known. */
  register(callbackUrl: string): Promise<{ clientId: string; clientSecret?: string | null }>;
  /** The name its URLs use (see listen); 127.0.0.1 by default. */
  host?: string;
}): Promise<RelyingParty & { clientId: string; clientSecret: string | undefined }> {
  const pending = new Map<string, { verifier: string; nonce: string; usePkce: boolean; userinfo: boolean }>();
  const app = new Hono();
  const rp = { signedIn: [], callbacks: [] } as unknown as RelyingParty;
  app.get("/login", async (c) => {
    const state = client.randomState();
    const nonce = client.randomNonce();
    const verifier = client.randomPKCECodeVerifier();
    const query = c.req.query();
    const usePkce = query.pkce !== "off";
    pending.set(state, { verifier, nonce, usePkce, userinfo: query.userinfo !== "off" });
    const params: Record<string, string> = { redirect_uri: rp.callbackUrl, scope: "openid email profile groups", state, nonce, ...query };
    delete params.pkce;
    delete params.userinfo;
    if (usePkce)
      Object.assign(params, {
        code_challenge: await client.calculatePKCECodeChallenge(query.verifier_for_challenge ?? verifier),
        code_challenge_method: "S256",
      });
    delete params.verifier_for_challenge;
    return c.redirect(client.buildAuthorizationUrl(rp.config, params).href, 302);
  });
  const finish = async (c: { req: { raw: Request; url: string; method: string } }, current: URL | Request) => {
    const url = new URL(c.req.url);
    const state =
      url.searchParams.get("state") ??
      ((
        await c.req.raw
          .clone()
          .formData()
          .catch(() => undefined)
      )?.get("state") as string | null) ??
      "";
    const flow = pending.get(state);
    if (url.searchParams.has("error"))
      return Response.json(
        { error: url.searchParams.get("error"), description: url.searchParams.get("error_description"), state: url.searchParams.get("state") },
        { status: 400 },
      );
    if (!flow) return Response.json({ error: "unknown state" }, { status: 400 });
    rp.callbacks.push({ url: c.req.url, state, verifier: flow.verifier, nonce: flow.nonce });
    try {
      const tokens = await client.authorizationCodeGrant(rp.config, current, {
        expectedState: state,
        expectedNonce: flow.nonce,
        idTokenExpected: true,
        ...(flow.usePkce ? { pkceCodeVerifier: flow.verifier } : {}),
      });
      const claims = tokens.claims()!;
      // An access token for a named resource (RFC 8707) is for that resource, not for userinfo.
      const userinfo: Record<string, unknown> = flow.userinfo ? await client.fetchUserInfo(rp.config, tokens.access_token, claims.sub) : {};
      const signedIn = { claims, userinfo, tokens } as unknown as SignedIn;
      rp.signedIn.push(signedIn);
      return Response.json({ email: userinfo.email, groups: userinfo.groups, sub: claims.sub });
    } catch (error) {
      return Response.json(
        { error: String((error as { code?: string }).code ?? error), message: (error as Error).message, cause: (error as { cause?: unknown }).cause },
        { status: 400 },
      );
    }
  };
  app.get("/cb", (c) => finish(c, new URL(c.req.url)));
  app.post("/cb", (c) => finish(c, c.req.raw));
  const { server, url } = await listen(app, options.host);
  const { clientId, clientSecret } = await options.register(`${url}/cb`);
  const secret = clientSecret ?? undefined;
  const auth = options.auth === "basic" ? client.ClientSecretBasic(secret) : options.auth === "post" ? client.ClientSecretPost(secret) : client.None();
  const config = await client.discovery(new URL(options.issuer), clientId, undefined, auth, {
    execute: [client.allowInsecureRequests],
    [client.customFetch]: (href, init) => loopbackFetch(href, init as RequestInit),
  });
  return Object.assign(rp, {
    url,
    clientId,
    clientSecret: secret,
    callbackUrl: `${url}/cb`,
    config,
    verifierFor: (state: string) => pending.get(state)!.verifier,
    loginUrl: (params: Record<string, string> = {}) => `${url}/login${Object.keys(params).length ? `?${new URLSearchParams(params)}` : ""}`,
    close: () => close(server),
  });
}
