// The delivery worker (SPEC §9), one in every instance. It keeps nothing
// another instance needs: what is due, who is sending it and until when, and
// every outcome are rows of webhook_deliveries.
//
// - Claim: once a read has found something claimable (an idle instance
//   writes nothing), one conditional UPDATE … RETURNING leases due deliveries to this
//   claim (lease_owner, lease_until = now + timeout + margin), at most
//   SSOD_WEBHOOK_ENDPOINT_CONCURRENCY in flight per endpoint across all
//   instances, and at most this instance's free slots. An instance that dies
//   mid-delivery simply lets its leases run out; another claims them then.
// - Send: POST under the outbound rules (https, or http to loopback unless
//   allowed; never link-local, checked at connect time; no redirects), with
//   the Standard Webhooks headers, the same webhook-id on every attempt.
// - Record: a BulkWrite through the group commit, written only if the lease
//   is still this claim's: delivered, or due again after the schedule's next
//   wait (Retry-After for 429 and 503), or failed once the schedule is spent;
//   a 410 disables the endpoint, and so do 5 days of nothing but failures.
//
// Deliveries are background work: while the instance is saturated with
// requests it claims at most every BUSY_CLAIM_INTERVAL_MS (the outbox keeps
// the rest) and catches up once it is not, so a receiver, slow or fast, never
// takes the server's time from issue and redeem.
import type { Agent } from "node:http";
import type { LookupFunction } from "node:net";
import { performance } from "node:perf_hooks";
import { BoundedMap } from "../../store/bounded-map";
import type { Result } from "../../store/driver";
import { StoreUnavailableError } from "../../store/errors";
import type { BulkWrite } from "../../store/group-commit";
import { jsonRows } from "../../store/json-rows";
import { version } from "../../version";
import type { Core } from "../context";
import { hmacSha256Base64, randomSecret } from "../crypto";
import { fetchOutbound, OutboundError, outboundAgent, staleConnection } from "../outbound";
import type { WebhookAttemptOutcome } from "../telemetry";
import { SECRET_PURPOSE } from "./endpoints";
import { isoTimeSql } from "./outbox";

/**
 * While busy, the least time between two claims (or the poll interval, if
 * longer). Each claim takes at most SSOD_WEBHOOK_ENDPOINT_CONCURRENCY per
 * endpoint: tens a second go out under any load, none starves.
 */
const BUSY_CLAIM_INTERVAL_MS = 100;

/** What one claimed delivery carries to its attempt. */
interface Claimed {
  id: number;
  endpointId: number;
  eventId: string;
  type: string;
  data: string;
  occurredAt: number;
  attempts: number;
  url: string;
  secretEnc: string;
}

// ?1 now, ?2 lease end, ?3 per-endpoint limit, ?4 free slots here, ?5 this claim's token.
// Per endpoint, the oldest due deliveries not leased, as many as its limit
// leaves room for once those in flight everywhere are counted.
const CLAIM = `
WITH candidates AS (
  SELECT e.id AS endpoint, d.id AS delivery, d.next_attempt_at AS due
  FROM webhook_endpoints e CROSS JOIN webhook_deliveries d ON d.id IN (
    SELECT x.id FROM webhook_deliveries x
    WHERE x.endpoint_id = e.id AND x.status = 'pending' AND x.next_attempt_at <= ?1 AND (x.lease_until IS NULL OR x.lease_until <= ?1)
    ORDER BY x.next_attempt_at LIMIT ?3)
  WHERE e.enabled = 1),
ranked AS (
  SELECT delivery, due, row_number() OVER (PARTITION BY endpoint ORDER BY due, delivery) AS rank,
    (SELECT count(*) FROM webhook_deliveries z WHERE z.endpoint_id = candidates.endpoint AND z.lease_until > ?1) AS busy
  FROM candidates)
UPDATE webhook_deliveries SET lease_owner = ?5, lease_until = ?2, attempts = attempts + 1
WHERE id IN (SELECT delivery FROM ranked WHERE rank + busy <= ?3 ORDER BY due LIMIT ?4)
RETURNING id, endpoint_id, event_id, type, data, occurred_at, attempts,
  (SELECT url FROM webhook_endpoints w WHERE w.id = webhook_deliveries.endpoint_id),
  (SELECT secret_enc FROM webhook_endpoints w WHERE w.id = webhook_deliveries.endpoint_id)`;

