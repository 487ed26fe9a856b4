// The one way a failed authentication is answered, in every dialect: the
// failure is recorded (audited, counted by the throttle), then the request is
// refused as throttled (429 + Retry-After) past the limits, else as `failure`.

import type { Context } from "hono";
import { type AuthFailure, recordFailure } from "../../core/auth";
import type { Core } from "../../core/context";
import type { AppEnv } from "../env";
import { type Failure, refuse } from "../failure";

export async function refuseAfterFailure(c: Context<AppEnv>, core: Core, attempt: Omit<AuthFailure, "ip">, failure: Failure): Promise<never> {
  const retryAfter = await recordFailure(core, { ...attempt, ip: c.get("clientIp") });
  return refuse(retryAfter > 0 ? { kind: "throttled", retryAfter } : failure);
}

/** Refuses credentials that did not check out (401, or 429 past the limits). */
export function refuseCredentials(c: Context<AppEnv>, core: Core, attempt: Omit<AuthFailure, "ip">, message = "the credentials are not valid"): Promise<never> {
  return refuseAfterFailure(c, core, attempt, { kind: "unauthenticated", reason: "invalid", message });
}
