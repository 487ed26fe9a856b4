// First-start work, safe to run from any number of instances at once: every
// step is a single conditional statement, so the race has one winner and the
// others find the work done.
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { eq } from "drizzle-orm";
import { settings as settingsTable } from "../store/schema";
import type { Store } from "../store/store";
import { createFirstAdminKey, ensureAdminKey } from "./admin-keys";
import type { Core } from "./context";
import { MasterKey, randomSecret } from "./crypto";
import { ensureSigningKey } from "./signing-keys";
import { DEFAULT_SOURCE_CODE } from "./sources";

const MASTER_KEY_FILE = "master.key";

/**
 * The master key from SSOD_MASTER_KEY or, for a file store, from the key file
 * beside the database (generated on first start, mode 0600).
 */
export function loadMasterKey(configured: string | undefined, dataDir: string | undefined): MasterKey {
  if (configured) {
    const key = MasterKey.parse(configured);
    if (!key) throw new Error("SSOD_MASTER_KEY: expected 32 bytes as 43 base64url characters or 64 hex digits");
    return key;
  }
  if (!dataDir) throw new Error("SSOD_MASTER_KEY: required with a remote store (the same value on every instance)");
  const path = join(dataDir, MASTER_KEY_FILE);
  if (!existsSync(path)) {
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
  const key = MasterKey.parse(readFileSync(path, "utf8").trim());
  if (!key) throw new Error(`the master key file ${path} is damaged: restore it from a backup`);
  try {
    chmodSync(path, 0o600);
  } catch {
    // read-only mount: the mode is the operator's business then
  }
  return key;
}

/** Refuses to start with a master key other than the one the store's secrets were sealed with. */
export async function checkMasterKey(store: Store, key: MasterKey): Promise<void> {
  await store.write({
    statements: [
      {
        sql: "INSERT INTO settings (key, value) VALUES ('master_key_check', ?) ON CONFLICT (key) DO NOTHING",
        args: [key.seal("ssod", "master_key_check")],
      },
    ],
    decode: () => undefined,
  });
  const row = await store.db.select().from(settingsTable).where(eq(settingsTable.key, "master_key_check")).get();
  try {
    key.open(row!.value, "master_key_check");
  } catch {
    throw new Error("SSOD_MASTER_KEY: this is not the master key the store's secrets were sealed with");
  }
}

export interface BootstrapResult {
  /** A generated admin key, set only in the one process that created it: print it once. */
  firstAdminKey?: string;
}

export async function bootstrap(core: Core, options: { adminApiKey?: string | undefined }): Promise<BootstrapResult> {
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
  await ensureSigningKey(core);
  if (options.adminApiKey) {
    await ensureAdminKey(core, options.adminApiKey, "SSOD_ADMIN_API_KEY");
    return {};
  }
  const firstAdminKey = await createFirstAdminKey(core);
  return firstAdminKey ? { firstAdminKey } : {};
}
