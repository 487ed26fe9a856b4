// Liveness, readiness and metrics, for load balancers, orchestrators and Prometheus.
import * as v from "valibot";
import { safeEqual, sha256 } from "../core/crypto";
import type { Metrics } from "../metrics";
import { migrationsApplied } from "../store/migrations";
import { anyone } from "./auth/callers";
import { reply, route } from "./route";

const OPS = "Operations";
const statusView = v.object({ status: v.string() });

export interface OpsOptions {
  metrics: Metrics;
  metricsToken?: string | undefined;
  isShuttingDown: () => boolean;
}

export function opsRoutes(options: OpsOptions) {
  return [
    route({
      method: "get",
      path: "/healthz",
      tag: OPS,
      summary: "The process is up",
      auth: anyone,
      answers: { 200: { description: "Up", schema: statusView } },
      failures: [],
      handle: () => reply(200, { status: "ok" }),
    }),
    route({
      method: "get",
      path: "/readyz",
      tag: OPS,
      summary: "The store answers, takes writes and has its migrations applied",
      auth: anyone,
      answers: {
        200: { description: "Ready", schema: statusView },
        503: { description: "Not ready (Retry-After): store unavailable, refusing writes (disk full) or not migrated; or shutting down", schema: statusView },
      },
      failures: [],
      async handle({ core }) {
        if (options.isShuttingDown()) return reply(503, { status: "shutting down" });
        // A full disk (SPEC §5): not ready until a write goes through again.
        if (!(await core.store.writesAccepted())) return reply(503, { status: "store refuses writes (disk full)" }, { "Retry-After": "1" });
        if (await migrationsApplied(core.store.driver).catch(() => false)) return reply(200, { status: "ready" });
        return reply(503, { status: "store unavailable or not migrated" }, { "Retry-After": "1" });
      },
    }),
    route({
      method: "get",
      path: "/metrics",
      tag: OPS,
      summary: "Prometheus metrics",
      description: "When SSOD_METRICS_TOKEN is set, send it as `Authorization: Bearer <token>`.",
      auth: { ...anyone, security: [{}, { metricsToken: [] }] },
      answers: { 200: { description: "Prometheus text format" }, 401: { description: "The metrics token is required" } },
      failures: [],
      async handle({ c }) {
        if (options.metricsToken) {
          const presented = c.req.header("authorization")?.replace(/^bearer\s+/i, "") ?? "";
          if (!safeEqual(sha256(presented), sha256(options.metricsToken))) {
            c.header("WWW-Authenticate", 'Bearer realm="metrics"');
            return c.text("unauthorized\n", 401);
          }
        }
        return c.body(await options.metrics.registry.metrics(), 200, { "Content-Type": options.metrics.registry.contentType });
      },
    }),
  ];
}
