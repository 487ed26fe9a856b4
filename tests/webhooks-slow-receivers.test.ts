// SPEC §9 with the issue's promise: a receiver that never answers holds up
// nothing but its own deliveries. Issue and redeem answer after their own
// commit (their events are in the store by then), not after a delivery; a
// slow endpoint gets at most SSOD_WEBHOOK_ENDPOINT_CONCURRENCY requests at
// once, and the other endpoints are served meanwhile. (What webhooks cost in
// throughput is measured by `npm run bench`, not here.)
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { NO_THROTTLE, openTestServer, type TestServer } from "./helpers/runtime";
import { issueOk } from "./helpers/tokens";
import { admin, createEndpoint, eventually, FAST_WEBHOOKS, type Receiver, startReceiver, startWorker } from "./helpers/webhooks";

const TOKENS = 30;
const EVENTS = ["token.redeemed", "user.created", "session.created"];

describe("a receiver that never answers", () => {
  let server: TestServer;
  let slow: Receiver;
  let fast: Receiver;
  let worker: { stop(): Promise<void> } | undefined;
  let mostHeld = 0;

  before(async () => {
    // Attempts may last 30 s: the slow receiver holds each one for all of that.
    server = await openTestServer({ ...NO_THROTTLE, ...FAST_WEBHOOKS, SSOD_WEBHOOK_TIMEOUT: "30", SSOD_WEBHOOK_ENDPOINT_CONCURRENCY: "4" });
    [slow, fast] = await Promise.all([startReceiver(), startReceiver()]);
    slow.answer = () => {
      mostHeld = Math.max(mostHeld, slow.hanging() + 1);
      return "hang";
    };
    worker = startWorker(server);
  });
  after(async () => {
    // The receivers first: their held requests fail at once, so the worker's stop does not wait out the timeout.
    await slow?.close();
    await fast?.close();
    await worker?.stop();
    await server?.close();
  });

  test("issue and redeem answer after their own commit while it holds a delivery; the other endpoint gets every event meanwhile; at most 4 requests held", async () => {
    const held = await createEndpoint(server, { events: EVENTS }, slow);
    await createEndpoint(server, { events: EVENTS }, fast);
    const first = await admin(server, "POST", `/v1/webhooks/${held.id}/test`);
    assert.equal(first.status, 202);
    await eventually("the slow receiver holds the test delivery", () => slow.hanging() === 1);

    const redeemed = await Promise.all(
      Array.from({ length: TOKENS }, async (_, i) => {
        const token = await issueOk(server, { user: { email: `slow${i}@example.com` } });
        const r = await server.request("POST", "/v1/tokens/redeem", { json: { token: token.token }, headers: { authorization: `Bearer ${server.adminKey}` } });
        assert.equal(r.status, 200);
        // Answered after its commit: the token is spent for everyone now.
        const again = await server.request("POST", "/v1/tokens/redeem", {
          json: { token: token.token },
          headers: { authorization: `Bearer ${server.adminKey}` },
        });
        assert.equal(again.status, 400);
        return token.tokenRefNo;
      }),
    );
    assert.ok(slow.hanging() >= 1, "every answer came while the slow receiver still held its first delivery");

    // Their events were committed with them: in the outbox of both endpoints already.
    const outbox = await server.runtime.store.driver.query({
      sql: "SELECT data ->> 'tokenRefNo' FROM webhook_deliveries WHERE endpoint_id = ? AND type = 'token.redeemed'",
      args: [held.id],
    });
    assert.deepEqual(new Set(outbox.rows.map((r) => r[0])), new Set(redeemed));

    await eventually("the fast endpoint has every event", () => EVENTS.every((type) => fast.received.filter((r) => r.event.type === type).length === TOKENS));
    assert.ok(slow.hanging() >= 1, "and got them while the slow one still held its deliveries");
    assert.ok(
      fast.received.every((r) => r.verified === true),
      "verified",
    );

    await eventually("the slow endpoint is given as many as its limit", () => slow.hanging() === 4);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(slow.hanging(), 4, "and no more");
    assert.equal(mostHeld, 4, "never more than SSOD_WEBHOOK_ENDPOINT_CONCURRENCY at once");
  });
});
