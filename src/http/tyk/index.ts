// The Tyk-style nonce API (seed 000, SPEC §2.1): POST /api/sso and
// /admin/sso issue a nonce; GET /tap (dashboard) and /sso (portal) redeem it
// in the browser.
import { Hono, type Context } from "hono";
import { bodyLimit } from "../middleware/body-limit";
import { describeRoute, resolver } from "hono-openapi";
import * as v from "valibot";
import { adminByKey, recordFailure, sourceActor, sourceByCredentials } from "../../core/auth";
import type { Actor } from "../../core/audit";
import type { Core } from "../../core/context";
import { CoreError } from "../../core/errors";
import type { Source } from "../../core/sources";
import { emptyClaims } from "../../core/tokens/claims";
import { issueToken } from "../../core/tokens/issue";
import { issuingSource } from "../../core/tokens/issuer";
import { StoreUnavailableError } from "../../store/errors";
import type { Logger } from "../../log";
import { landInBrowser } from "../browser/landing";
import { callers, jsonAnswer } from "../docs";
import type { AppEnv } from "../env";
import { canonical, fieldsOf } from "../fields";
import { MAX_BODY_BYTES } from "../limits";
import { uncleanText } from "../text-hygiene";
import { issuesOf, validate } from "../validation";
import { credentialsOf } from "../v1/auth";
import { errorResponse, nonceQuery, nonceTokenRequest, nonceTokenResponse } from "./schemas";

type C = Context<AppEnv>;
type Status = 400 | 401 | 403 | 413 | 415 | 429 | 500 | 503;

/** Seed 000's api.ErrorResponse. */
function error(c: C, status: Status, title: string, detail: string) {
  return c.json({ errors: [{ title, detail }] }, status);
}

/** The admin key, read the three ways Tyk callers send it. */
function adminKeyOf(c: C): string | undefined {
  const header = c.req.header("authorization")?.trim();
  if (header) return /^bearer\s+/i.test(header) ? header.replace(/^bearer\s+/i, "") : /^\S+$/.test(header) ? header : undefined;
  return c.req.header("admin-auth")?.trim() || undefined;
}

async function caller(c: C, core: Core): Promise<{ actor: Actor; source?: Source } | Response> {
  const basic = credentialsOf(c.req.header("authorization"));
  const ip = c.get("clientIp");
  if (basic?.scheme === "basic") {
    const source = await sourceByCredentials(core, basic.clientId, basic.secret);
    if (source) return { actor: sourceActor(source), source };
    return refuse(c, core, { ip, action: "source.auth_failed", credential: { kind: "client", value: basic.clientId.slice(0, 128) }, detail: { via: "tyk" } });
  }
  const key = adminKeyOf(c);
  if (!key) return error(c, 401, "Unauthorized", "an admin key is required (Authorization or admin-auth header)");
  const actor = await adminByKey(core, key);
  if (actor) return { actor };
  return refuse(c, core, { ip, action: "admin.auth_failed", detail: { via: "tyk" } });
}

async function refuse(c: C, core: Core, failure: Parameters<typeof recordFailure>[1]) {
  const retryAfter = await recordFailure(core, failure);
  if (retryAfter > 0) {
    c.header("Retry-After", String(retryAfter));
    return error(c, 429, "Too Many Requests", `too many failed attempts, retry in ${retryAfter} seconds`);
  }
  return error(c, 401, "Unauthorized", "the credentials are not valid");
}

