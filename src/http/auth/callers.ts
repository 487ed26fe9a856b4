// Who may call a route, declared with the route: each strategy both checks a
// request (throwing a Refusal) and says what the OpenAPI document shows.
import type { Context } from "hono";
import type { Actor } from "../../core/audit";
import { adminByKey, sourceActor, sourceByCredentials } from "../../core/auth";
import type { Core } from "../../core/context";
import type { Source } from "../../core/sources";
import type { AppEnv } from "../env";
import { refuse } from "../failure";
import { type Presented, presentedCredentials } from "./credentials";
import { refuseCredentials } from "./refuse";

/** OpenAPI security requirements: names of the securitySchemes in src/http/openapi.ts. */
type Security = Record<string, string[]>[];

export interface AuthStrategy<Caller> {
  readonly security: Security;
  /** Statuses `authenticate` itself may answer: documented on every route that uses it. */
  readonly refusals?: readonly number[];
  authenticate(c: Context<AppEnv>, core: Core): Promise<Caller>;
}

export type Caller = { kind: "admin"; actor: Actor } | { kind: "source"; actor: Actor; source: Source };

export const anyone: AuthStrategy<undefined> = { security: [], authenticate: async () => undefined };

/** An admin key's caller, or a refusal (counted against the IP). */
export async function adminCaller(c: Context<AppEnv>, core: Core, key: string, via: string): Promise<Caller> {
  const actor = await adminByKey(core, key);
  if (!actor) return refuseCredentials(c, core, { action: "admin.auth_failed", detail: { via } });
  return { kind: "admin", actor };
}

/** A source's caller from its client id and secret, or a refusal (counted against the IP and the client id). */
export async function sourceCaller(c: Context<AppEnv>, core: Core, clientId: string, secret: string, via: string): Promise<Caller & { kind: "source" }> {
  const source = await sourceByCredentials(core, clientId, secret);
  if (!source) return refuseCredentials(c, core, { action: "source.auth_failed", credential: { kind: "client", value: clientId }, detail: { via } });
  c.set("sourceCode", source.code);
  return { kind: "source", actor: sourceActor(source), source };
}

const missing = (message: string) => refuse({ kind: "unauthenticated", reason: "missing", message });

/** The native API's callers: an admin key (Bearer) and/or a source (HTTP Basic). */
function nativeCallers(allow: { admin: boolean; source: boolean }): AuthStrategy<Caller> {
  return {
    security: [...(allow.admin ? [{ adminKey: [] }] : []), ...(allow.source ? [{ sourceCredentials: [] }] : [])],
    // 403: the other kind of credentials than the route takes.
    refusals: allow.admin && allow.source ? [401, 429] : [401, 403, 429],
    async authenticate(c, core) {
      const presented: Presented | undefined = presentedCredentials(c.req.header("authorization"));
      if (presented?.scheme === "bearer") {
        const caller = await adminCaller(c, core, presented.token, "bearer");
        return allow.admin ? caller : refuse({ kind: "forbidden", message: "this operation takes source credentials", issues: [] });
      }
      if (presented?.scheme === "basic") {
        const caller = await sourceCaller(c, core, presented.clientId, presented.secret, "basic");
        return allow.source ? caller : refuse({ kind: "forbidden", message: "this operation takes an admin key", issues: [] });
      }
      return missing(allow.source ? "an admin key (Bearer) or source credentials (Basic) are required" : "an admin key is required (Authorization: Bearer …)");
    },
  };
}

export const adminOnly = nativeCallers({ admin: true, source: false });
export const adminOrSource = nativeCallers({ admin: true, source: true });
