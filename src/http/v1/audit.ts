// GET /v1/audit: the audit log, newest first, cursor-paged, filterable.
import * as v from "valibot";
import { listAudit } from "../../core/audit";
import { adminOnly } from "../auth/callers";
import { requestExamples } from "../docs";
import { reply, route } from "../route";
import { V1 } from "./dialect";
import { isoTime } from "./views";

const auditQuery = v.object({
  limit: v.optional(v.pipe(v.string(), v.regex(/^\d{1,4}$/, "must be an integer from 1 to 500"), v.transform(Number), v.minValue(1), v.maxValue(500)), "50"),
  cursor: v.optional(v.pipe(v.string(), v.regex(/^\d{1,15}$/, "must be a cursor from a previous page"), v.transform(Number))),
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

const auditPageView = v.object({ items: v.array(auditEventView), nextCursor: v.nullable(v.string()) });

export const auditRoutes = [
  route({
    method: "get",
    path: "/v1/audit",
    tag: V1.audit,
    summary: "Read the audit log",
    description: "Newest first. Pass `nextCursor` back as `cursor` for the next page.",
    auth: adminOnly,
    query: auditQuery,
    answers: { 200: { description: "A page of events", schema: auditPageView } },
    failures: [400, 401, 429, 503],
    async handle({ core, query }) {
      const page = await listAudit(core, {
        limit: query.limit as number,
        before: query.cursor,
        action: query.action,
        sourceCode: query.source,
        userId: query.user,
      });
      return reply(200, {
        items: page.events.map((e) => ({ ...e, outcome: e.outcome as "success" | "failure", at: isoTime(e.at) })),
        nextCursor: page.nextBefore === null ? null : String(page.nextBefore),
      });
    },
  }),
];
