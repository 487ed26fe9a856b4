// How the native API shows core records: camelCase, RFC 3339 times.
import type { Source } from "../../core/sources";

export const isoTime = (ms: number) => new Date(ms).toISOString();
export const isoTimeOrNull = (ms: number | null) => (ms === null ? null : isoTime(ms));

export function sourceJson(source: Source) {
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
    createdAt: isoTime(source.createdAt),
    updatedAt: isoTime(source.updatedAt),
  };
}
