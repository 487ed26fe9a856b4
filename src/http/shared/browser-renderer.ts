// Failures of the pages a browser opens (the landings): a small HTML page,
// or, for a caller that asks for JSON, the failure in its dialect's shape.
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { FailureKind, Renderer } from "../failure";
import { failedPage, problemPage, throttledPage } from "./pages";

export const wantsJson = (c: Context) => /\bapplication\/json\b/i.test(c.req.header("accept") ?? "");

const PAGES: Record<Exclude<FailureKind, "invalid_token" | "throttled">, [ContentfulStatusCode, string, string]> = {
  invalid: [400, "This sign-in link is not valid", "The link is malformed. Ask for a new one."],
  not_found: [404, "Not found", "There is nothing here."],
  conflict: [409, "Conflict", "This could not be done now."],
  forbidden: [403, "Not allowed", "You may not do this."],
  source_unavailable: [403, "Sign-in not available", "The system that sent you here can no longer sign users in."],
  redirect_not_allowed: [400, "This sign-in link is not valid", "It points somewhere it may not go."],
  ip_not_allowed: [403, "Not allowed", "Sign-in is not allowed from your address."],
  // Forward auth and OpenID Connect show it when no portal page is named (SPEC §6).
  unauthenticated: [401, "Not signed in", "Sign in through your portal first: open this application from your portal, which signs you in here."],
  unavailable: [503, "Try again shortly", "The service is unavailable for a moment."],
  too_large: [413, "Request too large", "The request was too large."],
  not_json: [415, "Unsupported request", "This request cannot be read."],
  malformed: [400, "This sign-in link is not valid", "The link is malformed. Ask for a new one."],
  no_route: [404, "Not found", "There is nothing here."],
  internal: [500, "Something went wrong", "The request failed. Try again later."],
};

/** HTML pages, or `json`'s answers for callers that send Accept: application/json. */
export function browserRenderer(json: Renderer): Renderer {
  const html = (kind: keyof typeof PAGES) => (c: Context) => {
    const [status, title, text] = PAGES[kind];
    if (kind === "unavailable") c.header("Retry-After", "1");
    return c.html(problemPage(title, text), status);
  };
  const either =
    <K extends FailureKind>(kind: K, page: Renderer[K]) =>
    (c: Context, failure: never) =>
      wantsJson(c) ? (json[kind] as (c: Context, f: never) => Response)(c, failure) : (page as (c: Context, f: never) => Response)(c, failure);
  const renderer = {} as Record<FailureKind, unknown>;
  for (const kind of Object.keys(PAGES) as (keyof typeof PAGES)[]) renderer[kind] = either(kind, html(kind) as Renderer[typeof kind]);
  // Not the portal page: the browser's session may be fine, the proxy's configuration is what is wrong.
  renderer.unauthenticated = either("unauthenticated", (c, f) =>
    f.reason === "untrusted_forwarding"
      ? c.html(
          problemPage(
            "This request could not be checked",
            `The proxy in front of this site sent a request ssod cannot judge: ${f.message}. Tell the site's administrator.`,
          ),
          401,
        )
      : (html("unauthenticated") as (c: Context, f: never) => Response)(c, f as never),
  );
  renderer.invalid_token = either("invalid_token", (c) => c.html(failedPage(), 400));
  renderer.throttled = either("throttled", (c, f) => {
    c.header("Retry-After", String(f.retryAfter));
    return c.html(throttledPage(f.retryAfter), 429);
  });
  return renderer as Renderer;
}
