// Issuing and reading back tokens through the HTTP surface of an in-process
// server: the steps most token tests take before the one they are about.
import assert from "node:assert/strict";
import type { TestServer } from "./runtime";

/** The 201 answer of POST /v1/tokens. */
export interface Issued {
  token: string;
  tokenRefNo: string;
  expiresAt: string;
  loginUrl: string;
}

/** POST /v1/tokens with these credentials (the server's admin key by default); asserts the 201. */
export async function issueOk(
  server: TestServer,
  json: unknown,
  headers: Record<string, string> = { authorization: `Bearer ${server.adminKey}` },
): Promise<Issued> {
  const r = await server.request("POST", "/v1/tokens", { json, headers });
  assert.equal(r.status, 201, await r.clone().text());
  return (await r.json()) as Issued;
}

/** POST /api/sso with the server's admin key (or the headers given); asserts the 200 and answers the nonce. */
export async function tykNonce(
  server: TestServer,
  json: Record<string, unknown>,
  headers: Record<string, string> = { authorization: server.adminKey },
): Promise<string> {
  const r = await server.request("POST", "/api/sso", { json, headers });
  assert.equal(r.status, 200, await r.clone().text());
  return ((await r.json()) as { Meta: string }).Meta;
}

/** POST /v1/tokens/introspect with the server's admin key; asserts the 200. */
export async function introspect(server: TestServer, token: string): Promise<Record<string, unknown>> {
  const r = await server.request("POST", "/v1/tokens/introspect", { json: { token }, headers: { authorization: `Bearer ${server.adminKey}` } });
  assert.equal(r.status, 200);
  return (await r.json()) as Record<string, unknown>;
}
