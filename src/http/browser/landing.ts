// Browser redemption, shared by Tyk's /tap and /sso and the native
// /v1/login: redeem through the core, set the session cookie, send the
// browser on to the allow-listed redirect URL (303) or show who signed in.
// Failures are a 400 page (JSON for Accept: application/json), throttled per
// client IP; a valid token is honoured even from a throttled IP.
import type { Context } from "hono";
import { recordFailure } from "../../core/auth";
import type { Core } from "../../core/context";
import { MAX_TOKEN_LENGTH } from "../../core/tokens/formats";
import { redeemToken } from "../../core/tokens/redeem";
import type { AppEnv } from "../env";
import { setSessionCookie } from "../session-cookie";
import { failedPage, signedInPage, throttledPage } from "./pages";

const wantsJson = (c: Context) => /\bapplication\/json\b/i.test(c.req.header("accept") ?? "");

/** Plausible token text: nonces are 43 characters, JWTs a few hundred, none over MAX_TOKEN_LENGTH. */
const TOKEN_SHAPE = new RegExp(`^[A-Za-z0-9_.=-]{16,${MAX_TOKEN_LENGTH}}$`);

export async function landInBrowser<E extends AppEnv>(c: Context<E>, core: Core, token: string | undefined, section: string | null) {
  const ip = c.get("clientIp");
  const outcome =
    token && TOKEN_SHAPE.test(token)
      ? await redeemToken(core, { token, section, via: "browser", actor: undefined, ip, userAgent: c.req.header("user-agent") ?? null })
      : ({ ok: false, consumed: false } as const);
  if (!outcome.ok) {
    // A real token refused for its user was audited by the redemption itself; anything else counts against the IP.
    const retryAfter = outcome.consumed ? 0 : await recordFailure(core, { ip, action: "token.redeem_failed", detail: { via: c.req.path } });
    if (retryAfter > 0) {
      c.header("Retry-After", String(retryAfter));
      return wantsJson(c) ? c.json({ error: "too many failed attempts", retryAfter }, 429) : c.html(throttledPage(retryAfter), 429);
    }
    return wantsJson(c) ? c.json({ error: "Invalid or expired token" }, 400) : c.html(failedPage(), 400);
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
