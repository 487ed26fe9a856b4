// SPEC §9, the promises the other webhook tests leave open:
// - as shipped (no SSOD_WEBHOOK_* setting but the poll interval): the retry
//   schedule is 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h with jitter, then the
//   delivery is failed; an attempt times out after 15 s; a lease lasts the
//   timeout plus at most 15 s; 5 days of failures disable, 7 days of
//   retention;
// - with two instances on one store, a delivery is being sent by one of them
//   at a time, and each is claimed once;
// - an event is in the store the moment its change is answered, and a change
//   refused writes none (the event rides in the change's own commit);
// - an endpoint's secret is sealed at rest: in no encoding in the store's
//   files, and its box opens only with the master key;
// - no event body holds a token of any format or a browser's session id.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Webhook } from "standardwebhooks";
import { loadConfig } from "../src/config";
import { MasterKey } from "../src/core/crypto";
import { encodings } from "./helpers/encodings";
import { NO_THROTTLE, openTestServer, type TestServer } from "./helpers/runtime";
import { createSource } from "./helpers/sources";
import { issueOk, tykNonce } from "./helpers/tokens";
import { admin, createEndpoint, deliveriesOf, eventually, FAST_WEBHOOKS, type Receiver, startReceiver, startWorker } from "./helpers/webhooks";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** A delivery's row, as the store holds it. */
async function row(server: TestServer, id: number) {
  const r = await server.runtime.store.driver.query({
    sql: "SELECT status, attempts, next_attempt_at, lease_until FROM webhook_deliveries WHERE id = ?",
    args: [id],
  });
  const [status, attempts, next, lease] = r.rows[0]!;
  return { status: String(status), attempts: Number(attempts), next: next === null ? null : Number(next), lease: lease === null ? null : Number(lease) };
}

