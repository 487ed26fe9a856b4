// Webhook receivers for the tests: real HTTP servers on 127.0.0.1 that verify
// every delivery with the npm package `standardwebhooks` (the reference
// library of the Standard Webhooks spec, not ssod's own code), and answer as
// the test tells them (a status, a Retry-After, a redirect, or never).
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { Webhook } from "standardwebhooks";
import { type DeliveryWorker, type DeliveryWorkerOptions, startDeliveryWorker } from "../../src/core/webhooks/delivery";
import type { TestServer } from "./runtime";

/** Short schedules, so retries run in a test's time: a value for each SSOD_WEBHOOK_* setting. */
export const FAST_WEBHOOKS = {
  SSOD_WEBHOOK_POLL_INTERVAL: "50ms",
  SSOD_WEBHOOK_RETRY_SCHEDULE: "300ms,300ms,300ms",
  SSOD_WEBHOOK_TIMEOUT: "2",
  SSOD_WEBHOOK_LEASE_MARGIN: "1",
};

export interface Received {
  /** The webhook-id header. */
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  event: { type: string; timestamp: string; data: Record<string, unknown> };
  /** What `standardwebhooks` said: true, or the error it threw. */
  verified: true | string;
  headers: Record<string, string>;
}

/** How the receiver answers a delivery: a status (and headers), or "hang" (never). */
type Answer = { status: number; headers?: Record<string, string>; body?: string } | "hang";

export interface Receiver {
  url: string;
  port: number;
  /** Every delivery that arrived, answered or not, in order. */
  received: Received[];
  /** The endpoint's secret, to verify with (set it once the endpoint is made). */
  secret: string | undefined;
  /** How to answer the next deliveries (by default 200). */
  answer: (delivery: Received, nth: number) => Answer;
  /** Requests held open by "hang". */
  hanging(): number;
  /** The distinct webhook-ids received. */
  ids(): Set<string>;
  close(): Promise<void>;
}

function headersOf(req: IncomingMessage): Record<string, string> {
  return Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : (v ?? "")]));
}

/** A receiver on 127.0.0.1 (on `port` when given: a receiver restarted where the last one was). */
export async function startReceiver(port = 0): Promise<Receiver> {
  const sockets = new Set<Socket>();
  const held: ServerResponse[] = [];
  const receiver: Receiver = {
    url: "",
    port: 0,
    received: [],
    secret: undefined,
    answer: () => ({ status: 200 }),
    hanging: () => held.filter((r) => !r.writableEnded && !r.destroyed).length,
    ids: () => new Set(receiver.received.map((r) => r.id)),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const headers = headersOf(req);
      let verified: true | string = "no secret to verify with";
      if (receiver.secret) {
        try {
          new Webhook(receiver.secret).verify(body, headers);
          verified = true;
        } catch (error) {
          verified = String(error);
        }
      }
      let event: Received["event"];
      try {
        event = JSON.parse(body) as Received["event"];
      } catch {
        event = { type: "(not JSON)", timestamp: "", data: {} };
      }
      const delivery: Received = {
        id: headers["webhook-id"] ?? "",
        timestamp: headers["webhook-timestamp"] ?? "",
        signature: headers["webhook-signature"] ?? "",
        body,
        event,
        verified,
        headers,
      };
      receiver.received.push(delivery);
      const answer = receiver.answer(delivery, receiver.received.length);
      if (answer === "hang") {
        held.push(res);
        return;
      }
      res.writeHead(answer.status, answer.headers ?? {});
      res.end(answer.body ?? "");
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  receiver.port = (server.address() as AddressInfo).port;
  receiver.url = `http://127.0.0.1:${receiver.port}/hook`;
  return receiver;
}

/** Waits until `check` holds, polling; fails with `what` (and the last state) past the time limit. */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The in-process server's own delivery worker (a real process starts its own in src/server.ts). */
export function startWorker(server: TestServer, options: DeliveryWorkerOptions = {}): DeliveryWorker {
  return startDeliveryWorker(server.runtime.core, options);
}

/** The 201 answer of POST /v1/webhooks. */
export interface CreatedEndpoint {
  id: number;
  url: string;
  events: string[];
  enabled: boolean;
  disabledReason: string | null;
  secret: string;
  [key: string]: unknown;
}

/** Creates an endpoint with the server's admin key; asserts the 201; gives its secret to `receiver` when given. */
export async function createEndpoint(server: TestServer, body: Record<string, unknown>, receiver?: Receiver): Promise<CreatedEndpoint> {
  const r = await server.request("POST", "/v1/webhooks", { json: { url: receiver?.url, ...body }, headers: { authorization: `Bearer ${server.adminKey}` } });
  assert.equal(r.status, 201, await r.clone().text());
  const created = (await r.json()) as CreatedEndpoint;
  if (receiver) receiver.secret = created.secret;
  return created;
}

/** An admin call on the in-process server: its status and JSON body. */
export async function admin(server: TestServer, method: string, path: string, json?: unknown) {
  const r = await server.request(method, path, { headers: { authorization: `Bearer ${server.adminKey}` }, ...(json === undefined ? {} : { json }) });
  const text = await r.text();
  return { status: r.status, body: (text ? JSON.parse(text) : null) as Record<string, unknown> & { items?: Record<string, unknown>[] } };
}

/** The delivery log of an endpoint, newest first (every page). */
export async function deliveriesOf(server: TestServer, endpointId: number): Promise<Record<string, unknown>[]> {
  const all: Record<string, unknown>[] = [];
  let cursor: string | null = null;
  do {
    const page = await admin(server, "GET", `/v1/webhooks/${endpointId}/deliveries?limit=500${cursor ? `&cursor=${cursor}` : ""}`);
    assert.equal(page.status, 200, JSON.stringify(page.body));
    all.push(...page.body.items!);
    cursor = page.body.nextCursor as string | null;
  } while (cursor);
  return all;
}
