// GET /v1/forward-auth (SPEC §8): nginx's auth_request, Caddy's forward_auth
// and Traefik's ForwardAuth ask it about every request of a protected app.
//
// It answers 200, 401, 403 or 302 and nothing else, whatever happens: nginx
// turns any other answer into a 500, and a store that cannot answer must
// close the door, not open it (401). Refusals are not throttled (every
// request comes from the proxy's address); 403s are audited, the others are
// not (every anonymous page view would be a write).
import type { Context } from "hono";
import { loginUrlFor, recordAccessDenied } from "../../core/apps";
import type { Core } from "../../core/context";
import { type Decision, decideForwardAuth, remoteHeaders } from "../../core/forward-auth";
import type { Logger } from "../../log";
import { anyone } from "../auth/callers";
import type { AppEnv } from "../env";
import { type Failure, failureOf, render } from "../failure";
import { setSecurityHeaders, takeAnswerHeaders } from "../middleware/security-headers";
import { route } from "../route";
import { browserRenderer, wantsJson } from "../shared/browser-renderer";
import { readSessionCookie } from "../shared/session-cookie";
import { V1 } from "./dialect";
import { problemRenderer } from "./problem";

// A page for a browser (Caddy and Traefik show ssod's refusals as they are), a problem for Accept: application/json.
const pages = browserRenderer(problemRenderer);

export const FORWARD_AUTH_PATH = "/v1/forward-auth";

// Caddy and Traefik show these to the browser as they are: they carry the headers of every page.
const refusal = (c: Context, failure: Failure) => {
  setSecurityHeaders(c);
  return render(pages, c, failure);
};
const notSignedIn = (message: string): Failure => ({ kind: "unauthenticated", reason: "no_session", message });
const forbidden = (message: string): Failure => ({ kind: "forbidden", message, issues: [] });

async function answer(c: Context<AppEnv>, core: Core, decision: Decision): Promise<Response> {
  const telemetry = core.telemetry;
  switch (decision.outcome) {
    case "allow":
      telemetry.forwardAuthDecision(decision.app.clientId, "allow");
      // A Response of its own, its headers a plain object, which @hono/node-server writes out as it is
      // (without the page headers, left to refusals; no-store stays): no proxy passes a 2xx of the auth
      // server on to the browser, and this is the answer to nearly every request.
      return new Response(null, { status: 200, headers: { ...remoteHeaders(decision.user), "Cache-Control": "no-store", ...takeAnswerHeaders(c) } });
    case "malformed":
      telemetry.forwardAuthDecision("", "malformed");
      return refusal(c, { kind: "unauthenticated", reason: "untrusted_forwarding", message: `the forwarded headers cannot be trusted: ${decision.reason}` });
    case "no_app":
      telemetry.forwardAuthDecision("", "no_app");
      return refusal(c, forbidden("no app protects this URL"));
    case "forbidden":
      telemetry.forwardAuthDecision(decision.app.clientId, "forbidden");
      // Audited; an audit the store cannot take now does not change the answer.
      await recordAccessDenied(core, decision.app, { id: decision.user.userId }, "forward-auth", c.get("clientIp")).catch(() => {});
      return refusal(c, forbidden("your account may not use this app"));
    case "unauthenticated": {
      const loginUrl = loginUrlFor(core, decision.app, decision.request.url);
      // Caddy and Traefik pass ssod's redirect to the browser. nginx cannot (any 3xx becomes a 500): its
      // 401 carries the same URL in Location, properly encoded, for its error_page to send the browser to.
      if (loginUrl && decision.request.form === "forwarded" && !wantsJson(c)) {
        telemetry.forwardAuthDecision(decision.app.clientId, "redirect");
        setSecurityHeaders(c);
        return c.redirect(loginUrl, 302);
      }
      telemetry.forwardAuthDecision(decision.app.clientId, "unauthenticated");
      if (loginUrl) c.header("Location", loginUrl);
      return refusal(c, notSignedIn(loginUrl ? "sign in through the portal" : "sign in through your portal first"));
    }
  }
}

export function forwardAuthRoutes(logger: Logger) {
  return [
    route({
      method: "get",
      path: FORWARD_AUTH_PATH,
      tag: V1.forwardAuth,
      summary: "Whether a reverse proxy lets a request through to a protected app",
      description:
        "For nginx `auth_request`, Caddy `forward_auth` and Traefik `ForwardAuth`. The original request comes from `X-Forwarded-Method`, " +
        "`X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Forwarded-Uri` when `X-Forwarded-Host` is present (Caddy, Traefik), else from " +
        "`X-Original-URL` and `X-Original-Method` (nginx); this endpoint's own query string is ignored. The session is the `ssod_session` " +
        "cookie of that request. Anything missing or malformed is refused with 401. Only 200, 302, 401 and 403 are ever answered.",
      auth: { ...anyone, security: [{ sessionCookie: [] }] },
      answers: {
        200: {
          description:
            "Let it through: `Remote-User` (external id, else email), `Remote-Email`, `Remote-Name`, `Remote-Groups` (comma-separated), " +
            "`Remote-Org`, `Remote-User-Id`, always all six (empty when there is no value; anything but printable ASCII percent-encoded as UTF-8, `%` as `%25`)",
        },
        302: { description: "No valid session (Caddy/Traefik form, a browser): to the login URL with `return_to` the original URL" },
        401: {
          description:
            "No valid session (nginx form, Accept: application/json, or no login URL configured; `Location` names the login URL when there is one), " +
            "forwarded headers missing or malformed, or the store unavailable",
        },
        403: { description: "No app protects the URL, or the user is outside the app's rule (audited)" },
      },
      failures: [],
      async handle({ c, core }) {
        // Each request of every protected app passes here: its log line is at debug; /metrics counts decisions.
        c.set("quietLog", true);
        try {
          return await answer(c, core, await decideForwardAuth(core, (name) => c.req.header(name), readSessionCookie(c)));
        } catch (error) {
          // Fail closed: a store that cannot answer (or a bug) never lets a request through, and never answers a 5xx.
          if (failureOf(error)?.kind !== "unavailable") logger.error({ err: error, reqId: c.get("requestId") }, "forward auth failed");
          core.telemetry.forwardAuthDecision("", "error");
          c.header("Retry-After", "1");
          return refusal(c, notSignedIn("the session cannot be checked now; try again shortly"));
        }
      },
    }),
  ];
}