describe("as shipped: the schedule, the timeout and the lease", () => {
  let server: TestServer;
  let worker: { stop(): Promise<void> } | undefined;
  const receivers: Receiver[] = [];

  before(async () => {
    // Every SSOD_WEBHOOK_* at its default, but how often the worker looks (a test's time).
    server = await openTestServer({ ...NO_THROTTLE, SSOD_WEBHOOK_POLL_INTERVAL: "50ms" });
    worker = startWorker(server);
  });
  after(async () => {
    for (const r of receivers) await r.close();
    await worker?.stop();
    await server?.close();
  });

  test("the defaults: timeout 15 s, lease margin 15 s at most, 5 days of failures disable, 7 days of retention", () => {
    const w = server.runtime.core.settings.webhooks;
    assert.equal(w.timeoutMs, 15 * SECOND);
    assert.ok(w.leaseMs > w.timeoutMs && w.leaseMs <= w.timeoutMs + 15 * SECOND, `lease ${w.leaseMs} ms`);
    assert.deepEqual(w.retryScheduleMs, [5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR]);
    assert.equal(w.disableAfterMs, 5 * DAY);
    assert.equal(w.retentionMs, 7 * DAY);
    assert.throws(() => loadConfig({ SSOD_WEBHOOK_LEASE_MARGIN: "16" }), /SSOD_WEBHOOK_LEASE_MARGIN/, "a lease margin over 15 s is refused");
    assert.equal(loadConfig({ SSOD_WEBHOOK_LEASE_MARGIN: "15" }).webhookLeaseMargin, 15);
  });

  test("a receiver that always fails: retried after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (each ±10%), then failed", { timeout: 60_000 }, async (t) => {
    const receiver = await startReceiver();
    receivers.push(receiver);
    const arrivals: number[] = [];
    receiver.answer = () => {
      arrivals.push(Date.now());
      return { status: 500 };
    };
    const endpoint = await createEndpoint(server, { events: ["app.deleted"] }, receiver);
    const sent = await admin(server, "POST", `/v1/webhooks/${endpoint.id}/test`);
    assert.equal(sent.status, 202);
    const id = sent.body.id as number;
    const schedule = [5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR];
    const ratios: number[] = [];
    for (let attempt = 1; attempt <= schedule.length + 1; attempt++) {
      await eventually(`attempt ${attempt} recorded`, async () => {
        const now = await row(server, id);
        return arrivals.length === attempt && now.attempts === attempt && now.lease === null;
      });
      const now = await row(server, id);
      if (attempt > schedule.length) {
        assert.equal(now.status, "failed", "the schedule is spent");
        assert.equal(now.next, null);
        break;
      }
      assert.equal(now.status, "pending", `after attempt ${attempt}`);
      const wait = now.next! - arrivals[attempt - 1]!;
      const nominal = schedule[attempt - 1]!;
      // The outcome is recorded a moment after the answer arrives: up to a second later here.
      assert.ok(wait >= nominal * 0.9 && wait <= nominal * 1.1 + SECOND, `after attempt ${attempt}: due ${wait} ms later, not ${nominal} ms ±10%`);
      ratios.push(wait / nominal);
      if (attempt === 1) {
        // The first wait is really waited: nothing is sent before it is up.
        await eventually("the second attempt", () => arrivals.length === 2, 10_000);
        assert.ok(arrivals[1]! - arrivals[0]! >= nominal * 0.9 - 50, `the second attempt came ${arrivals[1]! - arrivals[0]!} ms after the first`);
      } else {
        // Hours are not waited here: the delivery is made due at once.
        await server.runtime.store.driver.execute({ sql: "UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ?", args: [Date.now(), id] });
      }
    }
    // Jitter: over six waits of minutes and hours (where the second of slack is nothing), not one at its nominal value.
    assert.ok(
      ratios.slice(1).some((r) => Math.abs(r - 1) > 0.005),
      `no jitter: ${ratios.map((r) => r.toFixed(4)).join(", ")}`,
    );
    t.diagnostic(`waits as a share of the schedule's: ${ratios.map((r) => r.toFixed(4)).join(", ")}`);
    const entry = (await deliveriesOf(server, endpoint.id)).find((d) => d.id === id)!;
    assert.equal(entry.status, "failed");
    assert.equal(entry.attempts, 8);
    assert.equal(entry.lastStatus, 500);
    assert.equal(entry.nextAttemptAt, null);
    assert.ok(
      receiver.received.every((r) => r.id === sent.body.eventId && r.verified === true),
      "one webhook-id, every attempt signed",
    );
  });

  test("a receiver that never answers: the claim is leased for the timeout plus at most 15 s, and the attempt is given up after 15 s", {
    timeout: 60_000,
  }, async () => {
    const receiver = await startReceiver();
    receivers.push(receiver);
    receiver.answer = () => "hang";
    const endpoint = await createEndpoint(server, { events: ["app.deleted"] }, receiver);
    const sent = await admin(server, "POST", `/v1/webhooks/${endpoint.id}/test`);
    const id = sent.body.id as number;
    await eventually("the receiver holds the delivery", () => receiver.hanging() === 1);
    const arrived = Date.now();
    const held = await row(server, id);
    assert.ok(held.lease !== null, "leased while it is sent");
    const lease = held.lease! - arrived;
    assert.ok(lease > 14 * SECOND && lease <= 30 * SECOND, `leased for ${lease} ms from the request`);
    await eventually("the attempt given up", async () => (await row(server, id)).lease === null, 25_000);
    const tookMs = Date.now() - arrived;
    assert.ok(tookMs >= 14 * SECOND && tookMs < 20 * SECOND, `given up ${tookMs} ms after the request`);
    const entry = (await deliveriesOf(server, endpoint.id)).find((d) => d.id === id)!;
    assert.match(String(entry.lastError), /no answer within 15 s/);
    assert.equal(entry.lastStatus, null);
    assert.equal(entry.status, "pending", "a failed attempt, to be retried");
  });
});

