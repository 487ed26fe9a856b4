// Small typed helpers for JSON answers: in-process through TestServer.request()
// (tests/helpers/runtime.ts) or over the wire with fetch against a real process.
import assert from "node:assert/strict";
import type { RequestOptions, TestServer } from "./runtime";

type Json = Record<string, unknown>;

interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: { pointer: string; detail: string }[];
}

/** An RFC 9457 answer of /v1: its content type checked, its body parsed. */
export async function problemOf(r: Response): Promise<Problem> {
  assert.equal(r.headers.get("content-type"), "application/problem+json");
  return (await r.json()) as Problem;
}

/** POSTs a JSON body to a real server (`url` is the whole address). */
export const postJson = (url: string, json: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(json) });

/** The answer of POST /api.php (seed 002), which is never a 5xx and always a JSON body. */
export interface LegacyAnswer {
  status: number;
  headers: Headers;
  body: Json;
  text: string;
}

/** POST /api.php on an in-process server: asserts no 5xx and a JSON body. */
export async function apiPhp(server: TestServer, options: RequestOptions): Promise<LegacyAnswer> {
  const r = await server.request("POST", "/api.php", options);
  const text = await r.text();
  assert.ok(r.status < 500, `never a 5xx: ${r.status} ${text}`);
  let body: Json;
  try {
    body = JSON.parse(text) as Json;
  } catch {
    assert.fail(`not JSON (${r.status}): ${text}`);
  }
  return { status: r.status, headers: r.headers, body, text };
}
