// SSO sources (SPEC §1): the trusted issuers, their options and credentials.
import { BlockList, isIP } from "node:net";
import { and, asc, eq, inArray, ne, type SQL, sql } from "drizzle-orm";
import * as v from "valibot";
import { ssoSources } from "../store/schema";
import { selectList } from "../store/select-list";
import { type Actor, actorName, auditInsert, auditInsertFrom } from "./audit";
import { applyChange, type UniqueFields } from "./changes";
import type { Core } from "./context";
import { randomSecret, sha256 } from "./crypto";
import { CoreError } from "./errors";
import { outboundUrlProblem } from "./outbound";
import { isoTimeSql, jsonBoolSql, outboxInsert } from "./webhooks/outbox";

export const DEFAULT_SOURCE_CODE = "default";
export const MAX_VALID_FOR_SECONDS = 365 * 24 * 3600;

// ---- field rules, shared by every dialect's request schemas ----

export const sourceCodeSchema = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9_-]+$/, "must contain only alphanumeric characters, underscores, and hyphens"),
  v.maxLength(64, "must be at most 64 characters"),
);
export const validForSecondsSchema = v.pipe(
  v.number(),
  v.integer("must be a whole number of seconds"),
  v.minValue(1, "must be >= 1"),
  v.maxValue(MAX_VALID_FOR_SECONDS, `must be <= ${MAX_VALID_FOR_SECONDS}`),
);

function isIpOrCidr(text: string): boolean {
  const [address, prefix, extra] = text.split("/");
  const family = isIP(address ?? "");
  if (!family || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}
export const ipRuleSchema = v.pipe(v.string(), v.check(isIpOrCidr, "must be an IPv4 or IPv6 address or CIDR block"));

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === "https:" || url.protocol === "http:";
  } catch {
    return false;
  }
}
export const httpUrlSchema = v.pipe(v.string(), v.maxLength(2048), v.check(isHttpUrl, "must be an absolute http(s) URL"));

// Where ssod may fetch keys from (SPEC §5): judged here, so a bad URL is a
// 400 when it is set rather than a 502 at every call; and again at fetch time.
const jwksUrlSchema = v.pipe(
  httpUrlSchema,
  v.rawCheck(({ dataset, addIssue }) => {
    const problem = dataset.typed ? outboundUrlProblem(dataset.value, false) : undefined;
    if (problem) addIssue({ message: problem });
  }),
);

export const identityProviderSchema = v.pipe(
  v.object({
    issuer: v.pipe(v.string(), v.minLength(1), v.maxLength(2048)),
    jwksUrl: jwksUrlSchema,
    audience: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(2048)))),
    requiredScope: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(256)))),
  }),
  v.transform(
    (idp): IdentityProvider => ({ issuer: idp.issuer, jwksUrl: idp.jwksUrl, audience: idp.audience ?? null, requiredScope: idp.requiredScope ?? null }),
  ),
);

/** An org id, as tokens carry it ("" is the default org). */
const orgIdSchema = v.pipe(v.string(), v.maxLength(128, "must have at most 128 characters"));
export const orgIdsSchema = v.pipe(v.array(orgIdSchema), v.maxLength(100, "must have at most 100 orgs"));
export const LANDINGS = ["direct", "confirm"] as const;
type Landing = (typeof LANDINGS)[number];

// ---- the record ----

interface SourceOptions {
  createNewUserIfNotExists: boolean;
  performLogin: boolean;
  returnUserData: boolean;
}

export interface IdentityProvider {
  issuer: string;
  jwksUrl: string;
  audience: string | null;
  requiredScope: string | null;
}

