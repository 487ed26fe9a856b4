// The user directory (SPEC §1): users are created by redemptions and managed
// by admins. Emails are unique per org, regardless of case.
import { and, desc, eq, gt, isNotNull, lt, or, type SQL, sql } from "drizzle-orm";
import { loginSessions, ssoSources, users } from "../store/schema";
import { type Actor, actorName, auditInsert, auditInsertFrom } from "./audit";
import { applyChange, type UniqueFields } from "./changes";
import type { Core } from "./context";
import { CoreError } from "./errors";
import { normaliseEmail } from "./tokens/claims";
import { isoTimeSql, outboxInsert } from "./webhooks/outbox";

export interface User {
  id: string;
  orgId: string;
  email: string | null;
  displayName: string | null;
  externalId: string | null;
  groups: string[];
  source: string | null;
  createdAt: number;
  updatedAt: number;
  lastLoginAt: number | null;
}

const columns = {
  id: users.id,
  orgId: users.orgId,
  email: users.email,
  displayName: users.displayName,
  externalId: users.externalId,
  groups: users.groups,
  source: ssoSources.code,
  createdAt: users.createdAt,
  updatedAt: users.updatedAt,
  lastLoginAt: users.lastLoginAt,
};

/**
 * SQL: the user in row `u` as GET /v1/users/{id} shows it (a JSON object),
 * for its events. `allTimes`: SQL of the one RFC 3339 text its three times
 * all are (a user the statement's batch has just created), cheaper than
 * formatting each.
 */
export function userJsonSql(u: string, allTimes?: string): string {
  const time = (column: string) => allTimes ?? isoTimeSql(`${u}.${column}`);
  return `json_object('id', ${u}.id, 'orgId', ${u}.org_id, 'email', ${u}.email, 'displayName', ${u}.display_name,
  'externalId', ${u}.external_id, 'groups', json(${u}.groups), 'source', (SELECT code FROM sso_sources WHERE id = ${u}.source_id),
  'createdAt', ${time("created_at")}, 'updatedAt', ${time("updated_at")}, 'lastLoginAt', ${time("last_login_at")})`;
}

/** SQL: a login session in row `ls` as its events show it: never its id, which is a secret. `expiresAt`: SQL of its expiry as text, when known. */
export function sessionJsonSql(ls: string, expiresAt = isoTimeSql(`${ls}.expires_at`)): string {
  return `json_object('userId', ${ls}.user_id, 'source', (SELECT code FROM sso_sources WHERE id = ${ls}.source_id), 'expiresAt', ${expiresAt})`;
}

/** The session.revoked events of the live sessions that `where` selects: put before their delete. */
export function sessionsRevokedEvent(core: Core, where: SQL) {
  return outboxInsert(core, "session.revoked", sql.raw(sessionJsonSql("login_sessions")), {
    table: loginSessions,
    where: and(where, gt(loginSessions.expiresAt, core.now()))!,
  });
}

const toUser = (row: Omit<User, "groups"> & { groups: string }): User => ({ ...row, groups: JSON.parse(row.groups) as string[] });

function selectUsers(core: Core) {
  return core.store.db.select(columns).from(users).leftJoin(ssoSources, eq(ssoSources.id, users.sourceId));
}

export interface UserQuery {
  /** Matches the start of an email, any part of a display name, or an exact external id. */
  q?: string | undefined;
  orgId?: string | undefined;
  group?: string | undefined;
  limit: number;
  /** From the previous page's `nextCursor`. */
  cursor?: string | undefined;
}

const likeEscape = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

function cursorOf(user: User): string {
  return Buffer.from(`${user.createdAt}:${user.id}`).toString("base64url");
}

function parseCursor(cursor: string): { createdAt: number; id: string } | undefined {
  const [createdAt, id] = Buffer.from(cursor, "base64url").toString("utf8").split(":");
  return createdAt && id && /^\d+$/.test(createdAt) ? { createdAt: Number(createdAt), id } : undefined;
}

export async function listUsers(core: Core, query: UserQuery): Promise<{ users: User[]; nextCursor: string | null }> {
  const filters: (SQL | undefined)[] = [];
  if (query.q) {
    const text = likeEscape(query.q.toLowerCase());
    filters.push(
      or(
        sql`${users.emailNorm} LIKE ${`${text}%`} ESCAPE '\\'`,
        sql`lower(${users.displayName}) LIKE ${`%${text}%`} ESCAPE '\\'`,
        eq(users.externalId, query.q),
      ),
    );
  }
  if (query.orgId !== undefined) filters.push(eq(users.orgId, query.orgId));
  if (query.group) filters.push(sql`EXISTS (SELECT 1 FROM json_each(${users.groups}) WHERE value = ${query.group})`);
  const after = query.cursor ? parseCursor(query.cursor) : undefined;
  if (query.cursor && !after) throw new CoreError("invalid", "the cursor is not one this server gave", [{ field: "cursor", message: "unknown cursor" }]);
  if (after) filters.push(or(lt(users.createdAt, after.createdAt), and(eq(users.createdAt, after.createdAt), lt(users.id, after.id))));
  const rows = await selectUsers(core)
    .where(and(...filters))
    .orderBy(desc(users.createdAt), desc(users.id))
    .limit(query.limit + 1);
  const page = rows.slice(0, query.limit).map(toUser);
  return { users: page, nextCursor: rows.length > query.limit ? cursorOf(page[page.length - 1]!) : null };
}

