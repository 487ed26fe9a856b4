// SPEC §9, the admin API of webhook endpoints: the shapes of an endpoint and
// of a delivery, the secret shown once (at creation and rotation) and sealed
// at rest, unknown event names and URLs the outbound rules refuse answered
// 400 in plain words, partial changes that never lose one another, every
// change audited, the delivery log cursor-paged; and `ssod webhook create`.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ssod } from "./helpers/cli";
import { NO_THROTTLE, openTestServer, type TestServer } from "./helpers/runtime";
import { basicAuth, createSource } from "./helpers/sources";
import { admin, createEndpoint, eventually, FAST_WEBHOOKS, type Receiver, startReceiver, startWorker } from "./helpers/webhooks";

const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe("/v1/webhooks", () => {
  let server: TestServer;

  before(async () => {
    server = await openTestServer({ ...NO_THROTTLE, ...FAST_WEBHOOKS });
  });
  after(() => server?.close());

  test("POST answers 201 with the endpoint and its secret (whsec_ + base64 of 32 bytes), shown this once; GET shows no secret", async () => {
    const r = await server.request("POST", "/v1/webhooks", {
      json: { url: "https://hooks.example.com/ssod", description: "Provisioning", events: ["user.created", "user.deleted", "user.created"] },
      headers: { authorization: `Bearer ${server.adminKey}` },
    });
    assert.equal(r.status, 201);
    const body = (await r.json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ["createdAt", "description", "disabledReason", "enabled", "events", "id", "secret", "updatedAt", "url"]);
    assert.equal(r.headers.get("location"), `/v1/webhooks/${body.id}`);
    assert.equal(body.url, "https://hooks.example.com/ssod");
    assert.deepEqual(body.events, ["user.created", "user.deleted"], "duplicates dropped");
    assert.equal(body.enabled, true);
    assert.equal(body.disabledReason, null);
    assert.match(String(body.createdAt), TIME);
    assert.match(String(body.secret), /^whsec_[A-Za-z0-9+/]{43}=$/);
    assert.equal(Buffer.from(String(body.secret).slice(6), "base64").length, 32);

    const got = await admin(server, "GET", `/v1/webhooks/${body.id}`);
    assert.equal(got.status, 200);
    const { secret, ...shown } = body;
    assert.deepEqual(got.body, shown);
    const listed = await admin(server, "GET", "/v1/webhooks");
    assert.ok(listed.body.items!.some((e) => e.id === body.id && !("secret" in e)));
    assert.equal(listed.body.nextCursor, null);

    // At rest it is sealed: the store holds neither the secret nor its key bytes.
    const row = await server.runtime.store.driver.query({ sql: "SELECT * FROM webhook_endpoints WHERE id = ?", args: [body.id as number] });
    const stored = JSON.stringify(row.rows);
    assert.ok(!stored.includes(String(secret).slice(6)), "the secret is not stored as it is");
    assert.match(stored, /"v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"/, "a sealed box");
  });

  test("an unknown event name, or none, is a 400 naming the field", async () => {
    for (const events of [["user.created", "user.made"], [], ["webhook.test"], "*"]) {
      const r = await admin(server, "POST", "/v1/webhooks", { url: "https://hooks.example.com/x", events });
      assert.equal(r.status, 400, JSON.stringify(events));
      assert.match(JSON.stringify(r.body), /events/);
    }
    const r = await admin(server, "POST", "/v1/webhooks", { url: "https://hooks.example.com/x", events: ["user.made"] });
    assert.match(String(r.body.detail), /must be "\*" or an event type: token\.issued, token\.redeemed/);
  });

  test("the URL is judged at creation (and at every change of it): https, http for loopback only, never link-local, no credentials or fragment, each refusal in plain words", async () => {
    const refused: [string, RegExp][] = [
      ["http://hooks.example.com/x", /must be https \(plain http only for a loopback host.*SSOD_WEBHOOK_ALLOW_HTTP=true allows any http\)/],
      // No hint at SSOD_WEBHOOK_ALLOW_HTTP here: it never allows link-local.
      ["https://169.254.169.254/latest/meta-data", /link-local address \(169\.254\.0\.0\/16, fe80::\/10\)$/],
      // Stored and shown in the clear by every GET: a credential does not belong in the URL.
      ["https://user:pw@hooks.example.com/x", /must not carry a user name or password/],
      ["https://hooks.example.com/x#frag", /must not have a fragment/],
      ["https://[fe80::1]/x", /link-local/],
      ["https://[::ffff:169.254.1.1]/x", /link-local/],
      ["http://0xa9fe0101/x", /link-local/],
      ["ftp://hooks.example.com/x", /must be an https URL/],
      ["not a url", /must be an absolute URL/],
    ];
    for (const [url, words] of refused) {
      const r = await admin(server, "POST", "/v1/webhooks", { url, events: ["*"] });
      assert.equal(r.status, 400, url);
      assert.equal(r.body.title, "Invalid request");
      assert.match(String(r.body.detail), words, url);
      assert.deepEqual(
        (r.body.errors as { pointer: string }[]).map((e) => e.pointer),
        ["/url"],
      );
    }
    for (const url of ["http://localhost:9999/hook", "http://127.0.0.1:9999/hook", "http://[::1]:9999/hook", "https://hooks.example.com/ok"]) {
      assert.equal((await admin(server, "POST", "/v1/webhooks", { url, events: ["*"] })).status, 201, url);
    }
    const made = await admin(server, "POST", "/v1/webhooks", { url: "https://hooks.example.com/patch", events: ["*"] });
    const patched = await admin(server, "PATCH", `/v1/webhooks/${made.body.id}`, { url: "https://169.254.169.254/" });
    assert.equal(patched.status, 400);
    assert.match(String(patched.body.detail), /link-local/);
  });

  test("SSOD_WEBHOOK_ALLOW_HTTP=true lets plain http reach any host, and link-local stays refused", async () => {
    const open = await openTestServer({ SSOD_WEBHOOK_ALLOW_HTTP: "true" });
    try {
      assert.equal((await admin(open, "POST", "/v1/webhooks", { url: "http://hooks.example.com/x", events: ["*"] })).status, 201);
      const r = await admin(open, "POST", "/v1/webhooks", { url: "http://169.254.169.254/x", events: ["*"] });
      assert.equal(r.status, 400);
      assert.match(String(r.body.detail), /link-local/);
    } finally {
      await open.close();
    }
  });

  test("PATCH writes only the fields sent: two changes of different fields at once both land; disabling and enabling say why", async () => {
    const made = await createEndpoint(server, { url: "https://hooks.example.com/a", events: ["user.created"] });
    const [one, two] = await Promise.all([
      admin(server, "PATCH", `/v1/webhooks/${made.id}`, { description: "changed at once" }),
      admin(server, "PATCH", `/v1/webhooks/${made.id}`, { events: ["user.updated", "*"] }),
    ]);
    assert.equal(one.status, 200);
    assert.equal(two.status, 200);
    const both = await admin(server, "GET", `/v1/webhooks/${made.id}`);
    assert.equal(both.body.description, "changed at once");
    assert.deepEqual(both.body.events, ["user.updated", "*"]);
    assert.equal(both.body.url, "https://hooks.example.com/a");

    const disabled = await admin(server, "PATCH", `/v1/webhooks/${made.id}`, { enabled: false });
    assert.equal(disabled.body.enabled, false);
    assert.match(String(disabled.body.disabledReason), /^disabled by admin_key:\d+$/);
    const enabled = await admin(server, "PATCH", `/v1/webhooks/${made.id}`, { enabled: true });
    assert.equal(enabled.body.disabledReason, null);
    assert.equal((await admin(server, "PATCH", `/v1/webhooks/${made.id}`, { secret: "mine" })).status, 400, "no unknown fields");
    assert.equal((await admin(server, "PATCH", "/v1/webhooks/999999", { enabled: true })).status, 404);
  });

  test("rotating the secret answers a new one; later deliveries are signed with it, not the old one", async () => {
    const receiver: Receiver = await startReceiver();
    const worker = startWorker(server);
    try {
      const made = await createEndpoint(server, { events: ["app.deleted"] }, receiver);
      const rotated = await admin(server, "POST", `/v1/webhooks/${made.id}/secret`);
      assert.equal(rotated.status, 200);
      assert.match(String(rotated.body.secret), /^whsec_/);
      assert.notEqual(rotated.body.secret, made.secret);
      const sent = await admin(server, "POST", `/v1/webhooks/${made.id}/test`);
      receiver.secret = String(rotated.body.secret);
      await eventually("the test event", () => receiver.received.some((r) => r.id === sent.body.eventId));
      assert.equal(receiver.received.at(-1)!.verified, true, "verified with the new secret");
      receiver.secret = made.secret;
      const second = await admin(server, "POST", `/v1/webhooks/${made.id}/test`);
      await eventually("the second test event", () => receiver.received.some((r) => r.id === second.body.eventId));
      assert.match(String(receiver.received.at(-1)!.verified), /signature/i, "the old secret no longer verifies");
    } finally {
      await worker.stop();
      await receiver.close();
    }
  });

  test("the delivery log: newest first, cursor-paged, filtered by status, each delivery in the shape of §9", async () => {
    const made = await createEndpoint(server, { url: "https://hooks.example.com/log", events: ["source.created"] });
    for (let i = 0; i < 5; i++) await createSource(server, { code: `logged${i}`, name: `Logged ${i}` });
    const first = await admin(server, "GET", `/v1/webhooks/${made.id}/deliveries?limit=2`);
    assert.equal(first.status, 200);
    assert.equal(first.body.items!.length, 2);
    const delivery = first.body.items![0]!;
    assert.deepEqual(Object.keys(delivery).sort(), [
      "attempts",
      "createdAt",
      "deliveredAt",
      "eventId",
      "id",
      "lastError",
      "lastStatus",
      "nextAttemptAt",
      "status",
      "type",
    ]);
    assert.equal(delivery.type, "source.created");
    assert.equal(delivery.status, "pending");
    assert.equal(delivery.attempts, 0);
    assert.match(String(delivery.nextAttemptAt), TIME);
    assert.match(String(delivery.eventId), /^msg_[0-9a-f]{32}$/);
    const ids: number[] = first.body.items!.map((d) => d.id as number);
    let cursor = first.body.nextCursor as string | null;
    while (cursor) {
      const page = await admin(server, "GET", `/v1/webhooks/${made.id}/deliveries?limit=2&cursor=${cursor}`);
      ids.push(...page.body.items!.map((d) => d.id as number));
      cursor = page.body.nextCursor as string | null;
    }
    assert.equal(ids.length, 5);
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => b - a),
      "newest first",
    );
    assert.equal((await admin(server, "GET", `/v1/webhooks/${made.id}/deliveries?status=delivered`)).body.items!.length, 0);
    assert.equal((await admin(server, "GET", `/v1/webhooks/${made.id}/deliveries?status=pending`)).body.items!.length, 5);
    assert.equal((await admin(server, "GET", `/v1/webhooks/${made.id}/deliveries?status=lost`)).status, 400);
    assert.equal((await admin(server, "GET", `/v1/webhooks/${made.id}/deliveries?cursor=abc`)).status, 400);
    assert.equal((await admin(server, "GET", "/v1/webhooks/999999/deliveries")).status, 404);
  });

  test("DELETE removes the endpoint and its log: 204, then 404", async () => {
    const made = await createEndpoint(server, { url: "https://hooks.example.com/gone", events: ["*"] });
    await admin(server, "POST", `/v1/webhooks/${made.id}/test`);
    assert.equal((await admin(server, "DELETE", `/v1/webhooks/${made.id}`)).status, 204);
    assert.equal((await admin(server, "GET", `/v1/webhooks/${made.id}`)).status, 404);
    assert.equal((await admin(server, "DELETE", `/v1/webhooks/${made.id}`)).status, 404);
    const left = await server.runtime.store.driver.query({ sql: "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = ?", args: [made.id] });
    assert.equal(Number(left.rows[0]![0]), 0);
  });

  test("admin key only: a source's credentials are refused (403), no credentials are 401", async () => {
    const source = await createSource(server, { code: "not_admin", name: "Not admin" });
    for (const [method, path] of [
      ["GET", "/v1/webhooks"],
      ["POST", "/v1/webhooks"],
      ["GET", "/v1/webhooks/1"],
      ["POST", "/v1/webhooks/1/test"],
      ["GET", "/v1/webhooks/1/deliveries"],
    ] as const) {
      const r = await server.request(method, path, { headers: basicAuth(source), ...(method === "POST" ? { json: {} } : {}) });
      assert.equal(r.status, 403, `${method} ${path}`);
      assert.equal((await server.request(method, path, method === "POST" ? { json: {} } : {})).status, 401, `${method} ${path}`);
    }
  });

  test("every change is in the audit log, and no secret is", async () => {
    const made = await createEndpoint(server, { url: "https://hooks.example.com/audited", events: ["*"] });
    await admin(server, "PATCH", `/v1/webhooks/${made.id}`, { description: "x" });
    const rotated = await admin(server, "POST", `/v1/webhooks/${made.id}/secret`);
    await admin(server, "POST", `/v1/webhooks/${made.id}/test`);
    await admin(server, "DELETE", `/v1/webhooks/${made.id}`);
    const audit = await admin(server, "GET", "/v1/audit?limit=500");
    const mine = audit.body.items!.filter((e) => e.target === String(made.id) && String(e.action).startsWith("webhook."));
    assert.deepEqual(mine.map((e) => e.action).reverse(), ["webhook.create", "webhook.update", "webhook.rotate_secret", "webhook.test", "webhook.delete"]);
    assert.ok(mine.every((e) => String(e.actor).startsWith("admin_key:") && e.outcome === "success"));
    const text = JSON.stringify(audit.body);
    assert.ok(!text.includes(made.secret) && !text.includes(String(rotated.body.secret)));
  });
});

