// Who is calling the native API: an admin (Bearer admin key) or a source
// (HTTP Basic client id and secret). Failures are throttled per SPEC §5.
import type { Context, MiddlewareHandler } from "hono";
import { adminByKey, recordFailure, sourceActor, sourceByCredentials } from "../../core/auth";
import type { Actor } from "../../core/audit";
import type { Core } from "../../core/context";
import type { Source } from "../../core/sources";
import type { AppEnv } from "../env";
import { problem } from "./problem";

export type Caller = { kind: "admin"; actor: Actor } | { kind: "source"; actor: Actor; source: Source };

export type V1Env = AppEnv & { Variables: AppEnv["Variables"] & { caller: Caller } };

type Credentials = { scheme: "bearer"; token: string } | { scheme: "basic"; clientId: string; secret: string } | undefined;

export function credentialsOf(header: string | undefined): Credentials {
  if (!header) return undefined;
  const [scheme, value = ""] = header.trim().split(/\s+/, 2) as [string, string | undefined];
  if (/^bearer$/i.test(scheme) && value) return { scheme: "bearer", token: value };
  if (/^basic$/i.test(scheme) && value) {
    const decoded = Buffer.from(value, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon > 0) return { scheme: "basic", clientId: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
  }
  return undefined;
}

function unauthorized(c: Context, detail: string) {
  c.header("WWW-Authenticate", 'Bearer realm="ssod", Basic realm="ssod"');
  return problem(c, 401, "unauthorized", "Unauthorized", detail);
}

/** Answers 401 (or 429 past the limits) for credentials that did not check out. */
async function refuse(c: Context<V1Env>, core: Core, credentials: NonNullable<Credentials>) {
  const retryAfter = await recordFailure(core, {
    ip: c.get("clientIp"),
    action: credentials.scheme === "basic" ? "source.auth_failed" : "admin.auth_failed",
    credential: credentials.scheme === "basic" ? { kind: "client", value: credentials.clientId.slice(0, 128) } : undefined,
    detail: { via: credentials.scheme },
  });
  if (retryAfter > 0) {
    c.header("Retry-After", String(retryAfter));
    return problem(c, 429, "too-many-failures", "Too many failed attempts", `retry in ${retryAfter} s`);
  }
  return unauthorized(c, "the credentials are not valid");
}

/** Lets through the callers `allow` names; sets `caller`. */
export function authenticate(core: Core, allow: { admin?: boolean; source?: boolean }): MiddlewareHandler<V1Env> {
  return async (c, next) => {
    const credentials = credentialsOf(c.req.header("authorization"));
    if (!credentials) return unauthorized(c, allow.source ? "an admin key (Bearer) or source credentials (Basic) are required" : "an admin key is required (Authorization: Bearer …)");
    if (credentials.scheme === "bearer") {
      const actor = await adminByKey(core, credentials.token);
      if (!actor) return refuse(c, core, credentials);
      if (!allow.admin) return problem(c, 403, "forbidden", "Forbidden", "this operation takes source credentials");
      c.set("caller", { kind: "admin", actor });
    } else {
      const source = await sourceByCredentials(core, credentials.clientId, credentials.secret);
      if (!source) return refuse(c, core, credentials);
      if (!allow.source) return problem(c, 403, "forbidden", "Forbidden", "this operation takes an admin key");
      c.set("caller", { kind: "source", actor: sourceActor(source), source });
      c.set("sourceCode", source.code);
    }
    await next();
  };
}