describe("two instances on one store", () => {
  let first: TestServer;
  let second: TestServer;
  const workers: { stop(): Promise<void> }[] = [];

  before(async () => {
    // Each instance sends at most 4 at once, the endpoint takes 20: with 40 due, both must send, side by side.
    const env = { ...NO_THROTTLE, ...FAST_WEBHOOKS, SSOD_WEBHOOK_CONCURRENCY: "4", SSOD_WEBHOOK_ENDPOINT_CONCURRENCY: "20", SSOD_WEBHOOK_TIMEOUT: "5" };
    first = await openTestServer(env);
    second = await openTestServer({ ...env, SSOD_DATABASE_URL: `file:${join(first.dir, "ssod.db")}` });
  });
  after(async () => {
    for (const w of workers) await w.stop();
    await second?.close();
    await first?.close();
  });

  test("each delivery is claimed once and sent by one instance at a time: 40 events, 40 requests, never two of one webhook-id at once", {
    timeout: 60_000,
  }, async (t) => {
    const EVENTS = 40;
    let secret = "";
    const inFlight = new Map<string, number>();
    const arrived: { id: string; verified: boolean }[] = [];
    let mostAtOnce = 0;
    let overlaps = 0;
    const receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const id = String(req.headers["webhook-id"]);
        let verified = true;
        try {
          new Webhook(secret).verify(Buffer.concat(chunks).toString("utf8"), req.headers as Record<string, string>);
        } catch {
          verified = false;
        }
        arrived.push({ id, verified });
        const now = (inFlight.get(id) ?? 0) + 1;
        if (now > 1) overlaps++;
        inFlight.set(id, now);
        mostAtOnce = Math.max(
          mostAtOnce,
          [...inFlight.values()].reduce((a, b) => a + b, 0),
        );
        // Held for a while: long enough for the other instance to look several times meanwhile.
        setTimeout(() => {
          inFlight.set(id, inFlight.get(id)! - 1);
          res.writeHead(200).end();
        }, 250);
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      const endpoint = await createEndpoint(first, { url, events: ["app.deleted"] });
      secret = endpoint.secret;
      // Every event due before either instance sends any.
      const queued: { id: number; eventId: string }[] = [];
      for (let i = 0; i < EVENTS; i++) {
        const r = await admin(i % 2 ? first : second, "POST", `/v1/webhooks/${endpoint.id}/test`);
        assert.equal(r.status, 202, JSON.stringify(r.body));
        queued.push({ id: r.body.id as number, eventId: r.body.eventId as string });
      }
      workers.push(startWorker(first), startWorker(second));
      await eventually(
        "every delivery recorded as delivered",
        async () => (await deliveriesOf(first, endpoint.id)).filter((d) => d.status === "delivered").length === EVENTS,
        40_000,
      );
      const log = await deliveriesOf(first, endpoint.id);
      assert.deepEqual(
        log.filter((d) => d.attempts !== 1).map((d) => `${d.eventId}: ${d.attempts} attempts`),
        [],
        "each delivery claimed once",
      );
      assert.equal(overlaps, 0, "never two requests of one webhook-id at once");
      assert.equal(arrived.length, EVENTS, "one request per event");
      assert.deepEqual(new Set(arrived.map((a) => a.id)), new Set(queued.map((q) => q.eventId)));
      assert.ok(
        arrived.every((a) => a.verified),
        "each verified by standardwebhooks",
      );
      // Both instances took part (their own counters), or the test proved nothing about two of them.
      const sentBy = async (s: TestServer) =>
        Number(/ssod_webhook_deliveries_total\{outcome="delivered"\} (\d+)/.exec(await (await s.request("GET", "/metrics")).text())?.[1] ?? 0);
      const [a, b] = [await sentBy(first), await sentBy(second)];
      t.diagnostic(`sent by the first instance ${a}, by the second ${b}; at most ${mostAtOnce} requests at once`);
      assert.equal(a + b, EVENTS);
      assert.ok(a > 0 && b > 0, `sent by the first ${a}, by the second ${b}`);
      assert.ok(mostAtOnce > 4, `at most ${mostAtOnce} at once: the two instances sent side by side`);
    } finally {
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  });
});

