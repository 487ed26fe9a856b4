// The HTTP surface: shared middleware, then each dialect's routes, mounted
// with the dialect's renderer: thin adapters over the core.
import { Hono } from "hono";
import type { Core } from "../core/context";
import type { Logger } from "../log";
import type { AppEnv, AppOptions } from "./env";
import { failureOrLogged } from "./error-handler";
import { render } from "./failure";
import { legacyDialect, legacyRoutes } from "./legacy";
import { lobDialect, lobRoutes } from "./lob";
import { clientIp } from "./middleware/client-ip";
import { requestLog } from "./middleware/request-log";
import { answerHeaders } from "./middleware/security-headers";
import { oidcApp } from "./oidc/mount";
import { openApiRoutes } from "./openapi";
import { opsRoutes } from "./ops";
import { type AnyRoute, type Dialect, mount } from "./route";
import { browserRenderer } from "./shared/browser-renderer";
import { tykBrowserDialect, tykBrowserRoutes, tykDialect, tykRoutes } from "./tyk";
import { FORWARD_AUTH_PATH, forwardAuthRoutes, v1BrowserRoutes, v1Routes } from "./v1";
import { v1Dialect } from "./v1/dialect";

function dialectApp(core: Core, logger: Logger, dialect: Dialect, routes: readonly AnyRoute[]) {
  const app = new Hono<AppEnv>();
  mount(app, core, logger, dialect, routes);
  return app;
}

export function createApp(options: AppOptions) {
  const { core, logger } = options;
  const app = new Hono<AppEnv>();

  app.use(clientIp(options.trustProxy));
  app.use(requestLog(logger, options.metrics));
  const draining = options.isShuttingDown ?? (() => false);
  app.use(answerHeaders([FORWARD_AUTH_PATH], draining));

  const dialects: [Dialect, readonly AnyRoute[]][] = [
    [v1Dialect, opsRoutes({ metrics: options.metrics, metricsToken: options.metricsToken, isShuttingDown: draining })],
    [legacyDialect, legacyRoutes],
    [tykDialect, tykRoutes],
    [tykBrowserDialect, tykBrowserRoutes],
    [lobDialect, lobRoutes],
    [v1Dialect, v1Routes],
    [{ ...v1Dialect, renderer: browserRenderer(v1Dialect.renderer), pages: true }, [...v1BrowserRoutes, ...forwardAuthRoutes(logger)]],
  ];
  for (const [dialect, routes] of dialects) app.route("/", dialectApp(core, logger, dialect, routes));
  // The one route family that parses and answers its own requests (SPEC §7).
  app.route("/", oidcApp(core, logger));
  app.route("/", openApiRoutes(app));

  // Unknown paths, and anything that escaped a dialect, answer as the native API does.
  app.notFound((c) => render(v1Dialect.renderer, c, { kind: "no_route", method: c.req.method, path: c.req.path }));
  app.onError((error, c) => render(v1Dialect.renderer, c, failureOrLogged(error, c, logger)));
  return app;
}

export type App = ReturnType<typeof createApp>;
