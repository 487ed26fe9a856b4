// Apps (SPEC §6): the relying parties that receive ssod's users — OpenID
// Connect clients and hosts behind forward auth — with one access rule and
// one way back to the portal for a browser without a session, used by both.
import { and, asc, eq, ne, type SQL, sql } from "drizzle-orm";
import * as v from "valibot";
import { apps } from "../store/schema";
import { type Actor, actorName, auditInsert, auditInsertFrom } from "./audit";
import { applyChange, type UniqueFields } from "./changes";
import type { Core } from "./context";
import { randomSecret } from "./crypto";
import { CoreError } from "./errors";
import { outboundUrlProblem } from "./outbound";
import { ensureSigningKey } from "./signing-keys";
import { isoTimeSql, outboxInsert } from "./webhooks/outbox";

// ---- field rules, shared by every way apps are managed ----

export const AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"] as const;
export const ID_TOKEN_ALGS = ["RS256", "ES256", "EdDSA"] as const;

/** Absolute, exact, no fragment; https, or http for a loopback host (a developer's machine). */
function redirectUriProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return "must be an absolute URL";
  }
  if (url.hash || text.includes("#")) return "must not have a fragment (#…)";
  if (url.username || url.password) return "must not hold a user name or password";
  return outboundUrlProblem(url, false);
}

const uri = v.pipe(
  v.string(),
  v.maxLength(2048, "must have at most 2048 characters"),
  v.rawCheck(({ dataset, addIssue }) => {
    const problem = dataset.typed ? redirectUriProblem(dataset.value) : undefined;
    if (problem) addIssue({ message: problem });
  }),
);
export const uriListSchema = v.pipe(v.array(uri), v.maxLength(20, "must have at most 20 URIs"));
export const appUriSchema = uri;