export interface Source {
  id: number;
  code: string;
  name: string;
  description: string;
  expiresAt: number | null;
  validForSeconds: number;
  options: SourceOptions;
  clientId: string;
  allowedIps: string[];
  redirectUrls: string[];
  identityProvider: IdentityProvider | null;
  /** With its own credentials, the source issues only for these orgs (empty: any). */
  orgIds: string[];
  /** Whether a browser landing consumes its tokens on GET, or only after a confirmation (SPEC §5 "Landings"). */
  landing: Landing;
  createdAt: number;
  updatedAt: number;
  /** Sealed or hashed; never leaves the core. */
  secrets: { clientSecretHash: string | null; clientSecretEnc: string | null; signingSecretEnc: string | null };
}

type SourceRow = typeof ssoSources.$inferSelect;

function toSource(row: SourceRow): Source {
  return {
    id: row.id,
    code: row.code,
    name: row.name,
    description: row.description,
    expiresAt: row.expiresAt,
    validForSeconds: row.validForSeconds,
    // Raw lookups return 0/1; Drizzle returns booleans.
    options: {
      createNewUserIfNotExists: Boolean(row.createUsers),
      performLogin: Boolean(row.performLogin),
      returnUserData: Boolean(row.returnUserData),
    },
    clientId: row.clientId,
    allowedIps: JSON.parse(row.allowedIps) as string[],
    redirectUrls: JSON.parse(row.redirectUrls) as string[],
    identityProvider:
      row.idpIssuer && row.idpJwksUrl
        ? { issuer: row.idpIssuer, jwksUrl: row.idpJwksUrl, audience: row.idpAudience, requiredScope: row.idpRequiredScope }
        : null,
    orgIds: JSON.parse(row.orgIds) as string[],
    landing: row.landing === "confirm" ? "confirm" : "direct",
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    secrets: { clientSecretHash: row.clientSecretHash, clientSecretEnc: row.clientSecretEnc, signingSecretEnc: row.signingSecretEnc },
  };
}

/** SQL: the source in row `s` as GET /v1/sources/{id} shows it (a JSON object; never a secret), for its events. */
function sourceJsonSql(s: string): string {
  const idp = `coalesce(${s}.idp_issuer, '') <> '' AND coalesce(${s}.idp_jwks_url, '') <> ''`;
  return `json_object('id', ${s}.id, 'code', ${s}.code, 'name', ${s}.name, 'description', ${s}.description,
  'expiresAt', ${isoTimeSql(`${s}.expires_at`)}, 'validForSeconds', ${s}.valid_for_seconds,
  'options', json_object('createNewUserIfNotExists', ${jsonBoolSql(`${s}.create_users`)}, 'performLogin', ${jsonBoolSql(`${s}.perform_login`)},
    'returnUserData', ${jsonBoolSql(`${s}.return_user_data`)}),
  'clientId', ${s}.client_id, 'allowedIps', json(${s}.allowed_ips), 'redirectUrls', json(${s}.redirect_urls),
  'identityProvider', json(CASE WHEN ${idp} THEN json_object('issuer', ${s}.idp_issuer, 'jwksUrl', ${s}.idp_jwks_url,
    'audience', ${s}.idp_audience, 'requiredScope', ${s}.idp_required_scope) END),
  'orgIds', json(${s}.org_ids), 'landing', iif(${s}.landing = 'confirm', 'confirm', 'direct'),
  'createdAt', ${isoTimeSql(`${s}.created_at`)}, 'updatedAt', ${isoTimeSql(`${s}.updated_at`)})`;
}

/** The event of each source that `where` selects, read from its row as the batch has it at that point. */
const sourceEvent = (core: Core, type: "source.created" | "source.updated" | "source.deleted", where: SQL) =>
  outboxInsert(core, type, sql.raw(sourceJsonSql("sso_sources")), { table: ssoSources, where });

export const sourceByClientIdLookup = {
  sql: `SELECT ${selectList(ssoSources)} FROM sso_sources WHERE client_id IN (SELECT value FROM json_each(?))`,
  keyColumn: "clientId",
  map: (row: Record<string, unknown>) => toSource(row as SourceRow),
};

