// The set-up every forward-auth test shares, over any way of reaching ssod
// (in-process or a real process): apps that protect hosts, a portal source,
// and users signed in through /v1/login, each with their session cookie.
import assert from "node:assert/strict";
import type { TestServer } from "./runtime";

/** Sends a request to ssod: `json` sets a JSON body. */
export type Send = (method: string, path: string, options?: { json?: unknown; headers?: Record<string, string> }) => Promise<Response>;

export const inProcess =
  (s: TestServer): Send =>
  (method, path, options = {}) =>
    s.request(method, path, options);

export const overHttp =
  (base: string): Send =>
  (method, path, options = {}) =>
    fetch(`${base}${path}`, {
      method,
      redirect: "manual",
      headers: { ...(options.json === undefined ? {} : { "content-type": "application/json" }), ...options.headers },
      ...(options.json === undefined ? {} : { body: JSON.stringify(options.json) }),
    });

export interface SignedIn {
  /** The ssod_session cookie's value. */
  session: string;
  /** `ssod_session=<value>`, for a Cookie header. */
  cookie: string;
}

export interface ForwardAuthWorld {
  adminKey: string;
  /** The apps by name: client id and id. */
  apps: Record<string, { id: number; clientId: string }>;
  source: { clientId: string; clientSecret: string };
  signIn(user: Record<string, unknown>): Promise<SignedIn>;
}

/** What the tests protect: the host names are the tests' own, mapped to 127.0.0.1 where a browser needs them. */
const APPS = [
  { name: "Staff wiki", forwardAuth: { hosts: ["app.fa.test"], pathPrefixes: ["/"] }, allowedGroups: ["staff"] },
  { name: "Wiki admin", forwardAuth: { hosts: ["app.fa.test"], pathPrefixes: ["/admin"] }, allowedGroups: ["admins"] },
  { name: "Open tools", forwardAuth: { hosts: ["*.open.fa.test"], pathPrefixes: ["/"] } },
];

export const ALICE = {
  email: "alice@example.com",
  displayName: "Alice Liddell",
  externalId: "CII-0001",
  groups: ["staff", "dev,ops"],
};
export const BOB = { email: "bob@example.com", displayName: "Bob", groups: ["guests"] };

/** Creates the apps and a portal source, and signs users in through /v1/login (which sets the cookie). */
export async function forwardAuthWorld(send: Send, adminKey: string, apps: readonly Record<string, unknown>[] = APPS): Promise<ForwardAuthWorld> {
  const admin = { authorization: `Bearer ${adminKey}` };
  const made: ForwardAuthWorld["apps"] = {};
  for (const app of apps) {
    const r = await send("POST", "/v1/apps", { json: app, headers: admin });
    assert.equal(r.status, 201, await r.clone().text());
    const body = (await r.json()) as { id: number; clientId: string; name: string };
    made[body.name] = { id: body.id, clientId: body.clientId };
  }
  const r = await send("POST", "/v1/sources", { json: { code: "fa-portal", name: "Portal", validForSeconds: 300 }, headers: admin });
  assert.equal(r.status, 201, await r.clone().text());
  const source = (await r.json()) as { clientId: string; clientSecret: string };
  const basic = { authorization: `Basic ${Buffer.from(`${source.clientId}:${source.clientSecret}`).toString("base64")}` };
  return {
    adminKey,
    apps: made,
    source,
    async signIn(user) {
      const issued = await send("POST", "/v1/tokens", { json: { user }, headers: basic });
      assert.equal(issued.status, 201, await issued.clone().text());
      const { token } = (await issued.json()) as { token: string };
      const landed = await send("GET", `/v1/login?token=${encodeURIComponent(token)}`);
      assert.equal(landed.status, 200, await landed.clone().text());
      const session = /ssod_session=([A-Za-z0-9_-]{43})/.exec(landed.headers.get("set-cookie") ?? "")?.[1];
      assert.ok(session, "the landing set the session cookie");
      return { session, cookie: `ssod_session=${session}` };
    },
  };
}

/** The forwarded headers Caddy and Traefik send for `url`. */
export function forwardedHeaders(url: string, method = "GET"): Record<string, string> {
  const u = new URL(url);
  return {
    "x-forwarded-method": method,
    "x-forwarded-proto": u.protocol.slice(0, -1),
    "x-forwarded-host": u.host,
    "x-forwarded-uri": `${u.pathname}${u.search}`,
  };
}

/** The headers nginx's documented config sends for `url`. */
export function originalHeaders(url: string, method = "GET"): Record<string, string> {
  return { "x-original-url": url, "x-original-method": method };
}

export const REMOTE = ["remote-user", "remote-email", "remote-name", "remote-groups", "remote-org", "remote-user-id"] as const;

/** The six identity headers of an answer (null for one that is absent). */
export function remoteOf(headers: Headers): Record<string, string | null> {
  return Object.fromEntries(REMOTE.map((h) => [h, headers.get(h)]));
}
