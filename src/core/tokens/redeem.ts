// The redeeming core: a token is consumed at most once, by one conditional
// UPDATE (never read-then-write), so any number of processes sharing the
// store can race for it and only one wins. Then, per the source's options,
// the user is found or created, a login session opened, user data returned.
//
// Concurrent redemptions are planned together into a fixed set of set-based
// statements (one group commit): the batch marks the tokens it consumed with
// its own id, and every later statement of the batch finds them by that mark.
import { randomUUID } from "node:crypto";
import type { SqlValue, Statement } from "../../store/driver";
import type { BulkWrite } from "../../store/group-commit";
import { jsonRows } from "../../store/json-rows";
import { type Actor, actorName } from "../audit";
import type { Core } from "../context";
import { randomSecret, sha256 } from "../crypto";
import { sessionJsonSql, userJsonSql } from "../users";
import { jsonBoolSql, outboxSql } from "../webhooks/outbox";
import type { TokenClaims } from "./claims";
import { nextUrl } from "./redirects";

export interface RedeemRequest {
  token: string;
  /** Browser endpoints take only their own section's tokens (Tyk's /tap and /sso); null takes any. */
  section: string | null;
  /** "api" for /v1/tokens/redeem, "browser" for the landing pages. */
  via: "api" | "browser";
  /** False for a landing's GET: a source with landing "confirm" consumes only on the confirmation's POST. */
  confirmed: boolean;
  actor: Actor | undefined;
  ip: string | null;
  userAgent: string | null;
}

interface RedeemedUser {
  id: string;
  email: string | null;
  displayName: string | null;
  externalId: string | null;
  orgId: string;
  groups: string[];
}

interface Redemption {
  tokenRefNo: string;
  source: { id: number; code: string; performLogin: boolean; returnUserData: boolean };
  claims: TokenClaims;
  /** True when this redemption created the user. */
  created: boolean;
  user: RedeemedUser;
  /** The new login session (its id is shown only here), when the source performs logins. */
  session: { id: string; expiresAt: number } | null;
  /** Where the browser goes next: the token's redirect URL if still allowed, else the source's only one. */
  redirectUrl: string | null;
}

/** Consumed, expired, revoked, unknown, wrong section or a refused user: callers give one answer for all. */
export type RedeemOutcome = { ok: true; redemption: Redemption } | { ok: false; consumed: boolean };

interface RedeemRow {
  /** When, and for how long a session it opens: the same for a whole batch, so the first row's are used. */
  at: number;
  sessionTtlMs: number;
  h: string;
  sec: string | null;
  /** 0 for a browser landing's GET, which a source with landing "confirm" does not let consume. */
  confirmed: 0 | 1;
  sid: string;
  uid: string;
  ip: string | null;
  ua: string | null;
  actor: string;
  via: string;
}

// Each request's row, in the JSON array bound to ?1.
const { field, encode } = jsonRows<keyof RedeemRow>(["h", "sec", "sid", "uid", "ip", "ua", "actor", "via", "confirmed"]);

const CONSUME = `
UPDATE sso_tokens SET consumed_at = ?2, redeem_batch = ?3
WHERE token_hash IN (SELECT ${field("h", "")} FROM json_each(?1))
  AND consumed_at IS NULL AND revoked_at IS NULL AND expires_at > ?2
  AND source_id IN (SELECT id FROM sso_sources WHERE expires_at IS NULL OR expires_at > ?2)`;

// The same, for batches with a browser landing: a landing takes its own
// section's tokens only, and a GET does not consume for a source that wants
// its landings confirmed.
const CONSUME_IN_BROWSER = `${CONSUME}
  AND NOT EXISTS (SELECT 1 FROM json_each(?1) j WHERE ${field("h")} = sso_tokens.token_hash
                  AND ${field("sec")} IS NOT NULL AND ${field("sec")} IS NOT sso_tokens.section)
  AND NOT EXISTS (SELECT 1 FROM json_each(?1) j JOIN sso_sources s ON s.id = sso_tokens.source_id
                  WHERE ${field("h")} = sso_tokens.token_hash AND ${field("confirmed")} = 0 AND s.landing = 'confirm')`;

