// Creating a source through /v1/sources and authenticating as it: the set-up
// most token tests share.
import assert from "node:assert/strict";
import type { TestServer } from "./runtime";

/** The 201 answer of POST /v1/sources, secrets included (shown once). */
export interface CreatedSource {
  id: number;
  code: string;
  clientId: string;
  clientSecret: string;
  signingSecret: string;
  validForSeconds: number;
  [key: string]: unknown;
}

/** Creates a source with the server's admin key; `name` defaults to the code, validity to 300 s. */
export async function createSource(server: TestServer, body: Record<string, unknown>): Promise<CreatedSource> {
  const r = await server.request("POST", "/v1/sources", {
    json: { name: String(body.code), validForSeconds: 300, ...body },
    headers: { authorization: `Bearer ${server.adminKey}` },
  });
  assert.equal(r.status, 201, await r.clone().text());
  return (await r.json()) as CreatedSource;
}

/** HTTP Basic with a source's credentials. */
export const basicAuth = (src: { clientId: string; clientSecret: string }) => ({
  authorization: `Basic ${Buffer.from(`${src.clientId}:${src.clientSecret}`).toString("base64")}`,
});
