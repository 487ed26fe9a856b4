// Errors of the native API: RFC 9457 problem details.
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { CoreError, type CoreErrorCode } from "../../core/errors";
import type { Issue } from "../validation";

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: { pointer: string; detail: string }[];
}

export function problem(c: Context, status: ContentfulStatusCode, slug: string, title: string, detail?: string, errors?: Problem["errors"]) {
  const body: Problem = { type: `urn:ssod:problem:${slug}`, title, status };
  if (detail) body.detail = detail;
  if (errors?.length) body.errors = errors;
  return c.body(JSON.stringify(body), status, { "Content-Type": "application/problem+json" });
}

export function invalidRequest(c: Context, issues: Issue[]) {
  return problem(
    c,
    400,
    "invalid-request",
    "Invalid request",
    issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; "),
    issues.map((i) => ({ pointer: `/${i.path.replaceAll(".", "/")}`, detail: i.message })),
  );
}

export const notJson = (c: Context) => problem(c, 415, "unsupported-media-type", "Unsupported media type", "send Content-Type: application/json");

const CORE_STATUS: Record<CoreErrorCode, [ContentfulStatusCode, string, string]> = {
  invalid: [400, "invalid-request", "Invalid request"],
  not_found: [404, "not-found", "Not found"],
  conflict: [409, "conflict", "Conflict"],
  forbidden: [403, "forbidden", "Forbidden"],
  invalid_token: [400, "invalid-token", "Invalid or expired token"],
  source_unavailable: [403, "source-unavailable", "Source unavailable"],
  redirect_not_allowed: [400, "redirect-not-allowed", "Redirect URL not allowed"],
};

export function coreProblem(c: Context, error: CoreError) {
  const [status, slug, title] = CORE_STATUS[error.code];
  return problem(
    c,
    status,
    slug,
    title,
    error.message,
    error.issues.map((i) => ({ pointer: `/${i.field.replaceAll(".", "/")}`, detail: i.message })),
  );
}