// The tokens this batch consumed, joined to their request row and source.
// CROSS JOIN keeps that order: each request row, then its token by the
// token_hash key. With plain JOINs SQLite took the tokens by redeem_batch and
// scanned the whole JSON array for each one (quadratic in the batch).
const CONSUMED = `
FROM json_each(?1) j
CROSS JOIN sso_tokens t ON t.token_hash = ${field("h")} AND t.redeem_batch = ?3
CROSS JOIN sso_sources s ON s.id = t.source_id`;

const CREATE_USERS = `
INSERT INTO users (id, org_id, email, email_norm, display_name, external_id, groups, source_id, created_at, updated_at, last_login_at)
SELECT ${field("uid")}, t.org_id, t.email, t.email_norm, t.display_name, t.external_id, coalesce(t.groups, '[]'), t.source_id, ?2, ?2, ?2
${CONSUMED}
WHERE s.create_users = 1 AND t.registered_only = 0
  AND NOT EXISTS (SELECT 1 FROM users u WHERE u.org_id = t.org_id AND u.external_id = t.external_id)
  AND NOT EXISTS (SELECT 1 FROM users u WHERE u.org_id = t.org_id AND u.email_norm = t.email_norm)
ON CONFLICT DO NOTHING`;

// Which user a token names, within its org (SPEC §5 "Identity"): with an
// external id, only the user holding it, or one found by email who has no
// external id yet (and takes the token's); never a user whose external id
// the token contradicts. Without one, the user with its email.
const RESOLVE_USERS = `
UPDATE sso_tokens SET user_id = CASE WHEN sso_tokens.external_id IS NOT NULL THEN coalesce(
    (SELECT u.id FROM users u WHERE u.org_id = sso_tokens.org_id AND u.external_id = sso_tokens.external_id),
    (SELECT u.id FROM users u WHERE u.org_id = sso_tokens.org_id AND u.email_norm = sso_tokens.email_norm AND u.external_id IS NULL))
  ELSE (SELECT u.id FROM users u WHERE u.org_id = sso_tokens.org_id AND u.email_norm = sso_tokens.email_norm) END
WHERE redeem_batch = ?3 AND token_hash IN (SELECT ${field("h", "")} FROM json_each(?1))`;

// OR IGNORE: statements of a group commit must never fail on data (two tokens
// of one batch adopting one external id), and a skipped update only leaves
// the user as it was.
const UPDATE_USERS = `
UPDATE OR IGNORE users SET last_login_at = ?2, updated_at = ?2,
  external_id = coalesce(external_id, (SELECT t.external_id FROM sso_tokens t WHERE t.redeem_batch = ?3 AND t.user_id = users.id AND t.external_id IS NOT NULL LIMIT 1)),
  display_name = coalesce((SELECT t.display_name FROM sso_tokens t WHERE t.redeem_batch = ?3 AND t.user_id = users.id AND t.display_name IS NOT NULL LIMIT 1), display_name),
  groups = coalesce((SELECT t.groups FROM sso_tokens t WHERE t.redeem_batch = ?3 AND t.user_id = users.id AND t.groups IS NOT NULL LIMIT 1), groups)
WHERE id IN (SELECT user_id FROM sso_tokens WHERE redeem_batch = ?3 AND user_id IS NOT NULL)`;

const RECORD_GROUPS = `
INSERT INTO groups (org_id, name, created_at)
SELECT DISTINCT t.org_id, g.value, ?2 FROM sso_tokens t, json_each(t.groups) g
WHERE t.redeem_batch = ?3 AND t.user_id IS NOT NULL AND t.groups IS NOT NULL
ON CONFLICT DO NOTHING`;

const OPEN_SESSIONS = `
INSERT INTO login_sessions (id_hash, user_id, source_id, created_at, expires_at, ip, user_agent)
SELECT ${field("sid")}, t.user_id, t.source_id, ?2, ?2 + ?4, ${field("ip")}, ${field("ua")}
${CONSUMED}
WHERE t.user_id IS NOT NULL AND s.perform_login = 1`;