/** Reads the JSON body and rebuilds it under the schema's names, whatever their case. */
async function requestBody(c: C): Promise<Record<string, unknown> | Response> {
  const type = c.req.header("content-type") ?? "";
  if (type && !/^application\/([\w.-]+\+)?json/i.test(type)) return error(c, 415, "Unsupported Media Type", "send Content-Type: application/json");
  let parsed: unknown;
  try {
    parsed = JSON.parse(await c.req.text());
  } catch {
    return error(c, 400, "Bad Request", "the body is not valid JSON");
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return error(c, 400, "Bad Request", "the body must be a JSON object");
  const unclean = uncleanText(parsed);
  if (unclean) return error(c, 400, "Bad Request", `${unclean.path}: ${unclean.message}`);
  return canonical(fieldsOf(Object.entries(parsed)), nonceTokenRequest);
}

const CORE_ERRORS: Partial<Record<CoreError["code"], [Status, string]>> = {
  invalid: [400, "Bad Request"],
  forbidden: [403, "Forbidden"],
  source_unavailable: [403, "Forbidden"],
  redirect_not_allowed: [400, "Bad Request"],
  not_found: [400, "Bad Request"],
};

export function tykApp(core: Core, logger: Logger) {
  const app = new Hono<AppEnv>();

  app.onError((err, c) => {
    if (err instanceof CoreError) {
      const [status, title] = CORE_ERRORS[err.code] ?? [400, "Bad Request"];
      return error(c, status, title, err.message);
    }
    if (err instanceof StoreUnavailableError) {
      c.header("Retry-After", "1");
      return error(c, 503, "Service Unavailable", "the store is unavailable, retry shortly");
    }
    logger.error({ err, reqId: c.get("requestId") }, "unhandled error");
    return error(c, 500, "Internal Server Error", `request ${c.get("requestId")} failed`);
  });

  const issue = [
    describeRoute({
      tags: ["tyk"],
      summary: "Create a nonce token for SSO authentication",
      description: "Seed 000. Field names match case-insensitively (PascalCase as Tyk Dashboard documents works too).",
      security: callers.tyk,
      requestBody: { required: true, content: { "application/json": { schema: resolver(nonceTokenRequest) } } },
      responses: {
        200: jsonAnswer(nonceTokenResponse, "OK"),
        400: jsonAnswer(errorResponse, "Bad Request"),
        401: jsonAnswer(errorResponse, "Unauthorized"),
        403: jsonAnswer(errorResponse, "Forbidden: the source has expired, or is not the caller's"),
        413: jsonAnswer(errorResponse, "Payload Too Large"),
        415: jsonAnswer(errorResponse, "Unsupported Media Type"),
        429: jsonAnswer(errorResponse, "Too Many Requests (Retry-After)"),
        500: jsonAnswer(errorResponse, "Internal Server Error"),
        503: jsonAnswer(errorResponse, "Service Unavailable: the store (Retry-After)"),
      },
    }),
    bodyLimit(MAX_BODY_BYTES, (c) => error(c as C, 413, "Payload Too Large", `at most ${MAX_BODY_BYTES} bytes`)),
    async (c: C) => {
      const who = await caller(c, core);
      if (who instanceof Response) return who;
      const raw = await requestBody(c);
      if (raw instanceof Response) return raw;
      const checked = v.safeParse(nonceTokenRequest, raw);
      if (!checked.success) {
        const detail = issuesOf(checked.issues).map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; ");
        return error(c, 400, "Bad Request", detail);
      }
      const body = checked.output;
      const source = await issuingSource(core, { source: who.source }, body.sourceCode);
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
        actor: who.actor,
        ip: c.get("clientIp"),
      });
      return c.json({ Status: "OK", Message: "SSO Nonce created", Meta: issued.token });
    },
  ] as const;
  app.post("/api/sso", ...issue);
  app.post("/admin/sso", ...issue);

  const landing = (section: "dashboard" | "portal", path: string) =>
    app.get(
      path,
      describeRoute({
        tags: ["tyk"],
        summary: `Redeem a ${section} nonce in the browser`,
        description: `A nonce made for the other section is refused.`,
        security: callers.anyone,
        responses: {
          303: { description: "To the source's redirect URL, with the session cookie" },
          200: { description: "An HTML page saying who signed in (JSON with Accept: application/json)" },
          400: { description: "An HTML page: not a valid nonce for this section (JSON with Accept: application/json)" },
          429: { description: "Too many failed attempts from this IP (Retry-After)" },
        },
      }),
      validate("query", nonceQuery, (c) => error(c as C, 400, "Bad Request", "nonce must be given once")),
      (c) => landInBrowser(c, core, c.req.valid("query").nonce, section),
    );
  landing("dashboard", "/tap");
  landing("portal", "/sso");

  return app;
}