// ?1 now, ?2 per-endpoint limit. Whether a claim would take anything, asked
// first with a read: an idle instance writes nothing, and a claim that
// changes nothing never passes for a write that went through (a full disk
// takes no-op writes, SPEC §5).
const ANYTHING_DUE = `
SELECT 1 FROM webhook_endpoints e
WHERE e.enabled = 1
  AND EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= ?1
              AND (d.lease_until IS NULL OR d.lease_until <= ?1))
  AND (SELECT count(*) FROM webhook_deliveries z WHERE z.endpoint_id = e.id AND z.lease_until > ?1) < ?2
LIMIT 1`;

function claimedRows(result: Result): Claimed[] {
  return result.rows.map(([id, endpointId, eventId, type, data, occurredAt, attempts, url, secretEnc]) => ({
    id: Number(id),
    endpointId: Number(endpointId),
    eventId: String(eventId),
    type: String(type),
    data: String(data),
    occurredAt: Number(occurredAt),
    attempts: Number(attempts),
    url: String(url),
    secretEnc: String(secretEnc),
  }));
}

// ---- recording outcomes ----

interface Outcome {
  id: number;
  claim: string;
  endpoint: number;
  at: number;
  /** What the delivery becomes. */
  status: "delivered" | "pending" | "failed";
  lastStatus: number | null;
  lastError: string | null;
  next: number | null;
  /** 1 when the endpoint answered 410 Gone. */
  gone: 0 | 1;
}

const deliveryRows = jsonRows<keyof Outcome>(["id", "claim", "endpoint", "at", "status", "lastStatus", "lastError", "next", "gone"]);
const d = deliveryRows.field;

interface EndpointOutcome {
  endpoint: number;
  at: number;
  /** Some delivery of this batch got a 2xx. */
  ok: 0 | 1;
  gone: 0 | 1;
}
const endpointRows = jsonRows<keyof EndpointOutcome>(["endpoint", "at", "ok", "gone"]);
const f = (name: keyof EndpointOutcome) => endpointRows.field(name, "x");

// ?1 the endpoints' outcomes, ?2 how long nothing but failures disables one.
const DISABLES = `${f("gone")} = 1 OR (${f("ok")} = 0 AND coalesce(e.failing_since, ${f("at")}) <= ${f("at")} - ?2)`;
const REASON = `CASE WHEN ${f("gone")} = 1 THEN 'the endpoint answered 410 Gone'
  ELSE 'every delivery failed since ' || ${isoTimeSql(`coalesce(e.failing_since, ${f("at")})`)} END`;

// An endpoint the system disables gets an audit row, read before the change.
const AUDIT_DISABLED = `
INSERT INTO audit_events (at, actor, action, target, outcome, detail)
SELECT ${f("at")}, 'system', 'webhook.disable', e.id, 'success', json_object('reason', ${REASON})
FROM json_each(?1) x CROSS JOIN webhook_endpoints e ON e.id = ${f("endpoint")}
WHERE e.enabled = 1 AND (${DISABLES})
RETURNING target, detail ->> 'reason'`;

const UPDATE_ENDPOINTS = `
UPDATE webhook_endpoints AS e SET
  failing_since = CASE WHEN ${f("ok")} = 1 THEN NULL ELSE coalesce(e.failing_since, ${f("at")}) END,
  enabled = CASE WHEN e.enabled = 1 AND (${DISABLES}) THEN 0 ELSE e.enabled END,
  disabled_reason = CASE WHEN e.enabled = 1 AND (${DISABLES}) THEN ${REASON} ELSE e.disabled_reason END,
  updated_at = CASE WHEN e.enabled = 1 AND (${DISABLES}) THEN ${f("at")} ELSE e.updated_at END
FROM json_each(?1) x WHERE e.id = ${f("endpoint")}`;

// Only while the lease is still this claim's: a claim that outlived its lease lost the delivery to another.
const UPDATE_DELIVERIES = `
UPDATE webhook_deliveries SET status = ${d("status")}, last_status = ${d("lastStatus")}, last_error = ${d("lastError")},
  next_attempt_at = ${d("next")}, lease_until = NULL, lease_owner = NULL,
  delivered_at = iif(${d("status")} = 'delivered', ${d("at")}, delivered_at),
  finished_at = iif(${d("status")} = 'pending', NULL, ${d("at")})
FROM json_each(?1) j WHERE webhook_deliveries.id = ${d("id")} AND webhook_deliveries.lease_owner = ${d("claim")}`;

