// The legacy dialect's failures: seed 002's `{"Success":false,"ErrorCode":[…],"ErrorText":[…]}`,
// every failing code at once, ascending.
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { FieldIssue } from "../../core/errors";
import type { Renderer } from "../failure";
import { LEGACY_ERRORS, type LegacyCode } from "./codes";
import { FIELD_CODES } from "./schemas";

export function legacyError(c: Context, codes: readonly LegacyCode[], status: ContentfulStatusCode, texts: Partial<Record<LegacyCode, string>> = {}) {
  const sorted = [...new Set(codes)].sort((a, b) => a - b);
  return c.json({ Success: false, ErrorCode: sorted, ErrorText: sorted.map((code) => texts[code] ?? LEGACY_ERRORS[code]) }, status);
}

/** The codes of the fields a core rule refused (core fields are the native names: code, name, …). */
const CORE_FIELDS: Record<string, string> = {
  code: "SourceCode",
  name: "SourceName",
  expiresAt: "ExpiresAt",
  validForSeconds: "ValidForSeconds",
  id: "SourceID",
};
function fieldCodes(issues: readonly FieldIssue[], which: "missing" | "invalid"): LegacyCode[] {
  return issues.flatMap((i) => {
    const mapping = FIELD_CODES[CORE_FIELDS[i.field] ?? i.field];
    return mapping ? [mapping[which]] : [];
  });
}

const one = (code: LegacyCode, status: ContentfulStatusCode) => (c: Context) => legacyError(c, [code], status);

export const legacyRenderer: Renderer = {
  invalid: (c, f) => legacyError(c, fieldCodes(f.issues, "invalid").length > 0 ? fieldCodes(f.issues, "invalid") : [105], 400),
  not_found: one(10, 400),
  conflict: one(6, 400),
  // The two things the core forbids on sources: renaming or deleting the default source.
  forbidden: (c, f) => legacyError(c, [f.issues.some((i) => i.field === "code") ? 13 : 12], 400),
  invalid_token: one(105, 400),
  source_unavailable: one(105, 400),
  redirect_not_allowed: one(105, 400),
  ip_not_allowed: one(102, 401),
  unauthenticated: (c, f) => legacyError(c, [f.reason === "missing" ? 101 : f.reason === "wrong_password" ? 104 : 102], 401),
  throttled: (c, f) => {
    c.header("Retry-After", String(f.retryAfter));
    return legacyError(c, [103], 429);
  },
  unavailable: (c) => {
    c.header("Retry-After", "1");
    return legacyError(c, [107], 503);
  },
  too_large: one(106, 413),
  not_json: one(105, 400),
  malformed: one(105, 400),
  no_route: one(100, 404),
  internal: one(108, 500),
};
