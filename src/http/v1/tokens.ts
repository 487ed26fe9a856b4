// /v1/tokens: issue, redeem, introspect, revoke (SPEC §3).
import * as v from "valibot";
import { actorName, recordAudit } from "../../core/audit";
import { emptyClaims, presentClaims } from "../../core/tokens/claims";
import { introspectToken, revokeToken } from "../../core/tokens/inspect";
import { issueToken } from "../../core/tokens/issue";
import { issuingSource } from "../../core/tokens/issuer";
import { redeemToken } from "../../core/tokens/redeem";
import { adminOrSource } from "../auth/callers";
import { refuse } from "../failure";
import { reply, route } from "../route";
import { V1 } from "./dialect";
import { introspectionView, issueBody, issuedView, redeemedView, revokeBody, tokenBody } from "./token-schemas";
import { isoTime } from "./views";

export const tokenRoutes = [
  route({
    method: "post",
    path: "/v1/tokens",
    tag: V1.tokens,
    summary: "Issue a single-use login token",
    description: "With source credentials (HTTP Basic) the token belongs to that source; with an admin key, to `sourceCode` or the `default` source.",
    auth: adminOrSource,
    body: { schema: issueBody, label: "required" },
    answers: { 201: { description: "The token, shown this once", schema: issuedView } },
    failures: [400, 401, 403, 413, 415, 429, 503],
    async handle({ c, core, caller, body }) {
      const source = await issuingSource(core, { source: caller.kind === "source" ? caller.source : undefined }, body.sourceCode);
      c.set("sourceCode", source.code);
      const issued = await issueToken(core, {
        source,
        dialect: "v1",
        format: body.format,
        claims: {
          ...emptyClaims(),
          email: body.user.email ?? null,
          displayName: body.user.displayName ?? null,
          externalId: body.user.externalId ?? null,
          orgId: body.user.orgId ?? "",
          groups: body.user.groups ?? null,
          section: body.section ?? null,
          lobId: body.lobId ?? null,
          functionality: body.functionality ?? null,
        },
        ttlSeconds: body.ttlSeconds,
        redirectUrl: body.redirectUrl,
        registeredOnly: body.registeredOnly,
        actor: caller.actor,
        ip: c.get("clientIp"),
      });
      return reply(201, {
        token: issued.token,
        tokenRefNo: issued.tokenRefNo,
        expiresAt: isoTime(issued.expiresAt),
        loginUrl: `${core.settings.publicUrl}/v1/login?token=${encodeURIComponent(issued.token)}`,
      });
    },
  }),
  route({
    method: "post",
    path: "/v1/tokens/redeem",
    tag: V1.tokens,
    summary: "Redeem a token, exactly once",
    description: "The target app redeems with an admin key or any source's credentials. A consumed, expired, revoked or unknown token all get one answer.",
    auth: adminOrSource,
    body: { schema: tokenBody, label: "required" },
    answers: { 200: { description: "Who the token is for", schema: redeemedView } },
    failures: [400, 401, 413, 415, 429, 503],
    async handle({ c, core, caller, body }) {
      const outcome = await redeemToken(core, {
        token: body.token,
        section: null,
        via: "api",
        confirmed: true,
        actor: caller.actor,
        ip: c.get("clientIp"),
        userAgent: c.req.header("user-agent") ?? null,
      });
      if (!outcome.ok) {
        // A caller that authenticated is never throttled: a consumed token is a normal race between target apps.
        if (!outcome.consumed) {
          await recordAudit(core, {
            actor: actorName(caller.actor),
            action: "token.redeem_failed",
            outcome: "failure",
            ip: c.get("clientIp"),
            detail: { via: "api" },
          });
        }
        return refuse({ kind: "invalid_token", message: "Invalid or expired token", issues: [] });
      }
      const r = outcome.redemption;
      c.set("sourceCode", r.source.code);
      return reply(200, {
        tokenRefNo: r.tokenRefNo,
        source: r.source.code,
        claims: presentClaims(r.claims),
        created: r.created,
        ...(r.source.returnUserData ? { user: r.user } : {}),
        ...(r.session ? { session: { id: r.session.id, expiresAt: isoTime(r.session.expiresAt) } } : {}),
      });
    },
  }),
  route({
    method: "post",
    path: "/v1/tokens/introspect",
    tag: V1.tokens,
    summary: "Introspect a token without consuming it (RFC 7662)",
    auth: adminOrSource,
    body: { schema: tokenBody, label: "required" },
    answers: { 200: { description: '`{"active":false}` or the token\'s claims', schema: introspectionView } },
    failures: [400, 401, 413, 415, 429, 503],
    handle: async ({ core, body }) => reply(200, await introspectToken(core, body.token)),
  }),
  route({
    method: "post",
    path: "/v1/tokens/revoke",
    tag: V1.tokens,
    summary: "Revoke a token before it is redeemed",
    description: "Answers 200 whether or not there was such a token (RFC 7009). A source revokes only its own tokens.",
    auth: adminOrSource,
    body: { schema: revokeBody, label: "required" },
    answers: { 200: { description: "Revoked, or nothing to revoke", schema: v.object({}) } },
    failures: [400, 401, 413, 415, 429, 503],
    async handle({ c, core, caller, body }) {
      await revokeToken(core, {
        token: body.token,
        tokenRefNo: body.tokenRefNo,
        sourceId: caller.kind === "source" ? caller.source.id : undefined,
        actor: caller.actor,
        ip: c.get("clientIp"),
      });
      return reply(200, {});
    },
  }),
];
