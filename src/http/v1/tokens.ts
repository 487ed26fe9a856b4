// /v1/tokens: issue, redeem, introspect, revoke (SPEC §3), and the browser
// landing /v1/login.
import { Hono } from "hono";
import { describeRoute } from "hono-openapi";
import * as v from "valibot";
import { recordAudit, actorName } from "../../core/audit";
import type { Core } from "../../core/context";
import { presentClaims, emptyClaims } from "../../core/tokens/claims";
import { introspectToken, revokeToken } from "../../core/tokens/inspect";
import { issueToken } from "../../core/tokens/issue";
import { issuingSource } from "../../core/tokens/issuer";
import { redeemToken } from "../../core/tokens/redeem";
import { landInBrowser } from "../browser/landing";
import { callers, jsonAnswer as json, problems } from "../docs";
import { requireJson } from "../middleware/require-json";
import { validate } from "../validation";
import { authenticate, type V1Env } from "./auth";
import { invalidRequest, notJson, problem } from "./problem";
import { introspectionView, issuedView, issueBody, loginQuery, redeemedView, revokeBody, tokenBody } from "./token-schemas";
import { isoTime } from "./views";

export function tokenRoutes(core: Core) {
  const app = new Hono<V1Env>();
  const anyCaller = authenticate(core, { admin: true, source: true });

  app.post(
    "/tokens",
    describeRoute({
      tags: ["tokens"],
      summary: "Issue a single-use login token",
      description: "With source credentials (HTTP Basic) the token belongs to that source; with an admin key, to `sourceCode` or the `default` source.",
      security: callers.adminOrSource,
      responses: { 201: json(issuedView, "The token, shown this once"), ...problems(400, 401, 403, 413, 415, 429, 503) },
    }),
    anyCaller,
    requireJson(notJson),
    validate("json", issueBody, invalidRequest),
    async (c) => {
      const body = c.req.valid("json");
      const caller = c.get("caller");
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
      return c.json(
        {
          token: issued.token,
          tokenRefNo: issued.tokenRefNo,
          expiresAt: isoTime(issued.expiresAt),
          loginUrl: `${core.settings.publicUrl}/v1/login?token=${encodeURIComponent(issued.token)}`,
        },
        201,
      );
    },
  );

  app.post(
    "/tokens/redeem",
    describeRoute({
      tags: ["tokens"],
      summary: "Redeem a token, exactly once",
      description: "The target app redeems with an admin key or any source's credentials. A consumed, expired, revoked or unknown token all get one answer.",
      security: callers.adminOrSource,
      responses: { 200: json(redeemedView, "Who the token is for"), ...problems(400, 401, 413, 415, 429, 503) },
    }),
    anyCaller,
    requireJson(notJson),
    validate("json", tokenBody, invalidRequest),
    async (c) => {
      const caller = c.get("caller");
      const outcome = await redeemToken(core, {
        token: c.req.valid("json").token,
        section: null,
        via: "api",
        actor: caller.actor,
        ip: c.get("clientIp"),
        userAgent: c.req.header("user-agent") ?? null,
      });
      if (!outcome.ok) {
        // A caller that authenticated is never throttled: a consumed token is a normal race between target apps.
        if (!outcome.consumed) {
          await recordAudit(core, { actor: actorName(caller.actor), action: "token.redeem_failed", outcome: "failure", ip: c.get("clientIp"), detail: { via: "api" } });
        }
        return problem(c, 400, "invalid-token", "Invalid or expired token");
      }
      const r = outcome.redemption;
      c.set("sourceCode", r.source.code);
      return c.json({
        tokenRefNo: r.tokenRefNo,
        source: r.source.code,
        claims: presentClaims(r.claims),
        created: r.created,
        ...(r.source.returnUserData ? { user: r.user } : {}),
        ...(r.session ? { session: { id: r.session.id, expiresAt: isoTime(r.session.expiresAt) } } : {}),
      });
    },
  );

  app.post(
    "/tokens/introspect",
    describeRoute({
      tags: ["tokens"],
      summary: "Introspect a token without consuming it (RFC 7662)",
      security: callers.adminOrSource,
      responses: { 200: json(introspectionView, "`{\"active\":false}` or the token's claims"), ...problems(400, 401, 413, 415, 429, 503) },
    }),
    anyCaller,
    requireJson(notJson),
    validate("json", tokenBody, invalidRequest),
    async (c) => c.json(await introspectToken(core, c.req.valid("json").token)),
  );

  app.post(
    "/tokens/revoke",
    describeRoute({
      tags: ["tokens"],
      summary: "Revoke a token before it is redeemed",
      description: "Answers 200 whether or not there was such a token (RFC 7009). A source revokes only its own tokens.",
      security: callers.adminOrSource,
      responses: { 200: json(v.object({}), "Revoked, or nothing to revoke"), ...problems(400, 401, 413, 415, 429, 503) },
    }),
    anyCaller,
    requireJson(notJson),
    validate("json", revokeBody, invalidRequest),
    async (c) => {
      const body = c.req.valid("json");
      const caller = c.get("caller");
      await revokeToken(core, {
        token: body.token,
        tokenRefNo: body.tokenRefNo,
        sourceId: caller.kind === "source" ? caller.source.id : undefined,
        actor: caller.actor,
        ip: c.get("clientIp"),
      });
      return c.json({});
    },
  );

  app.get(
    "/login",
    describeRoute({
      tags: ["browser"],
      summary: "Browser landing: redeem a token, set the session cookie, go on",
      security: callers.anyone,
      responses: {
        303: { description: "To the allow-listed redirect URL, with the session cookie" },
        200: { description: "An HTML page saying who signed in (JSON with Accept: application/json)" },
        400: { description: "An HTML page: not a valid token (JSON with Accept: application/json)" },
        429: { description: "Too many failed attempts from this IP (Retry-After)" },
      },
    }),
    validate("query", loginQuery, invalidRequest),
    (c) => landInBrowser(c, core, c.req.valid("query").token, null),
  );

  return app;
}
