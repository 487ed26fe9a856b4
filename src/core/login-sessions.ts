// Login sessions (SPEC §1) as their bearer sees them: the browser holding the
// session cookie. The id is random and stored only as its SHA-256.
import { and, eq, gt } from "drizzle-orm";
import { loginSessions, ssoSources } from "../store/schema";
import { statement } from "../store/store";
import { auditStatement } from "./audit";
import type { Core } from "./context";
import { sha256 } from "./crypto";
import { findUser, sessionsRevokedEvent, type User } from "./users";

const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** A session and its user as forward auth and the OpenID Connect provider need them: what one keyed read gives. */
export interface SessionUser {
  createdAt: number;
  expiresAt: number;
  userId: string;
  orgId: string;
  email: string | null;
  displayName: string | null;
  externalId: string | null;
  groups: string[];
}

/**
 * The session joined to its user, by the session id's hash, in one statement
 * (coalesced with the concurrent ones, src/store/lookup.ts). Expiry is judged
 * by the caller against the core's clock, as findLoginSession does.
 */
export const sessionUserByHashLookup = {
  sql: `SELECT s.id_hash AS "idHash", s.created_at AS "createdAt", s.expires_at AS "expiresAt", u.id AS "userId", u.org_id AS "orgId", u.email AS "email",
    u.display_name AS "displayName", u.external_id AS "externalId", u.groups AS "groups"
    FROM login_sessions s JOIN users u ON u.id = s.user_id
    WHERE s.id_hash IN (SELECT value FROM json_each(?))`,
  keyColumn: "idHash",
  map: (row: Record<string, unknown>): SessionUser => ({
    createdAt: row.createdAt as number,
    expiresAt: row.expiresAt as number,
    userId: row.userId as string,
    orgId: row.orgId as string,
    email: row.email as string | null,
    displayName: row.displayName as string | null,
    externalId: row.externalId as string | null,
    groups: JSON.parse(row.groups as string) as string[],
  }),
};

/** The live session of a cookie's value and its user: one keyed read, no write (forward auth decides every request with it; OpenID Connect signs in with it). */
export async function findSessionUser(core: Core, sessionId: string): Promise<SessionUser | undefined> {
  if (!SESSION_ID_PATTERN.test(sessionId)) return undefined;
  const found = await core.lookups.sessionUserByHash.load(sha256(sessionId));
  return found && found.expiresAt > core.now() ? found : undefined;
}

export interface LoginSession {
  createdAt: number;
  expiresAt: number;
  source: string | null;
  user: User;
}

export async function findLoginSession(core: Core, sessionId: string): Promise<LoginSession | undefined> {
  if (!SESSION_ID_PATTERN.test(sessionId)) return undefined;
  const row = await core.store.db
    .select({ userId: loginSessions.userId, createdAt: loginSessions.createdAt, expiresAt: loginSessions.expiresAt, source: ssoSources.code })
    .from(loginSessions)
    .leftJoin(ssoSources, eq(ssoSources.id, loginSessions.sourceId))
    .where(and(eq(loginSessions.idHash, sha256(sessionId)), gt(loginSessions.expiresAt, core.now())))
    .get();
  if (!row) return undefined;
  const user = await findUser(core, row.userId);
  return user ? { createdAt: row.createdAt, expiresAt: row.expiresAt, source: row.source, user } : undefined;
}

/** Ends the session; answers whether there was one. */
export async function endLoginSession(core: Core, sessionId: string, ip: string | null): Promise<boolean> {
  const session = await findLoginSession(core, sessionId);
  if (!session) return false;
  await core.store.write({
    statements: [
      statement(sessionsRevokedEvent(core, eq(loginSessions.idHash, sha256(sessionId)))),
      statement(core.store.db.delete(loginSessions).where(eq(loginSessions.idHash, sha256(sessionId)))),
      auditStatement(core, {
        actor: `user:${session.user.id}`,
        action: "session.logout",
        outcome: "success",
        target: session.user.id,
        userId: session.user.id,
        ip,
      }),
    ],
    decode: () => undefined,
  });
  return true;
}
