// First-start work, safe to run from any number of instances at once: every
// step is a single conditional statement, so the race has one winner and the
// others find the work done.
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { eq } from "drizzle-orm";
import { MASTER_KEY_FILE } from "../store/data-folder";
import { settings as settingsTable } from "../store/schema";
import type { Store } from "../store/store";
import { createFirstAdminKey, ensureAdminKey } from "./admin-keys";
import type { Core } from "./context";
import { MasterKey, randomSecret } from "./crypto";
import { ConfigError } from "./errors";
import { ensureSigningKeys } from "./signing-keys";
import { DEFAULT_SOURCE_CODE } from "./sources";

const CHECK_KEY = "master_key_check";

/** Refuses, before the store is touched, a remote store without SSOD_MASTER_KEY (SPEC §4). */
export function requireMasterKeySetting(configured: string | undefined, dataDir: string | undefined): void {
  if (!configured && !dataDir) throw new ConfigError("SSOD_MASTER_KEY: required with a remote store (the same value on every instance)");
}

async function sealedWithSomeKey(store: Store): Promise<boolean> {
  return (await store.db.select().from(settingsTable).where(eq(settingsTable.key, CHECK_KEY)).get()) !== undefined;
}

/** Makes the key file, unless another process got there first (then theirs is the key). */
function writeKeyFile(path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  // Written aside then hard-linked into place: link() fails if another
  // process got there first, and then we read theirs.
  const partial = `${path}.${process.pid}.partial`;
  writeFileSync(partial, `${MasterKey.generate()}\n`, { mode: 0o600 });
  try {
    linkSync(partial, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    unlinkSync(partial);
  }
}

/**
 * The master key, from SSOD_MASTER_KEY or, for a file store, from the key file
 * beside the database, and proof that it is the one the store's secrets were
 * sealed with. The file is generated (mode 0600) only for a store that has
 * sealed nothing yet: a store restored without its key file is refused, not
 * given a new key that cannot open its secrets.
 */
export async function loadMasterKey(store: Store, configured: string | undefined, dataDir: string | undefined): Promise<MasterKey> {
  requireMasterKeySetting(configured, dataDir);
  let key: MasterKey | undefined;
  let origin: string;
  if (configured) {
    origin = "SSOD_MASTER_KEY";
    key = MasterKey.parse(configured);
    if (!key) throw new ConfigError("SSOD_MASTER_KEY: expected 32 bytes as 43 base64url characters or 64 hex digits");
  } else {
    const path = join(dataDir!, MASTER_KEY_FILE);
    origin = `the master key file ${path}`;
    if (!existsSync(path)) {
      const sealed = await sealedWithSomeKey(store);
      // Looked at again: a process starting beside this one writes its key file before its check row.
      if (!existsSync(path)) {
        if (sealed)
          throw new ConfigError(
            `${path} is missing, but this store's secrets are sealed with a master key: restore the file from the store's backup, or set SSOD_MASTER_KEY`,
          );
        writeKeyFile(path);
      }
    }
    key = MasterKey.parse(readFileSync(path, "utf8").trim());
    if (!key) throw new ConfigError(`${origin} is damaged: restore it from a backup`);
    try {
      chmodSync(path, 0o600);
    } catch {
      // read-only mount: the mode is the operator's business then
    }
  }
  await checkMasterKey(store, key, origin);
  return key;
}

/** Refuses to start with a master key other than the one the store's secrets were sealed with. */
async function checkMasterKey(store: Store, key: MasterKey, origin: string): Promise<void> {
  await store.write({
    statements: [
      {
        sql: "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
        args: [CHECK_KEY, key.seal("ssod", CHECK_KEY)],
      },
    ],
    decode: () => undefined,
  });
  const row = await store.db.select().from(settingsTable).where(eq(settingsTable.key, CHECK_KEY)).get();
  try {
    key.open(row!.value, CHECK_KEY);
  } catch {
    throw new ConfigError(`${origin}: this is not the master key the store's secrets were sealed with`);
  }
}

export interface BootstrapResult {
  /** A generated admin key, set only in the one process that created it: print it once. */
  firstAdminKey?: string;
}

/**
 * `serving`: a server refuses to start on a revoked SSOD_ADMIN_API_KEY; the
 * other commands run, so that `ssod admin-key create` can make its successor.
 */
export async function bootstrap(core: Core, options: { adminApiKey?: string | undefined; serving: boolean }): Promise<BootstrapResult> {
  // The default source comes from the first migration without a signing
  // secret (SQL cannot seal); give it one.
  await core.store.write({
    statements: [
      {
        sql: "UPDATE sso_sources SET signing_secret_enc = ? WHERE code = ? AND signing_secret_enc IS NULL",
        args: [core.masterKey.seal(`ssod_ss_${randomSecret()}`, "signing_secret"), DEFAULT_SOURCE_CODE],
      },
    ],
    decode: () => undefined,
  });
  await ensureSigningKeys(core);
  if (options.adminApiKey) {
    const stored = await ensureAdminKey(core, options.adminApiKey, "SSOD_ADMIN_API_KEY");
    if (stored.revokedAt !== null && options.serving) {
      throw new ConfigError(
        `SSOD_ADMIN_API_KEY: this key was revoked on ${new Date(stored.revokedAt).toISOString()}; remove it from the configuration or make a new one with \`ssod admin-key create\``,
      );
    }
    return {};
  }
  const firstAdminKey = await createFirstAdminKey(core);
  return firstAdminKey ? { firstAdminKey } : {};
}
