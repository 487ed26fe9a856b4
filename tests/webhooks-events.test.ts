// SPEC §9, event by event: each type is delivered after the change that makes
// it, with the `data` the spec names (the object as its GET shows it, and
// never a secret, a token or a session id), signed so that the reference
// library `standardwebhooks` verifies it (and refuses a tampered body or a
// wrong secret). An endpoint gets only the events committed after it was
// made; `token.issued` only when it is named.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Webhook } from "standardwebhooks";
import { NO_THROTTLE, openTestServer, type TestServer } from "./helpers/runtime";
import { type CreatedSource, createSource } from "./helpers/sources";
import { issueOk } from "./helpers/tokens";
import {
  admin,
  type CreatedEndpoint,
  createEndpoint,
  eventually,
  FAST_WEBHOOKS,
  type Received,
  type Receiver,
  startReceiver,
  startWorker,
} from "./helpers/webhooks";

describe("webhook events", () => {
  let server: TestServer;
  let all: Receiver;
  let issued: Receiver;
  let worker: { stop(): Promise<void> } | undefined;
  let endpoint: CreatedEndpoint;
  let early: CreatedSource;
  /** Every secret, token and session id this file sees: none may appear in a delivery. */
  const secrets: string[] = [];

  before(async () => {
    server = await openTestServer({ ...NO_THROTTLE, ...FAST_WEBHOOKS });
    secrets.push(server.adminKey);
    [all, issued] = await Promise.all([startReceiver(), startReceiver()]);
    worker = startWorker(server);
    // Made before any endpoint: its source.created goes nowhere.
    early = await createSource(server, { code: "early", name: "Early" });
    secrets.push(early.clientSecret, early.signingSecret);
    endpoint = await createEndpoint(server, { events: ["*"] }, all);
    const named = await createEndpoint(server, { events: ["token.issued"] }, issued);
    secrets.push(endpoint.secret, named.secret);
  });
  after(async () => {
    await worker?.stop();
    await all?.close();
    await issued?.close();
    await server?.close();
  });

  /** The deliveries of one type whose data matches, once they have arrived. */
  async function delivered(receiver: Receiver, type: string, match: (data: Record<string, unknown>) => boolean = () => true, count = 1): Promise<Received[]> {
    const found = () => receiver.received.filter((r) => r.event.type === type && match(r.event.data));
    await eventually(`${count} ${type} event(s) at the receiver`, () => found().length >= count);
    return found();
  }

  const get = async (path: string) => {
    const r = await admin(server, "GET", path);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };

  test("source.created, source.updated and source.deleted carry the source as GET shows it; a source made before the endpoint is not announced", async () => {
    const made = await createSource(server, { code: "announced", name: "Announced", redirectUrls: ["https://app.example.com/in"] });
    secrets.push(made.clientSecret, made.signingSecret);
    const [created] = await delivered(all, "source.created", (d) => d.code === "announced");
    assert.deepEqual(created!.event.data, await get(`/v1/sources/${made.id}`));

    const patched = await admin(server, "PATCH", `/v1/sources/${made.id}`, { name: "Renamed", options: { performLogin: false } });
    assert.equal(patched.status, 200);
    const [updated] = await delivered(all, "source.updated", (d) => d.name === "Renamed");
    assert.deepEqual(updated!.event.data, await get(`/v1/sources/${made.id}`));

    const rotated = await admin(server, "POST", `/v1/sources/${made.id}/secret`);
    assert.equal(rotated.status, 200);
    secrets.push(rotated.body.clientSecret as string, rotated.body.signingSecret as string);
    await delivered(all, "source.updated", (d) => d.name === "Renamed", 2);

    const before = await get(`/v1/sources/${made.id}`);
    assert.equal((await admin(server, "DELETE", `/v1/sources/${made.id}`)).status, 204);
    const [deleted] = await delivered(all, "source.deleted", (d) => d.code === "announced");
    assert.deepEqual(deleted!.event.data, before);

    // Every dialect is an adapter over the same core: the legacy sso.create is the same event.
    const legacy = await server.request("POST", "/api.php", {
      form: { Command: "sso.create", APIKey: server.adminKey, SourceCode: "legacy_made", SourceName: "Legacy", ValidForSeconds: "60" },
    });
    assert.equal(legacy.status, 200, await legacy.clone().text());
    const [fromLegacy] = await delivered(all, "source.created", (d) => d.code === "legacy_made");
    assert.deepEqual(fromLegacy!.event.data, await get(`/v1/sources/${fromLegacy!.event.data.id}`));

    assert.equal(
      all.received.some((r) => r.event.data.code === "early"),
      false,
      "the source made before the endpoint existed is in no event",
    );
  });

  test("a redemption delivers token.redeemed, user.created and session.created; the data is the user as GET shows it and no session id", async () => {
    const token = await issueOk(server, { user: { email: "ada@example.com", displayName: "Ada", groups: ["staff"] } });
    secrets.push(token.token);
    const r = await server.request("POST", "/v1/tokens/redeem", { json: { token: token.token }, headers: { authorization: `Bearer ${server.adminKey}` } });
    assert.equal(r.status, 200);
    const redeemed = (await r.json()) as { user: { id: string }; session: { id: string; expiresAt: string } };
    secrets.push(redeemed.session.id);

    const [tokenEvent] = await delivered(all, "token.redeemed", (d) => d.tokenRefNo === token.tokenRefNo);
    assert.deepEqual(tokenEvent!.event.data, { tokenRefNo: token.tokenRefNo, source: "default", userId: redeemed.user.id, created: true });
    const [userEvent] = await delivered(all, "user.created", (d) => d.id === redeemed.user.id);
    assert.deepEqual(userEvent!.event.data, await get(`/v1/users/${redeemed.user.id}`));
    const [sessionEvent] = await delivered(all, "session.created", (d) => d.userId === redeemed.user.id);
    assert.deepEqual(sessionEvent!.event.data, { userId: redeemed.user.id, source: "default", expiresAt: redeemed.session.expiresAt });

    // A second sign-in of the same user: token.redeemed with created false, a session, no user.created.
    const again = await issueOk(server, { user: { email: "ada@example.com" } });
    const r2 = await server.request("POST", "/v1/tokens/redeem", { json: { token: again.token }, headers: { authorization: `Bearer ${server.adminKey}` } });
    assert.equal(r2.status, 200);
    const [second] = await delivered(all, "token.redeemed", (d) => d.tokenRefNo === again.tokenRefNo);
    assert.equal(second!.event.data.created, false);
    await delivered(all, "session.created", (d) => d.userId === redeemed.user.id, 2);
    assert.equal(all.received.filter((x) => x.event.type === "user.created" && x.event.data.id === redeemed.user.id).length, 1);
  });

  test("a real token refused for its user is token.redeem_failed; an unknown token is audited, not announced", async () => {
    const token = await issueOk(server, { user: { email: "nobody@example.com" }, registeredOnly: true });
    const r = await server.request("POST", "/v1/tokens/redeem", { json: { token: token.token }, headers: { authorization: `Bearer ${server.adminKey}` } });
    assert.equal(r.status, 400);
    const [failed] = await delivered(all, "token.redeem_failed", (d) => d.tokenRefNo === token.tokenRefNo);
    assert.deepEqual(failed!.event.data, { tokenRefNo: token.tokenRefNo, source: "default" });

    const unknown = await server.request("POST", "/v1/tokens/redeem", {
      json: { token: "x".repeat(43) },
      headers: { authorization: `Bearer ${server.adminKey}` },
    });
    assert.equal(unknown.status, 400);
    const marker = await createSource(server, { code: "marker1", name: "after the unknown token" });
    secrets.push(marker.clientSecret, marker.signingSecret);
    await delivered(all, "source.created", (d) => d.code === "marker1");
    assert.equal(all.received.filter((x) => x.event.type === "token.redeem_failed").length, 1, "only the real token's failure");
  });

  test("token.issued only reaches the endpoint that names it; `*` leaves it out", async () => {
    const token = await issueOk(server, { user: { email: "issued@example.com" } });
    secrets.push(token.token);
    const [event] = await delivered(issued, "token.issued", (d) => d.tokenRefNo === token.tokenRefNo);
    assert.deepEqual(event!.event.data, { tokenRefNo: token.tokenRefNo, source: "default" });
    const marker = await createSource(server, { code: "marker2", name: "after the issue" });
    secrets.push(marker.clientSecret, marker.signingSecret);
    await delivered(all, "source.created", (d) => d.code === "marker2");
    assert.equal(all.received.filter((x) => x.event.type === "token.issued").length, 0, "`*` does not include token.issued");
    assert.deepEqual(new Set(issued.received.map((x) => x.event.type)), new Set(["token.issued"]), "the token.issued endpoint gets nothing else");
  });

  test("user.updated carries the user after the change; ending the sessions is session.revoked each; deleting the user revokes its sessions, then user.deleted", async () => {
    const signIn = async () => {
      const token = await issueOk(server, { user: { email: "grace@example.com", displayName: "Grace" } });
      secrets.push(token.token);
      const r = await server.request("POST", "/v1/tokens/redeem", { json: { token: token.token }, headers: { authorization: `Bearer ${server.adminKey}` } });
      const body = (await r.json()) as { user: { id: string }; session: { id: string; expiresAt: string } };
      secrets.push(body.session.id);
      return body;
    };
    const first = await signIn();
    const userId = first.user.id;
    await signIn();

    const patched = await admin(server, "PATCH", `/v1/users/${userId}`, { displayName: "Grace Hopper", groups: ["navy"] });
    assert.equal(patched.status, 200);
    const [updated] = await delivered(all, "user.updated", (d) => d.id === userId);
    assert.deepEqual(updated!.event.data, await get(`/v1/users/${userId}`));
    assert.equal(updated!.event.data.displayName, "Grace Hopper");

    const ended = await admin(server, "DELETE", `/v1/users/${userId}/sessions`);
    assert.deepEqual(ended.body, { ended: 2 });
    const revoked = await delivered(all, "session.revoked", (d) => d.userId === userId, 2);
    assert.ok(revoked.every((x) => x.event.data.source === "default" && typeof x.event.data.expiresAt === "string"));

    // A session of its own, ended by its bearer (logout): one more session.revoked.
    const third = await signIn();
    const logout = await server.request("POST", "/v1/session/logout", { headers: { cookie: `ssod_session=${third.session.id}` } });
    assert.equal(logout.status, 204);
    await delivered(all, "session.revoked", (d) => d.userId === userId && d.expiresAt === third.session.expiresAt, 1);
    assert.equal(all.received.filter((x) => x.event.type === "session.revoked" && x.event.data.userId === userId).length, 3);

    const fourth = await signIn();
    const shown = await get(`/v1/users/${userId}`);
    assert.equal((await admin(server, "DELETE", `/v1/users/${userId}`)).status, 204);
    const [deleted] = await delivered(all, "user.deleted", (d) => d.id === userId);
    assert.deepEqual(deleted!.event.data, shown);
    // Its last session went with it, and says so.
    await delivered(all, "session.revoked", (d) => d.userId === userId && d.expiresAt === fourth.session.expiresAt);
  });

  test("admin_key.created and admin_key.revoked carry the key as GET shows it, never the key", async () => {
    const made = await admin(server, "POST", "/v1/admin-keys", { name: "ci" });
    assert.equal(made.status, 201);
    secrets.push(made.body.key as string);
    const [created] = await delivered(all, "admin_key.created", (d) => d.id === made.body.id);
    const listed = (await get("/v1/admin-keys")).items!.find((k) => k.id === made.body.id);
    assert.deepEqual(created!.event.data, listed);
    assert.equal((await admin(server, "DELETE", `/v1/admin-keys/${made.body.id}`)).status, 200);
    const [revoked] = await delivered(all, "admin_key.revoked", (d) => d.id === made.body.id);
    assert.deepEqual(
      revoked!.event.data,
      (await get("/v1/admin-keys")).items!.find((k) => k.id === made.body.id),
    );
    assert.equal(typeof revoked!.event.data.revokedAt, "string");
  });

  test("app.created, app.updated and app.deleted carry the app as GET shows it, never its client secret", async () => {
    const made = await admin(server, "POST", "/v1/apps", {
      name: "Wiki",
      redirectUris: ["https://wiki.example.com/callback"],
      forwardAuth: { hosts: ["wiki.example.com"], pathPrefixes: ["/"] },
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    secrets.push(made.body.clientSecret as string);
    const [created] = await delivered(all, "app.created", (d) => d.id === made.body.id);
    assert.deepEqual(created!.event.data, await get(`/v1/apps/${made.body.id}`));

    assert.equal((await admin(server, "PATCH", `/v1/apps/${made.body.id}`, { name: "Team wiki", forwardAuth: null })).status, 200);
    const [updated] = await delivered(all, "app.updated", (d) => d.name === "Team wiki");
    assert.deepEqual(updated!.event.data, await get(`/v1/apps/${made.body.id}`));

    const rotated = await admin(server, "POST", `/v1/apps/${made.body.id}/secret`);
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    secrets.push(rotated.body.clientSecret as string);
    await delivered(all, "app.updated", (d) => d.id === made.body.id, 2);

    const before = await get(`/v1/apps/${made.body.id}`);
    assert.equal((await admin(server, "DELETE", `/v1/apps/${made.body.id}`)).status, 204);
    const [deleted] = await delivered(all, "app.deleted", (d) => d.id === made.body.id);
    assert.deepEqual(deleted!.event.data, before);
  });

  test("POST /v1/webhooks/{id}/test answers 202 and sends one webhook.test", async () => {
    const r = await admin(server, "POST", `/v1/webhooks/${endpoint.id}/test`);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(r.body.type, "webhook.test");
    assert.equal(r.body.status, "pending");
    const [test] = await delivered(all, "webhook.test");
    assert.equal(test!.id, r.body.eventId);
    assert.deepEqual(test!.event.data, { webhookId: endpoint.id });
    assert.equal(issued.received.filter((x) => x.event.type === "webhook.test").length, 0, "only to the endpoint asked");
  });

  test("every delivery is a Standard Webhooks message the reference library verifies; a tampered body or a wrong secret fails there", () => {
    const everything = [...all.received, ...issued.received];
    assert.ok(everything.length >= 20, `${everything.length} deliveries`);
    assert.deepEqual(
      everything.filter((r) => r.verified !== true).map((r) => `${r.event.type}: ${r.verified}`),
      [],
    );
    for (const r of everything) {
      assert.match(r.id, /^msg_[0-9a-f]{32}$/);
      assert.match(r.timestamp, /^\d{10}$/);
      assert.match(r.signature, /^v1,[A-Za-z0-9+/]{43}=$/);
      assert.match(r.event.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.equal(r.headers["content-type"], "application/json");
    }
    const sample = all.received[0]!;
    const tampered = sample.body.replace(/}$/, ',"extra":1}');
    assert.throws(() => new Webhook(all.secret!).verify(tampered, sample.headers), /signature/i);
    assert.throws(() => new Webhook(`whsec_${Buffer.alloc(32, 7).toString("base64")}`).verify(sample.body, sample.headers), /signature/i);
    assert.throws(() => new Webhook(issued.secret!).verify(sample.body, sample.headers), /signature/i, "another endpoint's secret");
    assert.match(endpoint.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
  });

  test("no delivery holds a secret, a token or a session id", () => {
    const everything = [...all.received, ...issued.received].map((r) => r.body);
    for (const secret of secrets) {
      assert.ok(secret.length >= 20, "a real secret");
      assert.equal(
        everything.some((body) => body.includes(secret)),
        false,
        `${secret.slice(0, 10)}… appears in a delivery`,
      );
    }
  });
});
