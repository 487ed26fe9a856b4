// Admin accounts (username + scrypt password) and the expiring sessions that
// the legacy `admin.login` command hands out as `SessionID`.
import { and, eq, gt } from "drizzle-orm";
import * as v from "valibot";
import { adminAccounts, adminSessions } from "../store/schema";
import { statement } from "../store/store";
import { auditInsert, auditStatement } from "./audit";
import { applyChange } from "./changes";
import type { Core } from "./context";
import { decoyPasswordHash, hashPassword, randomSecret, sha256, verifyPassword } from "./crypto";

export const usernameSchema = v.pipe(v.string(), v.regex(/^[A-Za-z0-9._@-]{1,64}$/, "must be 1 to 64 letters, digits or . _ @ -"));
export const passwordSchema = v.pipe(v.string(), v.minLength(12, "must be at least 12 characters"), v.maxLength(1024));

export interface AdminIdentity {
  id: number;
  username: string;
}

export async function createAdminAccount(core: Core, username: string, password: string): Promise<AdminIdentity> {
  const now = core.now();
  const [rows] = await applyChange(
    core,
    [
      core.store.db
        .insert(adminAccounts)
        .values({ username, passwordHash: await hashPassword(password), createdAt: now, updatedAt: now })
        .returning({ id: adminAccounts.id }),
      auditInsert(core, { actor: "cli", action: "admin.create", outcome: "success", target: username }),
    ],
    { "admin_accounts.username": { field: "username", message: `an admin named ${username} already exists` } },
  );
  return { id: rows[0]!.id, username };
}

export type AdminAccount = typeof adminAccounts.$inferSelect;

export async function findAdminAccount(core: Core, username: string): Promise<AdminAccount | undefined> {
  return core.store.db.select().from(adminAccounts).where(eq(adminAccounts.username, username)).get();
}

/** Checks a password; the same work is done whether or not there is an account. */
export async function checkAdminPassword(account: AdminAccount | undefined, password: string): Promise<AdminIdentity | undefined> {
  const ok = await verifyPassword(password, account?.passwordHash ?? (await decoyPasswordHash()));
  return ok && account ? { id: account.id, username: account.username } : undefined;
}

export async function openAdminSession(core: Core, admin: AdminIdentity, ip: string | null): Promise<{ sessionId: string; expiresAt: number }> {
  const sessionId = randomSecret();
  const now = core.now();
  const expiresAt = now + core.settings.adminSessionTtlSeconds * 1000;
  await core.store.write({
    statements: [
      statement(core.store.db.insert(adminSessions).values({ idHash: sha256(sessionId), accountId: admin.id, createdAt: now, expiresAt, ip })),
      auditStatement(core, { actor: `admin:${admin.username}`, action: "admin.login", outcome: "success", target: admin.username, ip }),
    ],
    decode: () => undefined,
  });
  return { sessionId, expiresAt };
}

export async function authenticateAdminSession(core: Core, sessionId: string): Promise<AdminIdentity | undefined> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(sessionId)) return undefined;
  const row = await core.store.db
    .select({ id: adminAccounts.id, username: adminAccounts.username })
    .from(adminSessions)
    .innerJoin(adminAccounts, eq(adminAccounts.id, adminSessions.accountId))
    .where(and(eq(adminSessions.idHash, sha256(sessionId)), gt(adminSessions.expiresAt, core.now())))
    .get();
  return row ?? undefined;
}

export async function closeAdminSession(core: Core, sessionId: string, admin: AdminIdentity, ip: string | null): Promise<void> {
  await core.store.write({
    statements: [
      statement(core.store.db.delete(adminSessions).where(eq(adminSessions.idHash, sha256(sessionId)))),
      auditStatement(core, { actor: `admin:${admin.username}`, action: "admin.logout", outcome: "success", target: admin.username, ip }),
    ],
    decode: () => undefined,
  });
}
