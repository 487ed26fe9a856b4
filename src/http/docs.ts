// Helpers for describing routes in the OpenAPI document: answers with a
// schema, the native API's problem answers, who may call.
import { resolver } from "hono-openapi";
import * as v from "valibot";

type Schema = Parameters<typeof resolver>[0];

/** An answer whose JSON body follows `schema`. */
export function jsonAnswer(schema: Schema, description: string, mediaType = "application/json") {
  return { description, content: { [mediaType]: { schema: resolver(schema) } } };
}

export const problemView = v.object({
  type: v.string(),
  title: v.string(),
  status: v.number(),
  detail: v.optional(v.string()),
  errors: v.optional(v.array(v.object({ pointer: v.string(), detail: v.string() }))),
});

const PROBLEMS: Record<number, string> = {
  400: "Invalid request (each bad field named in `errors`)",
  401: "Missing or invalid credentials",
  403: "Not allowed",
  404: "No such thing",
  409: "Conflict (a code or email already in use)",
  413: "Body over 64 KiB",
  415: "Not JSON",
  429: "Too many failed attempts (Retry-After)",
  503: "The store is unavailable (Retry-After)",
};

/** The native API's RFC 9457 problem answers for the given statuses (401, 429 and 503 always apply to authenticated routes). */
export function problems(...statuses: number[]) {
  return Object.fromEntries(statuses.map((s) => [s, jsonAnswer(problemView, PROBLEMS[s] ?? "Problem", "application/problem+json")]));
}

type Security = Record<string, string[]>[];

/** Who may call: names of the securitySchemes in src/http/openapi.ts. */
export const callers: Record<"admin" | "adminOrSource" | "tyk" | "lob" | "anyone", Security> = {
  admin: [{ adminKey: [] }],
  adminOrSource: [{ adminKey: [] }, { sourceCredentials: [] }],
  tyk: [{ tykAdminKey: [] }, { adminKey: [] }, { sourceCredentials: [] }],
  lob: [{ lobCallerJwt: [] }],
  anyone: [],
};

/**
 * Examples of what a caller sends. valibot types examples as the schema's
 * output, but a request is its input (a date as text, before the transform).
 */
export function requestExamples<T>(examples: readonly unknown[]): v.ExamplesAction<T, readonly T[]> {
  return v.examples(examples as readonly T[]);
}