export async function findUser(core: Core, id: string): Promise<User | undefined> {
  const row = await selectUsers(core).where(eq(users.id, id)).get();
  return row ? toUser(row) : undefined;
}

export interface UserPatch {
  email?: string | null | undefined;
  displayName?: string | null | undefined;
  externalId?: string | null | undefined;
  orgId?: string | undefined;
  groups?: string[] | undefined;
}

interface ChangeContext {
  actor: Actor;
  ip: string | null;
}

const USER_UNIQUE: UniqueFields = {
  // Both unique indexes of users lead with org_id: (org_id, email_norm) and (org_id, external_id).
  "users.org_id": { field: "email", message: "another user of this org has that email or external id" },
};

/** Writes the fields a patch gives, and no others, in one statement. A user keeps an email or an external id. */
export async function updateUser(core: Core, id: string, patch: UserPatch, context: ChangeContext): Promise<User> {
  if (patch.email === null && patch.externalId === null) throw noIdentity();
  const set: Partial<typeof users.$inferInsert> = { updatedAt: core.now() };
  if (patch.email !== undefined) Object.assign(set, { email: patch.email, emailNorm: normaliseEmail(patch.email) });
  if (patch.externalId !== undefined) set.externalId = patch.externalId;
  if (patch.displayName !== undefined) set.displayName = patch.displayName;
  if (patch.orgId !== undefined) set.orgId = patch.orgId;
  if (patch.groups !== undefined) set.groups = JSON.stringify(patch.groups);
  // Clearing one of the two is allowed only while the other stays.
  const keepsIdentity = patch.email === null ? isNotNull(users.externalId) : patch.externalId === null ? isNotNull(users.email) : undefined;
  const target = and(eq(users.id, id), keepsIdentity)!;
  const { db } = core.store;
  const [, rows] = await applyChange(
    core,
    [
      auditInsertFrom(
        core,
        {
          actor: actorName(context.actor),
          action: "user.update",
          outcome: "success",
          target: id,
          userId: id,
          ip: context.ip,
          detail: { fields: Object.keys(patch) },
        },
        users,
        target,
      ),
      db.update(users).set(set).where(target).returning({ id: users.id }),
      outboxInsert(core, "user.updated", sql.raw(userJsonSql("users")), { table: users, where: target }),
    ],
    USER_UNIQUE,
  );
  if (!rows[0]) throw (await findUser(core, id)) ? noIdentity() : new CoreError("not_found", "no such user");
  return (await findUser(core, id))!;
}

const noIdentity = () => new CoreError("invalid", "a user needs an email or an external id", [{ field: "email", message: "required without externalId" }]);

/** Deletes a user; its sessions go with it (by cascade), each a session.revoked event before the user.deleted one. */
export async function deleteUser(core: Core, id: string, context: ChangeContext): Promise<boolean> {
  const target = eq(users.id, id);
  const [, , , rows] = await applyChange(core, [
    auditInsertFrom(
      core,
      { actor: actorName(context.actor), action: "user.delete", outcome: "success", target: id, userId: id, ip: context.ip },
      users,
      target,
    ),
    sessionsRevokedEvent(core, eq(loginSessions.userId, id)),
    outboxInsert(core, "user.deleted", sql.raw(userJsonSql("users")), { table: users, where: target }),
    core.store.db.delete(users).where(target).returning({ id: users.id }),
  ]);
  return rows.length > 0;
}

/** Ends every login session of a user; answers how many there were. */
export async function endUserSessions(core: Core, id: string, context: ChangeContext): Promise<number> {
  const [, ended] = await applyChange(core, [
    sessionsRevokedEvent(core, eq(loginSessions.userId, id)),
    core.store.db.delete(loginSessions).where(eq(loginSessions.userId, id)).returning({ userId: loginSessions.userId }),
    auditInsert(core, { actor: actorName(context.actor), action: "user.sessions_end", outcome: "success", target: id, userId: id, ip: context.ip }),
  ]);
  return ended.length;
}
