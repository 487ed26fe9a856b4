// The native API's failures: RFC 9457 problem details.
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { FieldIssue } from "../../core/errors";
import type { Renderer } from "../failure";

interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: { pointer: string; detail: string }[];
}

function problem(c: Context, status: ContentfulStatusCode, slug: string, title: string, detail?: string, issues: readonly FieldIssue[] = []) {
  const body: Problem = { type: `urn:ssod:problem:${slug}`, title, status };
  if (detail) body.detail = detail;
  if (issues.length > 0) body.errors = issues.map((i) => ({ pointer: `/${i.field.replaceAll(".", "/")}`, detail: i.message }));
  return c.body(JSON.stringify(body), status, { "Content-Type": "application/problem+json" });
}

export const problemRenderer: Renderer = {
  invalid: (c, f) => problem(c, 400, "invalid-request", "Invalid request", f.message, f.issues),
  not_found: (c, f) => problem(c, 404, "not-found", "Not found", f.message),
  conflict: (c, f) => problem(c, 409, "conflict", "Conflict", f.message, f.issues),
  forbidden: (c, f) => problem(c, 403, "forbidden", "Forbidden", f.message, f.issues),
  invalid_token: (c) => problem(c, 400, "invalid-token", "Invalid or expired token"),
  source_unavailable: (c, f) => problem(c, 403, "source-unavailable", "Source unavailable", f.message),
  redirect_not_allowed: (c, f) => problem(c, 400, "redirect-not-allowed", "Redirect URL not allowed", f.message, f.issues),
  ip_not_allowed: (c, f) => problem(c, 403, "ip-not-allowed", "Address not allowed", f.message),
  unauthenticated: (c, f) => {
    if (f.reason === "no_session") return problem(c, 401, "no-session", "Not signed in", f.message);
    // No WWW-Authenticate: a proxy passes this 401 to the browser, which would ask for a password.
    if (f.reason === "untrusted_forwarding") return problem(c, 401, "untrusted-forwarding", "Request cannot be checked", f.message);
    c.header("WWW-Authenticate", 'Bearer realm="ssod", Basic realm="ssod"');
    return problem(c, 401, "unauthorized", "Unauthorized", f.message);
  },
  throttled: (c, f) => {
    c.header("Retry-After", String(f.retryAfter));
    return problem(c, 429, "too-many-failures", "Too many failed attempts", `retry in ${f.retryAfter} s`);
  },
  unavailable: (c, f) => {
    c.header("Retry-After", "1");
    const detail = f.reason === "full" ? "the store's disk is full: writes are refused until space is freed" : "the store is unavailable, retry shortly";
    return problem(c, 503, "store-unavailable", "Service unavailable", f.service === "store" ? detail : "the identity provider is unavailable, retry shortly");
  },
  too_large: (c, f) => problem(c, 413, "too-large", "Request body too large", `at most ${f.limit} bytes`),
  not_json: (c) => problem(c, 415, "unsupported-media-type", "Unsupported media type", "send Content-Type: application/json"),
  malformed: (c, f) => problem(c, 400, "invalid-request", "Invalid request", f.message),
  no_route: (c, f) => problem(c, 404, "not-found", "Not found", `no route ${f.method} ${f.path}`),
  internal: (c, f) => problem(c, 500, "internal", "Internal error", `request ${f.requestId} failed; see the server log`),
};
