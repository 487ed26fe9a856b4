// Domain failures, named by what went wrong rather than by an HTTP status:
// each dialect turns them into its own error shape.
export type CoreErrorCode =
  | "invalid" // the input breaks a rule (details name the fields)
  | "not_found"
  | "conflict" // e.g. a source code already in use
  | "forbidden" // the operation is not allowed on this object
  | "invalid_token" // consumed, expired, revoked, unknown, or refused: one answer for all
  | "source_unavailable" // the source has expired or cannot issue
  | "redirect_not_allowed"
  | "ip_not_allowed"; // the caller's address is outside the source's allowlist

export interface FieldIssue {
  field: string;
  message: string;
}

export class CoreError extends Error {
  override readonly name = "CoreError";
  constructor(
    readonly code: CoreErrorCode,
    message: string,
    readonly issues: FieldIssue[] = [],
  ) {
    super(message);
  }
}

/** A setting is missing, malformed or wrong for this store: the CLI names it and exits 2. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}
