// SPEC §5 "Cross-site requests": what changes state on the strength of the
// session cookie refuses a request another site made the browser send.
import type { Context } from "hono";
import type { Core } from "../../core/context";
import { refuse } from "../failure";

export function refuseCrossSite(c: Context, core: Core): void {
  const origin = c.req.header("origin");
  const ownOrigin = new URL(core.settings.publicUrl).origin;
  if (c.req.header("sec-fetch-site") === "cross-site" || (origin !== undefined && origin !== ownOrigin)) {
    refuse({ kind: "forbidden", message: "this request came from another site; it must be made from this one", issues: [] });
  }
}
