// The HTTP surface: shared middleware, then one sub-app per dialect, each a
// thin adapter over the core.
import { Hono } from "hono";
import type { AppEnv, AppOptions } from "./env";
import { legacyApp } from "./legacy";
import { lobApp } from "./lob";
import { tykApp } from "./tyk";
import { clientIp } from "./middleware/client-ip";
import { requestLog } from "./middleware/request-log";
import { securityHeaders } from "./middleware/security-headers";
import { openApiRoutes } from "./openapi";
import { opsApp } from "./ops";
import { v1App } from "./v1";
import { jwksRoute } from "./v1/keys";
import { problem } from "./v1/problem";

export function createApp(options: AppOptions) {
  const { core, logger } = options;
  const app = new Hono<AppEnv>();

  app.use(clientIp(options.trustProxy));
  app.use(requestLog(logger, options.metrics));
  app.use(securityHeaders());
  // Draining: every answer closes its connection, so keep-alive clients
  // cannot go on sending requests to an instance that is stopping.
  const draining = options.isShuttingDown ?? (() => false);
  app.use(async (c, next) => {
    if (draining()) c.header("Connection", "close");
    await next();
  });

  app.route("/", opsApp(core, options));
  app.route("/", legacyApp(core, logger));
  app.route("/", tykApp(core, logger));
  app.route("/", lobApp(core, logger));
  app.route("/v1", v1App(core, logger));
  app.route("/", jwksRoute(core));
  app.route("/", openApiRoutes(app));

  // Sub-apps' notFound handlers do not run when mounted, so the native API's 404 shape is chosen here.
  app.notFound((c) =>
    c.req.path.startsWith("/v1/") ? problem(c, 404, "not-found", "Not found", `no route ${c.req.method} ${c.req.path}`) : c.json({ error: "not found" }, 404),
  );
  app.onError((error, c) => {
    logger.error({ err: error, reqId: c.get("requestId") }, "unhandled error");
    return c.json({ error: "internal error" }, 500);
  });
  return app;
}

export type App = ReturnType<typeof createApp>;