/** Records many attempts in three statements; answers, per attempt, the endpoints disabled by its batch. */
function recordOp(disableAfterMs: number): BulkWrite<Outcome, { disabled: { id: number; reason: string }[] }> {
  return {
    name: "webhook.record",
    plan(rows) {
      const byEndpoint = new Map<number, EndpointOutcome>();
      for (const row of rows) {
        const seen = byEndpoint.get(row.endpoint) ?? { endpoint: row.endpoint, at: row.at, ok: 0, gone: 0 };
        seen.at = Math.max(seen.at, row.at);
        if (row.status === "delivered") seen.ok = 1;
        if (row.gone) seen.gone = 1;
        byEndpoint.set(row.endpoint, seen);
      }
      // A success in the batch outweighs a 410 or a failure beside it.
      const endpoints = endpointRows.encode([...byEndpoint.values()].map((e) => (e.ok ? { ...e, gone: 0 as const } : e)));
      return {
        statements: [
          { sql: AUDIT_DISABLED, args: [endpoints, disableAfterMs] },
          { sql: UPDATE_ENDPOINTS, args: [endpoints, disableAfterMs] },
          { sql: UPDATE_DELIVERIES, args: [deliveryRows.encode(rows)] },
        ],
        decode(results) {
          const disabled = results[0]!.rows.map((r) => ({ id: Number(r[0]), reason: String(r[1]) }));
          return rows.map(() => ({ disabled }));
        },
      };
    },
  };
}

// ---- one attempt ----

/** The body every attempt sends: the same bytes each time. */
const bodyOf = (c: Claimed) => `{"type":${JSON.stringify(c.type)},"timestamp":"${new Date(c.occurredAt).toISOString()}","data":${c.data}}`;

