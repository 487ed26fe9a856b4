// Liveness and readiness for load balancers and orchestrators.
import { Hono } from "hono";
import { describeRoute } from "hono-openapi";
import type { Core } from "../core/context";
import { migrationsApplied } from "../store/migrations";
import type { AppEnv } from "./env";

export function opsApp(core: Core, isShuttingDown: () => boolean) {
  const app = new Hono<AppEnv>();

  app.get("/healthz", describeRoute({ tags: ["operations"], summary: "The process is up", responses: { 200: { description: "Up" } } }), (c) =>
    c.json({ status: "ok" }),
  );

  app.get(
    "/readyz",
    describeRoute({
      tags: ["operations"],
      summary: "The store answers and its migrations are applied",
      responses: { 200: { description: "Ready" }, 503: { description: "Not ready" } },
    }),
    async (c) => {
      if (isShuttingDown()) return c.json({ status: "shutting down" }, 503);
      const ready = await migrationsApplied(core.store.driver).catch(() => false);
      if (!ready) c.header("Retry-After", "1");
      return ready ? c.json({ status: "ready" }) : c.json({ status: "store unavailable or not migrated" }, 503);
    },
  );
  return app;
}
