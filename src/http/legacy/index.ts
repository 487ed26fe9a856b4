// POST /api.php: the legacy command API of seed 002.
import { Hono, type Context } from "hono";
import { describeRoute, resolver } from "hono-openapi";
import { bodyLimit } from "../middleware/body-limit";
import { adminByKey, adminBySession, adminByPassword, recordFailure } from "../../core/auth";
import { closeAdminSession, openAdminSession } from "../../core/admin-accounts";
import type { Actor } from "../../core/audit";
import type { Core } from "../../core/context";
import { StoreUnavailableError } from "../../store/errors";
import type { Logger } from "../../log";
import { callers, jsonAnswer } from "../docs";
import type { AppEnv } from "../env";
import { MAX_BODY_BYTES } from "../limits";
import { uncleanText } from "../text-hygiene";
import { BodyError, readFields } from "./body";
import { text, type Fields } from "../fields";
import { LEGACY_ERRORS, type LegacyCode } from "./codes";
import { adminCommands, type Answer } from "./commands";
import { anyCommand, commandSchemas, errorResponse, formatLegacyDateTime, successResponse } from "./schemas";
import { validateCommand } from "./validate";

type C = Context<AppEnv>;

function reply(c: C, answer: Answer, status: 200 | 400 | 401 | 413 | 429 | 500 | 503 = answer.ok ? 200 : 400) {
  if (answer.ok) return c.json({ Success: true, ...answer.body }, 200);
  return c.json({ Success: false, ErrorCode: answer.codes, ErrorText: answer.codes.map((code) => answer.texts?.[code] ?? LEGACY_ERRORS[code]) }, status);
}

const fail = (c: C, code: LegacyCode, status: 400 | 401 | 413 | 429 | 500 | 503) => reply(c, { ok: false, codes: [code] }, status);

/** 401 for a failed authentication, or 429 once the caller has failed too often. */
async function refuse(c: C, core: Core, code: LegacyCode, failure: Parameters<typeof recordFailure>[1]) {
  const retryAfter = await recordFailure(core, failure);
  if (retryAfter > 0) {
    c.header("Retry-After", String(retryAfter));
    return fail(c, 103, 429);
  }
  return fail(c, code, 401);
}

async function authenticate(core: Core, fields: Fields): Promise<Actor | "missing" | undefined> {
  const apiKey = text(fields, "apikey");
  const sessionId = text(fields, "sessionid");
  if (apiKey) return adminByKey(core, apiKey);
  if (sessionId) return adminBySession(core, sessionId);
  return "missing";
}

async function login(c: C, core: Core, fields: Fields) {
  const ip = c.get("clientIp");
  const checked = validateCommand(commandSchemas["admin.login"], fields);
  const username = checked.ok ? checked.value.Username : (text(fields, "username") ?? "");
  const admin = checked.ok ? await adminByPassword(core, checked.value.Username, checked.value.Password) : undefined;
  if (!admin) {
    return refuse(c, core, 104, {
      ip,
      action: "admin.auth_failed",
      credential: username ? { kind: "admin", value: username.slice(0, 64) } : undefined,
      detail: { via: "password" },
    });
  }
  const session = await openAdminSession(core, admin, ip);
  return reply(c, { ok: true, body: { ErrorCode: 0, ErrorText: "", SessionID: session.sessionId, ExpiresAt: formatLegacyDateTime(session.expiresAt) } });
}

async function logout(c: C, core: Core, fields: Fields) {
  const ip = c.get("clientIp");
  const sessionId = text(fields, "sessionid") ?? "";
  const actor = sessionId ? await adminBySession(core, sessionId) : undefined;
  if (actor?.kind !== "admin") return refuse(c, core, 102, { ip, action: "admin.auth_failed", detail: { via: "SessionID" } });
  await closeAdminSession(core, sessionId, { id: actor.id, username: actor.username }, ip);
  return reply(c, { ok: true, body: { ErrorCode: 0, ErrorText: "" } });
}

export function legacyApp(core: Core, logger: Logger) {
  const app = new Hono<AppEnv>();

  app.onError((error, c) => {
    if (error instanceof StoreUnavailableError) {
      c.header("Retry-After", "1");
      return fail(c, 107, 503);
    }
    logger.error({ err: error, reqId: c.get("requestId") }, "unhandled error");
    return fail(c, 108, 500);
  });

  const body = { schema: resolver(anyCommand) };
  app.post(
    "/api.php",
    describeRoute({
      tags: ["legacy"],
      summary: "Run a command: sso.create, sso.update, sso.delete, sso.get, sso.list, admin.login, admin.logout",
      description:
        "Seed 002. JSON or form-encoded (`Options[PerformLogin]=Enabled`); field names match case-insensitively. " +
        "Authenticate with `APIKey` (an admin key) or `SessionID` (from admin.login). Failing codes are all reported, ascending.",
      security: callers.anyone,
      requestBody: { required: true, content: { "application/json": body, "application/x-www-form-urlencoded": body } },
      responses: {
        200: jsonAnswer(successResponse, "Success"),
        400: jsonAnswer(errorResponse, "Invalid parameters (codes 1–13), unknown command (100) or malformed body (105)"),
        401: jsonAnswer(errorResponse, "Authentication required (101) or failed (102, 104)"),
        413: jsonAnswer(errorResponse, "Body over 64 KiB (106)"),
        429: jsonAnswer(errorResponse, "Too many failed attempts (103)"),
        503: jsonAnswer(errorResponse, "The store is unavailable (107)"),
      },
    }),
    bodyLimit(MAX_BODY_BYTES, (c) => fail(c as C, 106, 413)),
    async (c) => {
      let fields: Fields;
      try {
        fields = await readFields(c);
      } catch (error) {
        if (error instanceof BodyError) return fail(c, 105, 400);
        throw error;
      }
      if (uncleanText(fields)) return fail(c, 105, 400);
      const command = text(fields, "command")?.trim().toLowerCase() ?? "";
      if (command === "admin.login") return login(c, core, fields);
      if (command === "admin.logout") return logout(c, core, fields);
      const run = Object.hasOwn(adminCommands, command) ? adminCommands[command] : undefined;
      if (!run) return fail(c, 100, 400);
      const ip = c.get("clientIp");
      const actor = await authenticate(core, fields);
      if (actor === "missing") return fail(c, 101, 401);
      if (!actor) {
        const via = text(fields, "apikey") ? "APIKey" : "SessionID";
        return refuse(c, core, 102, { ip, action: "admin.auth_failed", detail: { via } });
      }
      return reply(c, await run({ core, fields, actor, ip }));
    },
  );

  return app;
}
