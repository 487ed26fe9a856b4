// Browser redemption, shared by Tyk's /tap and /sso and the native
// /v1/login: redeem through the core, set the session cookie, send the
// browser on to the allow-listed redirect URL (303) or show who signed in.
// Failures are a 400 page (the dialect's JSON for Accept: application/json),
// throttled per client IP; a valid token is honoured even from a throttled IP.
//
// SPEC §5 "Landings": HEAD never consumes. A source with landing "confirm"
// answers the GET with a page whose button POSTs the token back, and only that
// same-origin POST consumes it, so link scanners that prefetch spend nothing.
import type { Context } from "hono";
import type { Core } from "../../core/context";
import { MAX_TOKEN_LENGTH } from "../../core/tokens/formats";
import { pendingConfirmation } from "../../core/tokens/inspect";
import { redeemToken } from "../../core/tokens/redeem";
import { refuseAfterFailure } from "../auth/refuse";
import { readFormField } from "../body";
import type { AppEnv } from "../env";
import { refuse } from "../failure";
import { wantsJson } from "./browser-renderer";
import { CONFIRM_PAGE_REFERRER_POLICY, confirmPage, confirmPageCsp, signedInPage } from "./pages";
import { refuseCrossSite } from "./same-origin";
import { setSessionCookie } from "./session-cookie";

/** Plausible token text: nonces are 43 characters, JWTs a few hundred, none over MAX_TOKEN_LENGTH. */
const TOKEN_SHAPE = new RegExp(`^[A-Za-z0-9_.=-]{16,${MAX_TOKEN_LENGTH}}$`);

const invalidToken = { kind: "invalid_token", message: "Invalid or expired token", issues: [] } as const;

/** Where a landing is: its path takes the token in `field` (Tyk's `nonce`, the native `token`), for its section. */
export interface Landing {
  field: "token" | "nonce";
  section: string | null;
}

/** GET (and HEAD) of a landing. */
export async function landOnGet(c: Context<AppEnv>, core: Core, landing: Landing, token: string | undefined): Promise<Response> {
  // A HEAD tells a scanner the page is there, and spends nothing.
  if (c.req.method === "HEAD") return c.body(null, 200, { "Content-Type": "text/html; charset=UTF-8" });
  return land(c, core, landing, token, false);
}

/** POST of a landing's confirmation page. */
export async function landOnPost(c: Context<AppEnv>, core: Core, landing: Landing): Promise<Response> {
  refuseCrossSite(c, core);
  return land(c, core, landing, await readFormField(c, landing.field), true);
}

async function land(c: Context<AppEnv>, core: Core, landing: Landing, token: string | undefined, confirmed: boolean): Promise<Response> {
  const ip = c.get("clientIp");
  const plausible = token !== undefined && TOKEN_SHAPE.test(token);
  const outcome = plausible
    ? await redeemToken(core, {
        token,
        section: landing.section,
        via: "browser",
        confirmed,
        actor: undefined,
        ip,
        userAgent: c.req.header("user-agent") ?? null,
      })
    : ({ ok: false, consumed: false } as const);
  if (!outcome.ok) {
    const pending = plausible && !confirmed && !outcome.consumed ? await pendingConfirmation(core, token, landing.section) : undefined;
    if (pending) {
      c.header("Content-Security-Policy", confirmPageCsp(pending.nextUrl));
      c.header("Referrer-Policy", CONFIRM_PAGE_REFERRER_POLICY);
      return c.html(confirmPage(c.req.path, landing.field, token!));
    }
    // A real token refused for its user was audited by the redemption itself; anything else counts against the IP.
    if (outcome.consumed) return refuse(invalidToken);
    return refuseAfterFailure(c, core, { action: "token.redeem_failed", detail: { via: c.req.path } }, invalidToken);
  }
  const { redemption } = outcome;
  c.set("sourceCode", redemption.source.code);
  if (redemption.session) setSessionCookie(c, core, redemption.session);
  if (redemption.redirectUrl) return c.redirect(redemption.redirectUrl, 303);
  const name = redemption.user.displayName ?? redemption.user.email ?? redemption.user.externalId ?? redemption.user.id;
  if (wantsJson(c)) {
    return c.json({
      signedIn: true,
      tokenRefNo: redemption.tokenRefNo,
      source: redemption.source.code,
      ...(redemption.source.returnUserData ? { user: redemption.user } : {}),
    });
  }
  return c.html(signedInPage(name));
}

/** The answers of a landing, for the document. */
export const landingAnswers = {
  303: { description: "To the allow-listed redirect URL, with the session cookie" },
  200: {
    description:
      'An HTML page saying who signed in (JSON with Accept: application/json), or, for a source with landing "confirm", the page whose button confirms',
  },
};

/** Failure statuses of a landing, each an HTML page (the dialect's JSON with Accept: application/json). */
export const landingFailures = {
  400: "An HTML page: not a valid token (the dialect's error JSON with Accept: application/json)",
  429: "Too many failed attempts from this IP (Retry-After)",
};

export const confirmationFailures = { ...landingFailures, 403: "Sent from another site" };
