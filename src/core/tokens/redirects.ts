// Where a token may send the browser after its landing: a URL on its
// source's list (compared exactly, as parsed), a URL on ssod's own origin (an
// OpenID Connect authorization that waits for the user), or a URL on a host
// an app protects behind forward auth (the page the user asked for), SPEC §6.
import { isProtectedHost } from "../apps";
import type { Core } from "../context";

/** The URL as stored (parsed, so it compares exactly) if a token of this source may go there; else undefined. */
export async function allowedRedirect(core: Core, redirectUrls: readonly string[], url: string): Promise<string | undefined> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (redirectUrls.includes(parsed.href)) return parsed.href;
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return undefined;
  if (parsed.username || parsed.password) return undefined;
  if (parsed.origin === new URL(core.settings.publicUrl).origin) return parsed.href;
  return (await isProtectedHost(core, parsed.hostname)) ? parsed.href : undefined;
}

/** Where a redeemed token sends the browser: its redirect URL, checked again now, else its source's only one. */
export async function nextUrl(core: Core, token: { redirectUrl: string | null; redirectUrls: readonly string[] }): Promise<string | null> {
  // A URL removed from the source's list since the token was issued is no longer followed.
  const checked = token.redirectUrl ? await allowedRedirect(core, token.redirectUrls, token.redirectUrl) : undefined;
  return checked ?? (token.redirectUrls.length === 1 ? token.redirectUrls[0]! : null);
}
