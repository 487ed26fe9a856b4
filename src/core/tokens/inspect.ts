// Introspection (RFC 7662) and revocation (RFC 7009 in spirit) of tokens.
import { and, eq, gt, isNull, or, sql } from "drizzle-orm";
import { ssoSources, ssoTokens } from "../../store/schema";
import { type Actor, actorName, auditInsertFrom } from "../audit";
import { applyChange } from "../changes";
import type { Core } from "../context";
import { sha256 } from "../crypto";
import { nextUrl } from "./redirects";

export type Introspection =
  | { active: false }
  | {
      active: true;
      token_type: string;
      client_id: string;
      source: string;
      jti: string;
      iat: number;
      exp: number;
      sub?: string;
      email?: string;
      name?: string;
      external_id?: string;
      org_id?: string;
      groups?: string[];
      section?: string;
      lob_id?: string;
      functionality?: string;
    };

export async function introspectToken(core: Core, token: string): Promise<Introspection> {
  const row = await core.store.db
    .select({ token: ssoTokens, clientId: ssoSources.clientId, code: ssoSources.code, sourceExpiresAt: ssoSources.expiresAt })
    .from(ssoTokens)
    .innerJoin(ssoSources, eq(ssoSources.id, ssoTokens.sourceId))
    .where(eq(ssoTokens.tokenHash, sha256(token)))
    .get();
  const now = core.now();
  if (!row) return { active: false };
  const t = row.token;
  const active = t.consumedAt === null && t.revokedAt === null && t.expiresAt > now && (row.sourceExpiresAt === null || row.sourceExpiresAt > now);
  if (!active) return { active: false };
  const optional = Object.fromEntries(
    Object.entries({
      sub: t.email ?? t.externalId,
      email: t.email,
      name: t.displayName,
      external_id: t.externalId,
      org_id: t.orgId || null,
      groups: t.groups === null ? null : (JSON.parse(t.groups) as string[]),
      section: t.section,
      lob_id: t.lobId,
      functionality: t.functionality,
    }).filter(([, value]) => value !== null),
  );
  return {
    active: true,
    token_type: t.format,
    client_id: row.clientId,
    source: row.code,
    jti: t.refNo,
    iat: Math.floor(t.issuedAt / 1000),
    exp: Math.floor(t.expiresAt / 1000),
    ...optional,
  };
}

/**
 * A live token that waits for its confirmation (its source's landing is
 * "confirm"), found by a landing's GET, and where its redemption will send
 * the browser (the page's form may lead there). Read only when the GET
 * consumed nothing, so a direct landing never pays for it.
 */
export async function pendingConfirmation(core: Core, token: string, section: string | null): Promise<{ nextUrl: string | null } | undefined> {
  const now = core.now();
  const row = await core.store.db
    .select({ section: ssoTokens.section, redirectUrl: ssoTokens.redirectUrl, redirectUrls: ssoSources.redirectUrls })
    .from(ssoTokens)
    .innerJoin(ssoSources, eq(ssoSources.id, ssoTokens.sourceId))
    .where(
      and(
        eq(ssoTokens.tokenHash, sha256(token)),
        isNull(ssoTokens.consumedAt),
        isNull(ssoTokens.revokedAt),
        gt(ssoTokens.expiresAt, now),
        eq(ssoSources.landing, "confirm"),
        or(isNull(ssoSources.expiresAt), gt(ssoSources.expiresAt, now)),
      ),
    )
    .get();
  if (!row || (section !== null && row.section !== section)) return undefined;
  return { nextUrl: await nextUrl(core, { redirectUrl: row.redirectUrl, redirectUrls: JSON.parse(row.redirectUrls) as string[] }) };
}

export interface RevokeRequest {
  token?: string | undefined;
  tokenRefNo?: string | undefined;
  /** A source may revoke only its own tokens; an admin any. */
  sourceId?: number | undefined;
  actor: Actor;
  ip: string | null;
}

/** Revokes a live token; answers whether one was revoked (callers answer the same either way). */
export async function revokeToken(core: Core, request: RevokeRequest): Promise<boolean> {
  const conditions = [isNull(ssoTokens.consumedAt), isNull(ssoTokens.revokedAt)];
  if (request.token !== undefined) conditions.push(eq(ssoTokens.tokenHash, sha256(request.token)));
  else if (request.tokenRefNo !== undefined) conditions.push(eq(ssoTokens.refNo, request.tokenRefNo));
  else return false;
  if (request.sourceId !== undefined) conditions.push(eq(ssoTokens.sourceId, request.sourceId));
  const target = and(...conditions)!;
  const [, revoked] = await applyChange(core, [
    auditInsertFrom(
      core,
      {
        actor: actorName(request.actor),
        action: "token.revoke",
        outcome: "success",
        target: sql`${ssoTokens.refNo}`,
        sourceCode: sql`(SELECT ${ssoSources.code} FROM ${ssoSources} WHERE ${ssoSources.id} = ${ssoTokens.sourceId})`,
        ip: request.ip,
      },
      ssoTokens,
      target,
    ),
    core.store.db.update(ssoTokens).set({ revokedAt: core.now() }).where(target).returning({ refNo: ssoTokens.refNo }),
  ]);
  return revoked.length > 0;
}
