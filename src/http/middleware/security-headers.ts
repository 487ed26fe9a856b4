// Headers every answer carries. Tokens and sessions travel in API answers and
// redirects, so nothing is cacheable unless a route says otherwise, and no
// page ever sends a Referer (a nonce in a URL must not leak to the next site).
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env";

const HTML_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function securityHeaders(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "no-referrer");
    if (!c.res.headers.has("Cache-Control")) c.header("Cache-Control", "no-store");
    if (c.res.headers.get("Content-Type")?.startsWith("text/html")) {
      if (!c.res.headers.has("Content-Security-Policy")) c.header("Content-Security-Policy", HTML_CSP);
      c.header("X-Frame-Options", "DENY");
    }
  };
}