describe("an event rides in its change's own commit", () => {
  let server: TestServer;
  let endpointId: number;

  before(async () => {
    // No worker: what the changes write stays pending in the outbox, to be read.
    server = await openTestServer({ ...NO_THROTTLE });
    endpointId = (await createEndpoint(server, { url: "https://hooks.invalid/ssod", events: ["*"] })).id;
  });
  after(() => server?.close());

  let seen = 0;
  /** The types of the events written since the last call, in the order written. */
  async function written(): Promise<string[]> {
    const r = await server.runtime.store.driver.query({
      sql: "SELECT id, type FROM webhook_deliveries WHERE endpoint_id = ? AND id > ? ORDER BY id",
      args: [endpointId, seen],
    });
    if (r.rows.length > 0) seen = Number(r.rows.at(-1)![0]);
    return r.rows.map((x) => String(x[1]));
  }

  const call = async (method: string, path: string, json?: unknown, expected?: number) => {
    const r = await admin(server, method, path, json);
    if (expected !== undefined) assert.equal(r.status, expected, `${method} ${path}: ${JSON.stringify(r.body)}`);
    return r;
  };

  test("every admin change's event is in the store the moment its 2xx is answered", async () => {
    await written();
    const source = await call("POST", "/v1/sources", { code: "outboxed", name: "Outboxed", validForSeconds: 60 }, 201);
    assert.deepEqual(await written(), ["source.created"]);
    await call("PATCH", `/v1/sources/${source.body.id}`, { name: "Renamed" }, 200);
    assert.deepEqual(await written(), ["source.updated"]);
    await call("POST", `/v1/sources/${source.body.id}/secret`, undefined, 200);
    assert.deepEqual(await written(), ["source.updated"]);
    await call("DELETE", `/v1/sources/${source.body.id}`, undefined, 204);
    assert.deepEqual(await written(), ["source.deleted"]);

    const legacy = await server.request("POST", "/api.php", {
      form: { Command: "sso.create", APIKey: server.adminKey, SourceCode: "legacy_outboxed", SourceName: "Legacy", ValidForSeconds: "60" },
    });
    assert.equal(legacy.status, 200);
    assert.deepEqual(await written(), ["source.created"], "the legacy dialect's change too");

    const app = await call("POST", "/v1/apps", { name: "Outboxed app", redirectUris: ["https://app.example.com/cb"] }, 201);
    assert.deepEqual(await written(), ["app.created"]);
    await call("PATCH", `/v1/apps/${app.body.id}`, { name: "Renamed app" }, 200);
    assert.deepEqual(await written(), ["app.updated"]);
    await call("POST", `/v1/apps/${app.body.id}/secret`, undefined, 200);
    assert.deepEqual(await written(), ["app.updated"]);
    await call("DELETE", `/v1/apps/${app.body.id}`, undefined, 204);
    assert.deepEqual(await written(), ["app.deleted"]);

    const key = await call("POST", "/v1/admin-keys", { name: "outboxed" }, 201);
    assert.deepEqual(await written(), ["admin_key.created"]);
    await call("DELETE", `/v1/admin-keys/${key.body.id}`, undefined, 200);
    assert.deepEqual(await written(), ["admin_key.revoked"]);
  });

  test("a redemption's events, and the user's and sessions', are in the store the moment each is answered", async () => {
    await written();
    const token = await issueOk(server, { user: { email: "outbox@example.com" } });
    assert.deepEqual(await written(), [], "token.issued is not in `*`");
    const r = await server.request("POST", "/v1/tokens/redeem", { json: { token: token.token }, headers: { authorization: `Bearer ${server.adminKey}` } });
    assert.equal(r.status, 200);
    const { user } = (await r.json()) as { user: { id: string } };
    assert.deepEqual((await written()).sort(), ["session.created", "token.redeemed", "user.created"]);

    await call("PATCH", `/v1/users/${user.id}`, { displayName: "Out Box" }, 200);
    assert.deepEqual(await written(), ["user.updated"]);
    await call("DELETE", `/v1/users/${user.id}/sessions`, undefined, 200);
    assert.deepEqual(await written(), ["session.revoked"]);

    const again = await issueOk(server, { user: { email: "outbox@example.com" } });
    const landed = await server.request("GET", `/v1/login?token=${again.token}`);
    assert.equal(landed.status, 200);
    assert.deepEqual((await written()).sort(), ["session.created", "token.redeemed"], "a browser's sign-in too");
    await call("DELETE", `/v1/users/${user.id}`, undefined, 204);
    assert.deepEqual((await written()).sort(), ["session.revoked", "user.deleted"]);
  });

  test("a change that is refused writes no event", async () => {
    await written();
    await createSource(server, { code: "taken" });
    assert.deepEqual(await written(), ["source.created"]);
    const duplicate = await call("POST", "/v1/sources", { code: "taken", name: "Again", validForSeconds: 60 });
    assert.ok(duplicate.status >= 400 && duplicate.status < 500, `a duplicate code: ${duplicate.status}`);
    const invalid = await call("POST", "/v1/apps", { name: "", redirectUris: ["http://evil.example.com/cb"] });
    assert.equal(invalid.status, 400);
    assert.equal((await call("PATCH", "/v1/apps/999999", { name: "x" })).status, 404);
    assert.equal((await call("PATCH", "/v1/users/00000000-0000-4000-8000-000000000000", { displayName: "x" })).status, 404);
    assert.equal((await call("DELETE", "/v1/admin-keys/999999")).status, 404);
    const spent = await issueOk(server, { user: { email: "spent@example.com" } });
    const redeem = () => server.request("POST", "/v1/tokens/redeem", { json: { token: spent.token }, headers: { authorization: `Bearer ${server.adminKey}` } });
    assert.equal((await redeem()).status, 200);
    await written();
    assert.equal((await redeem()).status, 400);
    assert.deepEqual(await written(), [], "no event for any of them");
  });
});

