// Request bodies, read once each way for every dialect: JSON (the content
// type checked by one rule), and text hygiene applied to what was parsed.
import type { Context } from "hono";
import { refuse } from "./failure";
import { uncleanText } from "./text-hygiene";

const JSON_TYPE = /^application\/([\w.-]+\+)?json\s*(;|$)/i;

/** Whether a Content-Type header names JSON (`application/json`, `application/problem+json`, with parameters). */
export const isJsonType = (header: string | undefined): boolean => JSON_TYPE.test(header ?? "");

/**
 * How strictly a route wants its body labelled: "required" refuses anything
 * but a JSON content type (415); "unless-other" refuses only another type
 * named (Tyk callers often send none); "checked" means the route checked it already.
 */
export type JsonLabel = "required" | "unless-other" | "checked";

/** Parses text as a JSON object, or refuses it as malformed. */
export function parseJsonObject(text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return refuse({ kind: "malformed", message: "the body is not valid JSON" });
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return refuse({ kind: "malformed", message: "the body must be a JSON object" });
  return parsed as Record<string, unknown>;
}

/** The request's JSON object body, clean text only (SQLite cannot keep a NUL or a lone surrogate whole). */
export async function readJsonBody(c: Context, label: JsonLabel): Promise<Record<string, unknown>> {
  const type = c.req.header("content-type");
  if (label === "required" ? !isJsonType(type) : label === "unless-other" && type && !isJsonType(type)) refuse({ kind: "not_json" });
  const body = parseJsonObject(await c.req.text());
  const unclean = uncleanText(body);
  if (unclean) refuse({ kind: "invalid", message: `${unclean.field} ${unclean.message}`, issues: [unclean] });
  return body;
}

/** One field of an application/x-www-form-urlencoded body (a page's form), clean text only. */
export async function readFormField(c: Context, name: string): Promise<string | undefined> {
  const value = new URLSearchParams(await c.req.text()).get(name) ?? undefined;
  const unclean = value === undefined ? undefined : uncleanText(value, name);
  if (unclean) refuse({ kind: "invalid", message: `${unclean.field} ${unclean.message}`, issues: [unclean] });
  return value;
}
