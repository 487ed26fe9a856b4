// Admin keys (SPEC §1): `ssod_ak_` + 43 base64url characters, stored as SHA-256.
import { adminKeys } from "../store/schema";
import { selectList } from "../store/select-list";
import { statement } from "../store/store";
import { auditInsert } from "./audit";
import { applyChange } from "./changes";
import type { Core } from "./context";
import { randomSecret, safeEqual, sha256 } from "./crypto";

export const ADMIN_KEY_PATTERN = /^ssod_ak_[A-Za-z0-9_-]{43}$/;

export interface AdminKey {
  id: number;
  name: string;
  keyHash: string;
  revokedAt: number | null;
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

/** Stores a new admin key and returns it: the only time it is ever shown. */
export async function createAdminKey(core: Core, name: string, actor = "cli"): Promise<{ id: number; key: string }> {
  const key = generateAdminKey();
  const [rows] = await applyChange(core, [
    core.store.db.insert(adminKeys).values({ name, keyHash: sha256(key), createdAt: core.now() }).returning({ id: adminKeys.id }),
    auditInsert(core, { actor, action: "admin_key.create", outcome: "success", target: name }),
  ]);
  return { id: rows[0]!.id, key };
}

/**
 * Makes sure a given key (SSOD_ADMIN_API_KEY) is known; idempotent, so any
 * number of instances starting together store it once.
 */
export async function ensureAdminKey(core: Core, key: string, name: string): Promise<void> {
  const insert = statement(core.store.db.insert(adminKeys).values({ name, keyHash: sha256(key), createdAt: core.now() }).onConflictDoNothing());
  await core.store.write({ statements: [insert], decode: () => undefined });
}

/**
 * At first start with no admin key at all, makes one and returns it to be
 * printed once. A single conditional insert, so only one of several
 * instances starting together gets (and prints) it.
 */
export async function createFirstAdminKey(core: Core): Promise<string | undefined> {
  const key = generateAdminKey();
  return core.store.write({
    statements: [
      {
        sql: "INSERT INTO admin_keys (name, key_hash, created_at) SELECT ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM admin_keys) RETURNING id",
        args: ["first start", sha256(key), core.now()],
      },
    ],
    decode: (results) => (results[0]!.rows.length > 0 ? key : undefined),
  });
}
