// Headers every answer carries. Tokens and sessions travel in API answers and
// redirects, so nothing is cacheable unless a route says otherwise, and no
// page ever sends a Referer (a nonce in a URL must not leak to the next site).
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../env";

// Set before the handler runs: headers added to a finished response would make
// @hono/node-server rebuild it as a full web Response, a costly slow path.
// The HTML-only ones are harmless on JSON answers.
const HTML_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Sets the headers every answer carries (for a route that the middleware leaves to itself). */
export function setSecurityHeaders(c: Context): void {
  c.header("X-Content-Type-Options", "nosniff");
  c.header("Referrer-Policy", "no-referrer");
  c.header("Cache-Control", "no-store");
  // A route may set its own (the /docs page loads its script from ssod).
  c.header("Content-Security-Policy", HTML_CSP);
  c.header("X-Frame-Options", "DENY");
}

/**
 * `selfServed`: paths whose handler sets them itself, where it answers
 * something a browser may see (forward auth: its 200, nearly every answer,
 * only ever reaches a proxy, which passes none of its headers on).
 */
export function securityHeaders(selfServed: readonly string[] = []): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (selfServed.length === 0 || !selfServed.includes(c.req.path)) setSecurityHeaders(c);
    await next();
  };
}
