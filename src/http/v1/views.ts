// How the native API shows core records: camelCase, RFC 3339 times, typed
// from the answer schemas so that the document and the answer agree.
import type { Context } from "hono";
import type * as v from "valibot";
import type { Source } from "../../core/sources";
import type { Caller } from "../auth/callers";
import type { AppEnv } from "../env";
import type { sourceView } from "./source-schemas";

export const isoTime = (ms: number) => new Date(ms).toISOString();
export const isoTimeOrNull = (ms: number | null) => (ms === null ? null : isoTime(ms));

/** Who made a change, and from where: what the core records in the audit log. */
export const changeContext = (c: Context<AppEnv>, caller: Caller) => ({ actor: caller.actor, ip: c.get("clientIp") });

export function sourceJson(source: Source): v.InferInput<typeof sourceView> {
  return {
    id: source.id,
    code: source.code,
    name: source.name,
    description: source.description,
    expiresAt: isoTimeOrNull(source.expiresAt),
    validForSeconds: source.validForSeconds,
    options: source.options,
    clientId: source.clientId,
    allowedIps: source.allowedIps,
    redirectUrls: source.redirectUrls,
    identityProvider: source.identityProvider,
    orgIds: source.orgIds,
    landing: source.landing,
    createdAt: isoTime(source.createdAt),
    updatedAt: isoTime(source.updatedAt),
  };
}
