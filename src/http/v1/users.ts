// /v1/users (admins) and /v1/session (the bearer of a session cookie).
import * as v from "valibot";
import { CoreError } from "../../core/errors";
import { endLoginSession, findLoginSession } from "../../core/login-sessions";
import { deleteUser, endUserSessions, findUser, listUsers, type User, updateUser } from "../../core/users";
import { adminOnly, anyone } from "../auth/callers";
import { requestExamples } from "../docs";
import { refuse } from "../failure";
import { reply, route } from "../route";
import { refuseCrossSite } from "../shared/same-origin";
import { emailSchema, groupsSchema } from "../shared/schemas";
import { clearSessionCookie, readSessionCookie } from "../shared/session-cookie";
import { V1 } from "./dialect";
import { changeContext, isoTime, isoTimeOrNull } from "./views";

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

const userQuery = v.object({
  q: v.optional(v.pipe(v.string(), v.maxLength(254), requestExamples(["alice"]))),
  orgId: v.optional(v.pipe(v.string(), v.maxLength(128))),
  group: v.optional(v.pipe(v.string(), v.maxLength(128))),
  limit: v.optional(v.pipe(v.string(), v.regex(/^\d{1,4}$/, "must be an integer from 1 to 500"), v.transform(Number), v.minValue(1), v.maxValue(500)), "50"),
  cursor: v.optional(v.pipe(v.string(), v.maxLength(200))),
});

const userParam = v.object({ id: v.pipe(v.string(), v.maxLength(64), requestExamples(["0b6f5b8e-3c1a-4c0e-9d3e-5a8f2b7c9d10"])) });

const userPatchBody = v.pipe(
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

function userJson(user: User): v.InferInput<typeof userJsonView> {
  return { ...user, createdAt: isoTime(user.createdAt), updatedAt: isoTime(user.updatedAt), lastLoginAt: isoTimeOrNull(user.lastLoginAt) };
}

const noSuchUser = () => new CoreError("not_found", "no such user");

export const userRoutes = [
  route({
    method: "get",
    path: "/v1/users",
    tag: V1.users,
    summary: "List or search users",
    description: "`q` matches the start of an email, part of a display name, or an exact external id. Newest first; pass `nextCursor` back as `cursor`.",
    auth: adminOnly,
    query: userQuery,
    answers: { 200: { description: "A page of users", schema: v.object({ items: v.array(userJsonView), nextCursor: v.nullable(v.string()) }) } },
    failures: [400, 401, 429, 503],
    async handle({ core, query }) {
      const page = await listUsers(core, { ...query, limit: query.limit as number });
      return reply(200, { items: page.users.map(userJson), nextCursor: page.nextCursor });
    },
  }),
  route({
    method: "get",
    path: "/v1/users/:id",
    tag: V1.users,
    summary: "Get a user",
    auth: adminOnly,
    params: userParam,
    answers: { 200: { description: "The user", schema: userJsonView } },
    failures: [400, 401, 404, 429, 503],
    async handle({ core, params }) {
      const user = await findUser(core, params.id);
      if (!user) throw noSuchUser();
      return reply(200, userJson(user));
    },
  }),
  route({
    method: "patch",
    path: "/v1/users/:id",
    tag: V1.users,
    summary: "Change a user",
    description: "Only the fields sent are written.",
    auth: adminOnly,
    params: userParam,
    body: { schema: userPatchBody, label: "required" },
    answers: { 200: { description: "The changed user", schema: userJsonView } },
    failures: [400, 401, 404, 409, 413, 415, 429, 503],
    handle: async ({ c, core, caller, params, body }) => reply(200, userJson(await updateUser(core, params.id, body, changeContext(c, caller)))),
  }),
  route({
    method: "delete",
    path: "/v1/users/:id",
    tag: V1.users,
    summary: "Delete a user and their sessions",
    auth: adminOnly,
    params: userParam,
    answers: { 204: { description: "Deleted" } },
    failures: [400, 401, 404, 429, 503],
    async handle({ c, core, caller, params }) {
      if (!(await deleteUser(core, params.id, changeContext(c, caller)))) throw noSuchUser();
      return c.body(null, 204);
    },
  }),
  route({
    method: "delete",
    path: "/v1/users/:id/sessions",
    tag: V1.users,
    summary: "End every login session of a user",
    auth: adminOnly,
    params: userParam,
    answers: { 200: { description: "How many ended", schema: v.object({ ended: v.number() }) } },
    failures: [400, 401, 404, 429, 503],
    async handle({ c, core, caller, params }) {
      if (!(await findUser(core, params.id))) throw noSuchUser();
      return reply(200, { ended: await endUserSessions(core, params.id, changeContext(c, caller)) });
    },
  }),
  route({
    method: "get",
    path: "/v1/session",
    tag: V1.browser,
    summary: "The session of this browser's cookie",
    auth: { ...anyone, security: [{ sessionCookie: [] }] },
    answers: { 200: { description: "Who is signed in", schema: sessionView } },
    failures: [401, 503],
    async handle({ c, core }) {
      const session = await findLoginSession(core, readSessionCookie(c) ?? "");
      if (!session) return refuse({ kind: "unauthenticated", reason: "no_session", message: "no valid session cookie" });
      return reply(200, {
        user: userJson(session.user),
        session: { createdAt: isoTime(session.createdAt), expiresAt: isoTime(session.expiresAt), source: session.source },
      });
    },
  }),
  route({
    method: "post",
    path: "/v1/session/logout",
    tag: V1.browser,
    summary: "End this browser's session and clear its cookie",
    auth: { ...anyone, security: [{ sessionCookie: [] }] },
    description: "Refused when another site makes the browser send it.",
    answers: { 204: { description: "Signed out (also when there was no session)" } },
    failures: [403, 503],
    async handle({ c, core }) {
      refuseCrossSite(c, core);
      const id = readSessionCookie(c);
      if (id) await endLoginSession(core, id, c.get("clientIp"));
      clearSessionCookie(c, core);
      return c.body(null, 204);
    },
  }),
];
