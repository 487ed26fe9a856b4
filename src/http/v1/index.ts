// The native API (SPEC §3): JSON in, JSON out, RFC 9457 problems for errors.
import { Hono } from "hono";
import { bodyLimit } from "../middleware/body-limit";
import { HTTPException } from "hono/http-exception";
import type { Core } from "../../core/context";
import { CoreError } from "../../core/errors";
import { StoreUnavailableError } from "../../store/errors";
import type { Logger } from "../../log";
import { MAX_BODY_BYTES } from "../limits";
import { auditRoutes } from "./audit";
import type { V1Env } from "./auth";
import { coreProblem, problem } from "./problem";
import { keyRoutes } from "./keys";
import { sourceRoutes } from "./sources";
import { tokenRoutes } from "./tokens";
import { userRoutes } from "./users";

export function v1App(core: Core, logger: Logger) {
  const app = new Hono<V1Env>();

  app.onError((error, c) => {
    if (error instanceof CoreError) return coreProblem(c, error);
    if (error instanceof StoreUnavailableError) {
      c.header("Retry-After", "1");
      return problem(c, 503, "store-unavailable", "Service unavailable", "the store is unavailable, retry shortly");
    }
    if (error instanceof HTTPException && error.status < 500) return problem(c, error.status, "invalid-request", "Invalid request", error.message);
    logger.error({ err: error, reqId: c.get("requestId") }, "unhandled error");
    return problem(c, 500, "internal", "Internal error", `request ${c.get("requestId")} failed; see the server log`);
  });

  app.use(bodyLimit(MAX_BODY_BYTES, (c) => problem(c, 413, "too-large", "Request body too large", `at most ${MAX_BODY_BYTES} bytes`)));
  app.route("/", sourceRoutes(core));
  app.route("/", auditRoutes(core));
  app.route("/", tokenRoutes(core));
  app.route("/", userRoutes(core));
  app.route("/", keyRoutes(core));
  return app;
}