describe("an endpoint's secret at rest", () => {
  test("made and rotated, it is in no encoding in the store's files (nor its key bytes), and its box opens only with the master key", async () => {
    const s = await openTestServer({ ...NO_THROTTLE });
    const secrets = new Map<string, string>();
    let ids: number[] = [];
    try {
      const a = await createEndpoint(s, { url: "https://hooks.invalid/a", events: ["*"] });
      const b = await createEndpoint(s, { url: "https://hooks.invalid/b", events: ["*"] });
      secrets.set("endpoint a's first secret", a.secret);
      secrets.set("endpoint b's secret", b.secret);
      const rotated = await admin(s, "POST", `/v1/webhooks/${a.id}/secret`);
      assert.equal(rotated.status, 200);
      secrets.set("endpoint a's rotated secret", String(rotated.body.secret));
      ids = [a.id, b.id];
      // Events written under them, so the outbox is in the files too.
      await createSource(s, { code: "sealed-hooks" });
    } finally {
      await s.close();
    }

    const files = ["ssod.db", "ssod.db-wal"].filter((f) => existsSync(join(s.dir, f))).map((f) => [f, readFileSync(join(s.dir, f))] as const);
    const found: string[] = [];
    for (const [label, secret] of secrets) {
      const needles = [...encodings(Buffer.from(secret)), ...encodings(Buffer.from(secret.slice(6), "base64"))];
      for (const needle of needles) for (const [file, bytes] of files) if (bytes.includes(needle)) found.push(`${label} in ${file}`);
    }
    assert.deepEqual([...new Set(found)], [], "a webhook secret at rest, merely encoded");

    const master = MasterKey.parse(readFileSync(join(s.dir, "master.key"), "utf8").trim());
    assert.ok(master, "the master key file beside the store");
    const stranger = new MasterKey(randomBytes(32));
    const { createClient } = await import("@libsql/client/sqlite3");
    const client = createClient({ url: `file:${join(s.dir, "ssod.db")}`, intMode: "number" });
    try {
      const boxes = (await client.execute("SELECT id, secret_enc FROM webhook_endpoints ORDER BY id")).rows.map(
        (r) => [Number(r.id), String(r.secret_enc)] as const,
      );
      assert.deepEqual(
        boxes.map(([id]) => id),
        ids,
      );
      const current = new Map([
        [ids[0]!, secrets.get("endpoint a's rotated secret")!],
        [ids[1]!, secrets.get("endpoint b's secret")!],
      ]);
      for (const [id, box] of boxes) {
        assert.equal(master.open(box, "webhook_secret").toString("utf8"), current.get(id), `endpoint ${id}'s box holds its current secret`);
        assert.throws(() => stranger.open(box, "webhook_secret"), `endpoint ${id}'s box opens with another key: it is not encrypted`);
        assert.throws(() => master.open(box, "signing_secret"), `endpoint ${id}'s box opens under another purpose`);
      }
    } finally {
      client.close();
    }
  });
});

