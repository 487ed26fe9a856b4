// GET /v1/audit: the audit log, newest first, cursor-paged, filterable.
import { Hono } from "hono";
import { describeRoute } from "hono-openapi";
import * as v from "valibot";
import { listAudit } from "../../core/audit";
import type { Core } from "../../core/context";
import { callers, jsonAnswer, problems, requestExamples } from "../docs";
import { validate } from "../validation";
import { authenticate, type V1Env } from "./auth";
import { invalidRequest } from "./problem";
import { isoTime } from "./views";

export const auditQuery = v.object({
  limit: v.optional(v.pipe(v.string(), v.regex(/^\d{1,4}$/, "an integer from 1 to 500"), v.transform(Number), v.minValue(1), v.maxValue(500)), "50"),
  cursor: v.optional(v.pipe(v.string(), v.regex(/^\d{1,15}$/, "a cursor from a previous page"), v.transform(Number))),
  action: v.optional(v.pipe(v.string(), v.maxLength(64), requestExamples(["token.issue"]))),
  source: v.optional(v.pipe(v.string(), v.maxLength(64))),
  user: v.optional(v.pipe(v.string(), v.maxLength(64))),
});

const auditEventView = v.object({
  id: v.number(),
  at: v.pipe(v.string(), v.isoTimestamp()),
  actor: v.string(),
  action: v.string(),
  target: v.nullable(v.string()),
  outcome: v.picklist(["success", "failure"]),
  ip: v.nullable(v.string()),
  sourceCode: v.nullable(v.string()),
  userId: v.nullable(v.string()),
  detail: v.nullable(v.record(v.string(), v.unknown())),
});

export const auditPageView = v.object({ items: v.array(auditEventView), nextCursor: v.nullable(v.string()) });

export function auditRoutes(core: Core) {
  const app = new Hono<V1Env>();
  app.get(
    "/audit",
    describeRoute({
      tags: ["audit"],
      summary: "Read the audit log",
      description: "Newest first. Pass `nextCursor` back as `cursor` for the next page.",
      security: callers.admin,
      responses: { 200: jsonAnswer(auditPageView, "A page of events"), ...problems(400, 401, 429, 503) },
    }),
    authenticate(core, { admin: true }),
    validate("query", auditQuery, invalidRequest),
    async (c) => {
      const query = c.req.valid("query");
      const page = await listAudit(core, {
        limit: query.limit as number,
        before: query.cursor,
        action: query.action,
        sourceCode: query.source,
        userId: query.user,
      });
      return c.json({
        items: page.events.map((e) => ({ ...e, at: isoTime(e.at) })),
        nextCursor: page.nextBefore === null ? null : String(page.nextBefore),
      });
    },
  );
  return app;
}
