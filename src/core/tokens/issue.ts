// The issuing core: every dialect's "make a token for this user" lands here.
// Only the SHA-256 of a token's text is stored, with its claims.
import type { BulkWrite } from "../../store/group-commit";
import { jsonRows } from "../../store/json-rows";
import { type Actor, actorName } from "../audit";
import type { Core } from "../context";
import { randomRefNo, sha256 } from "../crypto";
import { CoreError } from "../errors";
import { type Source, sourceIsActive } from "../sources";
import { outboxSql } from "../webhooks/outbox";
import { normaliseEmail, type TokenClaims } from "./claims";
import { MAX_TOKEN_LENGTH, type TokenFormat, tokenText } from "./formats";
import { allowedRedirect } from "./redirects";

export interface IssueRequest {
  source: Source;
  dialect: "tyk" | "lob" | "v1";
  format: TokenFormat;
  claims: TokenClaims;
  /** Requested lifetime; never more than the source's validForSeconds. */
  ttlSeconds?: number | undefined;
  /** Requested expiry (Tyk's expiresAt): must be in the future and within the source's limit. */
  expiresAt?: number | undefined;
  redirectUrl?: string | undefined;
  registeredOnly: boolean;
  actor: Actor;
  ip: string | null;
}

export interface IssuedToken {
  token: string;
  tokenRefNo: string;
  issuedAt: number;
  expiresAt: number;
}

/** One row of the bulk insert, as JSON. */
interface IssueRow {
  h: string;
  ref: string;
  src: number;
  code: string;
  dialect: string;
  format: TokenFormat;
  section: string | null;
  email: string | null;
  emailNorm: string | null;
  displayName: string | null;
  externalId: string | null;
  orgId: string;
  groups: string | null;
  lobId: string | null;
  functionality: string | null;
  redirectUrl: string | null;
  registeredOnly: 0 | 1;
  ip: string | null;
  at: number;
  exp: number;
  actor: string;
  subject: string | null;
  /** The server key that signed a "jwt" token. */
  kid: string | null;
}

const { field, encode } = jsonRows<keyof IssueRow>([
  "h",
  "ref",
  "src",
  "code",
  "dialect",
  "format",
  "section",
  "email",
  "emailNorm",
  "displayName",
  "externalId",
  "orgId",
  "groups",
  "lobId",
  "functionality",
  "redirectUrl",
  "registeredOnly",
  "ip",
  "at",
  "exp",
  "actor",
  "subject",
  "kid",
]);

// A source that expired or vanished since it was read issues nothing: the join and its condition drop the row.
const INSERT_TOKENS = `
INSERT INTO sso_tokens (token_hash, ref_no, source_id, dialect, format, section, email, email_norm, display_name,
  external_id, org_id, groups, lob_id, functionality, redirect_url, registered_only, issued_ip, issued_at, expires_at)
SELECT ${field("h")}, ${field("ref")}, s.id, ${field("dialect")}, ${field("format")}, ${field("section")}, ${field("email")},
  ${field("emailNorm")}, ${field("displayName")}, ${field("externalId")}, ${field("orgId")}, ${field("groups")}, ${field("lobId")},
  ${field("functionality")}, ${field("redirectUrl")}, ${field("registeredOnly")}, ${field("ip")}, ${field("at")}, ${field("exp")}
FROM json_each(?) j JOIN sso_sources s ON s.id = ${field("src")}
WHERE s.expires_at IS NULL OR s.expires_at > ${field("at")}
ON CONFLICT DO NOTHING
RETURNING token_hash`;

const AUDIT_ISSUES = `
INSERT INTO audit_events (at, actor, action, target, outcome, ip, source_code, detail)
SELECT ${field("at")}, ${field("actor")}, 'token.issue', ${field("ref")}, 'success', ${field("ip")}, ${field("code")},
  json_object('dialect', ${field("dialect")}, 'format', ${field("format")}, 'subject', ${field("subject")})
FROM json_each(?) j
WHERE EXISTS (SELECT 1 FROM sso_tokens t WHERE t.token_hash = ${field("h")})`;

// token.issued, for the endpoints that name it (src/core/webhooks/outbox.ts):
// nothing to do when none does.
const OUTBOX = outboxSql(field("at"), [
  {
    type: "token.issued",
    data: `json_object('tokenRefNo', ${field("ref")}, 'source', ${field("code")})`,
    from: "json_each(?1) j",
    where: `EXISTS (SELECT 1 FROM sso_tokens t WHERE t.token_hash = ${field("h")})`,
  },
]);

// A token signed with a key that was retired while it was being signed keeps
// that key published until it expires (src/core/signing-keys.ts).
const KEEP_SIGNING_KEYS = `
UPDATE signing_keys SET publish_until = max(publish_until,
  (SELECT max(${field("exp")}) FROM json_each(?1) j WHERE ${field("kid")} = signing_keys.kid))
WHERE retired_at IS NOT NULL AND kid IN (SELECT ${field("kid", "")} FROM json_each(?1))`;

