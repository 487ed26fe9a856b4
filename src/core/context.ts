// The core's dependencies, built once per process and passed to every core
// function. Everything here is either configuration or a cache of derived
// values (imported keys); the data itself always comes from the store.
import type { Store } from "../store/store";
import type { MasterKey } from "./crypto";
import { createLookups, type Lookups } from "./lookups";
import { silentTelemetry, type Telemetry } from "./telemetry";
import { Throttle, type ThrottleLimits } from "./throttle";

export interface CoreSettings {
  /** Base URL browsers reach ssod at: login URLs, the JWT issuer, cookie `Secure`. */
  publicUrl: string;
  sessionTtlSeconds: number;
  adminSessionTtlSeconds: number;
  /** Tolerance for `exp`/`nbf`/`iat` of caller JWTs. */
  clockSkewSeconds: number;
  /** How long expired tokens and sessions are kept before the sweeper deletes them. */
  sweepGraceSeconds: number;
  throttle: ThrottleLimits;
}

export interface Core {
  readonly store: Store;
  readonly masterKey: MasterKey;
  readonly settings: CoreSettings;
  readonly lookups: Lookups;
  readonly throttle: Throttle;
  readonly telemetry: Telemetry;
  now(): number;
}

export function createCore(
  store: Store,
  masterKey: MasterKey,
  settings: CoreSettings,
  options: { telemetry?: Telemetry; now?: () => number } = {},
): Core {
  const now = options.now ?? Date.now;
  return { store, masterKey, settings, lookups: createLookups(store), throttle: new Throttle(settings.throttle, now), telemetry: options.telemetry ?? silentTelemetry, now };
}
