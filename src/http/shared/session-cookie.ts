// The login session cookie: HttpOnly, SameSite=Lax, Secure when ssod is
// reached over https (SPEC §1).
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { serialize } from "hono/utils/cookie";
import type { Core } from "../../core/context";

const SESSION_COOKIE = "ssod_session";

const secure = (core: Core) => core.settings.publicUrl.startsWith("https:");

export function setSessionCookie(c: Context, core: Core, session: { id: string; expiresAt: number }): void {
  setCookie(c, SESSION_COOKIE, session.id, {
    path: "/",
    httpOnly: true,
    sameSite: "Lax",
    secure: secure(core),
    maxAge: Math.max(0, Math.floor((session.expiresAt - core.now()) / 1000)),
  });
}

export function readSessionCookie(c: Context): string | undefined {
  return getCookie(c, SESSION_COOKIE);
}

export function clearSessionCookie(c: Context, core: Core): void {
  deleteCookie(c, SESSION_COOKIE, { path: "/", httpOnly: true, sameSite: "Lax", secure: secure(core) });
}

/** The Set-Cookie value that clears the session cookie, for an answer Hono does not build (the OpenID Connect provider's). */
export function clearedSessionCookie(core: Core): string {
  return serialize(SESSION_COOKIE, "", { path: "/", httpOnly: true, sameSite: "Lax", secure: secure(core), maxAge: 0 });
}
