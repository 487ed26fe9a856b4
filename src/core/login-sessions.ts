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