describe("ssod webhook create", () => {
  test("prints the endpoint's id and its secret; the endpoint then works through the API; a bad URL or event name is bad usage", async () => {
    const server = await openTestServer();
    try {
      const env = { SSOD_DATABASE_URL: `file:${join(server.dir, "ssod.db")}` };
      const r = await ssod(["webhook", "create", "--url", "https://hooks.example.com/cli", "--events", "user.created, user.deleted"], { env });
      assert.equal(r.code, 0, r.stderr);
      const match = /^id: (\d+)\nsecret: (whsec_[A-Za-z0-9+/]{43}=)\n$/.exec(r.stdout);
      assert.ok(match, r.stdout);
      const shown = await admin(server, "GET", `/v1/webhooks/${match[1]}`);
      assert.equal(shown.status, 200);
      assert.deepEqual(shown.body.events, ["user.created", "user.deleted"]);
      const audit = await admin(server, "GET", "/v1/audit?action=webhook.create");
      assert.ok(audit.body.items!.some((e) => e.actor === "cli" && e.target === match[1]));

      const badUrl = await ssod(["webhook", "create", "--url", "http://hooks.example.com/", "--events", "*"], { env });
      assert.equal(badUrl.code, 2);
      assert.match(badUrl.stderr, /--url must be https/);
      const badEvent = await ssod(["webhook", "create", "--url", "https://hooks.example.com/", "--events", "user.made"], { env });
      assert.equal(badEvent.code, 2);
      assert.match(badEvent.stderr, /--events must be "\*" or an event type/);
      const missing = await ssod(["webhook", "create", "--events", "*"], { env });
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /--url is required/);
    } finally {
      await server.close();
    }
  });
});
