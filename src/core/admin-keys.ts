// Admin keys (SPEC §1, §5): `ssod_ak_` + 43 base64url characters, stored as
// SHA-256. They can be listed and revoked; a revoked key stays revoked.
import { and, asc, eq, exists, isNull, ne, type SQL, sql } from "drizzle-orm";
import { alias } from "drizzle-orm/sqlite-core";
import * as v from "valibot";
import { adminKeys } from "../store/schema";
import { selectList } from "../store/select-list";
import { type Actor, actorName, auditInsertFrom } from "./audit";
import { applyChange } from "./changes";
import type { Core } from "./context";
import { randomSecret, safeEqual, sha256 } from "./crypto";
import { CoreError } from "./errors";
import { isoTimeSql, outboxInsert } from "./webhooks/outbox";

export const ADMIN_KEY_PATTERN = /^ssod_ak_[A-Za-z0-9_-]{43}$/;

/** What a key is called ("ci", "alice's laptop"): the same rule for the CLI and the API. */
export const adminKeyNameSchema = v.pipe(v.string(), v.trim(), v.minLength(1, "must not be empty"), v.maxLength(100, "must be at most 100 characters"));

export interface AdminKey {
  id: number;
  name: string;
  keyHash: string;
  revokedAt: number | null;
}

/** A key as it is shown: never the key, never its hash. */
export interface AdminKeyInfo {
  id: number;
  name: string;
  createdAt: number;
  revokedAt: number | null;
}

const shown = { id: adminKeys.id, name: adminKeys.name, createdAt: adminKeys.createdAt, revokedAt: adminKeys.revokedAt };

/** Who changes a key, and from where (null from the command line). */
export interface KeyChange {
  actor: Actor;
  ip: string | null;
}

export const adminKeyByHashLookup = {
  sql: `SELECT ${selectList(adminKeys)} FROM admin_keys WHERE key_hash IN (SELECT value FROM json_each(?))`,
  keyColumn: "keyHash",
  map: (row: Record<string, unknown>) => row as unknown as AdminKey,
};

export function generateAdminKey(): string {
  return `ssod_ak_${randomSecret()}`;
}

/** The admin key a caller presented, if it is well formed, known and not revoked. */
export async function authenticateAdminKey(core: Core, presented: string): Promise<AdminKey | undefined> {
  if (!ADMIN_KEY_PATTERN.test(presented)) return undefined;
  const hash = sha256(presented);
  // Found by its hash (which says nothing of the key), then compared in constant time.
  const key = await core.lookups.adminKeyByHash.load(hash);
  if (!key || key.revokedAt !== null || !safeEqual(key.keyHash, hash)) return undefined;
  return key;
}

export function listAdminKeys(core: Core): Promise<AdminKeyInfo[]> {
  return core.store.db.select(shown).from(adminKeys).orderBy(asc(adminKeys.id));
}

/**
 * The audit row of the key that the statement before it in the batch
 * inserted, read from that row; none when that insert inserted nothing (a
 * conditional insert that lost a race), so every stored key has one row.
 */
function createdAudit(core: Core, actor: string, ip: string | null) {
  return auditInsertFrom(
    core,
    { actor, action: "admin_key.create", outcome: "success", target: sql`${adminKeys.name}`, ip, detail: sql`json_object('id', ${adminKeys.id})` },
    adminKeys,
    sql`${adminKeys.id} = last_insert_rowid() AND changes() > 0`,
  );
}

/** SQL: the key in row `k` as GET /v1/admin-keys shows it (never the key, never its hash), for its events. */
const adminKeyJson = (k: string) =>
  sql.raw(`json_object('id', ${k}.id, 'name', ${k}.name, 'createdAt', ${isoTimeSql(`${k}.created_at`)}, 'revokedAt', ${isoTimeSql(`${k}.revoked_at`)})`);

/**
 * The admin_key.created event of the key with this hash, when the statement
 * before it in the batch inserted a row: put it after createdAudit, whose
 * conditional insert has the same outcome as the key's.
 */
const createdEvent = (core: Core, keyHash: string) =>
  outboxInsert(core, "admin_key.created", adminKeyJson("admin_keys"), { table: adminKeys, where: sql`${adminKeys.keyHash} = ${keyHash} AND changes() > 0` });

