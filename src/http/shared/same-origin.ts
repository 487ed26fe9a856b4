// SPEC §5 "Cross-site requests": what changes state on the strength of the
// session cookie refuses a request another site made the browser send.
import type { Context } from "hono";
import type { Core } from "../../core/context";
import { refuse } from "../failure";

/**
 * Whether a browser was made to send this request by a page that is not
 * ssod's: Sec-Fetch-Site anything but same-origin, or an Origin that is not
 * ssod's own (`null` included). A client that sends neither is no browser
 * acting for another site. ssod's own pages that post (the confirmations)
 * are served with Referrer-Policy: same-origin, so the browser sends their
 * real Origin (a no-referrer page's form POST would carry `Origin: null`).
 */
export function sentByAnotherSite(headers: { secFetchSite: string | undefined; origin: string | undefined }, ownOrigin: string): boolean {
  if (headers.secFetchSite !== undefined && headers.secFetchSite !== "same-origin") return true;
  return headers.origin !== undefined && headers.origin !== ownOrigin;
}

export function refuseCrossSite(c: Context, core: Core): void {
  const headers = { secFetchSite: c.req.header("sec-fetch-site"), origin: c.req.header("origin") };
  if (sentByAnotherSite(headers, new URL(core.settings.publicUrl).origin)) {
    refuse({ kind: "forbidden", message: "this request came from another site; it must be made from this one", issues: [] });
  }
}