// A refused user is either unknown or not allowed, or an identity conflict:
// another user of the org holds the token's email under a different external id.
const AUDIT = `
INSERT INTO audit_events (at, actor, action, target, outcome, ip, source_code, user_id, detail)
SELECT ?2, ${field("actor")}, iif(t.user_id IS NULL, 'token.redeem_failed', 'token.redeem'), t.ref_no,
  iif(t.user_id IS NULL, 'failure', 'success'), ${field("ip")}, s.code, t.user_id,
  json_object('dialect', t.dialect, 'via', ${field("via")}, 'reason', CASE
    WHEN t.user_id IS NOT NULL THEN NULL
    WHEN t.external_id IS NOT NULL AND EXISTS (SELECT 1 FROM users u WHERE u.org_id = t.org_id AND u.email_norm = t.email_norm
                                               AND u.external_id IS NOT NULL AND u.external_id <> t.external_id) THEN 'identity_conflict'
    ELSE 'user not found or not allowed' END)
${CONSUMED}`;

// The batch's events, in one statement (src/core/webhooks/outbox.ts): nothing
// to do when no endpoint listens. A refused user is an event (the token was
// real and is now spent); an unknown, expired or spent token is only audited:
// anyone can send those, and an event each would let a flood fill the outbox.
const TOKEN_EVENT = `json_object('tokenRefNo', t.ref_no, 'source', s.code, 'userId', t.user_id, 'created', ${jsonBoolSql(`t.user_id = ${field("uid")}`)})`;
// CROSS JOIN throughout: SQLite keeps that order (endpoints, then the batch's rows, then keyed lookups).
const TOKENS_CONSUMED = `json_each(?1) j
  CROSS JOIN sso_tokens t ON t.token_hash = ${field("h")} AND t.redeem_batch = ?3
  CROSS JOIN sso_sources s ON s.id = t.source_id`;
const OUTBOX = outboxSql("?2", [
  { type: "token.redeemed", data: TOKEN_EVENT, from: TOKENS_CONSUMED, where: "t.user_id IS NOT NULL" },
  { type: "token.redeem_failed", data: "json_object('tokenRefNo', t.ref_no, 'source', s.code)", from: TOKENS_CONSUMED, where: "t.user_id IS NULL" },
  // A user this batch created has all three times the batch's (?5, as text); a session it opened expires at ?6.
  { type: "user.created", data: userJsonSql("u", "?5"), from: `json_each(?1) j CROSS JOIN users u ON u.id = ${field("uid")}`, where: "true" },
  {
    type: "session.created",
    data: sessionJsonSql("ls", "?6"),
    from: `json_each(?1) j CROSS JOIN login_sessions ls ON ls.id_hash = ${field("sid")}`,
    where: "true",
  },
]);

// One JSON object per redemption: a single column is far cheaper to carry
// out of the driver than twenty-odd.
const RESULTS = `
SELECT t.token_hash AS hash, json_object(
  'refNo', t.ref_no, 'section', t.section, 'email', t.email, 'displayName', t.display_name, 'externalId', t.external_id,
  'orgId', t.org_id, 'groups', json(t.groups), 'lobId', t.lob_id, 'functionality', t.functionality, 'redirectUrl', t.redirect_url,
  'sourceId', s.id, 'sourceCode', s.code, 'performLogin', s.perform_login, 'returnUserData', s.return_user_data,
  'redirectUrls', json(s.redirect_urls), 'userId', u.id, 'userEmail', u.email, 'userDisplayName', u.display_name,
  'userExternalId', u.external_id, 'userOrgId', u.org_id, 'userGroups', json(u.groups), 'created', u.id = ${field("uid")},
  'sessionExpiresAt', ls.expires_at) AS result
${CONSUMED}
LEFT JOIN users u ON u.id = t.user_id
LEFT JOIN login_sessions ls ON ls.id_hash = ${field("sid")}`;

// Each with the highest ?n it uses: SQLite wants exactly that many values bound.
const bound = (sql: string) => ({ sql, arity: Math.max(...[...sql.matchAll(/\?(\d+)/g)].map((m) => Number(m[1]))) });
const AFTER_CONSUME = [CREATE_USERS, RESOLVE_USERS, UPDATE_USERS, RECORD_GROUPS, OPEN_SESSIONS, OUTBOX, AUDIT, RESULTS].map(bound);
const [PLAIN, IN_BROWSER] = [bound(CONSUME), bound(CONSUME_IN_BROWSER)];