/** Issues many requests' tokens in a few statements; answers, per row, whether it landed. */
const issueOp: BulkWrite<IssueRow, boolean> = {
  name: "token.issue",
  plan(rows) {
    const payload = encode(rows);
    return {
      statements: [
        { sql: INSERT_TOKENS, args: [payload] },
        { sql: AUDIT_ISSUES, args: [payload] },
        { sql: OUTBOX, args: [payload] },
        ...(rows.some((r) => r.kid !== null) ? [{ sql: KEEP_SIGNING_KEYS, args: [payload] }] : []),
      ],
      decode(results) {
        const landed = new Set(results[0]!.rows.map((r) => r[0]));
        return rows.map((r) => landed.has(r.h));
      },
    };
  },
};

/** The expiry a request gets: its own (checked), or its ttl, or the source's full lifetime. */
function expiryOf(request: IssueRequest, now: number): number {
  const latest = now + request.source.validForSeconds * 1000;
  if (request.expiresAt !== undefined) {
    if (request.expiresAt <= now) throw new CoreError("invalid", "expiresAt must be in the future", [{ field: "expiresAt", message: "must be in the future" }]);
    if (request.expiresAt > latest) {
      throw new CoreError("invalid", `expiresAt must be within ${request.source.validForSeconds} seconds`, [
        { field: "expiresAt", message: `must be no later than ${new Date(latest).toISOString()}` },
      ]);
    }
    return request.expiresAt;
  }
  if (request.ttlSeconds !== undefined) return Math.min(now + request.ttlSeconds * 1000, latest);
  return latest;
}

export async function issueToken(core: Core, request: IssueRequest): Promise<IssuedToken> {
  const { source, claims } = request;
  const now = core.now();
  if (!sourceIsActive(source, now)) throw new CoreError("source_unavailable", `source ${source.code} has expired and issues no tokens`);
  // A source speaking for itself issues only for its orgs; an admin key is not limited (SPEC §5 "Identity").
  if (request.actor.kind === "source" && source.orgIds.length > 0 && !source.orgIds.includes(claims.orgId)) {
    throw new CoreError("forbidden", `source ${source.code} may issue tokens only for its orgs (${source.orgIds.join(", ")})`, [
      { field: "orgId", message: "not one of the source's orgs" },
    ]);
  }
  const expiresAt = expiryOf(request, now);
  let redirectUrl: string | null = null;
  if (request.redirectUrl !== undefined) {
    redirectUrl = (await allowedRedirect(core, source.redirectUrls, request.redirectUrl)) ?? null;
    if (!redirectUrl)
      throw new CoreError("redirect_not_allowed", "redirectUrl is not on the source's list of redirect URLs", [
        { field: "redirectUrl", message: "not allowed" },
      ]);
  }
  // A reference number may (very rarely) collide: try again with a new one.
  for (let attempt = 0; attempt < 3; attempt++) {
    const tokenRefNo = randomRefNo();
    const { text: token, kid } = await tokenText(core, request, { tokenRefNo, issuedAt: now, expiresAt });
    if (token.length > MAX_TOKEN_LENGTH) {
      throw new CoreError(
        "invalid",
        `these claims make a token of ${token.length} characters, over ${MAX_TOKEN_LENGTH}: send fewer or shorter ones, or use format "nonce"`,
        [{ field: "user", message: "too much to carry in a token" }],
      );
    }
    const landed = await core.store.bulk(issueOp, {
      h: sha256(token),
      ref: tokenRefNo,
      src: source.id,
      code: source.code,
      dialect: request.dialect,
      format: request.format,
      section: claims.section,
      email: claims.email,
      emailNorm: normaliseEmail(claims.email),
      displayName: claims.displayName,
      externalId: claims.externalId,
      orgId: claims.orgId,
      groups: claims.groups ? JSON.stringify(claims.groups) : null,
      lobId: claims.lobId,
      functionality: claims.functionality,
      redirectUrl,
      registeredOnly: request.registeredOnly ? 1 : 0,
      ip: request.ip,
      at: now,
      exp: expiresAt,
      actor: actorName(request.actor),
      subject: claims.email ?? claims.externalId,
      kid,
    });
    if (landed) {
      core.telemetry.tokenIssued(source.code, request.dialect);
      return { token, tokenRefNo, issuedAt: now, expiresAt };
    }
    const current = await core.lookups.sourceByCode.load(source.code);
    if (!current || current.id !== source.id || !sourceIsActive(current, core.now())) {
      throw new CoreError("source_unavailable", `source ${source.code} was deleted or has expired`);
    }
  }
  throw new CoreError("source_unavailable", "could not allot a token reference number");
}