export const sourceByCodeLookup = {
  sql: `SELECT ${selectList(ssoSources)} FROM sso_sources WHERE code IN (SELECT value FROM json_each(?))`,
  keyColumn: "code",
  map: (row: Record<string, unknown>) => toSource(row as SourceRow),
};

/** True when the source may issue tokens at this time. */
export function sourceIsActive(source: Source, now: number): boolean {
  return source.expiresAt === null || source.expiresAt > now;
}

// ---- IP allowlists ----

/** Whether an address is allowed by the source (an empty list allows everyone). */
export function ipAllowed(core: Core, source: Source, ip: string): boolean {
  if (source.allowedIps.length === 0) return true;
  const list = core.caches.ipLists.getOrMake(source.allowedIps.join(","), () => {
    const rules = new BlockList();
    for (const rule of source.allowedIps) {
      const [address, prefix] = rule.split("/") as [string, string | undefined];
      const family = isIP(address) === 6 ? "ipv6" : "ipv4";
      if (prefix === undefined) rules.addAddress(address, family);
      else rules.addSubnet(address, Number(prefix), family);
    }
    return rules;
  });
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
  const address = mapped ?? ip;
  const family = isIP(address);
  if (!family) return false;
  return list.check(address, family === 6 ? "ipv6" : "ipv4");
}

// ---- reads ----

export async function listSources(core: Core): Promise<Source[]> {
  const rows = await core.store.db.select().from(ssoSources).orderBy(asc(ssoSources.id));
  return rows.map(toSource);
}

export async function findSourceById(core: Core, id: number): Promise<Source | undefined> {
  const row = await core.store.db.select().from(ssoSources).where(eq(ssoSources.id, id)).get();
  return row ? toSource(row) : undefined;
}

async function findSourceByCode(core: Core, code: string): Promise<Source | undefined> {
  const row = await core.store.db.select().from(ssoSources).where(eq(ssoSources.code, code)).get();
  return row ? toSource(row) : undefined;
}

/** A source by numeric id, or by code when the reference is not all digits. */
export function findSource(core: Core, ref: string): Promise<Source | undefined> {
  return /^\d{1,15}$/.test(ref) ? findSourceById(core, Number(ref)) : findSourceByCode(core, ref);
}

/** Whether another source has the code (to report it with the request's other faults). */
export async function sourceCodeTaken(core: Core, code: string, exceptId?: number): Promise<boolean> {
  const found = await findSourceByCode(core, code);
  return found !== undefined && found.id !== exceptId;
}

// ---- writes ----

/** What a new source is made of; what is left out takes its default (options on, lists empty). */
export interface SourceInput {
  code: string;
  /** The public client id; generated when none is given (set it to an identity provider's app client id). */
  clientId?: string | undefined;
  name: string;
  description?: string | undefined;
  expiresAt?: number | null | undefined;
  validForSeconds: number;
  options?: Partial<SourceOptions> | undefined;
  allowedIps?: string[] | undefined;
  redirectUrls?: string[] | undefined;
  identityProvider?: IdentityProvider | null | undefined;
  orgIds?: string[] | undefined;
  landing?: Landing | undefined;
}

/** A partial change: only the fields given are written. */
export type SourcePatch = Partial<Omit<SourceInput, "options">> & { options?: Partial<SourceOptions> | undefined };

export interface ChangeContext {
  actor: Actor;
  ip: string | null;
}

export interface IssuedSecrets {
  clientSecret: string;
  signingSecret: string;
}

const SOURCE_UNIQUE: UniqueFields = {
  "sso_sources.code": { field: "code", message: "sourcecode already exists" },
  "sso_sources.client_id": { field: "clientId", message: "another source has this clientId" },
};

type SourceColumns = Partial<typeof ssoSources.$inferInsert>;

