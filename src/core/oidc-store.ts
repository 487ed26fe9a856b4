// The OpenID Connect provider's state in the store (SPEC §7): codes, tokens,
// grants, sessions and interactions, one row each in oidc_payloads, so any
// instance serves any step. An object's id is stored only as its SHA-256 (an
// opaque token's id is its value); a session row keeps the hash of the ssod
// login session it mirrors, and is gone the moment that session ends.
import type { Core } from "./context";
import { sha256 } from "./crypto";

export interface StoredPayload {
  payload: Record<string, unknown>;
  consumedAt: number | null;
}

const seconds = (ms: number) => Math.floor(ms / 1000);

/** A live object of `kind`, found by its id. */
export async function findPayload(core: Core, kind: string, id: string): Promise<StoredPayload | undefined> {
  const result = await core.store.driver.query({
    sql: "SELECT payload, consumed_at FROM oidc_payloads WHERE kind = ? AND id = ? AND expires_at > ?",
    args: [kind, sha256(id), seconds(core.now())],
  });
  const row = result.rows[0];
  return row ? { payload: JSON.parse(row[0] as string) as Record<string, unknown>, consumedAt: (row[1] as number | null) ?? null } : undefined;
}

/**
 * A live session row, found by its id or by its uid, and whether the ssod
 * login session it mirrors (of the same user) is still valid.
 */
export async function findSessionPayload(
  core: Core,
  by: { id: string } | { uid: string },
): Promise<(StoredPayload & { loginSessionAlive: boolean }) | undefined> {
  const now = core.now();
  const result = await core.store.driver.query({
    sql: `SELECT p.payload, p.consumed_at, EXISTS (SELECT 1 FROM login_sessions ls WHERE ls.id_hash = p.login_session AND ls.expires_at > ?
                 AND ls.user_id = json_extract(p.payload, '$.accountId')) AS alive
          FROM oidc_payloads p WHERE p.kind = 'Session' AND ${"id" in by ? "p.id" : "p.uid"} = ? AND p.expires_at > ?`,
    args: [now, "id" in by ? sha256(by.id) : by.uid, seconds(now)],
  });
  const row = result.rows[0];
  if (!row) return undefined;
  return {
    payload: JSON.parse(row[0] as string) as Record<string, unknown>,
    consumedAt: (row[1] as number | null) ?? null,
    loginSessionAlive: Number(row[2]) === 1,
  };
}

export interface PayloadRow {
  kind: string;
  id: string;
  payload: Record<string, unknown>;
  grantId: string | null;
  uid: string | null;
  /** Session rows: the hash of the ssod login session; null keeps the one linked before. */
  loginSession: string | null;
  expiresInSeconds: number;
}

/** Writes an object (never clearing its consumed mark). */
export function upsertPayload(core: Core, row: PayloadRow): Promise<void> {
  return core.store.write({
    statements: [
      {
        sql: `INSERT INTO oidc_payloads (kind, id, payload, grant_id, uid, login_session, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)
              ON CONFLICT (kind, id) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id, uid = excluded.uid,
                login_session = coalesce(excluded.login_session, oidc_payloads.login_session), expires_at = excluded.expires_at`,
        args: [row.kind, sha256(row.id), JSON.stringify(row.payload), row.grantId, row.uid, row.loginSession, seconds(core.now()) + row.expiresInSeconds],
      },
    ],
    decode: () => undefined,
  });
}

/**
 * Marks an object used, once: a conditional update, so of any number of
 * instances racing for one code or refresh token exactly one wins. Answers
 * whether this call did, and the object's grant (for the loser to revoke).
 */
export function consumePayload(core: Core, kind: string, id: string): Promise<{ won: boolean; grantId: string | null }> {
  const hash = sha256(id);
  const now = seconds(core.now());
  return core.store.write({
    statements: [
      { sql: "UPDATE oidc_payloads SET consumed_at = ? WHERE kind = ? AND id = ? AND consumed_at IS NULL RETURNING grant_id", args: [now, kind, hash] },
      { sql: "SELECT grant_id FROM oidc_payloads WHERE kind = ? AND id = ?", args: [kind, hash] },
    ],
    decode: (results) => ({ won: results[0]!.rows.length > 0, grantId: (results[1]!.rows[0]?.[0] as string | null | undefined) ?? null }),
  });
}

export function destroyPayload(core: Core, kind: string, id: string): Promise<void> {
  return core.store.write({ statements: [{ sql: "DELETE FROM oidc_payloads WHERE kind = ? AND id = ?", args: [kind, sha256(id)] }], decode: () => undefined });
}

/** Every object of `kind` issued under a grant (oidc-provider calls this once per kind, then destroys the grant). */
export function destroyByGrant(core: Core, kind: string, grantId: string): Promise<void> {
  return core.store.write({
    statements: [{ sql: "DELETE FROM oidc_payloads WHERE kind = ? AND grant_id = ?", args: [kind, grantId] }],
    decode: () => undefined,
  });
}

/** A grant's whole family, the grant itself too: every token of it dies, even one written later (tokens re-check their grant). */
export function revokeGrant(core: Core, grantId: string): Promise<void> {
  return core.store.write({
    statements: [
      { sql: "DELETE FROM oidc_payloads WHERE grant_id = ?", args: [grantId] },
      { sql: "DELETE FROM oidc_payloads WHERE kind = 'Grant' AND id = ?", args: [sha256(grantId)] },
    ],
    decode: () => undefined,
  });
}

/** The sweeper's statement: objects past their expiry. */
export function expiredPayloadsStatement(now: number) {
  return { sql: "DELETE FROM oidc_payloads WHERE rowid IN (SELECT rowid FROM oidc_payloads WHERE expires_at <= ? LIMIT 5000)", args: [seconds(now)] };
}
