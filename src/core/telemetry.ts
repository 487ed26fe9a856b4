// What the core reports as it works, for metrics. The core knows nothing of
// Prometheus: src/metrics.ts implements this, tests may leave it silent.
import type { ForwardAuthOutcome } from "./forward-auth";
/** How a webhook delivery attempt ended. */
export type WebhookAttemptOutcome = "delivered" | "retrying" | "failed" | "gone";

export interface Telemetry {
  tokenIssued(source: string, dialect: string): void;
  tokenRedeemed(source: string, via: string): void;
  /** A redemption that did not succeed: `invalid` (unknown, used, expired, revoked) or `refused` (the user). */
  tokenRefused(via: string, reason: "invalid" | "refused"): void;
  /** A failure answered with 429. */
  throttled(action: string): void;
  /** A user signed in to an app through the OpenID Connect provider. */
  oidcLogin(app: string): void;
  /** A forward-auth decision (SPEC §8), by the client id of the app that decided ("" when none did). */
  forwardAuthDecision(app: string, outcome: ForwardAuthOutcome): void;
  /** A webhook delivery attempt ended: `delivered` (2xx), `retrying` (failed, due again), `failed` (its schedule spent), `gone` (410: endpoint disabled). */
  webhookAttempt(outcome: WebhookAttemptOutcome): void;
}

export const silentTelemetry: Telemetry = {
  tokenIssued: () => {},
  tokenRedeemed: () => {},
  tokenRefused: () => {},
  throttled: () => {},
  oidcLogin: () => {},
  forwardAuthDecision: () => {},
  webhookAttempt: () => {},
};
