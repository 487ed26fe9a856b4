// The line-of-business dialect's failures: seed 001's `{"ReturnCode":"0","ReturnMessage"}`
// with the status codes of its table (400, 401, 403, 406, 502, 504).
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { Renderer } from "../failure";

function lobError(c: Context, status: ContentfulStatusCode, message: string) {
  return c.json({ ReturnCode: "0", ReturnMessage: message }, status);
}

export const lobRenderer: Renderer = {
  invalid: (c, f) => lobError(c, 400, `Bad Request: ${f.message}`),
  not_found: (c, f) => lobError(c, 400, `Bad Request: ${f.message}`),
  conflict: (c, f) => lobError(c, 400, `Bad Request: ${f.message}`),
  forbidden: (c, f) => lobError(c, 403, `Forbidden: ${f.message}`),
  invalid_token: (c) => lobError(c, 400, "Bad Request: invalid or expired token"),
  source_unavailable: (c, f) => lobError(c, 403, f.message),
  redirect_not_allowed: (c, f) => lobError(c, 400, `Bad Request: ${f.message}`),
  ip_not_allowed: (c) => lobError(c, 406, "Not Acceptable: the caller's IP is not allowed for this client"),
  // The seed answers an unknown x-lob-client-id with 403, bad caller tokens with 401.
  unauthenticated: (c, f) => (f.reason === "unknown_client" ? lobError(c, 403, "Unknown x-lob-client-id") : lobError(c, 401, `Unauthorized: ${f.message}`)),
  throttled: (c, f) => {
    c.header("Retry-After", String(f.retryAfter));
    return lobError(c, 429, `Too many failed attempts, retry in ${f.retryAfter} seconds`);
  },
  // The seed's 502 and 504; a full disk is not the network's fault: 503, retry later.
  unavailable: (c, f) => {
    if (f.reason === "timeout") return lobError(c, 504, "Timed out");
    if (f.reason === "full") {
      c.header("Retry-After", "1");
      return lobError(c, 503, "Service Unavailable: retry later");
    }
    return lobError(c, 502, "Internal Server Error");
  },
  too_large: (c) => lobError(c, 413, "Request body too large"),
  not_json: (c) => lobError(c, 400, "Missing header: Content-Type must be application/json"),
  malformed: (c, f) => lobError(c, 400, `Bad Request: ${f.message}`),
  no_route: (c, f) => lobError(c, 404, `No route ${f.method} ${f.path}`),
  internal: (c) => lobError(c, 502, "Internal Server Error"),
};