/** Seconds or an HTTP date, as milliseconds from now; undefined when absent or unreadable. */
function retryAfterMs(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  const text = header.trim();
  if (/^\d{1,9}$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** A Retry-After is honoured up to a day: a receiver cannot park a delivery for ever. */
const MAX_RETRY_AFTER_MS = 24 * 3600 * 1000;

/** The wait after a failed attempt, ±10% so that deliveries failed together do not come back together. */
const jittered = (ms: number) => Math.round(ms * (0.9 + Math.random() * 0.2));

/** Printable text of a receiver's answer, for the log: never much of it. */
const excerpt = (text: string) =>
  text
    .replace(/[^\x20-\x7e]+/g, " ")
    .trim()
    .slice(0, 200);

function errorText(error: unknown, timeoutMs: number): string {
  if (error instanceof OutboundError) return error.message;
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) return `no answer within ${timeoutMs / 1000} s`;
  const code = (error as { code?: string }).code;
  return excerpt(`${code ? `${code}: ` : ""}${error instanceof Error ? error.message : String(error)}`);
}

// ---- the worker ----

export interface DeliveryWorkerOptions {
  /** Told what an operator should read: an endpoint disabled, a store that refused the worker. */
  log?: (level: "info" | "warn", fields: Record<string, unknown>, message: string) => void;
  /** How many requests this instance has answered so far: with the event loop's load, whether it is busy serving. */
  requestsServed?: () => number;
  /** Resolves host names (tests map names of their own). */
  lookup?: LookupFunction;
}

export interface DeliveryWorker {
  /** Stops claiming; resolves once the deliveries in flight have ended (or timed out) and been recorded. */
  stop(): Promise<void>;
}

export function startDeliveryWorker(core: Core, options: DeliveryWorkerOptions = {}): DeliveryWorker {
  const settings = core.settings.webhooks;
  const log = options.log ?? (() => {});
  const record = recordOp(settings.disableAfterMs);
  const agents = new BoundedMap<string, Agent>(100);
  const inFlight = new Set<Promise<void>>();
  let stopped = false;
  // A delivery that ends frees a slot (here, and for its endpoint): the loop looks again at once, not at the next poll
  // (unless the instance is busy serving requests).
  let sleeper: ((why: "slot" | "stop") => void) | undefined;
  let woken = false;
  const wake = (why: "slot" | "stop") => {
    woken = true;
    sleeper?.(why);
  };
  // The last claim took something: more may be due, so the next claim need not ask first.
  let lastClaimed = 0;
  const userAgent = `ssod/${version()}`;

  // Busy: requests were served since the last look and the event loop was nearly always at work.
  let busy = false;
  // While busy, the worker's claims and records ride along with the requests' group commits rather than adding
  // commits of their own; idle, they go at once (each waiting for a batch to join would cap an endpoint near
  // SSOD_WEBHOOK_ENDPOINT_CONCURRENCY deliveries per few milliseconds).
  const background = () => ({ background: busy });
  let sample = { at: performance.now(), elu: performance.eventLoopUtilization(), requests: options.requestsServed?.() ?? 0 };
  const lookAtLoad = () => {
    const now = performance.now();
    if (!options.requestsServed || now - sample.at < 200) return;
    const elu = performance.eventLoopUtilization();
    const requests = options.requestsServed();
    busy = requests > sample.requests && performance.eventLoopUtilization(elu, sample.elu).utilization > 0.8;
    sample = { at: now, elu, requests };
  };

  const agentFor = (url: URL) => {
    const key = url.origin;
    let agent = agents.get(key);
    if (!agent) {
      // Evicted pools are closed, not left to hold their sockets.
      if (agents.size >= agents.limit) agents.get(agents.keys().next().value!)?.destroy();
      agent = outboundAgent(url, settings.endpointConcurrency);
      agents.set(key, agent);
    }
    return agent;
  };

  const keyOf = (secretEnc: string) =>
    core.caches.webhookKeys.getOrMake(secretEnc, () =>
      Buffer.from(
        core.masterKey
          .open(secretEnc, SECRET_PURPOSE)
          .toString("utf8")
          .replace(/^whsec_/, ""),
        "base64",
      ),
    );

  async function send(c: Claimed): Promise<{ status: number; text: string; retryAfter: string | null }> {
    const body = bodyOf(c);
    const url = new URL(c.url);
    const post = () => {
      const timestamp = Math.floor(core.now() / 1000);
      return fetchOutbound(
        url,
        {
          method: "POST",
          body,
          headers: {
            "content-type": "application/json",
            "user-agent": userAgent,
            "webhook-id": c.eventId,
            "webhook-timestamp": String(timestamp),
            "webhook-signature": `v1,${hmacSha256Base64(keyOf(c.secretEnc), `${c.eventId}.${timestamp}.${body}`)}`,
          },
        },
        {
          allowHttp: settings.allowHttp,
          maxBytes: 64 * 1024,
          timeoutMs: settings.timeoutMs,
          agent: agentFor(url),
          ...(options.lookup ? { lookup: options.lookup } : {}),
        },
      );
    };
    // A pooled connection the receiver had just closed: the request never reached it, so it goes again at once.
    const response = await post().catch((error: unknown) => (staleConnection(error) ? post() : Promise.reject(error)));
    return { status: response.status, text: await response.text(), retryAfter: response.headers.get("retry-after") };
  }

  function outcomeOf(c: Claimed, claim: string, answer: { status: number; text: string; retryAfter: string | null } | { error: string }): Outcome {
    const at = core.now();
    const base = { id: c.id, claim, endpoint: c.endpointId, at, gone: 0 as const };
    if ("status" in answer && answer.status >= 200 && answer.status < 300) {
      return { ...base, status: "delivered", lastStatus: answer.status, lastError: null, next: null };
    }
    const lastStatus = "status" in answer ? answer.status : null;
    const lastError =
      "status" in answer
        ? `answered ${answer.status}${answer.status >= 300 && answer.status < 400 ? " (a redirect: not followed)" : ""}${answer.text ? `: ${excerpt(answer.text)}` : ""}`
        : answer.error;
    if (lastStatus === 410) return { ...base, status: "failed", lastStatus, lastError, next: null, gone: 1 };
    const schedule = settings.retryScheduleMs;
    if (c.attempts > schedule.length) return { ...base, status: "failed", lastStatus, lastError, next: null };
    const asked = lastStatus === 429 || lastStatus === 503 ? retryAfterMs("retryAfter" in answer ? answer.retryAfter : null, at) : undefined;
    const wait = asked !== undefined ? Math.min(asked, MAX_RETRY_AFTER_MS) : jittered(schedule[c.attempts - 1]!);
    return { ...base, status: "pending", lastStatus, lastError, next: at + wait };
  }

  async function attempt(c: Claimed, claim: string): Promise<void> {
    let outcome: Outcome;
    try {
      outcome = outcomeOf(c, claim, await send(c));
    } catch (error) {
      outcome = outcomeOf(c, claim, { error: errorText(error, settings.timeoutMs) });
    }
    const kind: WebhookAttemptOutcome =
      outcome.status === "delivered" ? "delivered" : outcome.gone ? "gone" : outcome.status === "failed" ? "failed" : "retrying";
    core.telemetry.webhookAttempt(kind);
    try {
      const { disabled } = await core.store.bulk(record, outcome, background());
      for (const endpoint of disabled) log("warn", { webhook: endpoint.id, reason: endpoint.reason }, "webhook endpoint disabled");
    } catch (error) {
      // Not recorded: the lease runs out and the delivery is sent again (at least once). The next claim asks first.
      lastClaimed = 0;
      if (!(error instanceof StoreUnavailableError)) log("warn", { err: error, delivery: c.id }, "webhook delivery outcome not recorded");
    }
  }

  async function claim(free: number): Promise<number> {
    const now = core.now();
    if (lastClaimed === 0) {
      const due = await core.store.driver.query({ sql: ANYTHING_DUE, args: [now, settings.endpointConcurrency] });
      if (due.rows.length === 0) return 0;
    }
    const token = randomSecret(12);
    const claimed = await core.store.write(
      {
        statements: [{ sql: CLAIM, args: [now, now + settings.leaseMs, settings.endpointConcurrency, free, token] }],
        decode: (results) => claimedRows(results[0]!),
      },
      background(),
    );
    for (const c of claimed) {
      const running: Promise<void> = attempt(c, token).finally(() => {
        inFlight.delete(running);
        wake("slot");
      });
      inFlight.add(running);
    }
    lastClaimed = claimed.length;
    return claimed.length;
  }

  /** Until the poll interval has passed, or a delivery has ended since the last look; while busy, until the busy interval has. */
  const sleep = () =>
    new Promise<void>((resolve) => {
      if (woken && !busy) return resolve();
      const timer = setTimeout(done, busy ? Math.max(settings.pollIntervalMs, BUSY_CLAIM_INTERVAL_MS) : settings.pollIntervalMs);
      function done() {
        clearTimeout(timer);
        sleeper = undefined;
        resolve();
      }
      sleeper = (why) => {
        if (why === "stop" || !busy) done();
      };
    });

  const loop = (async () => {
    while (!stopped) {
      woken = false;
      lookAtLoad();
      const free = settings.concurrency - inFlight.size;
      let claimed = 0;
      if (free > 0) {
        try {
          claimed = await claim(free);
        } catch (error) {
          lastClaimed = 0;
          // A store outage is said by the store itself (once per incident), not here at every poll.
          if (!(error instanceof StoreUnavailableError)) log("warn", { err: error }, "webhook deliveries could not be claimed");
        }
      }
      // Every free slot taken: more may be due. Otherwise wait for a slot or the next poll. While busy, wait anyway.
      if (!stopped && (busy || !(claimed > 0 && claimed === free))) await sleep();
    }
  })();

  return {
    async stop() {
      stopped = true;
      wake("stop");
      await loop;
      await Promise.all([...inFlight]);
      for (const agent of agents.values()) agent.destroy();
    },
  };
}

/** What /metrics shows of the outbox: deliveries waiting for an enabled endpoint, and how long the oldest has waited. */
export async function outboxBacklog(core: Core): Promise<{ pending: number; oldestAgeSeconds: number }> {
  const result = await core.store.driver.query({
    sql: `SELECT count(*), min(d.created_at) FROM webhook_endpoints e CROSS JOIN webhook_deliveries d ON d.endpoint_id = e.id AND d.status = 'pending' WHERE e.enabled = 1`,
    args: [],
  });
  const [count, oldest] = result.rows[0] ?? [0, null];
  return { pending: Number(count ?? 0), oldestAgeSeconds: oldest === null || oldest === undefined ? 0 : Math.max(0, (core.now() - Number(oldest)) / 1000) };
}
