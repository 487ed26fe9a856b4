// The sweeper: deletes tokens, login sessions and admin sessions long past
// their expiry, the OpenID Connect provider's expired objects, signing keys no longer published, and webhook
// deliveries delivered or failed longer ago than SSOD_WEBHOOK_RETENTION, so the store does not grow without bound.
// Deletes go in bounded chunks to keep each commit short.
import type { Core } from "./context";
import { expiredPayloadsStatement } from "./oidc-store";
import { expiredKeysStatement } from "./signing-keys";

const CHUNK = 5000;

const chunkedDelete = (table: string, column: string) => `DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} WHERE ${column} < ? LIMIT ${CHUNK})`;

/** One pass; answers how many rows went. Idempotent, so every instance may run it. */
export async function sweepOnce(core: Core): Promise<number> {
  const cutoff = core.now() - core.settings.sweepGraceSeconds * 1000;
  const deletes: [string, number][] = [
    [chunkedDelete("sso_tokens", "expires_at"), cutoff],
    [chunkedDelete("login_sessions", "expires_at"), cutoff],
    [chunkedDelete("admin_sessions", "expires_at"), cutoff],
    // Pending deliveries have no finished_at: they stay until sent, however old.
    [chunkedDelete("webhook_deliveries", "finished_at"), core.now() - core.settings.webhooks.retentionMs],
  ];
  let total = 0;
  for (const [sql, cutoff] of deletes) {
    for (;;) {
      const deleted = await core.store.write({ statements: [{ sql, args: [cutoff] }], decode: (r) => r[0]!.rowsAffected });
      total += deleted;
      if (deleted < CHUNK) break;
    }
  }
  total += await core.store.write({ statements: [expiredKeysStatement(core.now())], decode: (r) => r[0]!.rowsAffected });
  for (;;) {
    const deleted = await core.store.write({ statements: [expiredPayloadsStatement(core.now())], decode: (r) => r[0]!.rowsAffected });
    total += deleted;
    if (deleted < CHUNK) break;
  }
  return total;
}

/** Sweeps every `intervalSeconds` until stopped; a failed pass is logged and retried next time. */
export function startSweeper(core: Core, intervalSeconds: number, onError: (error: unknown) => void): () => Promise<unknown> {
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = sweepOnce(core).catch(onError);
  }, intervalSeconds * 1000);
  timer.unref();
  return () => {
    clearInterval(timer);
    return running;
  };
}
