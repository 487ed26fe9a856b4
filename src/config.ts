// Configuration: the environment variables of SPEC §4 (and a few of ours),
// each overridable by a flag, each validated at start with a message that
// names the variable and the expected form.
import { isIP } from "node:net";
import * as v from "valibot";
import { ADMIN_KEY_PATTERN } from "./core/admin-keys";
import { MasterKey } from "./core/crypto";
import { ConfigError } from "./core/errors";

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

const integer = (min: number, max: number) =>
  v.pipe(
    v.string(),
    v.regex(/^\d+$/, `an integer from ${min} to ${max}`),
    v.transform(Number),
    v.minValue(min, `an integer from ${min} to ${max}`),
    v.maxValue(max, `an integer from ${min} to ${max}`),
  );

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d{1,9})(ms|s|m|h|d)$/;

/** "250ms", "5s", "30m", "2h", "1d" → milliseconds. */
const durationMs = (text: string) => {
  const [, amount, unit] = DURATION.exec(text.trim())!;
  return Number(amount) * DURATION_UNITS[unit!]!;
};

/** A duration with its unit, from `min` to `max` milliseconds. */
const duration = (min: number, max: number, words: string) =>
  v.pipe(
    v.string(),
    v.check((s) => DURATION.test(s.trim()), words),
    v.transform(durationMs),
    v.check((ms) => ms >= min && ms <= max, words),
  );

/** Comma-separated durations: the retry schedule of webhook deliveries. */
const durations = v.pipe(
  v.string(),
  v.transform((s) => s.split(",").map((d) => d.trim())),
  v.check(
    (list) => list.length >= 1 && list.length <= 20 && list.every((d) => DURATION.test(d) && durationMs(d) >= 100 && durationMs(d) <= 7 * 86_400_000),
    "1 to 20 comma-separated durations from 100ms to 7d, each with its unit (ms, s, m, h, d), e.g. 5s,5m,30m",
  ),
  v.transform((list) => list.map(durationMs)),
);

const boolean = v.pipe(
  v.string(),
  v.transform((s) => s.trim().toLowerCase()),
  v.picklist(["true", "false", "1", "0"], "true or false"),
  v.transform((s) => s === "true" || s === "1"),
);

const storeUrl = v.pipe(v.string(), v.regex(/^(file|libsql|https?|wss?):/i, "a file:, libsql://, http(s):// or ws(s):// URL"));

const httpBase = v.pipe(
  v.string(),
  v.check((s) => {
    try {
      return /^https?:$/.test(new URL(s).protocol);
    } catch {
      return false;
    }
  }, "an absolute http:// or https:// URL"),
  v.transform((s) => s.replace(/\/+$/, "")),
);

/** A cookie Domain: a host name, with or without its leading dot (`.example.com`); no scheme, no port. */
const cookieDomain = v.pipe(
  v.string(),
  v.transform((s) => s.trim().toLowerCase()),
  v.regex(/^\.?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/, "a domain name such as .example.com (no scheme, no port)"),
);

function isProxyRule(rule: string): boolean {
  const [address, prefix] = rule.split("/");
  return isIP(address ?? "") > 0 && (prefix === undefined || /^\d{1,3}$/.test(prefix));
}

/** false (ignore X-Forwarded-For), true (trust it from any peer), or the proxies to trust it from. */
const trustProxy = v.pipe(
  v.string(),
  v.transform((s) => s.trim().toLowerCase()),
  v.check(
    (s) => ["true", "false", "1", "0", ""].includes(s) || s.split(",").every((r) => isProxyRule(r.trim())),
    "true, false, or a comma-separated list of proxy IPs/CIDRs",
  ),
  v.transform((s): boolean | string[] => {
    if (s === "true" || s === "1") return true;
    if (s === "false" || s === "0" || s === "") return false;
    return s.split(",").map((r) => r.trim());
  }),
);

