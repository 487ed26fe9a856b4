// SPEC §4 "SIGTERM: … finish in-flight requests, close the store, exit 0",
// for deliveries too: the built server stops claiming, lets the delivery in
// flight end (here it times out: the receiver never answers), records its
// outcome, and only then closes the store and exits 0.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, test } from "node:test";
import { generateAdminKey } from "../src/core/admin-keys";
import { postJson } from "./helpers/http";
import { type ServerProcess, startBuiltServer, stopAll } from "./helpers/process";
import { tempDir } from "./helpers/temp";
import { eventually, type Receiver, startReceiver } from "./helpers/webhooks";

const running: ServerProcess[] = [];
let receiver: Receiver | undefined;
after(async () => {
  await stopAll(running, "SIGKILL");
  await receiver?.close();
});

test("SIGTERM waits for the delivery in flight to end or time out, records it, then exits 0", { timeout: 60_000 }, async () => {
  const dir = tempDir("ssod-webhook-stop-");
  const adminKey = generateAdminKey();
  const env = {
    SSOD_DATABASE_URL: `file:${join(dir, "ssod.db")}`,
    SSOD_ADMIN_API_KEY: adminKey,
    SSOD_WEBHOOK_POLL_INTERVAL: "50ms",
    SSOD_WEBHOOK_TIMEOUT: "3",
  };
  const admin = { authorization: `Bearer ${adminKey}` };
  receiver = await startReceiver();
  receiver.answer = () => "hang";

  let server = await startBuiltServer({ env, dir });
  running.push(server);
  const made = await postJson(`${server.url}/v1/webhooks`, { url: receiver.url, events: ["app.deleted"] }, admin);
  const { id } = (await made.json()) as { id: number };
  const sent = await postJson(`${server.url}/v1/webhooks/${id}/test`, {}, admin);
  assert.equal(sent.status, 202);
  const { id: deliveryId } = (await sent.json()) as { id: number };
  await eventually("the receiver holds the delivery", () => receiver!.hanging() === 1);

  const signalled = Date.now();
  server.kill("SIGTERM");
  assert.equal(await server.exited, 0);
  const took = Date.now() - signalled;
  assert.ok(took >= 1_500, `exited ${took} ms after SIGTERM: before the attempt in flight had ended`);
  assert.equal(receiver.received.length, 1, "nothing more was claimed while stopping");

  server = await startBuiltServer({ env: { ...env, SSOD_WEBHOOK_POLL_INTERVAL: "10m" }, dir });
  running.push(server);
  const log = await fetch(`${server.url}/v1/webhooks/${id}/deliveries`, { headers: admin });
  const entry = ((await log.json()) as { items: Record<string, unknown>[] }).items.find((d) => d.id === deliveryId)!;
  assert.equal(entry.attempts, 1);
  assert.equal(entry.status, "pending");
  assert.match(String(entry.lastError), /no answer within 3 s/, "the attempt's outcome was recorded before the store closed");
  server.kill("SIGTERM");
  assert.equal(await server.exited, 0);
});
