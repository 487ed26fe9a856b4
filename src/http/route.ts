// Routes declared once. A declaration names the method and path, who may
// call, the body/query/params schemas and the answers; from it come the
// OpenAPI entry, the authentication, the validation and the serializer of
// the answer (typed from the answer's schema, so the document and the answer
// cannot disagree). A dialect mounts its declarations with its renderer.
import type { Context, Hono, MiddlewareHandler } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { type describeRoute, resolver, uniqueSymbol, validator } from "hono-openapi";
import * as v from "valibot";
import type { Core } from "../core/context";
import type { Logger } from "../log";
import type { AuthStrategy } from "./auth/callers";
import { type JsonLabel, readJsonBody } from "./body";
import type { AppEnv } from "./env";
import { failureHandler } from "./error-handler";
import { describeIssues, type Renderer, refuse } from "./failure";
import { canonical, fieldsOf } from "./fields";
import { plainIssues } from "./issues";
import { MAX_BODY_BYTES } from "./limits";
import { withinBodyLimit } from "./middleware/body-limit";
import { takeAnswerHeaders } from "./middleware/security-headers";
import { uncleanText } from "./text-hygiene";

type Schema = v.GenericSchema;
type ObjectSchema = v.ObjectSchema<v.ObjectEntries, undefined> | v.StrictObjectSchema<v.ObjectEntries, undefined>;

/** An answer with a JSON body following `schema`. */
interface JsonAnswer<S extends Schema = Schema> {
  description: string;
  schema: S;
  mediaType?: string;
}
/** An answer the handler builds itself (a redirect, an HTML page, no body). */
interface OtherAnswer {
  description: string;
  content?: Record<string, { schema?: unknown }>;
}
export type Answers = Record<number, JsonAnswer | OtherAnswer>;

/** What a handler answers: one of its declared JSON answers, or a Response it built. */
type Reply<R extends Answers> =
  | {
      [S in keyof R & number]: R[S] extends JsonAnswer<infer T> ? { status: S; json: v.InferInput<T>; headers?: Record<string, string> | undefined } : never;
    }[keyof R & number]
  | Response;

/**
 * A handler's JSON answer: `reply(201, {…})`, checked against the route's
 * declared answer for 201, with any headers of its own (`{ Location: … }`).
 * Headers the route set with c.header() (a cookie, say) go with it too.
 */
export const reply = <const S extends number, T>(status: S, json: T, headers?: Record<string, string>) => ({ status, json, headers });

/** A JSON body: its schema, and how its content type is checked. `anyCase` matches field names in any case (Go and PHP callers). */
export interface BodyInput<S extends Schema = Schema> {
  schema: S;
  label: JsonLabel;
  anyCase?: boolean;
}

type Out<S> = S extends Schema ? v.InferOutput<S> : undefined;
type BodyOut<B> = B extends BodyInput<infer S> ? v.InferOutput<S> : undefined;

interface RouteInput<A, B, Q, P> {
  c: Context<AppEnv>;
  core: Core;
  caller: A;
  body: BodyOut<B>;
  query: Out<Q>;
  params: Out<P>;
}

/** What every route declares, whatever its types. */
interface RouteBase {
  method: "get" | "post" | "patch" | "delete" | "put";
  path: string;
  /** Other paths of the same operation, each marked as an alias in the document. */
  aliases?: readonly string[];
  tag: string;
  summary: string;
  description?: string;
  /** Extra documented parameters (headers a dialect checks itself). */
  headers?: Record<string, string>;
  /** The body of a handler that reads it itself, for the document: its schema, by media type. */
  documentedBody?: Record<string, Schema>;
  /** Failure statuses to document, in the dialect's error shape (with a description, or the dialect's default one). */
  failures: readonly number[] | Record<number, string>;
}

export interface Route<A, B, Q, P, R extends Answers> extends RouteBase {
  auth: AuthStrategy<A>;
  body?: B;
  query?: Q;
  params?: P;
  answers: R;
  handle(input: RouteInput<A, B, Q, P>): Promise<Reply<R>> | Reply<R>;
}

/** Any route, its types erased: what a dialect mounts. */
export interface AnyRoute extends RouteBase {
  auth: AuthStrategy<unknown>;
  body?: unknown;
  query?: unknown;
  params?: unknown;
  answers: Answers;
  handle(input: never): unknown;
}

/** Declares a route; the identity function, there for its types. */
export function route<
  A,
  B extends BodyInput | undefined = undefined,
  Q extends Schema | undefined = undefined,
  P extends Schema | undefined = undefined,
  R extends Answers = Answers,