/** The columns a patch writes, and only those. */
function columnsOf(patch: SourcePatch): SourceColumns {
  const set: SourceColumns = {};
  if (patch.code !== undefined) set.code = patch.code;
  if (patch.clientId !== undefined) set.clientId = patch.clientId;
  if (patch.name !== undefined) set.name = patch.name;
  if (patch.description !== undefined) set.description = patch.description;
  if (patch.expiresAt !== undefined) set.expiresAt = patch.expiresAt;
  if (patch.validForSeconds !== undefined) set.validForSeconds = patch.validForSeconds;
  if (patch.options?.createNewUserIfNotExists !== undefined) set.createUsers = patch.options.createNewUserIfNotExists;
  if (patch.options?.performLogin !== undefined) set.performLogin = patch.options.performLogin;
  if (patch.options?.returnUserData !== undefined) set.returnUserData = patch.options.returnUserData;
  if (patch.allowedIps !== undefined) set.allowedIps = JSON.stringify(patch.allowedIps);
  // Stored as parsed, so the exact comparison at redemption compares like with like.
  if (patch.redirectUrls !== undefined) set.redirectUrls = JSON.stringify(patch.redirectUrls.map((u) => new URL(u).href));
  if (patch.orgIds !== undefined) set.orgIds = JSON.stringify([...new Set(patch.orgIds)]);
  if (patch.landing !== undefined) set.landing = patch.landing;
  if (patch.identityProvider !== undefined) {
    const idp = patch.identityProvider;
    Object.assign(set, {
      idpIssuer: idp?.issuer ?? null,
      idpJwksUrl: idp?.jwksUrl ?? null,
      idpAudience: idp?.audience ?? null,
      idpRequiredScope: idp?.requiredScope ?? null,
    });
  }
  return set;
}

function newSecrets(core: Core) {
  const clientSecret = `ssod_cs_${randomSecret()}`;
  const signingSecret = `ssod_ss_${randomSecret()}`;
  return {
    shown: { clientSecret, signingSecret },
    columns: {
      clientSecretHash: sha256(clientSecret),
      clientSecretEnc: core.masterKey.seal(clientSecret, "client_secret"),
      signingSecretEnc: core.masterKey.seal(signingSecret, "signing_secret"),
    },
  };
}

export interface CreatedSource {
  source: Source;
  /** Absent when the source was made without client credentials (the legacy dialect). */
  secrets: IssuedSecrets | Pick<IssuedSecrets, "signingSecret">;
}

export async function createSource(core: Core, input: SourceInput, context: ChangeContext & { withClientSecret: boolean }): Promise<CreatedSource> {
  const now = core.now();
  const secrets = newSecrets(core);
  const { db } = core.store;
  const [rows] = await applyChange(
    core,
    [
      db
        .insert(ssoSources)
        .values({
          clientId: `src_${randomSecret(12)}`,
          ...columnsOf(input),
          ...(context.withClientSecret ? secrets.columns : { signingSecretEnc: secrets.columns.signingSecretEnc }),
          name: input.name,
          code: input.code,
          validForSeconds: input.validForSeconds,
          createdAt: now,
          updatedAt: now,
        })
        .returning(),
      sourceEvent(core, "source.created", eq(ssoSources.code, input.code)),
      auditInsert(core, {
        actor: actorName(context.actor),
        action: "source.create",
        outcome: "success",
        target: input.code,
        sourceCode: input.code,
        ip: context.ip,
      }),
    ],
    SOURCE_UNIQUE,
  );
  return {
    source: toSource(rows[0]!),
    secrets: context.withClientSecret ? secrets.shown : { signingSecret: secrets.shown.signingSecret },
  };
}

/**
 * Writes the fields a patch gives, and no others, in one statement: two
 * patches of different fields sent at once both land. The default source's
 * code cannot change (admin-key issuance depends on it).
 */
