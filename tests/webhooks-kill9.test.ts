// SPEC §9 "At least once, nothing lost": the event is written in the same
// commit as the change, so a crash right after a 2xx loses no event. The
// built server, its receiver down, is killed with SIGKILL the moment the
// 50th redemption is acknowledged; restarted on the same store with the
// receiver back, it delivers every event of those redemptions (the ones its
// predecessor was still trying included).
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, test } from "node:test";
import { generateAdminKey } from "../src/core/admin-keys";
import { postJson } from "./helpers/http";
import { type ServerProcess, startBuiltServer, stopAll } from "./helpers/process";
import { tempDir } from "./helpers/temp";
import { eventually, type Receiver, startReceiver } from "./helpers/webhooks";

const REDEMPTIONS = 50;
const running: ServerProcess[] = [];
let receiver: Receiver | undefined;

after(async () => {
  await stopAll(running, "SIGKILL");
  await receiver?.close();
});

test("killed -9 right after 50 acknowledged redemptions, with the receiver down: after a restart every event arrives", { timeout: 90_000 }, async (t) => {
  const dir = tempDir("ssod-webhook-crash-");
  const adminKey = generateAdminKey();
  const env = {
    SSOD_DATABASE_URL: `file:${join(dir, "ssod.db")}`,
    SSOD_ADMIN_API_KEY: adminKey,
    SSOD_WEBHOOK_POLL_INTERVAL: "100ms",
    // Long enough that nothing is given up while the receiver is down.
    SSOD_WEBHOOK_RETRY_SCHEDULE: "500ms,1s,1s,1s,1s,1s,1s,1s,1s,1s",
    SSOD_WEBHOOK_TIMEOUT: "2",
    SSOD_WEBHOOK_LEASE_MARGIN: "1",
  };
  const admin = { authorization: `Bearer ${adminKey}` };

  // A port with nothing behind it: the receiver is down until the restart.
  const placeholder = await startReceiver();
  const port = placeholder.port;
  await placeholder.close();

  let server = await startBuiltServer({ env, dir });
  running.push(server);
  const made = await postJson(`${server.url}/v1/webhooks`, { url: `http://127.0.0.1:${port}/hook`, events: ["*"] }, admin);
  assert.equal(made.status, 201);
  const { id: endpointId, secret } = (await made.json()) as { id: number; secret: string };

  const tokens = await Promise.all(
    Array.from({ length: REDEMPTIONS }, async (_, i) => {
      const r = await postJson(`${server.url}/v1/tokens`, { user: { email: `crash${i}@example.com` } }, admin);
      assert.equal(r.status, 201);
      return (await r.json()) as { token: string; tokenRefNo: string };
    }),
  );
  const redeemed = await Promise.all(
    tokens.map(async ({ token }) => {
      const r = await postJson(`${server.url}/v1/tokens/redeem`, { token }, admin);
      assert.equal(r.status, 200);
      return (await r.json()) as { tokenRefNo: string; user: { id: string } };
    }),
  );
  // The moment the 50th answer is in.
  server.kill("SIGKILL");
  assert.equal(await server.exited, "SIGKILL");

  receiver = await startReceiver(port);
  receiver.secret = secret;
  server = await startBuiltServer({ env, dir });
  running.push(server);

  const refNos = new Set(redeemed.map((r) => r.tokenRefNo));
  const users = new Set(redeemed.map((r) => r.user.id));
  const of = (type: string) => receiver!.received.filter((r) => r.event.type === type);
  await eventually(
    "every event of the 50 redemptions",
    () =>
      new Set(of("token.redeemed").map((r) => r.event.data.tokenRefNo)).size === REDEMPTIONS &&
      new Set(of("user.created").map((r) => r.event.data.id)).size === REDEMPTIONS &&
      new Set(of("session.created").map((r) => r.event.data.userId)).size === REDEMPTIONS,
    60_000,
  );
  assert.deepEqual(new Set(of("token.redeemed").map((r) => r.event.data.tokenRefNo)), refNos);
  assert.deepEqual(new Set(of("user.created").map((r) => r.event.data.id)), users);
  assert.deepEqual(new Set(of("session.created").map((r) => r.event.data.userId)), users);
  assert.deepEqual(
    receiver.received.filter((r) => r.verified !== true).map((r) => r.verified),
    [],
  );

  // And the log agrees: every delivery of the endpoint delivered.
  const log = await fetch(`${server.url}/v1/webhooks/${endpointId}/deliveries?limit=500`, { headers: admin });
  const items = ((await log.json()) as { items: { status: string; attempts: number }[] }).items;
  assert.equal(items.length, REDEMPTIONS * 3);
  await eventually("all recorded as delivered", async () => {
    const again = await fetch(`${server.url}/v1/webhooks/${endpointId}/deliveries?limit=500&status=delivered`, { headers: admin });
    return ((await again.json()) as { items: unknown[] }).items.length === REDEMPTIONS * 3;
  });
  const twice = receiver.received.length - receiver.ids().size;
  t.diagnostic(
    `${receiver.received.length} deliveries received for ${receiver.ids().size} events (${twice} twice); most attempts ${Math.max(...items.map((i) => i.attempts))}`,
  );

  server.kill("SIGTERM");
  assert.equal(await server.exited, 0);
});
