// What the Hono app carries per request, and what it is built from.
import type { HttpBindings } from "@hono/node-server";
import type { Core } from "../core/context";
import type { Logger } from "../log";
import type { Metrics } from "../metrics";

export interface AppOptions {
  core: Core;
  logger: Logger;
  metrics: Metrics;
  /** When set, GET /metrics wants `Authorization: Bearer <it>`. */
  metricsToken?: string | undefined;
  /** false: ignore X-Forwarded-For; true: trust it from any peer; or the proxies to trust. */
  trustProxy: boolean | string[];
  /** Answers of /readyz beyond "the store answers" (set by the server while it shuts down). */
  isShuttingDown?: () => boolean;
}

export interface AppEnv {
  Bindings: Partial<HttpBindings>;
  Variables: {
    requestId: string;
    /** The headers every answer carries, until a handler takes them (src/http/middleware/security-headers.ts). */
    answerHeaders?: Record<string, string> | undefined;
    clientIp: string;
    /** Set by handlers that act for a source, for the request log. */
    sourceCode?: string;
    /** Who the route's authentication found (src/http/route.ts). */
    caller?: unknown;
    /** A route's steps set a header with c.header(): Hono builds its JSON answer (src/http/route.ts, respond). */
    headersSet?: boolean;
    /** The request log writes this request's line at debug, not info (forward auth: one per request of every protected app). */
    quietLog?: boolean;
  };
}