describe("no event body holds a token or a session id, whatever the format", () => {
  let server: TestServer;
  let receiver: Receiver;
  let worker: { stop(): Promise<void> } | undefined;

  before(async () => {
    server = await openTestServer({ ...NO_THROTTLE, ...FAST_WEBHOOKS });
    receiver = await startReceiver();
    worker = startWorker(server);
  });
  after(async () => {
    await worker?.stop();
    await receiver?.close();
    await server?.close();
  });

  test("JWTs, Tyk nonces and the session ids of browser sign-ins (/v1/login, /tap, /sso) are in no delivery", async () => {
    const endpoint = await createEndpoint(server, { events: ["*", "token.issued"] }, receiver);
    const secrets: string[] = [endpoint.secret, server.adminKey];
    const cookieOf = (r: Response) => /ssod_session=([A-Za-z0-9_-]{43})/.exec(r.headers.get("set-cookie") ?? "")?.[1];

    const jwt = await issueOk(server, { user: { email: "jwt@example.com" }, format: "jwt" });
    secrets.push(jwt.token, ...jwt.token.split("."));
    const jwtRedeemed = await server.request("POST", "/v1/tokens/redeem", {
      json: { token: jwt.token },
      headers: { authorization: `Bearer ${server.adminKey}` },
    });
    assert.equal(jwtRedeemed.status, 200);
    secrets.push(((await jwtRedeemed.json()) as { session: { id: string } }).session.id);

    const nonce = await issueOk(server, { user: { email: "nonce@example.com" } });
    secrets.push(nonce.token);
    const landed = await server.request("GET", `/v1/login?token=${nonce.token}`);
    assert.equal(landed.status, 200);
    secrets.push(cookieOf(landed)!);

    for (const [section, path] of [
      ["dashboard", "/tap"],
      ["portal", "/sso"],
    ] as const) {
      const tyk = await tykNonce(server, { EmailAddress: `${section}@example.com`, ForSection: section });
      secrets.push(tyk);
      const r = await server.request("GET", `${path}?nonce=${encodeURIComponent(tyk)}`);
      assert.ok(r.status < 400, `${path}: ${r.status}`);
      const session = cookieOf(r);
      assert.ok(session, `${path} signed the browser in`);
      secrets.push(session);
    }

    await eventually("every sign-in's events", () => receiver.received.filter((r) => r.event.type === "session.created").length === 4);
    await eventually("every token's events", () => receiver.received.filter((r) => r.event.type === "token.issued").length === 4);
    const bodies = receiver.received.map((r) => `${JSON.stringify(r.headers)}\n${r.body}`);
    for (const secret of secrets) {
      assert.ok(secret.length >= 20, "a real secret");
      assert.equal(
        bodies.some((body) => body.includes(secret)),
        false,
        `${secret.slice(0, 10)}… appears in a delivery`,
      );
    }
    assert.ok(receiver.received.every((r) => r.verified === true));
  });
});