/** What RESULTS says of one redemption. */
interface Result {
  refNo: string;
  section: string | null;
  email: string | null;
  displayName: string | null;
  externalId: string | null;
  orgId: string;
  groups: string[] | null;
  lobId: string | null;
  functionality: string | null;
  redirectUrl: string | null;
  sourceId: number;
  sourceCode: string;
  performLogin: number;
  returnUserData: number;
  redirectUrls: string[];
  userId: string | null;
  userEmail: string | null;
  userDisplayName: string | null;
  userExternalId: string | null;
  userOrgId: string;
  userGroups: string[] | null;
  created: number | null;
  sessionExpiresAt: number | null;
}

const redeemOp: BulkWrite<RedeemRow, Result | undefined> = {
  name: "token.redeem",
  plan(rows) {
    // Two requests for one token in one batch: the first takes part, the second has lost the race.
    const seen = new Set<string>();
    const unique = rows.filter((r) => !seen.has(r.h) && seen.add(r.h));
    const { at, sessionTtlMs } = rows[0]!;
    const values: SqlValue[] = [encode(unique), at, randomUUID(), sessionTtlMs, new Date(at).toISOString(), new Date(at + sessionTtlMs).toISOString()];
    return {
      statements: [unique.some((r) => r.sec !== null || r.confirmed === 0) ? IN_BROWSER : PLAIN, ...AFTER_CONSUME].map(
        ({ sql, arity }): Statement => ({ sql, args: values.slice(0, arity) }),
      ),
      decode(results) {
        const byHash = new Map(results[results.length - 1]!.rows.map((r) => [r[0] as string, JSON.parse(r[1] as string) as Result]));
        const answered = new Set<string>();
        return rows.map((r) => {
          if (answered.has(r.h)) return undefined;
          answered.add(r.h);
          return byHash.get(r.h);
        });
      },
    };
  },
};

function redemptionOf(row: Result, sessionId: string, redirectUrl: string | null): Redemption {
  return {
    tokenRefNo: row.refNo,
    source: { id: row.sourceId, code: row.sourceCode, performLogin: Boolean(row.performLogin), returnUserData: Boolean(row.returnUserData) },
    claims: {
      email: row.email,
      displayName: row.displayName,
      externalId: row.externalId,
      orgId: row.orgId,
      groups: row.groups,
      section: row.section,
      lobId: row.lobId,
      functionality: row.functionality,
    },
    created: Boolean(row.created),
    user: {
      id: row.userId!,
      email: row.userEmail,
      displayName: row.userDisplayName,
      externalId: row.userExternalId,
      orgId: row.userOrgId,
      groups: row.userGroups ?? [],
    },
    session: row.sessionExpiresAt === null ? null : { id: sessionId, expiresAt: row.sessionExpiresAt },
    redirectUrl,
  };
}

export async function redeemToken(core: Core, request: RedeemRequest): Promise<RedeemOutcome> {
  const sessionId = randomSecret();
  const row = await core.store.bulk(redeemOp, {
    at: core.now(),
    sessionTtlMs: core.settings.sessionTtlSeconds * 1000,
    h: sha256(request.token),
    sec: request.section,
    confirmed: request.confirmed ? 1 : 0,
    sid: sha256(sessionId),
    uid: randomUUID(),
    ip: request.ip,
    ua: request.userAgent?.slice(0, 512) ?? null,
    actor: actorName(request.actor),
    via: request.via,
  });
  if (!row) {
    core.telemetry.tokenRefused(request.via, "invalid");
    return { ok: false, consumed: false };
  }
  if (row.userId === null) {
    core.telemetry.tokenRefused(request.via, "refused");
    return { ok: false, consumed: true };
  }
  core.telemetry.tokenRedeemed(row.sourceCode, request.via);
  return { ok: true, redemption: redemptionOf(row, sessionId, await nextUrl(core, row)) };
}