>(declaration: Route<A, B, Q, P, R>): Route<A, B, Q, P, R> {
  return declaration;
}

/** What a dialect brings to its routes: how its failures look, and how they are documented. */
export interface Dialect {
  renderer: Renderer;
  /** The schema of its error answers, for the document. */
  errorSchema: Schema;
  errorMediaType: string;
  /** Default descriptions of its failure statuses. */
  failureDescriptions: Record<number, string>;
  /** Its failures are HTML pages, unless the caller asks for JSON (the browser landings). */
  pages?: boolean;
}

function documentAnswers(route: AnyRoute, dialect: Dialect) {
  const answers: Record<string, unknown> = {};
  for (const [status, answer] of Object.entries(route.answers)) {
    answers[status] =
      "schema" in answer
        ? { description: answer.description, content: { [answer.mediaType ?? "application/json"]: { schema: resolver(answer.schema) } } }
        : answer;
  }
  const failures: Record<number, string | undefined> = {
    ...Object.fromEntries((route.auth.refusals ?? []).map((s) => [s, undefined])),
    ...(Array.isArray(route.failures) ? Object.fromEntries(route.failures.map((s) => [s, undefined])) : route.failures),
  };
  for (const [status, description] of Object.entries(failures)) {
    answers[status] = {
      description: description ?? dialect.failureDescriptions[Number(status)] ?? "Failure",
      content: {
        ...(dialect.pages ? { "text/html": { schema: { type: "string" } } } : {}),
        [dialect.errorMediaType]: { schema: resolver(dialect.errorSchema) },
      },
    };
  }
  return answers;
}

/** The OpenAPI entry of a route, as hono-openapi's describeRoute marks its middleware. */
function describeMarker(route: AnyRoute, dialect: Dialect, aliasOf?: string) {
  const body = route.body as BodyInput | undefined;
  return {
    [uniqueSymbol]: {
      spec: {
        tags: [route.tag],
        summary: aliasOf ? `${route.summary} (alias)` : route.summary,
        description: [aliasOf ? `An alias of \`${route.method.toUpperCase()} ${aliasOf}\`: the same operation at another path.` : undefined, route.description]
          .filter(Boolean)
          .join(" "),
        security: route.auth.security,
        ...(route.headers
          ? {
              parameters: Object.entries(route.headers).map(([name, example]) => ({
                in: "header",
                name,
                required: true,
                schema: { type: "string", examples: [example] },
              })),
            }
          : {}),
        ...(body ? { requestBody: { required: true, content: { "application/json": { schema: resolver(body.schema) } } } } : {}),
        ...(route.documentedBody
          ? {
              requestBody: {
                required: true,
                content: Object.fromEntries(Object.entries(route.documentedBody).map(([type, schema]) => [type, { schema: resolver(schema) }])),
              },
            }
          : {}),
        responses: documentAnswers(route, dialect),
        ...(aliasOf ? { "x-alias-of": aliasOf } : {}),
      } as Parameters<typeof describeRoute>[0],
    },
  };
}

/** Validates with a schema, or refuses the request as invalid, each issue in plain words. */
function parseOrRefuse<S extends Schema>(schema: S, input: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, input);
  if (!result.success) {
    const issues = plainIssues(result.issues);
    refuse({ kind: "invalid", message: describeIssues(issues), issues });
  }
  return (result as v.SafeParseResult<S> & { success: true }).output;
}

/** Query and path parameters: hono-openapi's validator documents them; failures become Refusals. */
function validated(target: "query" | "param", schema: Schema): MiddlewareHandler {
  return validator(target, schema, (result) => {
    if (!result.success) {
      const issues = plainIssues(result.error as unknown as v.BaseIssue<unknown>[]);
      refuse({ kind: "invalid", message: describeIssues(issues), issues });
    }
    const unclean = uncleanText(result.data);
    if (unclean) refuse({ kind: "invalid", message: `${unclean.field} ${unclean.message}`, issues: [unclean] });
  }) as unknown as MiddlewareHandler;
}

async function readBody(c: Context<AppEnv>, body: BodyInput): Promise<unknown> {
  const raw = await readJsonBody(c, body.label);
  return parseOrRefuse(body.schema, body.anyCase ? canonical(fieldsOf(Object.entries(raw)), body.schema as unknown as ObjectSchema) : raw);
}

/**
 * From the route's first step on (its caller's authentication, the body, the
 * validators, the handler), c.header() also notes that a header was set, for
 * respond. Left in place for the failure renderers, which ignore the note.
 */