export async function updateSource(core: Core, id: number, patch: SourcePatch, context: ChangeContext): Promise<Source> {
  const { db } = core.store;
  const renames = patch.code !== undefined && patch.code !== DEFAULT_SOURCE_CODE;
  const target = and(eq(ssoSources.id, id), renames ? ne(ssoSources.code, DEFAULT_SOURCE_CODE) : undefined)!;
  const [, rows] = await applyChange(
    core,
    [
      auditInsertFrom(
        core,
        {
          actor: actorName(context.actor),
          action: "source.update",
          outcome: "success",
          target: sql`coalesce(${patch.code ?? null}, ${ssoSources.code})`,
          sourceCode: sql`coalesce(${patch.code ?? null}, ${ssoSources.code})`,
          ip: context.ip,
          detail: patch.code === undefined ? null : sql`CASE WHEN ${ssoSources.code} <> ${patch.code} THEN json_object('previousCode', ${ssoSources.code}) END`,
        },
        ssoSources,
        target,
      ),
      db
        .update(ssoSources)
        .set({ ...columnsOf(patch), updatedAt: core.now() })
        .where(target)
        .returning(),
      sourceEvent(core, "source.updated", target),
    ],
    SOURCE_UNIQUE,
  );
  if (rows[0]) return toSource(rows[0]);
  if (renames && (await findSourceById(core, id))?.code === DEFAULT_SOURCE_CODE) {
    throw new CoreError("forbidden", "the default source's code cannot be changed", [{ field: "code", message: "cannot be changed" }]);
  }
  throw new CoreError("not_found", "no such source");
}

/** Deletes sources (and, by cascade, their tokens), all or none; refuses the default source. */
export async function deleteSources(core: Core, ids: number[], context: ChangeContext): Promise<void> {
  const { db } = core.store;
  const sources = await Promise.all(ids.map((id) => findSourceById(core, id)));
  const missing = ids.filter((_, i) => !sources[i]);
  if (missing.length > 0) throw new CoreError("not_found", `no such source: ${missing.join(", ")}`, [{ field: "id", message: "no such source" }]);
  if (sources.some((s) => s!.code === DEFAULT_SOURCE_CODE))
    throw new CoreError("forbidden", "the default source cannot be deleted", [{ field: "id", message: "cannot be deleted" }]);
  const chosen = and(inArray(ssoSources.id, ids), ne(ssoSources.code, DEFAULT_SOURCE_CODE))!;
  // One deleted by someone else meanwhile is simply gone: the rest go, each with its audit row.
  await applyChange(core, [
    auditInsertFrom(
      core,
      {
        actor: actorName(context.actor),
        action: "source.delete",
        outcome: "success",
        target: sql`${ssoSources.code}`,
        sourceCode: sql`${ssoSources.code}`,
        ip: context.ip,
      },
      ssoSources,
      chosen,
    ),
    sourceEvent(core, "source.deleted", chosen),
    db.delete(ssoSources).where(chosen),
  ]);
}

/** Issues a new client secret and signing secret; the old ones stop working at once. */
export async function rotateSourceSecrets(core: Core, id: number, context: ChangeContext): Promise<{ source: Source; secrets: IssuedSecrets }> {
  const secrets = newSecrets(core);
  const { db } = core.store;
  const target = eq(ssoSources.id, id);
  const [, rows] = await applyChange(core, [
    auditInsertFrom(
      core,
      {
        actor: actorName(context.actor),
        action: "source.rotate_secret",
        outcome: "success",
        target: sql`${ssoSources.code}`,
        sourceCode: sql`${ssoSources.code}`,
        ip: context.ip,
      },
      ssoSources,
      target,
    ),
    db
      .update(ssoSources)
      .set({ ...secrets.columns, updatedAt: core.now() })
      .where(target)
      .returning(),
    // The source as GET shows it changed only in updatedAt, but its callers must now use new secrets.
    sourceEvent(core, "source.updated", target),
  ]);
  if (!rows[0]) throw new CoreError("not_found", "no such source");
  return { source: toSource(rows[0]), secrets: secrets.shown };
}
