// The legacy API's error codes. 0–10 are seed 002's, word for word; the rest
// cover what the seed is silent on and are listed in the README.
export const LEGACY_ERRORS = {
  1: "Missing sourcename",
  2: "Missing sourcecode",
  3: "Invalid sourcename (must be text)",
  4: "Invalid sourcecode (must contain only alphanumeric characters, underscores, and hyphens)",
  5: "Invalid expiresat (must be in YYYY-MM-DD HH:MM:SS format)",
  6: "sourcecode already exists",
  7: "Missing validforseconds",
  8: "Invalid validforseconds (must be numeric and >= 1)",
  9: "Missing sourceid",
  10: "Invalid sourceid",
  11: "Invalid options (each must be Enabled or Disabled)",
  12: "The default source cannot be deleted",
  13: "The default source's code cannot be changed",
  14: "Invalid orgids (a comma-separated list of org ids, each at most 128 characters)",
  15: "Invalid landing (must be Direct or Confirm)",
  100: "Missing or unknown command",
  101: "Authentication required: APIKey or SessionID",
  102: "Authentication failed",
  103: "Too many failed attempts, retry later",
  104: "Invalid username or password",
  105: "Invalid request body",
  106: "Request body too large",
  107: "Service temporarily unavailable, retry later",
  108: "Internal error",
} as const;

export type LegacyCode = keyof typeof LEGACY_ERRORS;

/** sso.delete numbers "Missing sourceid" 1, as seed 002 documents it: its own table of texts. */
export const DELETE_ERRORS: Partial<Record<LegacyCode, string>> = { 1: "Missing sourceid" };
