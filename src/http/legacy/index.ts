// POST /api.php: the legacy command API of seed 002.
import type { Context } from "hono";
import type * as v from "valibot";
import { checkAdminPassword, closeAdminSession, findAdminAccount, openAdminSession } from "../../core/admin-accounts";
import type { Actor } from "../../core/audit";
import { adminBySession, throttledFor } from "../../core/auth";
import type { Core } from "../../core/context";
import { adminCaller, anyone } from "../auth/callers";
import { refuseAfterFailure, refuseCredentials } from "../auth/refuse";
import type { AppEnv } from "../env";
import { refuse } from "../failure";
import { type Fields, text } from "../fields";
import { type Dialect, reply, route } from "../route";
import { readFields } from "./body";
import { type Answer, adminCommands } from "./commands";
import { legacyError, legacyRenderer } from "./errors";
import { anyCommand, commandSchemas, errorResponse, formatLegacyDateTime, successResponse } from "./schemas";
import { validateCommand } from "./validate";

const LEGACY = "Legacy api.php";

export const legacyDialect: Dialect = {
  renderer: legacyRenderer,
  errorSchema: errorResponse,
  errorMediaType: "application/json",
  failureDescriptions: {
    400: "Invalid parameters (codes 1–13), unknown command (100) or malformed body (105)",
    401: "Authentication required (101) or failed (102, 104)",
    413: "Body over 64 KiB (106)",
    429: "Too many failed attempts (103)",
    503: "The store is unavailable (107)",
  },
};

type Answered = ReturnType<typeof reply<200, v.InferInput<typeof successResponse>>> | Response;

function answer(c: Context, result: Answer): Answered {
  if (result.ok) return reply(200, { Success: true, ...result.body } as v.InferInput<typeof successResponse>);
  return legacyError(c, result.codes, 400, result.texts);
}

/** The admin a command runs as: its APIKey or SessionID field. */
async function commandCaller(c: Context<AppEnv>, core: Core, fields: Fields): Promise<Actor> {
  const apiKey = text(fields, "apikey");
  if (apiKey) return (await adminCaller(c, core, apiKey, "APIKey")).actor;
  const sessionId = text(fields, "sessionid");
  if (!sessionId) return refuse({ kind: "unauthenticated", reason: "missing", message: "APIKey or SessionID is required" });
  return (await adminBySession(core, sessionId)) ?? refuseCredentials(c, core, { action: "admin.auth_failed", detail: { via: "SessionID" } });
}

/**
 * admin.login. Passwords can be guessed: past the IP's or the username's
 * limit the answer is 429 before the password is checked, so a throttled
 * guesser learns nothing and costs no scrypt work (SPEC §5 "Passwords").
 */
async function login(c: Context<AppEnv>, core: Core, fields: Fields): Promise<Answered> {
  const ip = c.get("clientIp");
  const checked = validateCommand(commandSchemas["admin.login"], fields);
  const username = (checked.ok ? checked.value.Username : (text(fields, "username") ?? "")).slice(0, 64);
  const account = username ? await findAdminAccount(core, username) : undefined;
  const attempt = {
    action: "admin.auth_failed",
    credential: username ? { kind: "admin", value: username } : undefined,
    // A username that names no account may be a password typed into the wrong field: not stored.
    target: account ? username : null,
    detail: { via: "password" },
  };
  const failed = { kind: "unauthenticated", reason: "wrong_password", message: "invalid username or password" } as const;
  if (throttledFor(core, ip, attempt.credential) > 0) return refuseAfterFailure(c, core, attempt, failed);
  const admin = checked.ok ? await checkAdminPassword(account, checked.value.Password) : undefined;
  if (!admin) return refuseAfterFailure(c, core, attempt, failed);
  const session = await openAdminSession(core, admin, ip);
  return answer(c, { ok: true, body: { ErrorCode: 0, ErrorText: "", SessionID: session.sessionId, ExpiresAt: formatLegacyDateTime(session.expiresAt) } });
}

async function logout(c: Context<AppEnv>, core: Core, fields: Fields): Promise<Answered> {
  const sessionId = text(fields, "sessionid") ?? "";
  const actor = sessionId ? await adminBySession(core, sessionId) : undefined;
  if (actor?.kind !== "admin") return refuseCredentials(c, core, { action: "admin.auth_failed", detail: { via: "SessionID" } });
  await closeAdminSession(core, sessionId, { id: actor.id, username: actor.username }, c.get("clientIp"));
  return answer(c, { ok: true, body: { ErrorCode: 0, ErrorText: "" } });
}

const apiPhp = route({
  method: "post",
  path: "/api.php",
  tag: LEGACY,
  summary: "Run an api.php command",
  description:
    "Seed 002. Commands: `sso.create`, `sso.update`, `sso.delete`, `sso.get`, `sso.list`, `admin.login`, `admin.logout`. JSON or form-encoded (`Options[PerformLogin]=Enabled`); field names match case-insensitively. " +
    "Authenticate with `APIKey` (an admin key) or `SessionID` (from admin.login). Failing codes are all reported, ascending.",
  auth: anyone,
  documentedBody: { "application/json": anyCommand, "application/x-www-form-urlencoded": anyCommand },
  answers: { 200: { description: "Success", schema: successResponse } },
  failures: [400, 401, 413, 429, 503],
  async handle({ c, core }) {
    const fields = await readFields(c);
    const command = text(fields, "command")?.trim().toLowerCase() ?? "";
    if (command === "admin.login") return login(c, core, fields);
    if (command === "admin.logout") return logout(c, core, fields);
    const run = Object.hasOwn(adminCommands, command) ? adminCommands[command] : undefined;
    if (!run) return legacyError(c, [100], 400);
    const actor = await commandCaller(c, core, fields);
    return answer(c, await run({ core, fields, actor, ip: c.get("clientIp") }));
  },
});

export const legacyRoutes = [apiPhp];
