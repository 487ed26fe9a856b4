// The hot keyed reads, coalesced per turn of the event loop (src/store/lookup.ts).
import type { Store } from "../store/store";
import { adminKeyByHashLookup } from "./admin-keys";
import { type SessionUser, sessionUserByHashLookup } from "./login-sessions";
import { sourceByClientIdLookup, sourceByCodeLookup } from "./sources";

/**
 * How long a found admin key or source is reused by this process. A change
 * made by this process drops them at once; one made by another instance (or
 * the CLI) is seen here within this time. Sessions are always read.
 */
const KEEP_FOUND_MS = 250;

export function createLookups(store: Store) {
  const kept = { keepFoundMs: KEEP_FOUND_MS };
  return {
    adminKeyByHash: store.lookup<string, ReturnType<typeof adminKeyByHashLookup.map>>({ ...adminKeyByHashLookup, ...kept }),
    sourceByClientId: store.lookup<string, ReturnType<typeof sourceByClientIdLookup.map>>({ ...sourceByClientIdLookup, ...kept }),
    sessionUserByHash: store.lookup<string, SessionUser>(sessionUserByHashLookup),
    sourceByCode: store.lookup<string, ReturnType<typeof sourceByCodeLookup.map>>({ ...sourceByCodeLookup, ...kept }),
  };
}

/** Drops what the lookups keep (after any change this process makes). */
export function forgetKept(lookups: Lookups): void {
  for (const lookup of Object.values(lookups)) lookup.forget();
}

export type Lookups = ReturnType<typeof createLookups>;
