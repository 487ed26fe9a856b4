// SPEC §9, how deliveries behave: a 2xx is delivered; anything else, a
// timeout or a refused connection is a failed attempt retried on the schedule
// with the same webhook-id (a 3xx included: redirects are not followed; 429
// and 503 honour Retry-After); a 410 disables the endpoint, and so do days of
// nothing but failures; a spent schedule leaves the delivery failed, to be
// retried by hand; a lease held by an instance that died runs out and the
// delivery is sent by another; URLs are judged again at every delivery. The
// schedule here is in milliseconds (SSOD_WEBHOOK_RETRY_SCHEDULE).
import assert from "node:assert/strict";
import type { LookupFunction } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { sweepOnce } from "../src/core/sweeper";
import { NO_THROTTLE, openTestServer, type TestServer } from "./helpers/runtime";
import {
  admin,
  type CreatedEndpoint,
  createEndpoint,
  deliveriesOf,
  eventually,
  FAST_WEBHOOKS,
  type Receiver,
  startReceiver,
  startWorker,
} from "./helpers/webhooks";

/** Resolves test names as told, everything else as 127.0.0.1. */
function mapped(names: Record<string, string>): LookupFunction {
  return (hostname, options, callback) => {
    const address = names[hostname] ?? "127.0.0.1";
    const family = address.includes(":") ? 6 : 4;
    if ((options as { all?: boolean }).all) (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address, family }]);
    else callback(null, address, family);
  };
}

