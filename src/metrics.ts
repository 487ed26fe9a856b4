// Prometheus metrics (prom-client), served at /metrics: requests, latency,
// tokens, store calls, throttling, build info.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { ForwardAuthOutcome } from "./core/forward-auth";
import type { Telemetry, WebhookAttemptOutcome } from "./core/telemetry";
import type { StoreCall } from "./store/store";
import { version } from "./version";

export interface RequestObservation {
  method: string;
  route: string;
  status: number;
  seconds: number;
}

export class Metrics implements Telemetry {
  readonly registry = new Registry();
  readonly #requests = new Counter({
    name: "ssod_http_requests_total",
    help: "HTTP requests by route and status",
    labelNames: ["method", "route", "status"],
    registers: [this.registry],
  });
  readonly #latency = new Histogram({
    name: "ssod_http_request_duration_seconds",
    help: "HTTP request latency by route",
    labelNames: ["method", "route"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly #issued = new Counter({
    name: "ssod_tokens_issued_total",
    help: "Tokens issued by source and dialect",
    labelNames: ["source", "dialect"],
    registers: [this.registry],
  });
  readonly #redeemed = new Counter({
    name: "ssod_tokens_redeemed_total",
    help: "Tokens redeemed by source and way (api, browser)",
    labelNames: ["source", "via"],
    registers: [this.registry],
  });
  readonly #refused = new Counter({
    name: "ssod_tokens_refused_total",
    help: "Redemptions refused, by way and reason",
    labelNames: ["via", "reason"],
    registers: [this.registry],
  });
  readonly #oidcLogins = new Counter({
    name: "ssod_oidc_logins_total",
    help: "Sign-ins to apps through the OpenID Connect provider, by app (client id)",
    labelNames: ["app"],
    registers: [this.registry],
  });
  readonly #throttled = new Counter({
    name: "ssod_throttled_total",
    help: "Requests answered 429 after too many failures",
    labelNames: ["action"],
    registers: [this.registry],
  });
  readonly #storeLatency = new Histogram({
    name: "ssod_store_call_duration_seconds",
    help: "Store call latency (a write is one group commit)",
    labelNames: ["kind"],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [this.registry],
  });
  readonly #storeErrors = new Counter({
    name: "ssod_store_errors_total",
    help: "Failed store calls by kind and error",
    labelNames: ["kind", "error"],
    registers: [this.registry],
  });

  readonly #forwardAuth = new Counter({
    name: "ssod_forward_auth_decisions_total",
    help: "Forward-auth decisions by app (client id; empty when no app protects the URL) and outcome",
    labelNames: ["app", "outcome"],
    registers: [this.registry],
  });
  readonly #webhookAttempts = new Counter({
    name: "ssod_webhook_deliveries_total",
    help: "Webhook delivery attempts by outcome: delivered (2xx), retrying (failed, due again), failed (retries spent), gone (410, endpoint disabled)",
    labelNames: ["outcome"],
    registers: [this.registry],
  });
  /** Reads the outbox's backlog from the store at scrape time (set once the core exists). */
  #backlog: (() => Promise<{ pending: number; oldestAgeSeconds: number }>) | undefined;
  #lastBacklog = { pending: 0, oldestAgeSeconds: 0 };
  /** One read per scrape, shared by both gauges. */
  #reading: Promise<{ pending: number; oldestAgeSeconds: number }> | undefined;

  constructor() {
    const backlog = () => {
      const read = this.#backlog;
      if (!read) return Promise.resolve(this.#lastBacklog);
      this.#reading ??= read()
        .then((figures) => (this.#lastBacklog = figures))
        // A store that cannot answer keeps the last figures: the scrape itself never fails.
        .catch(() => this.#lastBacklog)
        .finally(() => {
          this.#reading = undefined;
        });
      return this.#reading;
    };
    for (const outcome of ["delivered", "retrying", "failed", "gone"]) this.#webhookAttempts.labels(outcome).inc(0);
    new Gauge({
      name: "ssod_webhook_deliveries_pending",
      help: "Webhook deliveries waiting to be sent to enabled endpoints (all instances: read from the store)",
      registers: [this.registry],
      async collect() {
        this.set((await backlog()).pending);
      },
    });
    new Gauge({
      name: "ssod_webhook_oldest_pending_seconds",
      help: "Age of the oldest webhook delivery waiting to be sent to an enabled endpoint, seconds (0: none)",
      registers: [this.registry],
      async collect() {
        this.set((await backlog()).oldestAgeSeconds);
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: "ssod_" });
    new Gauge({ name: "ssod_build_info", help: "Version of ssod and Node.js", labelNames: ["version", "node"], registers: [this.registry] })
      .labels(version(), process.version)
      .set(1);
  }

  request(o: RequestObservation): void {
    this.#requests.labels(o.method, o.route, String(o.status)).inc();
    this.#latency.labels(o.method, o.route).observe(o.seconds);
  }

  storeCall(call: StoreCall): void {
    this.#storeLatency.labels(call.kind).observe(call.ms / 1000);
    if (call.error) this.#storeErrors.labels(call.kind, call.error).inc();
  }

  tokenIssued(source: string, dialect: string): void {
    this.#issued.labels(source, dialect).inc();
  }

  tokenRedeemed(source: string, via: string): void {
    this.#redeemed.labels(source, via).inc();
  }

  tokenRefused(via: string, reason: "invalid" | "refused"): void {
    this.#refused.labels(via, reason).inc();
  }

  oidcLogin(app: string): void {
    this.#oidcLogins.labels(app).inc();
  }

  throttled(action: string): void {
    this.#throttled.labels(action).inc();
  }

  forwardAuthDecision(app: string, outcome: ForwardAuthOutcome): void {
    this.#forwardAuth.labels(app, outcome).inc();
  }

  webhookAttempt(outcome: WebhookAttemptOutcome): void {
    this.#webhookAttempts.labels(outcome).inc();
  }

  /** Where the webhook gauges read the outbox from. */
  watchOutbox(read: () => Promise<{ pending: number; oldestAgeSeconds: number }>): void {
    this.#backlog = read;
  }
}
