// SSO sources (SPEC §1): the trusted issuers, their options and credentials.
import { BlockList, isIP } from "node:net";
import { asc, eq } from "drizzle-orm";
import * as v from "valibot";
import type { Statement } from "../store/driver";
import { ssoSources } from "../store/schema";
import { selectList } from "../store/select-list";
import { statement } from "../store/store";
import { actorName, auditStatement, type Actor } from "./audit";
import type { Core } from "./context";
import { randomSecret, sha256 } from "./crypto";
import { CoreError } from "./errors";

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

export const identityProviderSchema = v.object({
  issuer: v.pipe(v.string(), v.minLength(1), v.maxLength(2048)),
  jwksUrl: httpUrlSchema,
  audience: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(2048)))),
  requiredScope: v.optional(v.nullable(v.pipe(v.string(), v.maxLength(256)))),
});

// ---- the record ----

export interface SourceOptions {
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
  createdAt: number;
  updatedAt: number;
  /** Sealed or hashed; never leaves the core. */
  secrets: { clientSecretHash: string | null; clientSecretEnc: string | null; signingSecretEnc: string | null };
}

type SourceRow = typeof ssoSources.$inferSelect;

export function toSource(row: SourceRow): Source {
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
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    secrets: { clientSecretHash: row.clientSecretHash, clientSecretEnc: row.clientSecretEnc, signingSecretEnc: row.signingSecretEnc },
  };
}

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

const blockLists = new Map<string, BlockList>();

