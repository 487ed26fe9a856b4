// The line-of-business token API (seed 001, SPEC §2.2): POST /GenerateSSOToken.
// Checks run in the order SPEC gives, each with the seed's status code:
// headers, client id, caller IP, caller JWT (the route's authentication), then the body.
import type { Context } from "hono";
import { sourceActor } from "../../core/auth";
import { verifyCallerJwt } from "../../core/caller-jwt";
import type { Core } from "../../core/context";
import { ipAllowed, type Source } from "../../core/sources";
import { emptyClaims } from "../../core/tokens/claims";
import { issueToken } from "../../core/tokens/issue";
import type { AuthStrategy } from "../auth/callers";
import { refuseAfterFailure } from "../auth/refuse";
import { isJsonType } from "../body";
import type { AppEnv } from "../env";
import { type Failure, refuse } from "../failure";
import { type Dialect, reply, route } from "../route";
import { lobRenderer } from "./errors";
import { generatedView, generateSsoTokenBody, generateSsoTokenHeaders, lobErrorView, SUPPORTED_API_VERSION } from "./schemas";

const LOB = "Line-of-business GenerateSSOToken";

export const lobDialect: Dialect = {
  renderer: lobRenderer,
  errorSchema: lobErrorView,
  errorMediaType: "application/json",
  failureDescriptions: {
    400: "A header is missing or the body is invalid",
    401: "The caller's token is missing, expired or invalid",
    403: "Unknown client, or a token without the required permission",
    406: "The caller's IP is not allowed",
    413: "Body over 64 KiB",
    429: "Too many failed attempts (Retry-After)",
    502: "Internal error (the store or the identity provider is unreachable)",
    504: "Timed out",
  },
};

const missingHeader = (name: string) =>
  refuse({ kind: "invalid", message: `${name} header is required`, issues: [{ field: name, message: "header is required" }] });

/** A failed check of the caller, audited and counted against its IP and its client id. */
const callerFailed = (c: Context<AppEnv>, core: Core, clientId: string, message: string, failure: Failure) =>
  refuseAfterFailure(
    c,
    core,
    { action: "source.auth_failed", credential: { kind: "client", value: clientId }, detail: { via: "lob", reason: message } },
    failure,
  );

const unauthenticated = (reason: "unknown_client" | "invalid", message: string): Failure => ({ kind: "unauthenticated", reason, message });

/** The seed's checks of the headers and the caller, in its order. */
const lobCaller: AuthStrategy<Source> = {
  security: [{ lobCallerJwt: [] }],
  async authenticate(c, core) {
    const clientId = c.req.header("x-lob-client-id")?.trim();
    const apiVersion = c.req.header("x-api-version")?.trim();
    if (!clientId) return missingHeader("x-lob-client-id");
    if (!apiVersion) return missingHeader("x-api-version");
    if (!isJsonType(c.req.header("content-type"))) return refuse({ kind: "not_json" });
    if (apiVersion !== SUPPORTED_API_VERSION) {
      return refuse({
        kind: "invalid",
        message: `x-api-version ${apiVersion.slice(0, 16)} is not supported: only ${SUPPORTED_API_VERSION} is`,
        issues: [{ field: "x-api-version", message: `must be ${SUPPORTED_API_VERSION}` }],
      });
    }
    const source = clientId.length <= 128 ? await core.lookups.sourceByClientId.load(clientId) : undefined;
    if (!source) return callerFailed(c, core, clientId, "Unknown x-lob-client-id", unauthenticated("unknown_client", "Unknown x-lob-client-id"));
    c.set("sourceCode", source.code);
    if (!ipAllowed(core, source, c.get("clientIp")))
      return refuse({ kind: "ip_not_allowed", message: "the caller's IP is not allowed for this client", issues: [] });
    const bearer = (c.req.header("authorization") ?? "").trim().replace(/^bearer\s+/i, "");
    if (!bearer)
      return callerFailed(
        c,
        core,
        clientId,
        "the Authorization header is missing or blank",
        unauthenticated("invalid", "the Authorization header is missing or blank"),
      );
    const verdict = await verifyCallerJwt(core, source, bearer, clientId);
    if (verdict.ok) return source;
    if (verdict.status === 401) return callerFailed(c, core, clientId, verdict.reason, unauthenticated("invalid", verdict.reason));
    // A valid token without the right to call (scope, another client's) is a failed authentication too: audited.
    if (verdict.status === 403) return callerFailed(c, core, clientId, verdict.reason, { kind: "forbidden", message: verdict.reason, issues: [] });
    return refuse({ kind: "unavailable", service: "identity_provider", reason: verdict.status === 504 ? "timeout" : "unreachable" });
  },
};

const generateSsoToken = route({
  method: "post",
  path: "/GenerateSSOToken",
  tag: LOB,
  summary: "Generate the user token for single sign on",
  description: "Seed 001. The caller's JWT is verified against the source's identity provider, or as HS256 with its client secret.",
  auth: lobCaller,
  headers: generateSsoTokenHeaders,
  body: { schema: generateSsoTokenBody, label: "checked" },
  answers: { 200: { description: "Token generated", schema: generatedView } },
  failures: [400, 401, 403, 406, 413, 429, 502, 504],
  async handle({ c, core, caller: source, body }) {
    const issued = await issueToken(core, {
      source,
      dialect: "lob",
      format: "lob-jwt",
      claims: { ...emptyClaims(), externalId: body.CIINo, lobId: body.LOBId, functionality: body.Functionality },
      registeredOnly: false,
      actor: sourceActor(source),
      ip: c.get("clientIp"),
    });
    return reply(200, {
      ReturnCode: "1" as const,
      ReturnMessage: "Token Generated successfully" as const,
      TokenRefNo: issued.tokenRefNo,
      TokenNo: issued.token,
    });
  },
});

export const lobRoutes = [generateSsoToken];