/** Stores a new admin key and returns it: the only time it is ever shown. */
export async function createAdminKey(core: Core, name: string, context: KeyChange): Promise<AdminKeyInfo & { key: string }> {
  const key = generateAdminKey();
  const [rows] = await applyChange(core, [
    core.store.db
      .insert(adminKeys)
      .values({ name, keyHash: sha256(key), createdAt: core.now() })
      .returning(shown),
    createdAudit(core, actorName(context.actor), context.ip),
    createdEvent(core, sha256(key)),
  ]);
  return { ...rows[0]!, key };
}

/**
 * The insert of a key unless admin_keys holds a row that `existing` selects:
 * the inserts at start, which any number of instances run at once. One
 * conditional statement, so the race has one winner; and a key already
 * stored costs nothing (no row id spent, no write).
 */
function insertKeyUnless(core: Core, name: string, keyHash: string, existing: SQL) {
  return core.store.db.all(
    sql`INSERT INTO ${adminKeys} (name, key_hash, created_at) SELECT ${name}, ${keyHash}, ${core.now()} WHERE NOT EXISTS (SELECT 1 FROM ${adminKeys} WHERE ${existing}) RETURNING id`,
  );
}

/**
 * Makes sure a given key (SSOD_ADMIN_API_KEY) is known, and answers it as
 * stored. A key already there is left as it is: a revoked one stays revoked.
 */
export async function ensureAdminKey(core: Core, key: string, name: string): Promise<AdminKeyInfo> {
  const keyHash = sha256(key);
  await applyChange(core, [
    insertKeyUnless(core, name, keyHash, eq(adminKeys.keyHash, keyHash)),
    createdAudit(core, "system", null),
    createdEvent(core, keyHash),
  ]);
  return (await core.store.db.select(shown).from(adminKeys).where(eq(adminKeys.keyHash, keyHash)).get())!;
}

/**
 * At first start with no admin key at all, makes one and returns it to be
 * printed once: only one of several instances starting together gets it.
 */
export async function createFirstAdminKey(core: Core): Promise<string | undefined> {
  const key = generateAdminKey();
  const [inserted] = await applyChange(core, [
    insertKeyUnless(core, "first start", sha256(key), sql`true`),
    createdAudit(core, "system", null),
    createdEvent(core, sha256(key)),
  ]);
  return inserted.length > 0 ? key : undefined;
}

export interface Revocation {
  key: AdminKeyInfo;
  /** It was revoked before: nothing changed. */
  alreadyRevoked: boolean;
}

/**
 * Revokes a key: from the next request on it authenticates nothing. Revoking
 * a revoked key changes nothing and says so. The last key that still works
 * is not revoked, so that nobody locks every admin out by accident.
 */
export async function revokeAdminKey(core: Core, id: number, context: KeyChange): Promise<Revocation> {
  const other = alias(adminKeys, "other");
  const { db } = core.store;
  // One conditional statement: two admins revoking the last two keys at once cannot both succeed.
  const target = and(
    eq(adminKeys.id, id),
    isNull(adminKeys.revokedAt),
    exists(
      db
        .select({ id: other.id })
        .from(other)
        .where(and(ne(other.id, id), isNull(other.revokedAt))),
    ),
  )!;
  const [, revoked] = await applyChange(core, [
    auditInsertFrom(
      core,
      { actor: actorName(context.actor), action: "admin_key.revoke", outcome: "success", target: sql`${adminKeys.name}`, ip: context.ip, detail: { id } },
      adminKeys,
      target,
    ),
    db.update(adminKeys).set({ revokedAt: core.now() }).where(target).returning(shown),
    // After the update, whose condition no longer holds: changes() says whether it revoked anything.
    outboxInsert(core, "admin_key.revoked", adminKeyJson("admin_keys"), { table: adminKeys, where: sql`${adminKeys.id} = ${id} AND changes() > 0` }),
  ]);
  if (revoked[0]) return { key: revoked[0], alreadyRevoked: false };
  const key = await db.select(shown).from(adminKeys).where(eq(adminKeys.id, id)).get();
  if (!key) throw new CoreError("not_found", `no admin key ${id}`);
  if (key.revokedAt !== null) return { key, alreadyRevoked: true };
  throw new CoreError("conflict", `admin key ${id} is the only one not revoked: create another first, so that an admin key still works`);
}
