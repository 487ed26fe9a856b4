// Small typed helpers for JSON answers: in-process through TestServer.request()
// (tests/helpers/runtime.ts) or over the wire with fetch against a real process.
import assert from "node:assert/strict";

export type Json = Record<string, unknown>;

/** `Authorization: Bearer <admin key>`. */
export const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/** Asserts the status (showing the body when it is another) and parses the JSON body. */
export async function jsonOf<T = Json>(r: Response, status: number): Promise<T> {
  const text = await r.text();
  assert.equal(r.status, status, text);
  return JSON.parse(text) as T;
}

export interface Problem {
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
