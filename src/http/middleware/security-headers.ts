// Headers every answer carries. Tokens and sessions travel in API answers and
// redirects, so nothing is cacheable unless a route says otherwise, and no
// page ever sends a Referer (a nonce in a URL must not leak to the next site).
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env";

// Set before the handler runs: headers added to a finished response would make
// @hono/node-server rebuild it as a full web Response, a costly slow path.
// The HTML-only ones are harmless on JSON answers.
const HTML_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function securityHeaders(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "no-referrer");
    c.header("Cache-Control", "no-store");
    // A route may set its own (the /docs page loads its script from ssod).
    c.header("Content-Security-Policy", HTML_CSP);
    c.header("X-Frame-Options", "DENY");
    await next();
  };
}
