// The login session cookie: HttpOnly, SameSite=Lax, Secure when ssod is
// reached over https (SPEC §1), and Domain=SSOD_COOKIE_DOMAIN when it is set,
// so that it reaches the hosts forward auth protects (§8). It is set and
// cleared with the same attributes: a cookie is only replaced by one of the
// same name, domain and path.
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { type CookieOptions, serialize } from "hono/utils/cookie";
import type { Core } from "../../core/context";

const SESSION_COOKIE = "ssod_session";

function attributes(core: Core): CookieOptions {
  return {
    path: "/",
    httpOnly: true,
    sameSite: "Lax",
    secure: core.settings.publicUrl.startsWith("https:"),
    ...(core.settings.cookieDomain ? { domain: core.settings.cookieDomain } : {}),
  };
}

export function setSessionCookie(c: Context, core: Core, session: { id: string; expiresAt: number }): void {
  setCookie(c, SESSION_COOKIE, session.id, { ...attributes(core), maxAge: Math.max(0, Math.floor((session.expiresAt - core.now()) / 1000)) });
}

export function readSessionCookie(c: Context): string | undefined {
  return getCookie(c, SESSION_COOKIE);
}

export function clearSessionCookie(c: Context, core: Core): void {
  deleteCookie(c, SESSION_COOKIE, attributes(core));
}

/** Whether a browser keeps a cookie with Domain=`domain` set by `host`: the host is that domain or under it. */
export function cookieDomainCovers(domain: string, host: string): boolean {
  const bare = domain.replace(/^\./, "").toLowerCase();
  const h = host.toLowerCase();
  return h === bare || h.endsWith(`.${bare}`);
}

/** The Set-Cookie value that clears the session cookie, for an answer Hono does not build (the OpenID Connect provider's). */
export function clearedSessionCookie(core: Core): string {
  return serialize(SESSION_COOKIE, "", { ...attributes(core), maxAge: 0 });
}
