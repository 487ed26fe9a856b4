// Liveness and readiness for load balancers and orchestrators.
import { Hono } from "hono";
import { describeRoute } from "hono-openapi";
import type { Core } from "../core/context";
import { migrationsApplied } from "../store/migrations";
import { safeEqual, sha256 } from "../core/crypto";
import * as v from "valibot";
import { callers, jsonAnswer } from "./docs";
import type { AppEnv, AppOptions } from "./env";

const statusView = v.object({ status: v.string() });

export function opsApp(core: Core, options: Pick<AppOptions, "metrics" | "metricsToken" | "isShuttingDown">) {
  const app = new Hono<AppEnv>();
  const isShuttingDown = options.isShuttingDown ?? (() => false);

  app.get("/healthz", describeRoute({ tags: ["operations"], summary: "The process is up", security: callers.anyone, responses: { 200: jsonAnswer(statusView, "Up") } }), (c) =>
    c.json({ status: "ok" }),
  );

  app.get(
    "/readyz",
    describeRoute({
      tags: ["operations"],
      summary: "The store answers, takes writes and has its migrations applied",
      security: callers.anyone,
      responses: { 200: jsonAnswer(statusView, "Ready"), 503: jsonAnswer(statusView, "Not ready (Retry-After): store unavailable, refusing writes (disk full) or not migrated; or shutting down") },
    }),
    async (c) => {
      if (isShuttingDown()) return c.json({ status: "shutting down" }, 503);
      // A full disk (SPEC §5): not ready until a write goes through again.
      if (!(await core.store.writesAccepted())) {
        c.header("Retry-After", "1");
        return c.json({ status: "store refuses writes (disk full)" }, 503);
      }
      const ready = await migrationsApplied(core.store.driver).catch(() => false);
      if (!ready) c.header("Retry-After", "1");
      return ready ? c.json({ status: "ready" }) : c.json({ status: "store unavailable or not migrated" }, 503);
    },
  );
  app.get(
    "/metrics",
    describeRoute({
      tags: ["operations"],
      summary: "Prometheus metrics",
      description: "When SSOD_METRICS_TOKEN is set, send it as `Authorization: Bearer <token>`.",
      security: [{}, { metricsToken: [] }],
      responses: { 200: { description: "Prometheus text format" }, 401: { description: "The metrics token is required" } },
    }),
    async (c) => {
      if (options.metricsToken) {
        const presented = c.req.header("authorization")?.replace(/^bearer\s+/i, "") ?? "";
        if (!safeEqual(sha256(presented), sha256(options.metricsToken))) {
          c.header("WWW-Authenticate", 'Bearer realm="metrics"');
          return c.text("unauthorized\n", 401);
        }
      }
      return c.body(await options.metrics.registry.metrics(), 200, { "Content-Type": options.metrics.registry.contentType });
    },
  );
  return app;
}
