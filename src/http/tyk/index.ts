// The Tyk-style nonce API (seed 000, SPEC §2.1): POST /api/sso (and its
// aliases) issue a nonce; GET /tap (dashboard) and /sso (portal) redeem it in
// the browser.
import type { Context } from "hono";
import * as v from "valibot";
import type { Core } from "../../core/context";
import { emptyClaims } from "../../core/tokens/claims";
import { issueToken } from "../../core/tokens/issue";
import { issuingSource } from "../../core/tokens/issuer";
import { type AuthStrategy, adminCaller, anyone, type Caller, sourceCaller } from "../auth/callers";
import { presentedCredentials } from "../auth/credentials";
import type { AppEnv } from "../env";
import { refuse } from "../failure";
import { type Dialect, reply, route } from "../route";
import { browserRenderer } from "../shared/browser-renderer";
import { confirmationFailures, type Landing, landingAnswers, landingFailures, landOnGet, landOnPost } from "../shared/landing";
import { tykRenderer } from "./errors";
import { errorResponse, nonceQuery, nonceTokenRequest, nonceTokenResponse } from "./schemas";

const TYK = "Tyk nonce API";

export const tykDialect: Dialect = {
  renderer: tykRenderer,
  errorSchema: errorResponse,
  errorMediaType: "application/json",
  failureDescriptions: {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: the source has expired, or is not the caller's",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests (Retry-After)",
    503: "Service Unavailable: the store (Retry-After)",
  },
};

export const tykBrowserDialect: Dialect = { ...tykDialect, renderer: browserRenderer(tykRenderer), pages: true };

/** An admin key, read the three ways Tyk callers send it, or a source's HTTP Basic credentials. */
const tykCaller: AuthStrategy<Caller> = {
  security: [{ tykAdminKey: [] }, { adminKey: [] }, { sourceCredentials: [] }],
  async authenticate(c: Context<AppEnv>, core: Core) {
    const presented = presentedCredentials(c.req.header("authorization"));
    if (presented?.scheme === "basic") return sourceCaller(c, core, presented.clientId, presented.secret, "tyk");
    // An Authorization header that is neither Basic, Bearer nor a bare key is no key; admin-auth counts only without one.
    const key = presented ? presented.token : c.req.header("authorization")?.trim() ? undefined : c.req.header("admin-auth")?.trim();
    if (!key) return refuse({ kind: "unauthenticated", reason: "missing", message: "an admin key is required (Authorization or admin-auth header)" });
    return adminCaller(c, core, key, "tyk");
  },
};

const issueNonce = route({
  method: "post",
  path: "/api/sso",
  // Tyk Dashboard's path, and the path a client generated from seed 000's own
  // document calls (its server URL ends in /api/v1, its path is /api/sso).
  aliases: ["/admin/sso", "/api/v1/api/sso"],
  tag: TYK,
  summary: "Create a nonce token for SSO authentication",
  description: "Seed 000. Field names match case-insensitively (PascalCase as Tyk Dashboard documents works too).",
  auth: tykCaller,
  body: { schema: nonceTokenRequest, label: "unless-other", anyCase: true },
  answers: { 200: { description: "OK", schema: nonceTokenResponse } },
  failures: [400, 401, 403, 413, 415, 429, 503],
  async handle({ c, core, caller, body }) {
    const source = await issuingSource(core, { source: caller.kind === "source" ? caller.source : undefined }, body.sourceCode);
    c.set("sourceCode", source.code);
    const groups = [...new Set([...(body.groupID ? [body.groupID] : []), ...(body.groupsIDs ?? [])])];
    const issued = await issueToken(core, {
      source,
      dialect: "tyk",
      format: "nonce",
      claims: {
        ...emptyClaims(),
        email: body.emailAddress,
        displayName: body.displayName ?? null,
        orgId: body.orgID ?? "",
        groups: body.groupID !== undefined || body.groupsIDs !== undefined ? groups : null,
        section: body.forSection,
      },
      expiresAt: body.expiresAt,
      registeredOnly: body.ssoonlyForRegisteredUsers,
      actor: caller.actor,
      ip: c.get("clientIp"),
    });
    return reply(200, { Status: "OK" as const, Message: "SSO Nonce created" as const, Meta: issued.token });
  },
});

const landings = (section: "dashboard" | "portal", path: string) => {
  const landing: Landing = { field: "nonce", section };
  return [
    route({
      method: "get",
      path,
      tag: TYK,
      summary: `Redeem a ${section} nonce in the browser`,
      description: 'A nonce made for the other section is refused. HEAD never spends it; for a source with `landing: "confirm"` a click does.',
      auth: anyone,
      query: nonceQuery,
      answers: landingAnswers,
      failures: landingFailures,
      handle: ({ c, core, query }) => landOnGet(c, core, landing, query.nonce),
    }),
    route({
      method: "post",
      path,
      tag: TYK,
      summary: `Confirm a ${section} landing (the confirmation page's button)`,
      description: "Only from ssod's own page: a request another site sends is refused.",
      auth: anyone,
      documentedBody: { "application/x-www-form-urlencoded": v.object({ nonce: v.string() }) },
      answers: landingAnswers,
      failures: confirmationFailures,
      handle: ({ c, core }) => landOnPost(c, core, landing),
    }),
  ];
};

export const tykRoutes = [issueNonce];
export const tykBrowserRoutes = [...landings("dashboard", "/tap"), ...landings("portal", "/sso")];
