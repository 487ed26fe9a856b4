// The line-of-business token API (seed 001, SPEC §2.2): POST /GenerateSSOToken.
// Checks run in the order SPEC gives, each with the seed's status code.
import { Hono, type Context } from "hono";
import { bodyLimit } from "../middleware/body-limit";
import { describeRoute, resolver } from "hono-openapi";
import * as v from "valibot";
import { recordFailure, sourceActor } from "../../core/auth";
import { verifyCallerJwt } from "../../core/caller-jwt";
import type { Core } from "../../core/context";
import { CoreError } from "../../core/errors";
import { ipAllowed } from "../../core/sources";
import { emptyClaims } from "../../core/tokens/claims";
import { issueToken } from "../../core/tokens/issue";
import { StoreUnavailableError } from "../../store/errors";
import type { Logger } from "../../log";
import { callers, jsonAnswer } from "../docs";
import type { AppEnv } from "../env";
import { MAX_BODY_BYTES } from "../limits";
import { uncleanText } from "../text-hygiene";
import { issuesOf } from "../validation";
import { SUPPORTED_API_VERSION, generateSsoTokenBody, generateSsoTokenHeaders, generatedView, lobErrorView } from "./schemas";

type C = Context<AppEnv>;
type Status = 400 | 401 | 403 | 406 | 413 | 429 | 500 | 502 | 503 | 504;

function refuse(c: C, status: Status, message: string) {
  return c.json({ ReturnCode: "0", ReturnMessage: message }, status);
}

const JSON_TYPE = /^application\/([\w.-]+\+)?json\s*(;|$)/i;

/** 401, or 429 once this IP or client id has failed too often. */
async function authFailed(c: C, core: Core, clientId: string, status: 401 | 403, message: string) {
  const retryAfter = await recordFailure(core, {
    ip: c.get("clientIp"),
    action: "source.auth_failed",
    credential: { kind: "client", value: clientId.slice(0, 128) },
    detail: { via: "lob", reason: message },
  });
  if (retryAfter > 0) {
    c.header("Retry-After", String(retryAfter));
    return refuse(c, 429, `Too many failed attempts, retry in ${retryAfter} seconds`);
  }
  return refuse(c, status, message);
}

export function lobApp(core: Core, logger: Logger) {
  const app = new Hono<AppEnv>();

  app.onError((error, c) => {
    // A full disk is 503 + Retry-After in every dialect (SPEC §5), though seed 001 lists only 502 and 504.
    if (error instanceof StoreUnavailableError && error.reason === "full") {
      c.header("Retry-After", "1");
      return refuse(c, 503, "Service Unavailable");
    }
    if (error instanceof StoreUnavailableError) return refuse(c, error.reason === "timeout" ? 504 : 502, error.reason === "timeout" ? "Timed out" : "Internal Server Error");
    if (error instanceof CoreError) return refuse(c, error.code === "source_unavailable" ? 403 : 400, error.message);
    logger.error({ err: error, reqId: c.get("requestId") }, "unhandled error");
    return refuse(c, 502, "Internal Server Error");
  });

  app.post(
    "/GenerateSSOToken",
    describeRoute({
      tags: ["lob"],
      summary: "Generate the user token for single sign on",
      description: "Seed 001. The caller's JWT is verified against the source's identity provider, or as HS256 with its client secret.",
      parameters: Object.entries(generateSsoTokenHeaders).map(([name, example]) => ({ in: "header", name, required: true, schema: { type: "string", examples: [example] } })),
      security: callers.lob,
      requestBody: { required: true, content: { "application/json": { schema: resolver(generateSsoTokenBody) } } },
      responses: {
        200: jsonAnswer(generatedView, "Token generated"),
        400: jsonAnswer(lobErrorView, "A header is missing or the body is invalid"),
        401: jsonAnswer(lobErrorView, "The caller's token is missing, expired or invalid"),
        403: jsonAnswer(lobErrorView, "Unknown client, or a token without the required permission"),
        406: jsonAnswer(lobErrorView, "The caller's IP is not allowed"),
        413: jsonAnswer(lobErrorView, "Body over 64 KiB"),
        429: jsonAnswer(lobErrorView, "Too many failed attempts (Retry-After)"),
        502: jsonAnswer(lobErrorView, "Internal error (the store is unreachable)"),
        504: jsonAnswer(lobErrorView, "Timed out"),
      },
    }),
    bodyLimit(MAX_BODY_BYTES, (c) => refuse(c as C, 413, "Request body too large")),
    async (c) => {
      const clientId = c.req.header("x-lob-client-id")?.trim();
      const apiVersion = c.req.header("x-api-version")?.trim();
      if (!clientId) return refuse(c, 400, "Missing header: x-lob-client-id");
      if (!apiVersion) return refuse(c, 400, "Missing header: x-api-version");
      if (!JSON_TYPE.test(c.req.header("content-type") ?? "")) return refuse(c, 400, "Missing header: Content-Type must be application/json");
      if (apiVersion !== SUPPORTED_API_VERSION) return refuse(c, 400, `Unsupported x-api-version ${apiVersion.slice(0, 16)}: only ${SUPPORTED_API_VERSION} is supported`);

      const source = clientId.length <= 128 ? await core.lookups.sourceByClientId.load(clientId) : undefined;
      if (!source) return authFailed(c, core, clientId, 403, "Unknown x-lob-client-id");
      c.set("sourceCode", source.code);
      if (!ipAllowed(source, c.get("clientIp"))) return refuse(c, 406, "Not Acceptable: the caller's IP is not allowed for this client");

      const bearer = (c.req.header("authorization") ?? "").trim().replace(/^bearer\s+/i, "");
      if (!bearer) return authFailed(c, core, clientId, 401, "Unauthorized: the Authorization header is missing or blank");
      const verdict = await verifyCallerJwt(core, source, bearer, clientId);
      if (!verdict.ok) {
        if (verdict.status === 401) return authFailed(c, core, clientId, 401, `Unauthorized: ${verdict.reason}`);
        return refuse(c, verdict.status, verdict.status === 403 ? `Forbidden: ${verdict.reason}` : verdict.status === 504 ? "Timed out" : "Internal Server Error");
      }

      let raw: unknown;
      try {
        raw = JSON.parse(await c.req.text());
      } catch {
        return refuse(c, 400, "Bad Request: the body is not valid JSON");
      }
      const unclean = uncleanText(raw);
      if (unclean) return refuse(c, 400, `Bad Request: ${unclean.path} ${unclean.message}`);
      const body = v.safeParse(generateSsoTokenBody, raw);
      if (!body.success) return refuse(c, 400, `Bad Request: ${issuesOf(body.issues).map((i) => (i.path ? `${i.path} ${i.message}` : i.message)).join("; ")}`);

      const issued = await issueToken(core, {
        source,
        dialect: "lob",
        format: "lob-jwt",
        claims: { ...emptyClaims(), externalId: body.output.CIINo, lobId: body.output.LOBId, functionality: body.output.Functionality },
        registeredOnly: false,
        actor: sourceActor(source),
        ip: c.get("clientIp"),
      });
      return c.json({ ReturnCode: "1", ReturnMessage: "Token Generated successfully", TokenRefNo: issued.tokenRefNo, TokenNo: issued.token });
    },
  );
  return app;
}