function watchHeaders(c: Context<AppEnv>): void {
  const setHeader = c.header;
  c.header = ((...args: Parameters<typeof setHeader>) => {
    c.set("headersSet", true);
    setHeader(...args);
  }) as typeof setHeader;
}

/**
 * The answer of a handler's reply. Written with a plain object of headers,
 * which @hono/node-server writes out as they are (./middleware/security-headers.ts),
 * unless the route's steps set headers with c.header(): Hono holds those for the
 * answers it builds, so then Hono builds this one too (slower, and rare), and
 * the headers of every answer are added after it, where it set none of its own.
 */
function respond(c: Context<AppEnv>, route: AnyRoute, reply: unknown): Response {
  if (reply instanceof Response) return reply;
  const { status, json, headers } = reply as { status: number; json: unknown; headers?: Record<string, string> };
  const declared = route.answers[status] as JsonAnswer | undefined;
  const own = { "Content-Type": declared?.mediaType ?? "application/json", ...headers };
  if (c.get("headersSet")) return c.newResponse(JSON.stringify(json), status as ContentfulStatusCode, own);
  return new Response(JSON.stringify(json), { status, headers: { ...takeAnswerHeaders(c), ...own } });
}

/**
 * Mounts a dialect's routes on `app`, every failure rendered by the dialect.
 *
 * A route is one handler that catches its own failures: a Hono sub-app with
 * an onError of its own has Hono wrap each of its handlers in a composer per
 * request, and each middleware is one more async step of every request.
 * Only routes with path or query parameters keep hono-openapi's validators
 * as middleware (they document the parameters), each guarded the same way,
 * after the step that settles who is calling.
 */
export function mount(app: Hono<AppEnv>, core: Core, logger: Logger, dialect: Dialect, routes: readonly AnyRoute[]): void {
  const fail = failureHandler(dialect.renderer, logger);
  const guarded = (step: MiddlewareHandler<AppEnv>): MiddlewareHandler<AppEnv> => {
    const guard: MiddlewareHandler<AppEnv> = async (c, next) => {
      try {
        return await step(c, next);
      } catch (error) {
        return fail(error as Error, c);
      }
    };
    // A validator's marker goes along: it documents the parameters.
    return Object.assign(guard, { [uniqueSymbol]: (step as { [uniqueSymbol]?: unknown })[uniqueSymbol] });
  };
  for (const declared of routes) {
    const body = declared.body as BodyInput | undefined;
    const limited = body !== undefined || declared.method !== "get";
    const validators = [
      ...(declared.params ? [validated("param", declared.params as Schema)] : []),
      ...(declared.query ? [validated("query", declared.query as Schema)] : []),
    ];
    // Who is calling is settled before anything of the request is judged.
    const admit = async (c: Context<AppEnv>) => {
      watchHeaders(c);
      if (limited && !(await withinBodyLimit(c, MAX_BODY_BYTES))) refuse({ kind: "too_large", limit: MAX_BODY_BYTES });
      c.set("caller", await declared.auth.authenticate(c, core));
    };
    const answer = async (c: Context<AppEnv>) => {
      const input = {
        c,
        core,
        caller: c.get("caller"),
        body: body ? await readBody(c, body) : undefined,
        query: declared.query ? (c.req.valid as (t: string) => unknown)("query") : undefined,
        params: declared.params ? (c.req.valid as (t: string) => unknown)("param") : undefined,
      };
      return respond(c, declared, await declared.handle(input as never));
    };
    const steps: MiddlewareHandler<AppEnv>[] =
      validators.length === 0
        ? [
            async (c) => {
              try {
                await admit(c);
                return await answer(c);
              } catch (error) {
                return fail(error as Error, c);
              }
            },
          ]
        : [
            guarded(async (c, next) => {
              await admit(c);
              await next();
            }),
            ...validators.map(guarded),
            guarded((c) => answer(c)),
          ];
    for (const [path, aliasOf] of [[declared.path, undefined], ...(declared.aliases ?? []).map((a) => [a, declared.path])] as [string, string | undefined][]) {
      // The OpenAPI entry rides on the route's first step (hono-openapi finds it by its symbol), not in a step of its own.
      const [first, ...rest] = steps;
      const documented = Object.assign((c: Context<AppEnv>, next: () => Promise<void>) => first!(c, next), describeMarker(declared, dialect, aliasOf));
      app.on(declared.method.toUpperCase(), path, documented as MiddlewareHandler<AppEnv>, ...rest);
    }
  }
}
