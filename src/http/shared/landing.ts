// Browser redemption, shared by Tyk's /tap and /sso and the native
// /v1/login: redeem through the core, set the session cookie, send the
// browser on to the allow-listed redirect URL (303) or show who signed in.
// Failures are a 400 page (the dialect's JSON for Accept: application/json),
// throttled per client IP; a valid token is honoured even from a throttled IP.
import type { Context } from "hono";
import type { Core } from "../../core/context";
import { MAX_TOKEN_LENGTH } from "../../core/tokens/formats";
import { redeemToken } from "../../core/tokens/redeem";
import { refuseAfterFailure } from "../auth/refuse";
import type { AppEnv } from "../env";
import { refuse } from "../failure";
import { wantsJson } from "./browser-renderer";
import { signedInPage } from "./pages";
import { setSessionCookie } from "./session-cookie";

/** Plausible token text: nonces are 43 characters, JWTs a few hundred, none over MAX_TOKEN_LENGTH. */
const TOKEN_SHAPE = new RegExp(`^[A-Za-z0-9_.=-]{16,${MAX_TOKEN_LENGTH}}$`);

const invalidToken = { kind: "invalid_token", message: "Invalid or expired token", issues: [] } as const;

export async function landInBrowser(c: Context<AppEnv>, core: Core, token: string | undefined, section: string | null): Promise<Response> {
  const ip = c.get("clientIp");
  const outcome =
    token && TOKEN_SHAPE.test(token)
      ? await redeemToken(core, { token, section, via: "browser", actor: undefined, ip, userAgent: c.req.header("user-agent") ?? null })
      : ({ ok: false, consumed: false } as const);
  if (!outcome.ok) {
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
    return c.json({ signedIn: true, tokenRefNo: redemption.tokenRefNo, source: redemption.source.code, ...(redemption.source.returnUserData ? { user: redemption.user } : {}) });
  }
  return c.html(signedInPage(name));
}

/** The answers of a landing, for the document. */
export const landingAnswers = {
  303: { description: "To the allow-listed redirect URL, with the session cookie" },
  200: { description: "An HTML page saying who signed in (JSON with Accept: application/json)" },
};

/** Failure statuses of a landing, each an HTML page (the dialect's JSON with Accept: application/json). */
export const landingFailures = {
  400: "An HTML page: not a valid token (the dialect's error JSON with Accept: application/json)",
  429: "Too many failed attempts from this IP (Retry-After)",
};
