// One log line per request: method, path (never the query string, which may
// carry a nonce), matched route, status and duration; the same goes to the
// request metrics. A route may ask for its line at debug level (quietLog).
import { randomUUID } from "node:crypto";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { Logger } from "../../log";
import type { Metrics } from "../../metrics";
import type { AppEnv } from "../env";

const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

export function requestLog(logger: Logger, metrics: Metrics): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    const incoming = c.req.header("x-request-id");
    const requestId = incoming && SAFE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    // Sent back with the answer's other headers (./security-headers.ts).
    c.set("requestId", requestId);
    await next();
    const ms = performance.now() - started;
    // An answer the OpenID Connect provider wrote to the socket itself: its status is on the Node response.
    // Not told by c.res.headers: reading them turns every answer's headers into a Headers object (slow).
    const outgoing = c.env?.outgoing;
    const status = c.res === RESPONSE_ALREADY_SENT || outgoing?.headersSent ? (outgoing?.statusCode ?? c.res.status) : c.res.status;
    // Unmatched paths share one label, so a scan cannot blow up the metric's cardinality.
    const route = status === 404 && routePath(c).endsWith("*") ? "unmatched" : routePath(c);
    metrics.request({ method: c.req.method, route, status, seconds: ms / 1000 });
    // A route that answers for every request of other apps (forward auth) logs at debug: /metrics counts it.
    const level = c.get("quietLog") ? "debug" : "info";
    if (level === "debug" && !logger.isLevelEnabled("debug")) return;
    logger[level]({
      reqId: requestId,
      method: c.req.method,
      path: c.req.path,
      route,
      status,
      ms: Math.round(ms * 100) / 100,
      ip: c.get("clientIp"),
      source: c.get("sourceCode"),
    });
  };
}
