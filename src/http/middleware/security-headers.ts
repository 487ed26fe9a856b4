// Headers every answer carries. Tokens and sessions travel in API answers and
// redirects, so nothing is cacheable unless a route says otherwise, and no
// page ever sends a Referer (a nonce in a URL must not leak to the next site).
// With them: the request's id, and `Connection: close` while draining.
//
// They are a plain object per request, not set with c.header(): Hono keeps
// set headers in a web `Headers`, which costs more to fill and to write out
// than the rest of a JSON answer. A route's JSON answer takes the object as it
// is (src/http/route.ts, `respond`) unless the route set headers with
// c.header(); that answer, and any other (pages, redirects, failures), gets
// each of them after its handler, unless it set its own.
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../env";

// The HTML-only ones are harmless on JSON answers.
const HTML_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cache-Control": "no-store",
  // A route may set its own (the /docs page loads its script from ssod).
  "Content-Security-Policy": HTML_CSP,
  "X-Frame-Options": "DENY",
};

/** Sets the headers every page carries (for a route that the middleware leaves to itself). */
export function setSecurityHeaders(c: Context): void {
  for (const name in SECURITY_HEADERS) c.header(name, SECURITY_HEADERS[name]);
}

/**
 * The headers this request's answer is to carry, for a handler that builds
 * its answer with a plain object of headers; taking them tells the middleware
 * the answer has them.
 */
export function takeAnswerHeaders(c: Context<AppEnv>): Record<string, string> {
  const headers = c.get("answerHeaders") ?? {};
  c.set("answerHeaders", undefined);
  return headers;
}

/**
 * `selfServed`: paths whose handler sets the page headers itself, where it
 * answers something a browser may see (forward auth: its 200, nearly every
 * answer, only ever reaches a proxy, which passes none of its headers on).
 */
export function answerHeaders(selfServed: readonly string[], draining: () => boolean): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const headers: Record<string, string> = selfServed.includes(c.req.path) ? {} : { ...SECURITY_HEADERS };
    headers["X-Request-Id"] = c.get("requestId");
    // Draining: every answer closes its connection, so keep-alive clients
    // cannot go on sending requests to an instance that is stopping.
    if (draining()) headers.Connection = "close";
    c.set("answerHeaders", headers);
    await next();
    const left = c.get("answerHeaders");
    // RESPONSE_ALREADY_SENT: the OpenID Connect provider wrote its answer itself (and shares this object).
    if (!left || c.res === RESPONSE_ALREADY_SENT) return;
    const set = c.res.headers;
    for (const name in left) if (!set.has(name)) set.set(name, left[name]!);
  };
}
