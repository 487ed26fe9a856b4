// /v1/users (admins) and /v1/session (the bearer of a session cookie).
import { Hono } from "hono";
import { describeRoute } from "hono-openapi";
import * as v from "valibot";
import type { Core } from "../../core/context";
import { CoreError } from "../../core/errors";
import { endLoginSession, findLoginSession } from "../../core/login-sessions";
import { deleteUser, endUserSessions, findUser, listUsers, updateUser, type User } from "../../core/users";
import { callers, jsonAnswer as json, problems, requestExamples } from "../docs";
import { requireJson } from "../middleware/require-json";
import { clearSessionCookie, readSessionCookie } from "../session-cookie";
import { validate } from "../validation";
import { authenticate, type V1Env } from "./auth";
import { invalidRequest, notJson, problem } from "./problem";
import { emailSchema, groupsSchema } from "./token-schemas";
import { isoTime, isoTimeOrNull } from "./views";

const time = v.pipe(v.string(), v.isoTimestamp());

const userJsonView = v.object({
  id: v.string(),
  orgId: v.string(),
  email: v.nullable(v.string()),
  displayName: v.nullable(v.string()),
  externalId: v.nullable(v.string()),
  groups: v.array(v.string()),
  source: v.nullable(v.string()),
  createdAt: time,
  updatedAt: time,
  lastLoginAt: v.nullable(time),
});

export const userQuery = v.object({
  q: v.optional(v.pipe(v.string(), v.maxLength(254), requestExamples(["alice"]))),
  orgId: v.optional(v.pipe(v.string(), v.maxLength(128))),
  group: v.optional(v.pipe(v.string(), v.maxLength(128))),
  limit: v.optional(v.pipe(v.string(), v.regex(/^\d{1,4}$/, "an integer from 1 to 500"), v.transform(Number), v.minValue(1), v.maxValue(500)), "50"),
  cursor: v.optional(v.pipe(v.string(), v.maxLength(200))),
});

const userParam = v.object({ id: v.pipe(v.string(), v.maxLength(64), requestExamples(["0b6f5b8e-3c1a-4c0e-9d3e-5a8f2b7c9d10"])) });

export const userPatchBody = v.pipe(
  v.strictObject({
  email: v.optional(v.nullable(emailSchema)),
  displayName: v.optional(v.nullable(v.pipe(v.string(), v.trim(), v.maxLength(200)))),
  externalId: v.optional(v.nullable(v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(128)))),
  orgId: v.optional(v.pipe(v.string(), v.maxLength(128))),
  groups: v.optional(groupsSchema),
  }),
  requestExamples([{ displayName: "Alice Example", groups: ["staff", "admins"] }]),
);

const sessionView = v.object({
  user: userJsonView,
  session: v.object({ createdAt: time, expiresAt: time, source: v.nullable(v.string()) }),
});

export function userJson(user: User) {
  return { ...user, createdAt: isoTime(user.createdAt), updatedAt: isoTime(user.updatedAt), lastLoginAt: isoTimeOrNull(user.lastLoginAt) };
}

export function userRoutes(core: Core) {
  const app = new Hono<V1Env>();
  const admin = authenticate(core, { admin: true });
  const context = (c: { get(key: "caller"): V1Env["Variables"]["caller"]; get(key: "clientIp"): string }) => ({ actor: c.get("caller").actor, ip: c.get("clientIp") });

  app.get(
    "/users",
    describeRoute({
      tags: ["users"],
      summary: "List or search users",
      description: "`q` matches the start of an email, part of a display name, or an exact external id. Newest first; pass `nextCursor` back as `cursor`.",
      security: callers.admin,
      responses: { 200: json(v.object({ items: v.array(userJsonView), nextCursor: v.nullable(v.string()) }), "A page of users"), ...problems(400, 401, 429, 503) },
    }),
    admin,
    validate("query", userQuery, invalidRequest),
    async (c) => {
      const query = c.req.valid("query");
      const page = await listUsers(core, { ...query, limit: query.limit as number });
      return c.json({ items: page.users.map(userJson), nextCursor: page.nextCursor });
    },
  );

  app.get(
    "/users/:id",
    describeRoute({ tags: ["users"], summary: "Get a user", security: callers.admin, responses: { 200: json(userJsonView, "The user"), ...problems(400, 401, 404, 429, 503) } }),
    admin,
    validate("param", userParam, invalidRequest),
    async (c) => {
      const user = await findUser(core, c.req.valid("param").id);
      if (!user) throw new CoreError("not_found", "no such user");
      return c.json(userJson(user));
    },
  );

  app.patch(
    "/users/:id",
    describeRoute({
      tags: ["users"],
      summary: "Change a user",
      security: callers.admin,
      responses: { 200: json(userJsonView, "The changed user"), ...problems(400, 401, 404, 409, 413, 415, 429, 503) },
    }),
    admin,
    requireJson(notJson),
    validate("param", userParam, invalidRequest),
    validate("json", userPatchBody, invalidRequest),
    async (c) => c.json(userJson(await updateUser(core, c.req.valid("param").id, c.req.valid("json"), context(c)))),
  );

  app.delete(
    "/users/:id",
    describeRoute({ tags: ["users"], summary: "Delete a user and their sessions", security: callers.admin, responses: { 204: { description: "Deleted" }, ...problems(400, 401, 404, 429, 503) } }),
    admin,
    validate("param", userParam, invalidRequest),
    async (c) => {
      if (!(await deleteUser(core, c.req.valid("param").id, context(c)))) throw new CoreError("not_found", "no such user");
      return c.body(null, 204);
    },
  );

  app.delete(
    "/users/:id/sessions",
    describeRoute({
      tags: ["users"],
      summary: "End every login session of a user",
      security: callers.admin,
      responses: { 200: json(v.object({ ended: v.number() }), "How many ended"), ...problems(400, 401, 404, 429, 503) },
    }),
    admin,
    validate("param", userParam, invalidRequest),
    async (c) => {
      const id = c.req.valid("param").id;
      if (!(await findUser(core, id))) throw new CoreError("not_found", "no such user");
      return c.json({ ended: await endUserSessions(core, id, context(c)) });
    },
  );

  app.get(
    "/session",
    describeRoute({
      tags: ["browser"],
      summary: "The session of this browser's cookie",
      security: [{ sessionCookie: [] }],
      responses: { 200: json(sessionView, "Who is signed in"), ...problems(401, 503) },
    }),
    async (c) => {
      const session = await findLoginSession(core, readSessionCookie(c) ?? "");
      if (!session) return problem(c, 401, "no-session", "Not signed in", "no valid session cookie");
      return c.json({
        user: userJson(session.user),
        session: { createdAt: isoTime(session.createdAt), expiresAt: isoTime(session.expiresAt), source: session.source },
      });
    },
  );

  app.post(
    "/session/logout",
    describeRoute({
      tags: ["browser"],
      summary: "End this browser's session and clear its cookie",
      security: [{ sessionCookie: [] }],
      responses: { 204: { description: "Signed out (also when there was no session)" }, ...problems(503) },
    }),
    async (c) => {
      const id = readSessionCookie(c);
      if (id) await endLoginSession(core, id, c.get("clientIp"));
      clearSessionCookie(c, core);
      return c.body(null, 204);
    },
  );

  return app;
}