/** Every setting: its variable, its flag, its rule, its default and what it is for. */
export const SETTINGS = {
  databaseUrl: {
    env: "SSOD_DATABASE_URL",
    schema: storeUrl,
    default: "file:./data/ssod.db",
    help: "Store: a file (embedded libSQL) or a libSQL server (sqld, Turso)",
  },
  databaseAuthToken: {
    env: "SSOD_DATABASE_AUTH_TOKEN",
    schema: v.pipe(v.string(), v.minLength(1, "a non-empty token")),
    help: "Auth token for a remote store",
  },
  host: { env: "SSOD_HOST", schema: v.pipe(v.string(), v.minLength(1, "a host name or IP address")), default: "0.0.0.0", help: "Address to listen on" },
  port: { env: "SSOD_PORT", schema: integer(0, 65535), default: "8080", help: "Port to listen on (0: any free port)" },
  publicUrl: { env: "SSOD_PUBLIC_URL", schema: httpBase, help: "URL browsers reach ssod at (default http://localhost:<port>)" },
  adminApiKey: {
    env: "SSOD_ADMIN_API_KEY",
    schema: v.pipe(v.string(), v.regex(ADMIN_KEY_PATTERN, "ssod_ak_ followed by 43 base64url characters")),
    help: "An admin key to accept (stored hashed at start)",
  },
  masterKey: {
    env: "SSOD_MASTER_KEY",
    schema: v.pipe(
      v.string(),
      v.check((s) => MasterKey.parse(s) !== undefined, "32 bytes as 43 base64url characters or 64 hex digits"),
    ),
    help: "Seals stored secrets (signing and client secrets, private keys); required with a remote store",
  },
  logLevel: { env: "SSOD_LOG_LEVEL", schema: v.picklist(LOG_LEVELS, `one of ${LOG_LEVELS.join(", ")}`), default: "info", help: "Log level" },
  trustProxy: { env: "SSOD_TRUST_PROXY", schema: trustProxy, default: "false", help: "Honour X-Forwarded-For: false, true, or proxy IPs/CIDRs" },
  sessionTtl: { env: "SSOD_SESSION_TTL", schema: integer(60, 31_536_000), default: "28800", help: "Login session lifetime, seconds" },
  adminSessionTtl: { env: "SSOD_ADMIN_SESSION_TTL", schema: integer(60, 604_800), default: "3600", help: "Legacy admin SessionID lifetime, seconds" },
  clockSkew: { env: "SSOD_CLOCK_SKEW", schema: integer(0, 600), default: "30", help: "Tolerance for caller JWT times, seconds" },
  throttleIpLimit: { env: "SSOD_THROTTLE_IP_LIMIT", schema: integer(1, 1_000_000), default: "30", help: "Failures per client IP per window before 429" },
  throttleCredentialLimit: {
    env: "SSOD_THROTTLE_CREDENTIAL_LIMIT",
    schema: integer(1, 1_000_000),
    default: "10",
    help: "Failures per credential (username, client id) per window before 429",
  },
  throttleWindow: { env: "SSOD_THROTTLE_WINDOW", schema: integer(1, 86_400), default: "60", help: "Throttling window, seconds" },
  sweepInterval: { env: "SSOD_SWEEP_INTERVAL", schema: integer(1, 86_400), default: "60", help: "How often expired rows are swept, seconds" },
  sweepGrace: { env: "SSOD_SWEEP_GRACE", schema: integer(0, 31_536_000), default: "3600", help: "How long expired tokens and sessions are kept, seconds" },
  requestTimeout: { env: "SSOD_REQUEST_TIMEOUT", schema: integer(1, 600), default: "30", help: "Longest a request may take, seconds" },
  cacheDir: {
    env: "SSOD_CACHE_DIR",
    schema: v.pipe(v.string(), v.minLength(1, "a folder path")),
    help: "Where the single file writes libSQL's native binding (default $XDG_CACHE_HOME/ssod, ~/.cache/ssod or the temp folder)",
  },
  metricsToken: {
    env: "SSOD_METRICS_TOKEN",
    schema: v.pipe(v.string(), v.minLength(16, "at least 16 characters")),
    help: "When set, GET /metrics wants Authorization: Bearer <this token>",
  },
  loginUrl: {
    env: "SSOD_LOGIN_URL",
    schema: httpBase,
    help: "The portal page that starts a hand-off for a browser without a session; it gets ?return_to=<where to come back>",
  },
  keyPublishLead: {
    env: "SSOD_KEY_PUBLISH_LEAD",
    schema: integer(0, 86_400),
    default: "300",
    help: "How long a rotated-in signing key is published before it signs, seconds (the JWKS is cacheable this long)",
  },
  keyCheckMs: {
    env: "SSOD_KEY_CHECK_MS",
    schema: integer(0, 600_000),
    default: "5000",
    help: "How often an instance looks for a new signing key set for OpenID Connect, ms",
  },
  cookieDomain: {
    env: "SSOD_COOKIE_DOMAIN",
    schema: cookieDomain,
    help: "The session cookie's Domain (e.g. .example.com), so that it reaches the hosts forward auth protects",
  },
  appRefreshMs: {
    env: "SSOD_APP_REFRESH_MS",
    schema: integer(0, 600_000),
    default: "2000",
    help: "How often an instance reads the apps again, ms (a change made on another instance is seen within this)",
  },
  storeTimeout: { env: "SSOD_STORE_TIMEOUT", schema: integer(1, 600), default: "5", help: "Longest a store call may take before a 503, seconds" },
  webhookAllowHttp: {
    env: "SSOD_WEBHOOK_ALLOW_HTTP",
    schema: boolean,
    default: "false",
    help: "Let webhook endpoints use plain http to any host (otherwise https, or http to a loopback host); link-local addresses stay refused",
  },
  webhookTimeout: { env: "SSOD_WEBHOOK_TIMEOUT", schema: integer(1, 300), default: "15", help: "Longest a webhook delivery attempt may take, seconds" },
  webhookLeaseMargin: {
    env: "SSOD_WEBHOOK_LEASE_MARGIN",
    schema: integer(1, 15),
    default: "15",
    help: "How long a claimed delivery stays leased beyond the delivery timeout, seconds: an instance that dies mid-delivery gives it up after timeout + margin",
  },
  webhookRetrySchedule: {
    env: "SSOD_WEBHOOK_RETRY_SCHEDULE",
    schema: durations,
    default: "5s,5m,30m,2h,5h,10h,10h",
    help: "Waits between a failed webhook attempt and the next (each ±10% jitter); after the last the delivery is failed",
  },
  webhookPollInterval: {
    env: "SSOD_WEBHOOK_POLL_INTERVAL",
    schema: duration(10, 600_000, "a duration from 10ms to 10m with its unit, e.g. 1s or 250ms"),
    default: "1s",
    help: "How often each instance looks for webhook deliveries that are due",
  },
  webhookRetention: {
    env: "SSOD_WEBHOOK_RETENTION",
    schema: integer(0, 31_536_000),
    default: "604800",
    help: "How long delivered and failed webhook deliveries stay in the log, seconds",
  },
  webhookDisableAfter: {
    env: "SSOD_WEBHOOK_DISABLE_AFTER",
    schema: integer(1, 31_536_000),
    default: "432000",
    help: "An endpoint whose every delivery has failed for this long is disabled, seconds",
  },
  webhookConcurrency: {
    env: "SSOD_WEBHOOK_CONCURRENCY",
    schema: integer(1, 1000),
    default: "16",
    help: "Webhook deliveries in flight at once, per instance",
  },
  webhookEndpointConcurrency: {
    env: "SSOD_WEBHOOK_ENDPOINT_CONCURRENCY",
    schema: integer(1, 100),
    default: "4",
    help: "Deliveries in flight at once to one endpoint, all instances together",
  },
} as const;

