// The hot endpoints the benchmarks load, each against a source of its own on
// a running ssod: one place for their requests, so `npm run bench` and
// `npm run bench:threads` measure the same thing.
import { SignJWT } from "jose";
import type { LoadOptions } from "./load";

export const CONNECTIONS = 50;

/** A JSON answer of the server under test; anything but a 2xx stops the bench. */
export async function json(url: string, init: RequestInit): Promise<Record<string, string>> {
  const response = await fetch(url, init);
  if (!response.ok) throw new Error(`${init.method ?? "GET"} ${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as Record<string, string>;
}

/** Issues `count` tokens through the API, 50 at a time, for a redeem run. */
async function preIssue(url: string, auth: string, count: number): Promise<string[]> {
  const tokens: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (next < count) {
        const i = next++;
        const body = JSON.stringify({ user: { email: `user${i % 5000}@example.com`, displayName: `User ${i % 5000}` } });
        tokens.push((await json(`${url}/v1/tokens`, { method: "POST", headers: { authorization: auth, "content-type": "application/json" }, body })).token!);
      }
    }),
  );
  return tokens;
}

/** The issue body of every bench, ssod's and the minimal durable server's alike. */
const ISSUE_BODY = JSON.stringify({ user: { email: "bench@example.com", displayName: "Bench User" } });

/** POST /v1/tokens with `auth`, on ssod or on the minimal durable server (the same request for both). */
export function issueLoad(url: string, auth: string, seconds: number): LoadOptions {
  return {
    method: "POST",
    connections: CONNECTIONS,
    seconds,
    url: `${url}/v1/tokens`,
    headers: { "content-type": "application/json", authorization: auth },
    body: ISSUE_BODY,
  };
}

/** Pre-issues `count` distinct tokens, then the load of POST /v1/tokens/redeem with them, one per request. */
export async function redeemLoad(url: string, auth: string, seconds: number, count: number): Promise<LoadOptions> {
  const tokens = await preIssue(url, auth, count);
  let cursor = 0;
  return {
    method: "POST",
    connections: CONNECTIONS,
    seconds,
    url: `${url}/v1/tokens/redeem`,
    headers: { "content-type": "application/json", authorization: auth },
    nextBody: () => JSON.stringify({ token: tokens[cursor++] ?? "exhausted" }),
  };
}

export interface Endpoints {
  issue: LoadOptions;
  /** Pre-issues `tokens` distinct tokens (one per request to come), then loads the redeem API with them. */
  redeem(tokens: number): Promise<LoadOptions>;
  lob: LoadOptions;
  tyk: LoadOptions;
  /** GET /v1/forward-auth as Caddy asks it: a valid session of a user the app admits. */
  forwardAuth: LoadOptions;
}

/** An app behind forward auth, and the session cookie of a user it admits (signed in through /v1/login). */
async function forwardAuthSession(url: string, adminKey: string, basic: string): Promise<string> {
  await json(`${url}/v1/apps`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "Bench app", forwardAuth: { hosts: ["app.bench.test"] }, allowedGroups: ["staff"] }),
  });
  const { token } = await json(`${url}/v1/tokens`, {
    method: "POST",
    headers: { authorization: basic, "content-type": "application/json" },
    body: JSON.stringify({ user: { email: "bench.user@example.com", displayName: "Bench User", groups: ["staff"] } }),
  });
  const landed = await fetch(`${url}/v1/login?token=${encodeURIComponent(token!)}`, { redirect: "manual" });
  const cookie = /ssod_session=[A-Za-z0-9_-]{43}/.exec(landed.headers.get("set-cookie") ?? "")?.[0];
  if (!cookie) throw new Error(`no session cookie from /v1/login: ${landed.status}`);
  return cookie;
}

/** Makes a source on the ssod at `url` and the load of each hot endpoint, for `seconds` at 50 connections. */
export async function benchEndpoints(url: string, adminKey: string, seconds: number): Promise<Endpoints> {
  const source = await json(`${url}/v1/sources`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json" },
    body: JSON.stringify({ code: "bench", name: "Bench", validForSeconds: 3600 }),
  });
  const basic = `Basic ${Buffer.from(`${source.clientId}:${source.clientSecret}`).toString("base64")}`;
  const callerJwt = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setExpirationTime("2h").sign(new TextEncoder().encode(source.clientSecret));
  const base = { method: "POST" as const, connections: CONNECTIONS, seconds };
  const cookie = await forwardAuthSession(url, adminKey, basic);
  const jsonHeaders = { "content-type": "application/json" };
  return {
    issue: issueLoad(url, basic, seconds),
    redeem: (count) => redeemLoad(url, basic, seconds, count),
    lob: {
      ...base,
      url: `${url}/GenerateSSOToken`,
      headers: { ...jsonHeaders, "x-api-version": "1.0.0", "x-lob-client-id": source.clientId!, authorization: callerJwt },
      body: JSON.stringify({ CIINo: "10001XXX", LOBId: "XX", Functionality: "D" }),
    },
    tyk: {
      ...base,
      url: `${url}/api/sso`,
      headers: { ...jsonHeaders, authorization: adminKey },
      body: JSON.stringify({ emailAddress: "bench@example.com", forSection: "portal", displayName: "Bench" }),
    },
    forwardAuth: {
      ...base,
      method: "GET",
      url: `${url}/v1/forward-auth`,
      headers: {
        cookie,
        "x-forwarded-method": "GET",
        "x-forwarded-proto": "https",
        "x-forwarded-host": "app.bench.test",
        "x-forwarded-uri": "/wiki/Main_Page?action=view",
        accept: "text/html",
      },
    },
  };
}
