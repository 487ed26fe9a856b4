// The core's dependencies, built once per process and passed to every core
// function. Everything here is either configuration or a cache of derived
// values (imported keys); the data itself always comes from the store.
import type { webcrypto } from "node:crypto";
import type { BlockList } from "node:net";
import type { createRemoteJWKSet, JWTPayload } from "jose";
import { BoundedMap } from "../store/bounded-map";
import type { Store } from "../store/store";
import { AppDirectory } from "./apps";
import { auditStatement } from "./audit";
import type { MasterKey } from "./crypto";
import { FailureBursts } from "./failure-bursts";
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
  /** The portal page that starts a hand-off for a browser without a session (SSOD_LOGIN_URL), §6. */
  loginUrl: string | null;
  /** The session cookie's Domain (SSOD_COOKIE_DOMAIN), or null for a host-only cookie, §8. */
  cookieDomain: string | null;
  /** How long this instance keeps the apps it read before reading them again, ms. */
  appRefreshMs: number;
  /** How long a rotated-in signing key is published before it signs (SSOD_KEY_PUBLISH_LEAD). */
  keyPublishLeadSeconds: number;
  /** How often the OpenID Connect provider looks for a new key set, ms. */
  keyCheckMs: number;
  /** How long expired tokens and sessions are kept before the sweeper deletes them. */
  sweepGraceSeconds: number;
  throttle: ThrottleLimits;
  webhooks: WebhookSettings;
}

/** How webhook deliveries are sent and kept (SPEC §9; the SSOD_WEBHOOK_* settings). */
interface WebhookSettings {
  /** Plain http to any host, not only to loopback ones. */
  allowHttp: boolean;
  /** The longest one attempt may take. */
  timeoutMs: number;
  /** How long a claim holds a delivery: the timeout plus a margin of at most 15 s. */
  leaseMs: number;
  /** The waits after each failed attempt; after the last one the delivery is failed. */
  retryScheduleMs: number[];
  pollIntervalMs: number;
  /** How long delivered and failed deliveries are kept. */
  retentionMs: number;
  /** An endpoint whose every delivery failed for this long is disabled. */
  disableAfterMs: number;
  /** Deliveries in flight per instance. */
  concurrency: number;
  /** Deliveries in flight per endpoint, all instances together. */
  endpointConcurrency: number;
}

/** Derived values worth keeping, each bounded (src/store/bounded-map.ts). */
interface Caches {
  /** HS256 keys by their sealed secret (a rotated secret is a new entry, never a stale one). */
  readonly hmacKeys: BoundedMap<string, Promise<webcrypto.CryptoKey>>;
  /** Private signing keys by kid. */
  readonly signingKeys: BoundedMap<string, Promise<webcrypto.CryptoKey | Uint8Array>>;
  /** Caller JWTs verified lately, by key material and token text (src/core/caller-jwt.ts). */
  readonly verifiedCallerJwts: BoundedMap<string, { claims: JWTPayload; until: number }>;
  /** Identity providers' key sets by JWKS URL. */
  readonly remoteKeySets: BoundedMap<string, ReturnType<typeof createRemoteJWKSet>>;
  /** Sources' IP allowlists, parsed. */
  readonly ipLists: BoundedMap<string, BlockList>;
  /** Webhook signing keys (the decoded secret) by their sealed secret (src/core/webhooks/delivery.ts). */
  readonly webhookKeys: BoundedMap<string, Buffer>;
}

export interface Core {
  readonly store: Store;
  readonly masterKey: MasterKey;
  readonly settings: CoreSettings;
  readonly lookups: Lookups;
  readonly throttle: Throttle;
  readonly telemetry: Telemetry;
  readonly caches: Caches;
  /** Every app, read at most every appRefreshMs (src/core/apps.ts). */
  readonly apps: AppDirectory;
  /** Failures counted while throttled, written as one audit row per burst. */
  readonly failureBursts: FailureBursts;
  now(): number;
}

export function createCore(store: Store, masterKey: MasterKey, settings: CoreSettings, options: { telemetry?: Telemetry; now?: () => number } = {}): Core {
  const now = options.now ?? Date.now;
  const caches: Caches = {
    hmacKeys: new BoundedMap(1000),
    signingKeys: new BoundedMap(100),
    verifiedCallerJwts: new BoundedMap(10_000),
    remoteKeySets: new BoundedMap(1000),
    ipLists: new BoundedMap(1000),
    webhookKeys: new BoundedMap(1000),
  };
  const core: Core = {
    store,
    masterKey,
    settings,
    lookups: createLookups(store),
    throttle: new Throttle(settings.throttle, now),
    telemetry: options.telemetry ?? silentTelemetry,
    caches,
    apps: new AppDirectory(() => core, settings.appRefreshMs),
    failureBursts: new FailureBursts({
      write: (events) => store.write({ statements: events.map((event) => auditStatement(core, event)), decode: () => undefined }),
      now,
      quietMs: settings.throttle.windowSeconds * 1000,
    }),
    now,
  };
  return core;
}