type Settings = typeof SETTINGS;
type Key = keyof Settings;
type Parsed = { [K in Key]: Settings[K] extends { default: string } ? v.InferOutput<Settings[K]["schema"]> : v.InferOutput<Settings[K]["schema"]> | undefined };

export type Config = Parsed;

export { ConfigError };

/** `SSOD_DATABASE_URL` → `--database-url`. */
export function flagOf(env: string): string {
  return env
    .replace(/^SSOD_/, "")
    .toLowerCase()
    .replaceAll("_", "-");
}

/** Reads the configuration: flags first, then the environment, then defaults. */
export function loadConfig(env: NodeJS.ProcessEnv, flags: Record<string, string | undefined> = {}): Config {
  const parsed: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, setting] of Object.entries(SETTINGS) as [Key, Settings[Key]][]) {
    const flag = flagOf(setting.env);
    const fromFlag = flags[flag];
    const raw = fromFlag ?? env[setting.env] ?? ("default" in setting ? setting.default : undefined);
    if (raw === undefined || (raw === "" && !("default" in setting))) continue;
    const result = v.safeParse(setting.schema as v.GenericSchema<string, unknown>, raw);
    if (result.success) parsed[key] = result.output;
    else {
      const origin = fromFlag !== undefined ? `--${flag}` : setting.env;
      // Secrets are never echoed back, even when malformed.
      const shown = /KEY|TOKEN/.test(setting.env) ? "(hidden)" : JSON.stringify(raw);
      problems.push(`${origin}: expected ${result.issues[0].message}, got ${shown}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems.join("\n"));
  return parsed as unknown as Config;
}
