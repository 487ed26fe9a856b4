// One log line per request: method, path (never the query string, which may
// carry a nonce), matched route, status and duration.
import { randomUUID } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { Logger } from "../../log";
import type { AppEnv } from "../env";

const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

export function requestLog(logger: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    const incoming = c.req.header("x-request-id");
    const requestId = incoming && SAFE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    c.set("requestId", requestId);
    c.header("X-Request-Id", requestId);
    await next();
    logger.info({
      reqId: requestId,
      method: c.req.method,
      path: c.req.path,
      route: routePath(c),
      status: c.res.status,
      ms: Math.round((performance.now() - started) * 100) / 100,
      ip: c.get("clientIp"),
      source: c.get("sourceCode"),
    });
  };
}