describe("webhook deliveries", () => {
  let server: TestServer;
  let worker: { stop(): Promise<void> } | undefined;
  const receivers: Receiver[] = [];

  before(async () => {
    server = await openTestServer({ ...NO_THROTTLE, ...FAST_WEBHOOKS });
    worker = startWorker(server, { lookup: mapped({ "link-local.test": "169.254.169.254" }) });
  });
  after(async () => {
    await worker?.stop();
    for (const r of receivers) await r.close();
    await server?.close();
  });

  /** A receiver, and an endpoint for it that no other change reaches (it gets only what a test sends it). */
  async function endpointFor(answer: Receiver["answer"]): Promise<{ receiver: Receiver; endpoint: CreatedEndpoint }> {
    const receiver = await startReceiver();
    receivers.push(receiver);
    receiver.answer = answer;
    const endpoint = await createEndpoint(server, { events: ["app.deleted"] }, receiver);
    return { receiver, endpoint };
  }

  async function sendTest(endpoint: CreatedEndpoint): Promise<Record<string, unknown>> {
    const r = await admin(server, "POST", `/v1/webhooks/${endpoint.id}/test`);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return r.body;
  }

  async function logEntry(endpoint: CreatedEndpoint, deliveryId: unknown): Promise<Record<string, unknown>> {
    return (await deliveriesOf(server, endpoint.id)).find((d) => d.id === deliveryId)!;
  }

  const settled = (endpoint: CreatedEndpoint, id: unknown, status: string) => async () => (await logEntry(endpoint, id)).status === status;

  test("500 then 200: the same webhook-id twice, and the log shows two attempts, delivered", async () => {
    const { receiver, endpoint } = await endpointFor((_, n) => ({ status: n === 1 ? 500 : 200, body: n === 1 ? "try later" : "" }));
    const queued = await sendTest(endpoint);
    await eventually("delivered", settled(endpoint, queued.id, "delivered"));
    assert.equal(receiver.received.length, 2);
    assert.deepEqual(
      receiver.received.map((r) => r.id),
      [queued.eventId, queued.eventId],
    );
    assert.ok(receiver.received.every((r) => r.verified === true));
    assert.equal(receiver.received[0]!.body, receiver.received[1]!.body, "the same body on every attempt");
    const entry = await logEntry(endpoint, queued.id);
    assert.equal(entry.attempts, 2);
    assert.equal(entry.lastStatus, 200);
    assert.equal(entry.lastError, null);
    assert.equal(entry.nextAttemptAt, null);
    assert.equal(typeof entry.deliveredAt, "string");
  });

  test("a 302 is not followed: a failed attempt, retried; the redirect's target never hears of it", async () => {
    const elsewhere = await startReceiver();
    receivers.push(elsewhere);
    let redirects = true;
    const { receiver, endpoint } = await endpointFor(() => (redirects ? { status: 302, headers: { location: elsewhere.url } } : { status: 204 }));
    const queued = await sendTest(endpoint);
    await eventually("a first attempt recorded", async () => (await logEntry(endpoint, queued.id)).attempts === 1 && receiver.received.length >= 1);
    await eventually("its outcome recorded", async () => (await logEntry(endpoint, queued.id)).lastStatus === 302);
    const failed = await logEntry(endpoint, queued.id);
    assert.equal(failed.status, "pending");
    assert.match(String(failed.lastError), /302.*redirect.*not followed/);
    redirects = false;
    await eventually("delivered after the redirects stop", settled(endpoint, queued.id, "delivered"));
    assert.equal(elsewhere.received.length, 0, "the Location was never fetched");
    assert.ok(((await logEntry(endpoint, queued.id)).attempts as number) >= 2);
  });

  test("a 410 disables the endpoint (disabledReason, audited): no retry, no test event, until it is enabled again", async () => {
    const { receiver, endpoint } = await endpointFor(() => ({ status: 410 }));
    const queued = await sendTest(endpoint);
    await eventually("failed", settled(endpoint, queued.id, "failed"));
    assert.equal(receiver.received.length, 1, "no retry after a 410");
    const entry = await logEntry(endpoint, queued.id);
    assert.equal(entry.lastStatus, 410);
    const shown = await admin(server, "GET", `/v1/webhooks/${endpoint.id}`);
    assert.equal(shown.body.enabled, false);
    assert.match(String(shown.body.disabledReason), /410/);
    const audit = await admin(server, "GET", "/v1/audit?action=webhook.disable");
    assert.ok(audit.body.items!.some((e) => e.target === String(endpoint.id) && e.actor === "system"));

    const refused = await admin(server, "POST", `/v1/webhooks/${endpoint.id}/test`);
    assert.equal(refused.status, 409, "no test to a disabled endpoint");
    const enabled = await admin(server, "PATCH", `/v1/webhooks/${endpoint.id}`, { enabled: true });
    assert.equal(enabled.body.enabled, true);
    assert.equal(enabled.body.disabledReason, null);
  });

  test("a receiver that never answers: the attempt times out (SSOD_WEBHOOK_TIMEOUT) and is retried", async () => {
    const { receiver, endpoint } = await endpointFor((_, n) => (n === 1 ? "hang" : { status: 200 }));
    const queued = await sendTest(endpoint);
    await eventually("delivered on the second attempt", settled(endpoint, queued.id, "delivered"), 15_000);
    assert.deepEqual(
      receiver.received.map((r) => r.id),
      [queued.eventId, queued.eventId],
    );
    assert.equal((await logEntry(endpoint, queued.id)).attempts, 2);
  });

  test("a timed-out attempt is logged as one", async () => {
    const { endpoint } = await endpointFor(() => "hang");
    const queued = await sendTest(endpoint);
    await eventually("a failed attempt recorded", async () => (await logEntry(endpoint, queued.id)).lastError !== null, 15_000);
    assert.match(String((await logEntry(endpoint, queued.id)).lastError), /no answer within 2 s/);
    assert.equal((await logEntry(endpoint, queued.id)).lastStatus, null);
  });

  for (const status of [429, 503]) {
    test(`a ${status} with Retry-After: the next attempt waits as long as it asks, not the schedule's 300 ms`, async () => {
      const arrivals: number[] = [];
      const { endpoint } = await endpointFor((_, n) => {
        arrivals.push(Date.now());
        return n === 1 ? { status, headers: { "retry-after": "2" } } : { status: 200 };
      });
      const queued = await sendTest(endpoint);
      await eventually("delivered", settled(endpoint, queued.id, "delivered"), 15_000);
      assert.equal(arrivals.length, 2);
      assert.ok(arrivals[1]! - arrivals[0]! >= 1_900, `the retry came ${arrivals[1]! - arrivals[0]!} ms after the ${status}`);
    });
  }

  test("a refused connection is a failed attempt; once the schedule is spent the delivery is failed, and a retry by hand sends it again with the same webhook-id", async () => {
    const receiver = await startReceiver();
    const port = receiver.port;
    await receiver.close();
    const gone = await createEndpoint(server, { url: `http://127.0.0.1:${port}/hook`, events: ["app.deleted"] });
    const queued = await sendTest(gone);
    // 300ms,300ms,300ms: four attempts, then failed.
    await eventually("failed after the schedule", settled(gone, queued.id, "failed"), 15_000);
    const entry = await logEntry(gone, queued.id);
    assert.equal(entry.attempts, 4);
    assert.equal(entry.lastStatus, null);
    assert.match(String(entry.lastError), /ECONNREFUSED/);
    assert.equal(entry.nextAttemptAt, null);

    const back = await startReceiver(port);
    receivers.push(back);
    back.secret = gone.secret;
    const retried = await admin(server, "POST", `/v1/webhooks/${gone.id}/deliveries/${queued.id}/retry`);
    assert.equal(retried.status, 202, JSON.stringify(retried.body));
    assert.equal(retried.body.status, "pending");
    await eventually("delivered after the retry", settled(gone, queued.id, "delivered"));
    assert.deepEqual(
      back.received.map((r) => r.id),
      [queued.eventId],
    );
    assert.equal(back.received[0]!.verified, true);
    assert.equal((await logEntry(gone, queued.id)).attempts, 5);
    const audit = await admin(server, "GET", "/v1/audit?action=webhook.retry");
    assert.equal(audit.body.items!.length, 1);
    assert.equal((await admin(server, "POST", `/v1/webhooks/${gone.id}/deliveries/999999/retry`)).status, 404);
  });

  test("the URL is judged again at delivery: a name that resolves to a link-local address is never connected to", async () => {
    const endpoint = await createEndpoint(server, { url: "https://link-local.test/hook", events: ["app.deleted"] });
    const queued = await sendTest(endpoint);
    await eventually("a refused attempt recorded", async () => (await logEntry(endpoint, queued.id)).lastError !== null);
    assert.match(String((await logEntry(endpoint, queued.id)).lastError), /169\.254\.169\.254.*link-local.*not fetched/);
  });

  test("a delivery leased by an instance that died is sent by another once its lease runs out, not before", async () => {
    const { receiver, endpoint } = await endpointFor(() => ({ status: 200 }));
    // What a dead instance leaves: a claim of its own, leased for 1.5 s from now, never recorded.
    const leasedUntil = Date.now() + 1_500;
    const pause = await admin(server, "PATCH", `/v1/webhooks/${endpoint.id}`, { enabled: false });
    assert.equal(pause.status, 200);
    const queued = await sendTestWhileDisabled(endpoint);
    await server.runtime.store.driver.execute({
      sql: "UPDATE webhook_deliveries SET lease_owner = 'dead', lease_until = ?, attempts = 1 WHERE id = ?",
      args: [leasedUntil, queued],
    });
    await admin(server, "PATCH", `/v1/webhooks/${endpoint.id}`, { enabled: true });
    await eventually("delivered by this instance", settled(endpoint, queued, "delivered"), 10_000);
    assert.equal(receiver.received.length, 1);
    const arrived = Number(receiver.received[0]!.timestamp) * 1000;
    assert.ok(arrived >= leasedUntil - 1_000, "not sent while another instance held the lease");
    assert.equal((await logEntry(endpoint, queued)).attempts, 2, "the dead instance's attempt counts");
  });

  /** A test event for an endpoint that is disabled (the API refuses it: this is the store's own insert). */
  async function sendTestWhileDisabled(endpoint: CreatedEndpoint): Promise<number> {
    const now = Date.now();
    const result = await server.runtime.store.driver.execute({
      sql: `INSERT INTO webhook_deliveries (endpoint_id, event_id, type, data, occurred_at, status, next_attempt_at, created_at)
            VALUES (?, 'msg_' || lower(hex(randomblob(16))), 'webhook.test', '{}', ?, 'pending', ?, ?) RETURNING id`,
      args: [endpoint.id, now, now, now],
    });
    return Number(result.rows[0]![0]);
  }

  test("/metrics: attempts by outcome, and the pending count and the oldest's age read from the store", async () => {
    // One held by a receiver that never answers: pending while it is held.
    const { receiver, endpoint } = await endpointFor(() => "hang");
    await sendTest(endpoint);
    await eventually("held", () => receiver.hanging() === 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const r = await server.request("GET", "/metrics");
    const text = await r.text();
    const count = (outcome: string) => Number(new RegExp(`ssod_webhook_deliveries_total\\{outcome="${outcome}"\\} (\\d+)`).exec(text)?.[1]);
    assert.ok(count("delivered") >= 5, text.slice(0, 200));
    assert.ok(count("retrying") >= 5);
    assert.ok(count("failed") >= 1);
    assert.ok(count("gone") >= 1);
    const pending = Number(/^ssod_webhook_deliveries_pending (\d+)/m.exec(text)?.[1]);
    const age = Number(/^ssod_webhook_oldest_pending_seconds ([\d.e+-]+)/m.exec(text)?.[1]);
    assert.ok(pending >= 1, `pending ${pending}`);
    assert.ok(age > 0, `oldest ${age}`);
  });
});

describe("an endpoint whose every delivery fails for SSOD_WEBHOOK_DISABLE_AFTER", () => {
  let server: TestServer;
  let worker: { stop(): Promise<void> } | undefined;

  before(async () => {
    server = await openTestServer({ ...NO_THROTTLE, ...FAST_WEBHOOKS, SSOD_WEBHOOK_RETRY_SCHEDULE: "200ms", SSOD_WEBHOOK_DISABLE_AFTER: "1" });
    worker = startWorker(server);
  });
  after(async () => {
    await worker?.stop();
    await server?.close();
  });

  test("is disabled, its reason naming when the failures began", async () => {
    const receiver = await startReceiver();
    let fail = false;
    receiver.answer = () => ({ status: fail ? 500 : 200 });
    try {
      const endpoint = await createEndpoint(server, { events: ["source.created"] }, receiver);
      const made = (n: number) => admin(server, "POST", "/v1/sources", { code: `s${n}`, name: `s${n}`, validForSeconds: 60 });
      await made(0);
      await eventually("the first delivered", () => receiver.received.length === 1);
      fail = true;
      // One source a 300 ms: each delivery fails twice and is failed; together they fail for over a second.
      for (let n = 1; n <= 6; n++) {
        await made(n);
        await new Promise((r) => setTimeout(r, 300));
      }
      await eventually("disabled", async () => (await admin(server, "GET", `/v1/webhooks/${endpoint.id}`)).body.enabled === false);
      const shown = await admin(server, "GET", `/v1/webhooks/${endpoint.id}`);
      assert.match(String(shown.body.disabledReason), /^every delivery failed since \d{4}-\d\d-\d\dT/);
    } finally {
      await receiver.close();
    }
  });
});

describe("a URL the rules allowed when it was set, and refuse when it is delivered to", () => {
  test("is refused at delivery: the rules are those of the instance that delivers", async () => {
    const receiver = await startReceiver();
    const first = await openTestServer({ ...NO_THROTTLE, ...FAST_WEBHOOKS, SSOD_WEBHOOK_ALLOW_HTTP: "true" });
    const store = { SSOD_DATABASE_URL: `file:${join(first.dir, "ssod.db")}` };
    let second: TestServer | undefined;
    let worker: { stop(): Promise<void> } | undefined;
    try {
      // Plain http to a name that is not loopback: allowed only with SSOD_WEBHOOK_ALLOW_HTTP=true.
      const endpoint = await createEndpoint(first, { url: `http://hooks.test:${receiver.port}/hook`, events: ["app.deleted"] }, receiver);
      worker = startWorker(first, { lookup: mapped({}) });
      const sent = await admin(first, "POST", `/v1/webhooks/${endpoint.id}/test`);
      await eventually("delivered while http is allowed", () => receiver.received.length === 1);
      assert.equal(receiver.received[0]!.id, sent.body.eventId);
      await worker.stop();
      worker = undefined;
      await first.close();

      second = await openTestServer({ ...NO_THROTTLE, ...FAST_WEBHOOKS, ...store });
      worker = startWorker(second, { lookup: mapped({}) });
      const again = await admin(second, "POST", `/v1/webhooks/${endpoint.id}/test`);
      assert.equal(again.status, 202);
      await eventually("a refused attempt recorded", async () => {
        const log = await deliveriesOf(second!, endpoint.id);
        return log.find((d) => d.id === again.body.id)?.lastError !== null;
      });
      const entry = (await deliveriesOf(second, endpoint.id)).find((d) => d.id === again.body.id)!;
      assert.match(String(entry.lastError), /must be https/);
      assert.equal(receiver.received.length, 1, "nothing sent over plain http once it is no longer allowed");
    } finally {
      await worker?.stop();
      await second?.close();
      await first.close().catch(() => {});
      await receiver.close();
    }
  });
});

describe("the delivery log's retention (SSOD_WEBHOOK_RETENTION)", () => {
  test("the sweep deletes delivered and failed deliveries older than it, and keeps pending ones however old", async () => {
    const server = await openTestServer({ ...NO_THROTTLE, ...FAST_WEBHOOKS, SSOD_WEBHOOK_RETENTION: "1", SSOD_WEBHOOK_RETRY_SCHEDULE: "100ms" });
    const ok = await startReceiver();
    const worker = startWorker(server);
    try {
      const delivering = await createEndpoint(server, { events: ["app.deleted"] }, ok);
      const refusing = await createEndpoint(server, { url: "http://127.0.0.1:9/hook", events: ["app.deleted"] });
      assert.equal((await admin(server, "POST", `/v1/webhooks/${delivering.id}/test`)).status, 202);
      assert.equal((await admin(server, "POST", `/v1/webhooks/${refusing.id}/test`)).status, 202);
      await eventually("one delivered, one failed", async () => {
        const [a, b] = await Promise.all([deliveriesOf(server, delivering.id), deliveriesOf(server, refusing.id)]);
        return a[0]?.status === "delivered" && b[0]?.status === "failed";
      });
      await worker.stop();
      // A pending one, made long ago: disabled endpoints' deliveries wait, whatever their age.
      await admin(server, "PATCH", `/v1/webhooks/${refusing.id}`, { enabled: false });
      const old = Date.now() - 30 * 86_400_000;
      await server.runtime.store.driver.execute({
        sql: `INSERT INTO webhook_deliveries (endpoint_id, event_id, type, data, occurred_at, status, next_attempt_at, created_at)
              VALUES (?, 'msg_old', 'webhook.test', '{}', ?, 'pending', ?, ?)`,
        args: [refusing.id, old, old, old],
      });
      await new Promise((r) => setTimeout(r, 1_100));
      assert.ok((await sweepOnce(server.runtime.core)) >= 2);
      assert.deepEqual(
        (await deliveriesOf(server, delivering.id)).map((d) => d.id),
        [],
        "the delivered one is gone",
      );
      assert.deepEqual(
        (await deliveriesOf(server, refusing.id)).map((d) => d.eventId),
        ["msg_old"],
        "the failed one is gone, the pending one stays",
      );
    } finally {
      await worker.stop();
      await ok.close();
      await server.close();
    }
  });
});
