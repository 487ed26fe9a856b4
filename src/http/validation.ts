// Request validation for every dialect: hono-openapi's validator runs the
// route's valibot schema (and records it for the OpenAPI document), and each
// dialect decides how a failure looks through its own `onInvalid`.
import type { Context, Env, MiddlewareHandler, ValidationTargets } from "hono";
import { validator } from "hono-openapi";
import type * as v from "valibot";
import { uncleanText } from "./text-hygiene";

export interface Issue {
  /** Dotted path of the offending field ("user.email"), "" for the whole input. */
  path: string;
  message: string;
}

type StandardIssue = { message: string; path?: readonly (PropertyKey | { key: unknown })[] | undefined };

export function issuesOf(issues: readonly StandardIssue[]): Issue[] {
  return issues.map((issue) => ({
    path: (issue.path ?? []).map((p) => String(typeof p === "object" && p !== null ? p.key : p)).join("."),
    message: issue.message,
  }));
}

export type InvalidRenderer<E extends Env> = (c: Context<E>, issues: Issue[], target: keyof ValidationTargets) => Response | Promise<Response>;

export function validate<E extends Env, T extends keyof ValidationTargets, S extends v.GenericSchema>(
  target: T,
  schema: S,
  onInvalid: InvalidRenderer<E>,
) {
  return validator(target, schema, (result, c) => {
    if (!result.success) return onInvalid(c as unknown as Context<E>, issuesOf(result.error as readonly StandardIssue[]), target);
    const unclean = uncleanText(result.data);
    if (unclean) return onInvalid(c as unknown as Context<E>, [unclean], target);
  }) as unknown as MiddlewareHandler<
    E,
    string,
    { in: { [K in T]: v.InferInput<S> }; out: { [K in T]: v.InferOutput<S> } }
  >;
}