/** A host name a proxy forwards (`app.example.com`), or one label of wildcard (`*.example.com`); no port. */
export const forwardAuthHostSchema = v.pipe(
  v.string(),
  v.transform((s) => s.trim().toLowerCase()),
  v.regex(
    /^(\*\.)?(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/,
    "must be a host name (app.example.com) or a wildcard of one label (*.example.com), without a port",
  ),
);
const pathPrefixSchema = v.pipe(v.string(), v.regex(/^\/[^\s?#]*$/, "must be a path starting with / (no query or fragment)"), v.maxLength(512));
export const forwardAuthSchema = v.nullable(
  v.object({
    hosts: v.pipe(v.array(forwardAuthHostSchema), v.minLength(1, "must name at least one host"), v.maxLength(50, "must have at most 50 hosts")),
    pathPrefixes: v.optional(v.pipe(v.array(pathPrefixSchema), v.minLength(1, "must have at least one prefix"), v.maxLength(50)), ["/"]),
  }),
);
export const namesSchema = v.pipe(v.array(v.pipe(v.string(), v.minLength(1), v.maxLength(128))), v.maxLength(100, "must have at most 100 entries"));

// ---- the record ----

type AuthMethod = (typeof AUTH_METHODS)[number];
type IdTokenAlg = (typeof ID_TOKEN_ALGS)[number];

export interface App {
  id: number;
  name: string;
  clientId: string;
  tokenEndpointAuthMethod: AuthMethod;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  initiateLoginUri: string | null;
  loginUrl: string | null;
  allowedGroups: string[];
  orgIds: string[];
  idTokenSignedResponseAlg: IdTokenAlg;
  forwardAuth: { hosts: string[]; pathPrefixes: string[] } | null;
  createdAt: number;
  updatedAt: number;
  /** Sealed with the master key; never leaves the core but to the OpenID Connect provider. */
  clientSecretEnc: string | null;
}

type AppRow = typeof apps.$inferSelect;

function toApp(row: AppRow): App {
  return {
    id: row.id,
    name: row.name,
    clientId: row.clientId,
    tokenEndpointAuthMethod: row.tokenEndpointAuthMethod as AuthMethod,
    redirectUris: JSON.parse(row.redirectUris) as string[],
    postLogoutRedirectUris: JSON.parse(row.postLogoutRedirectUris) as string[],
    initiateLoginUri: row.initiateLoginUri,
    loginUrl: row.loginUrl,
    allowedGroups: JSON.parse(row.allowedGroups) as string[],
    orgIds: JSON.parse(row.orgIds) as string[],
    idTokenSignedResponseAlg: row.idTokenSignedResponseAlg as IdTokenAlg,
    forwardAuth:
      row.forwardAuthHosts === null
        ? null
        : { hosts: JSON.parse(row.forwardAuthHosts) as string[], pathPrefixes: JSON.parse(row.forwardAuthPathPrefixes) as string[] },
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    clientSecretEnc: row.clientSecretEnc,
  };
}

/** SQL: the app in row `a` as GET /v1/apps/{id} shows it (a JSON object; never its secret), for its events. */
function appJsonSql(a: string): string {
  return `json_object('id', ${a}.id, 'name', ${a}.name, 'clientId', ${a}.client_id,
  'tokenEndpointAuthMethod', ${a}.token_endpoint_auth_method, 'redirectUris', json(${a}.redirect_uris),
  'postLogoutRedirectUris', json(${a}.post_logout_redirect_uris), 'initiateLoginUri', ${a}.initiate_login_uri,
  'loginUrl', ${a}.login_url, 'allowedGroups', json(${a}.allowed_groups), 'orgIds', json(${a}.org_ids),
  'idTokenSignedResponseAlg', ${a}.id_token_signed_response_alg,
  'forwardAuth', json(CASE WHEN ${a}.forward_auth_hosts IS NOT NULL THEN json_object('hosts', json(${a}.forward_auth_hosts),
    'pathPrefixes', json(${a}.forward_auth_path_prefixes)) END),
  'createdAt', ${isoTimeSql(`${a}.created_at`)}, 'updatedAt', ${isoTimeSql(`${a}.updated_at`)})`;
}

/** The event of each app that `where` selects, read from its row as the batch has it at that point. */
const appEvent = (core: Core, type: "app.created" | "app.updated" | "app.deleted", where: SQL) =>
  outboxInsert(core, type, sql.raw(appJsonSql("apps")), { table: apps, where });

// ---- the directory: every app, read at most every SSOD_APP_REFRESH_MS ----

/**
 * All apps, as this instance last read them. Forward auth and the OpenID
 * Connect provider consult them on every request, and SPEC §8 allows a
 * decision one store read (the session): so the list is kept in memory and
 * read again at most every `refreshMs` — a change made on another instance
 * is seen within that time; one made here, at once.
 */
export class AppDirectory {
  readonly #core: () => Core;
  readonly #refreshMs: number;
  #apps: App[] = [];
  #readAt = Number.NEGATIVE_INFINITY;
  #reading: Promise<App[]> | undefined;

  constructor(core: () => Core, refreshMs: number) {
    this.#core = core;
    this.#refreshMs = refreshMs;
  }

  async all(): Promise<App[]> {
    if (performance.now() - this.#readAt < this.#refreshMs) return this.#apps;
    this.#reading ??= this.#read().finally(() => {
      this.#reading = undefined;
    });
    return this.#reading;
  }

  /** Forgets what was read: the next call reads the store (after a change made here). */
  invalidate(): void {
    this.#readAt = Number.NEGATIVE_INFINITY;
  }

  async #read(): Promise<App[]> {
    const started = performance.now();
    const rows = await this.#core().store.db.select().from(apps).orderBy(asc(apps.id));
    this.#apps = rows.map(toApp);
    this.#readAt = started;
    return this.#apps;
  }
}

// ---- the rule, the way back, the hosts ----

export interface Entrant {
  groups: string[];
  orgId: string;
}

/** SPEC §6: a user may enter when `allowedGroups` is empty or shares a group, and `orgIds` is empty or holds the user's org. */
export function appAdmits(app: Pick<App, "allowedGroups" | "orgIds">, user: Entrant): boolean {
  const groupOk = app.allowedGroups.length === 0 || user.groups.some((g) => app.allowedGroups.includes(g));
  const orgOk = app.orgIds.length === 0 || app.orgIds.includes(user.orgId);
  return groupOk && orgOk;
}

/** Audits a refusal of the access rule (OpenID Connect answers access_denied, forward auth 403). */
export function recordAccessDenied(core: Core, app: App, user: { id: string }, via: "oidc" | "forward-auth", ip: string | null): Promise<void> {
  return core.store.write({
    statements: [
      {
        sql: "INSERT INTO audit_events (at, actor, action, target, outcome, ip, user_id, detail) VALUES (?, ?, 'app.access_denied', ?, 'failure', ?, ?, ?)",
        args: [core.now(), `user:${user.id}`, app.clientId, ip, user.id, JSON.stringify({ app: app.id, via })],
      },
    ],
    decode: () => undefined,
  });
}

/**
 * Where a browser without a valid session goes: the app's loginUrl, else
 * SSOD_LOGIN_URL, with `return_to` added (with `&` when the URL already has a
 * query). Undefined: no portal is named, show the "sign in through your
 * portal" page.
 */
export function loginUrlFor(core: Core, app: Pick<App, "loginUrl"> | undefined, returnTo: string): string | undefined {
  const base = app?.loginUrl ?? core.settings.loginUrl;
  if (!base) return undefined;
  const url = new URL(base);
  url.searchParams.append("return_to", returnTo);
  return url.href;
}

/** How `host` (no port, lower case) is among `hosts`: 2 exactly, 1 under a one-label wildcard, 0 not at all. */
function hostMatch(hosts: readonly string[], host: string): 0 | 1 | 2 {
  if (hosts.includes(host)) return 2;
  const dot = host.indexOf(".");
  return dot > 0 && hosts.includes(`*${host.slice(dot)}`) ? 1 : 0;
}

const hostMatches = (hosts: readonly string[], host: string) => hostMatch(hosts, host) > 0;

/**
 * The apps that protect a URL: the most specific match decides — a host named
 * exactly before a wildcard, then the longest path prefix. Apps that match
 * equally (two apps naming the same host and prefix) all decide together: a
 * request must pass every one of their rules, so adding a stricter app beside
 * an open one never leaves the host open. Empty when no app protects it.
 */
export function protectingApps(all: readonly App[], host: string, path: string): App[] {
  let best: App[] = [];
  let bestRank = -1;
  for (const app of all) {
    const match = app.forwardAuth ? hostMatch(app.forwardAuth.hosts, host) : 0;
    if (match === 0) continue;
    let length = -1;
    for (const prefix of app.forwardAuth!.pathPrefixes) if (path.startsWith(prefix) && prefix.length > length) length = prefix.length;
    if (length < 0) continue;
    // Host specificity first, then the prefix's length.
    const rank = match * 100_000 + length;
    if (rank > bestRank) [best, bestRank] = [[app], rank];
    else if (rank === bestRank) best.push(app);
  }
  return best;
}

/** Whether some app protects `host` behind forward auth (a token may send the browser back there). */
export async function isProtectedHost(core: Core, host: string): Promise<boolean> {
  return (await core.apps.all()).some((app) => app.forwardAuth && hostMatches(app.forwardAuth.hosts, host.toLowerCase()));
}

// ---- reads ----

export async function listApps(core: Core): Promise<App[]> {
  return (await core.store.db.select().from(apps).orderBy(asc(apps.id))).map(toApp);
}

/** An app by numeric id, or by client id. */
export async function findApp(core: Core, ref: string): Promise<App | undefined> {
  const row = await core.store.db
    .select()
    .from(apps)
    .where(/^\d{1,15}$/.test(ref) ? eq(apps.id, Number(ref)) : eq(apps.clientId, ref))
    .get();
  return row ? toApp(row) : undefined;
}

// ---- writes ----

export interface AppInput {
  name: string;
  tokenEndpointAuthMethod?: AuthMethod | undefined;
  redirectUris?: string[] | undefined;
  postLogoutRedirectUris?: string[] | undefined;
  initiateLoginUri?: string | null | undefined;
  loginUrl?: string | null | undefined;
  allowedGroups?: string[] | undefined;
  orgIds?: string[] | undefined;
  idTokenSignedResponseAlg?: IdTokenAlg | undefined;
  forwardAuth?: { hosts: string[]; pathPrefixes: string[] } | null | undefined;
}

export type AppPatch = Partial<AppInput>;

export interface ChangeContext {
  actor: Actor;
  ip: string | null;
}

const APP_UNIQUE: UniqueFields = { "apps.client_id": { field: "clientId", message: "another app has this clientId" } };

type AppColumns = Partial<typeof apps.$inferInsert>;

/** The columns a patch writes, and only those. */
function columnsOf(patch: AppPatch): AppColumns {
  const set: AppColumns = {};
  if (patch.name !== undefined) set.name = patch.name;
  if (patch.tokenEndpointAuthMethod !== undefined) set.tokenEndpointAuthMethod = patch.tokenEndpointAuthMethod;
  // Stored as parsed, so the exact comparison at the authorization endpoint compares like with like.
  if (patch.redirectUris !== undefined) set.redirectUris = JSON.stringify(patch.redirectUris.map((u) => new URL(u).href));
  if (patch.postLogoutRedirectUris !== undefined) set.postLogoutRedirectUris = JSON.stringify(patch.postLogoutRedirectUris.map((u) => new URL(u).href));
  if (patch.initiateLoginUri !== undefined) set.initiateLoginUri = patch.initiateLoginUri;
  if (patch.loginUrl !== undefined) set.loginUrl = patch.loginUrl;
  if (patch.allowedGroups !== undefined) set.allowedGroups = JSON.stringify([...new Set(patch.allowedGroups)]);
  if (patch.orgIds !== undefined) set.orgIds = JSON.stringify([...new Set(patch.orgIds)]);
  if (patch.idTokenSignedResponseAlg !== undefined) set.idTokenSignedResponseAlg = patch.idTokenSignedResponseAlg;
  if (patch.forwardAuth !== undefined) {
    set.forwardAuthHosts = patch.forwardAuth ? JSON.stringify([...new Set(patch.forwardAuth.hosts)]) : null;
    if (patch.forwardAuth) set.forwardAuthPathPrefixes = JSON.stringify([...new Set(patch.forwardAuth.pathPrefixes)]);
  }
  return set;
}

const newSecret = () => `ssod_as_${randomSecret()}`;

/** An app that wants ES256 ID tokens gets a P-256 key made for it, published from now on (SPEC §7). */
async function keyFor(core: Core, input: AppPatch): Promise<void> {
  if (input.idTokenSignedResponseAlg === "ES256") await ensureSigningKey(core, "ES256");
}

/**
 * Refuses a forward-auth host and path prefix that another app already
 * protects: which of the two decided would be a surprise. (Two concurrent
 * writes may still both pass; then both apps decide together, see
 * protectingApps, which fails closed.)
 */
async function refuseTakenRoutes(core: Core, forwardAuth: AppPatch["forwardAuth"], self?: number): Promise<void> {
  if (!forwardAuth) return;
  for (const other of await listApps(core)) {
    if (other.id === self || !other.forwardAuth) continue;
    const host = forwardAuth.hosts.find((h) => other.forwardAuth!.hosts.includes(h));
    const prefix = host && forwardAuth.pathPrefixes.find((p) => other.forwardAuth!.pathPrefixes.includes(p));
    if (host && prefix) {
      throw new CoreError("conflict", `app ${other.id} (${other.name}) already protects ${host} under ${prefix}`, [
        { field: "forwardAuth", message: `${host} ${prefix} is protected by app ${other.id}` },
      ]);
    }
  }
}

/** Creates an app; a confidential one gets a client secret, answered this once. */
export async function createApp(core: Core, input: AppInput, context: ChangeContext): Promise<{ app: App; clientSecret: string | null }> {
  await refuseTakenRoutes(core, input.forwardAuth);
  await keyFor(core, input);
  const now = core.now();
  const clientSecret = (input.tokenEndpointAuthMethod ?? "client_secret_basic") === "none" ? null : newSecret();
  const clientId = `app_${randomSecret(12)}`;
  const [rows] = await applyChange(
    core,
    [
      core.store.db
        .insert(apps)
        .values({
          ...columnsOf(input),
          name: input.name,
          clientId,
          clientSecretEnc: clientSecret ? core.masterKey.seal(clientSecret, "app_client_secret") : null,
          createdAt: now,
          updatedAt: now,
        })
        .returning(),
      auditInsert(core, {
        actor: actorName(context.actor),
        action: "app.create",
        outcome: "success",
        target: clientId,
        ip: context.ip,
        detail: { name: input.name },
      }),
      appEvent(core, "app.created", eq(apps.clientId, clientId)),
    ],
    APP_UNIQUE,
  );
  core.apps.invalidate();
  return { app: toApp(rows[0]!), clientSecret };
}

/**
 * Writes the fields a patch gives, and no others, in one statement. An app
 * turned public loses its secret; one turned confidential gets one (answered).
 */
export async function updateApp(core: Core, id: number, patch: AppPatch, context: ChangeContext): Promise<{ app: App; clientSecret: string | null }> {
  await refuseTakenRoutes(core, patch.forwardAuth, id);
  await keyFor(core, patch);
  const target = eq(apps.id, id);
  const clientSecret = patch.tokenEndpointAuthMethod && patch.tokenEndpointAuthMethod !== "none" ? newSecret() : null;
  const secretColumns: AppColumns =
    patch.tokenEndpointAuthMethod === "none"
      ? { clientSecretEnc: null }
      : clientSecret
        ? // A confidential app keeps the secret it has; only one turning confidential now gets this one.
          { clientSecretEnc: sql`coalesce(${apps.clientSecretEnc}, ${core.masterKey.seal(clientSecret, "app_client_secret")})` as unknown as string }
        : {};
  const [, rows] = await applyChange(
    core,
    [
      auditInsertFrom(
        core,
        {
          actor: actorName(context.actor),
          action: "app.update",
          outcome: "success",
          target: sql`${apps.clientId}`,
          ip: context.ip,
          detail: { fields: Object.keys(patch) },
        },
        apps,
        target,
      ),
      core.store.db
        .update(apps)
        .set({ ...columnsOf(patch), ...secretColumns, updatedAt: core.now() })
        .where(target)
        .returning(),
      appEvent(core, "app.updated", target),
    ],
    APP_UNIQUE,
  );
  core.apps.invalidate();
  if (!rows[0]) throw new CoreError("not_found", "no such app");
  const app = toApp(rows[0]);
  // Answered only when it is the one now stored (the app was public until now).
  const shown =
    clientSecret && app.clientSecretEnc && core.masterKey.open(app.clientSecretEnc, "app_client_secret").toString("utf8") === clientSecret
      ? clientSecret
      : null;
  return { app, clientSecret: shown };
}

export async function deleteApp(core: Core, id: number, context: ChangeContext): Promise<boolean> {
  const target = eq(apps.id, id);
  const [, , deleted] = await applyChange(core, [
    auditInsertFrom(
      core,
      { actor: actorName(context.actor), action: "app.delete", outcome: "success", target: sql`${apps.clientId}`, ip: context.ip },
      apps,
      target,
    ),
    appEvent(core, "app.deleted", target),
    core.store.db.delete(apps).where(target).returning({ id: apps.id }),
  ]);
  core.apps.invalidate();
  return deleted.length > 0;
}

/** A new client secret; the old one stops working at once. A public app has none to rotate. */
export async function rotateAppSecret(core: Core, id: number, context: ChangeContext): Promise<{ app: App; clientSecret: string }> {
  const clientSecret = newSecret();
  const target = and(eq(apps.id, id), ne(apps.tokenEndpointAuthMethod, "none"))!;
  const [, rows] = await applyChange(core, [
    auditInsertFrom(
      core,
      { actor: actorName(context.actor), action: "app.rotate_secret", outcome: "success", target: sql`${apps.clientId}`, ip: context.ip },
      apps,
      target,
    ),
    core.store.db
      .update(apps)
      .set({ clientSecretEnc: core.masterKey.seal(clientSecret, "app_client_secret"), updatedAt: core.now() })
      .where(target)
      .returning(),
    // The app as GET shows it changed only in updatedAt, but its clients must now use the new secret.
    appEvent(core, "app.updated", target),
  ]);
  core.apps.invalidate();
  if (rows[0]) return { app: toApp(rows[0]), clientSecret };
  if (await findApp(core, String(id)))
    throw new CoreError("forbidden", 'a public app (tokenEndpointAuthMethod "none") has no client secret', [
      { field: "tokenEndpointAuthMethod", message: "is none" },
    ]);
  throw new CoreError("not_found", "no such app");
}

/** The app's client secret in the clear, for the OpenID Connect provider's own constant-time comparison. */
export function clientSecretOf(core: Core, app: App): string | undefined {
  return app.clientSecretEnc ? core.masterKey.open(app.clientSecretEnc, "app_client_secret").toString("utf8") : undefined;
}
