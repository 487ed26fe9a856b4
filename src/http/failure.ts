// Every way a request can fail, in one union. Each dialect renders all of it
// into its own shape through a Renderer, which the compiler checks is total:
// a new kind of failure does not build until every dialect says how it looks.
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { CoreError, type CoreErrorCode, type FieldIssue } from "../core/errors";
import { StoreUnavailableError, storeCause } from "../store/errors";

/** A rule of the core was broken (the core's own vocabulary, src/core/errors.ts). */
type CoreFailure = { [K in CoreErrorCode]: { kind: K; message: string; issues: readonly FieldIssue[] } }[CoreErrorCode];

export type Failure =
  | CoreFailure
  /**
   * Credentials missing, or not valid: `unknown_client` is a client id no
   * source has, `wrong_password` a failed admin login, `no_session` a browser
   * without a valid session cookie, `untrusted_forwarding` a proxy's forwarded
   * request that cannot be judged (forward auth: missing, malformed, ambiguous).
   */
  | {
      kind: "unauthenticated";
      reason: "missing" | "invalid" | "unknown_client" | "wrong_password" | "no_session" | "untrusted_forwarding";
      message: string;
    }
  /** Too many failures from this IP or for this credential. */
  | { kind: "throttled"; retryAfter: number }
  /** A service ssod depends on cannot answer now: retry later. */
  | { kind: "unavailable"; service: "store" | "identity_provider"; reason: "unreachable" | "timeout" | "busy" | "full" }
  | { kind: "too_large"; limit: number }
  /** The body does not say it is JSON. */
  | { kind: "not_json" }
  /** The body could not be parsed at all. */
  | { kind: "malformed"; message: string }
  | { kind: "no_route"; method: string; path: string }
  /** A bug: logged with the request id, never shown. */
  | { kind: "internal"; requestId: string };

export type FailureKind = Failure["kind"];
type FailureOf<K extends FailureKind> = Extract<Failure, { kind: K }>;

/** How one dialect shows every failure. */
export type Renderer = { readonly [K in FailureKind]: (c: Context, failure: FailureOf<K>) => Response | Promise<Response> };

export function render(renderer: Renderer, c: Context, failure: Failure): Response | Promise<Response> {
  return (renderer[failure.kind] as (c: Context, failure: Failure) => Response | Promise<Response>)(c, failure);
}

/** Thrown by adapters (authentication, body readers, handlers) to refuse a request; rendered by the dialect. */
class Refusal extends Error {
  override readonly name = "Refusal";
  constructor(readonly failure: Failure) {
    super(failure.kind);
  }
}

export const refuse = (failure: Failure): never => {
  throw new Refusal(failure);
};

/** The failure an error stands for; `undefined` for a bug (the caller logs it and renders `internal`). */
export function failureOf(thrown: unknown): Failure | undefined {
  const error = storeCause(thrown);
  if (error instanceof Refusal) return error.failure;
  if (error instanceof CoreError) return { kind: error.code, message: error.message, issues: error.issues } as Failure;
  if (error instanceof StoreUnavailableError) return { kind: "unavailable", service: "store", reason: error.reason };
  // Hono's own validators throw these for a body they cannot parse.
  if (error instanceof HTTPException && error.status < 500) return { kind: "malformed", message: error.message || "the request could not be read" };
  return undefined;
}

/** `field message` for each issue, joined: the one line a person reads. */
export function describeIssues(issues: readonly FieldIssue[]): string {
  return issues.map((i) => (i.field ? `${i.field} ${i.message}` : i.message)).join("; ");
}