/** Whether an address is allowed by the source (an empty list allows everyone). */
export function ipAllowed(source: Source, ip: string): boolean {
  if (source.allowedIps.length === 0) return true;
  const key = source.allowedIps.join(",");
  let list = blockLists.get(key);
  if (!list) {
    list = new BlockList();
    for (const rule of source.allowedIps) {
      const [address, prefix] = rule.split("/") as [string, string | undefined];
      const family = isIP(address) === 6 ? "ipv6" : "ipv4";
      if (prefix === undefined) list.addAddress(address, family);
      else list.addSubnet(address, Number(prefix), family);
    }
    if (blockLists.size > 1000) blockLists.clear();
    blockLists.set(key, list);
  }
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

export async function findSourceByCode(core: Core, code: string): Promise<Source | undefined> {
  const row = await core.store.db.select().from(ssoSources).where(eq(ssoSources.code, code)).get();
  return row ? toSource(row) : undefined;
}

/** A source by numeric id, or by code when the reference is not all digits. */
export function findSource(core: Core, ref: string): Promise<Source | undefined> {
  return /^\d{1,15}$/.test(ref) ? findSourceById(core, Number(ref)) : findSourceByCode(core, ref);
}

export async function sourceCodeTaken(core: Core, code: string, exceptId?: number): Promise<boolean> {
  const found = await findSourceByCode(core, code);
  return found !== undefined && found.id !== exceptId;
}

// ---- writes ----

export interface SourceFields {
  code: string;
  /** The public client id; generated when a new source has none (set it to an identity provider's app client id). */
  clientId?: string | undefined;
  name: string;
  description: string;
  expiresAt: number | null;
  validForSeconds: number;
  options: SourceOptions;
  allowedIps: string[];
  redirectUrls: string[];
  identityProvider: IdentityProvider | null;
}

export interface ChangeContext {
  actor: Actor;
  ip: string | null;
}

export interface IssuedSecrets {
  clientSecret: string;
  signingSecret: string;
}

function columnsOf(fields: SourceFields) {
  return {
    ...(fields.clientId !== undefined ? { clientId: fields.clientId } : {}),
    code: fields.code,
    name: fields.name,
    description: fields.description,
    expiresAt: fields.expiresAt,
    validForSeconds: fields.validForSeconds,
    createUsers: fields.options.createNewUserIfNotExists,
    performLogin: fields.options.performLogin,
    returnUserData: fields.options.returnUserData,
    allowedIps: JSON.stringify(fields.allowedIps),
    // Stored as parsed, so the exact comparison at redemption compares like with like.
    redirectUrls: JSON.stringify(fields.redirectUrls.map((u) => new URL(u).href)),
    idpIssuer: fields.identityProvider?.issuer ?? null,
    idpJwksUrl: fields.identityProvider?.jwksUrl ?? null,
    idpAudience: fields.identityProvider?.audience ?? null,
    idpRequiredScope: fields.identityProvider?.requiredScope ?? null,
  };
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

/** Which unique field a refused write collided on. */
async function conflictOf(core: Core, fields: SourceFields, exceptId?: number): Promise<CoreError> {
  if (await sourceCodeTaken(core, fields.code, exceptId)) return new CoreError("conflict", "sourcecode already exists", [{ field: "code", message: "already exists" }]);
  return new CoreError("conflict", "another source has this clientId", [{ field: "clientId", message: "already in use" }]);
}

/** An audit insert that lands only when the statement just before it changed a row. */
function auditIfChanged(core: Core, event: Parameters<typeof auditStatement>[1]): Statement {
  const insert = auditStatement(core, event);
  return { sql: insert.sql.replace(/ values \((.*)\)$/i, " SELECT $1 WHERE changes() > 0"), args: insert.args };
}

const returningAll = `RETURNING ${selectList(ssoSources)}`;

export interface CreatedSource {
  source: Source;
  /** Absent when the source was made without client credentials (the legacy dialect). */
  secrets: IssuedSecrets | Pick<IssuedSecrets, "signingSecret">;
}

export async function createSource(
  core: Core,
  fields: SourceFields,
  context: ChangeContext & { withClientSecret: boolean },
): Promise<CreatedSource> {
  const now = core.now();
  const secrets = newSecrets(core);
  const insert = statement(
    core.store.db
      .insert(ssoSources)
      .values({
        clientId: `src_${randomSecret(12)}`,
        ...columnsOf(fields),
        ...(context.withClientSecret ? secrets.columns : { signingSecretEnc: secrets.columns.signingSecretEnc }),
        createdAt: now,
        updatedAt: now,
      })
      .onConflictDoNothing(),
  );
  const row = await core.store.write({
    statements: [
      { sql: `${insert.sql} ${returningAll}`, args: insert.args },
      auditIfChanged(core, {
        actor: actorName(context.actor),
        action: "source.create",
        outcome: "success",
        target: fields.code,
        sourceCode: fields.code,
        ip: context.ip,
      }),
    ],
    decode: (results) => results[0]!.rows.length > 0,
  });
  if (!row) throw await conflictOf(core, fields);
  const source = await findSourceByCode(core, fields.code);
  if (!source) throw new CoreError("not_found", "the source was deleted as it was created");
  return {
    source,
    secrets: context.withClientSecret ? secrets.shown : { signingSecret: secrets.shown.signingSecret },
  };
}

export async function updateSource(core: Core, id: number, fields: SourceFields, context: ChangeContext): Promise<Source> {
  const current = await findSourceById(core, id);
  if (!current) throw new CoreError("not_found", "no such source");
  if (current.code === DEFAULT_SOURCE_CODE && fields.code !== DEFAULT_SOURCE_CODE) {
    throw new CoreError("forbidden", "the default source's code cannot be changed", [{ field: "code", message: "cannot be changed" }]);
  }
  const update = statement(
    core.store.db
      .update(ssoSources)
      .set({ ...columnsOf(fields), updatedAt: core.now() })
      .where(eq(ssoSources.id, id)),
  );
  // OR IGNORE: a code taken meanwhile by another writer skips the row instead of failing the batch.
  const changed = await core.store.write({
    statements: [
      { sql: `${update.sql.replace(/^update /i, "UPDATE OR IGNORE ")} RETURNING id`, args: update.args },
      auditIfChanged(core, {
        actor: actorName(context.actor),
        action: "source.update",
        outcome: "success",
        target: fields.code,
        sourceCode: fields.code,
        ip: context.ip,
        detail: current.code === fields.code ? null : { previousCode: current.code },
      }),
    ],
    decode: (results) => results[0]!.rows.length > 0,
  });
  if (!changed) {
    if (await findSourceById(core, id)) throw await conflictOf(core, fields, id);
    throw new CoreError("not_found", "no such source");
  }
  return (await findSourceById(core, id))!;
}

/** Deletes sources (and, by cascade, their tokens); refuses the default source. */
export async function deleteSources(core: Core, ids: number[], context: ChangeContext): Promise<number[]> {
  const sources = await Promise.all(ids.map((id) => findSourceById(core, id)));
  const missing = ids.filter((_, i) => !sources[i]);
  if (missing.length > 0) throw new CoreError("not_found", `no such source: ${missing.join(", ")}`);
  if (sources.some((s) => s!.code === DEFAULT_SOURCE_CODE)) throw new CoreError("forbidden", "the default source cannot be deleted");
  return core.store.write({
    statements: sources.flatMap((source) => [
      { sql: "DELETE FROM sso_sources WHERE id = ? RETURNING id", args: [source!.id] },
      auditIfChanged(core, {
        actor: actorName(context.actor),
        action: "source.delete",
        outcome: "success",
        target: source!.code,
        sourceCode: source!.code,
        ip: context.ip,
      }),
    ]),
    decode: (results) => results.filter((_, i) => i % 2 === 0).flatMap((r) => r.rows.map((row) => Number(row[0]))),
  });
}

/** Issues a new client secret and signing secret; the old ones stop working at once. */
export async function rotateSourceSecrets(core: Core, id: number, context: ChangeContext): Promise<{ source: Source; secrets: IssuedSecrets }> {
  const secrets = newSecrets(core);
  const update = statement(
    core.store.db
      .update(ssoSources)
      .set({ ...secrets.columns, updatedAt: core.now() })
      .where(eq(ssoSources.id, id)),
  );
  const source = await findSourceById(core, id);
  if (!source) throw new CoreError("not_found", "no such source");
  await core.store.write({
    statements: [
      { sql: `${update.sql} RETURNING id`, args: update.args },
      auditIfChanged(core, {
        actor: actorName(context.actor),
        action: "source.rotate_secret",
        outcome: "success",
        target: source.code,
        sourceCode: source.code,
        ip: context.ip,
      }),
    ],
    decode: () => undefined,
  });
  const updated = await findSourceById(core, id);
  if (!updated) throw new CoreError("not_found", "no such source");
  return { source: updated, secrets: secrets.shown };
}
