// The Tyk dialect's failures: seed 000's api.ErrorResponse, `{"errors":[{"title","detail"}]}`.
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { Renderer } from "../failure";

function tykError(c: Context, status: ContentfulStatusCode, title: string, detail: string) {
  return c.json({ errors: [{ title, detail }] }, status);
}

const badRequest = (c: Context, detail: string) => tykError(c, 400, "Bad Request", detail);
const forbidden = (c: Context, detail: string) => tykError(c, 403, "Forbidden", detail);

export const tykRenderer: Renderer = {
  invalid: (c, f) => badRequest(c, f.message),
  not_found: (c, f) => badRequest(c, f.message),
  conflict: (c, f) => badRequest(c, f.message),
  forbidden: (c, f) => forbidden(c, f.message),
  invalid_token: (c) => badRequest(c, "Invalid or expired token"),
  source_unavailable: (c, f) => forbidden(c, f.message),
  redirect_not_allowed: (c, f) => badRequest(c, f.message),
  ip_not_allowed: (c, f) => forbidden(c, f.message),
  unauthenticated: (c, f) => tykError(c, 401, "Unauthorized", f.message),
  throttled: (c, f) => {
    c.header("Retry-After", String(f.retryAfter));
    return tykError(c, 429, "Too Many Requests", `too many failed attempts, retry in ${f.retryAfter} seconds`);
  },
  unavailable: (c, f) => {
    c.header("Retry-After", "1");
    return tykError(c, 503, "Service Unavailable", f.reason === "full" ? "the store's disk is full, retry later" : "the store is unavailable, retry shortly");
  },
  too_large: (c, f) => tykError(c, 413, "Payload Too Large", `at most ${f.limit} bytes`),
  not_json: (c) => tykError(c, 415, "Unsupported Media Type", "send Content-Type: application/json"),
  malformed: (c, f) => badRequest(c, f.message),
  no_route: (c, f) => tykError(c, 404, "Not Found", `no route ${f.method} ${f.path}`),
  internal: (c, f) => tykError(c, 500, "Internal Server Error", `request ${f.requestId} failed`),
};
