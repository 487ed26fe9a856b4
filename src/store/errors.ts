// Store failures, sorted by what a caller can do about them.
import { DrizzleQueryError } from "drizzle-orm/errors";

/**
 * The store could not be reached, stayed busy, or its disk is full: retry
 * later (HTTP 503 + Retry-After). Nothing was written.
 */
export class StoreUnavailableError extends Error {
  override readonly name: string = "StoreUnavailableError";
  constructor(
    message: string,
    /**
     * "timeout" when the store answered too slowly, "full" when its disk is
     * full (SQLITE_FULL: the write was rolled back), "unreachable" or "busy"
     * otherwise. LOB maps timeout to 504, full to 503 and the rest to 502.
     */
    readonly reason: "unreachable" | "timeout" | "busy" | "full",
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A remote store refused our credentials (wrong or expired auth token): to a request, the store is unavailable. */
export class StoreAuthError extends StoreUnavailableError {
  override readonly name: string = "StoreAuthError";
  constructor(message: string) {
    super(message, "unreachable");
  }
}

/** An error raised by SQLite itself (constraint, syntax…), carried across the worker boundary. */
export class StoreQueryError extends Error {
  override readonly name = "StoreQueryError";
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

const BUSY_CODES = new Set(["SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_BUSY_SNAPSHOT", "SQLITE_BUSY_RECOVERY"]);
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "HRANA_WEBSOCKET_ERROR",
  "WEBSOCKET_ERROR",
  "SERVER_ERROR",
  "HRANA_CLOSED_ERROR",
  "CLIENT_CLOSED",
  "STREAM_CLOSED",
]);

function codeOf(error: unknown): string | undefined {
  if (error && typeof error === "object" && "code" in error && typeof error.code === "string") return error.code;
  return undefined;
}

/**
 * What a store call really failed with. Drizzle wraps a driver's error in a
 * DrizzleQueryError whose message holds the query and its parameters: never
 * to be shown or logged, so it is unwrapped here.
 */
export function storeCause(error: unknown): unknown {
  return error instanceof DrizzleQueryError && error.cause !== undefined ? error.cause : error;
}

/** Normalises anything a driver throws into one of the two classes above. */
export function classifyStoreError(thrown: unknown): StoreUnavailableError | StoreQueryError {
  const error = storeCause(thrown);
  if (error instanceof StoreUnavailableError || error instanceof StoreQueryError) return error;
  const code = codeOf(error) ?? "";
  const causeCode = codeOf((error as { cause?: unknown } | undefined)?.cause) ?? "";
  const message = error instanceof Error ? error.message : String(error);
  if (code.startsWith("AUTH_") || /HTTP status 40[13]\b/.test(message)) return new StoreAuthError(`the store refused the credentials (${code || message})`);
  // SQLite's ENOSPC (a local file, or sqld's own disk): the transaction was rolled back, so a store outage, not a bug.
  // Only SQLITE_FULL: other I/O errors (SQLITE_IOERR_*) are not known to mean "nothing was written".
  if (code === "SQLITE_FULL" || causeCode === "SQLITE_FULL" || /database or disk is full|SQLITE_FULL/i.test(message)) {
    return new StoreUnavailableError("the store's disk is full", "full", { cause: error });
  }
  if (BUSY_CODES.has(code) || /database is locked|SQLITE_BUSY/i.test(message)) {
    return new StoreUnavailableError("the store is busy", "busy", { cause: error });
  }
  if (code === "ETIMEDOUT" || causeCode === "ETIMEDOUT" || (error instanceof Error && error.name === "TimeoutError")) {
    return new StoreUnavailableError("the store did not answer in time", "timeout", { cause: error });
  }
  if (
    NETWORK_CODES.has(code) ||
    NETWORK_CODES.has(causeCode) ||
    (error instanceof TypeError && /fetch failed/i.test(message)) ||
    /ECONNREFUSED|socket hang up|network|WebSocket/i.test(message)
  ) {
    return new StoreUnavailableError("the store is unreachable", "unreachable", { cause: error });
  }
  return new StoreQueryError(message, code || "UNKNOWN");
}
