// The hot keyed reads, coalesced per turn of the event loop (src/store/lookup.ts).
import type { Store } from "../store/store";
import { adminKeyByHashLookup } from "./admin-keys";
import { type SessionUser, sessionUserByHashLookup } from "./login-sessions";
import { sourceByClientIdLookup, sourceByCodeLookup } from "./sources";

export function createLookups(store: Store) {
  return {
    adminKeyByHash: store.lookup<string, ReturnType<typeof adminKeyByHashLookup.map>>(adminKeyByHashLookup),
    sourceByClientId: store.lookup<string, ReturnType<typeof sourceByClientIdLookup.map>>(sourceByClientIdLookup),
    sessionUserByHash: store.lookup<string, SessionUser>(sessionUserByHashLookup),
    sourceByCode: store.lookup<string, ReturnType<typeof sourceByCodeLookup.map>>(sourceByCodeLookup),
  };
}

export type Lookups = ReturnType<typeof createLookups>;
