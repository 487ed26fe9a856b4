// The one error handler, made for each dialect from its renderer: a failure
// is rendered in the dialect's shape; anything else is a bug, logged with the
// request id and rendered as `internal` (never a stack trace).
import type { Context, ErrorHandler } from "hono";
import type { Logger } from "../log";
import { storeCause } from "../store/errors";
import type { AppEnv } from "./env";
import { type Failure, failureOf, type Renderer, render } from "./failure";

export function failureHandler(renderer: Renderer, logger: Logger): ErrorHandler<AppEnv> {
  return (error, c) => render(renderer, c, failureOrLogged(error, c, logger));
}

export function failureOrLogged(error: unknown, c: Context<AppEnv>, logger: Logger): Failure {
  const failure = failureOf(error);
  if (failure) return failure;
  // Unwrapped: Drizzle's wrapper would log the query's parameters.
  logger.error({ err: storeCause(error), reqId: c.get("requestId") }, "unhandled error");
  return { kind: "internal", requestId: c.get("requestId") };
}
