// SPEC §5: "a body over 64 KiB gets 413", on the wire: the built server as a
// real process, sent oversized bodies with and without Content-Length
// (chunked) at every endpoint that reads one, each answered in its dialect's
// shape; the limit exact to the byte; and slow clients (headers or a body
// that never finish) cut off within a few seconds (SSOD_REQUEST_TIMEOUT=2)
// while others are served.
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { connect, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { generateAdminKey } from "../src/core/admin-keys";
import { type ServerProcess, startBuiltServer, stopAll } from "./helpers/process";

const MAX = 64 * 1024;
const j = (value: unknown) => JSON.stringify(value);

interface Answer {
  status: number;
  body: string;
}

describe("the built server (SSOD_REQUEST_TIMEOUT=2)", () => {
  let server: ServerProcess;
  let key: string;
  let port: number;

  before(async () => {
    key = generateAdminKey();
    server = await startBuiltServer({ env: { SSOD_ADMIN_API_KEY: key, SSOD_REQUEST_TIMEOUT: "2", SSOD_LOG_LEVEL: "info" } });
    port = Number(new URL(server.url).port);
  });

  after(async () => {
    await stopAll([server]);
  });

  /** A raw request with node:http; chunked (no Content-Length) when asked. */
  function raw(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: Buffer,
    chunked: boolean,
  ): Promise<Answer & { headers: Record<string, string | string[] | undefined> }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          host: "127.0.0.1",
          port,
          method,
          path,
          headers: { ...headers, ...(chunked ? { "transfer-encoding": "chunked" } : { "content-length": String(body.length) }) },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => (text += d));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
          res.on("error", reject);
        },
      );
      // The server may answer 413 and stop reading before the whole body is sent.
      req.on("error", (error) => reject(error));
      if (chunked) {
        // Several chunks, so the size is only known by counting.
        for (let at = 0; at < body.length; at += 8192) req.write(body.subarray(at, at + 8192));
        req.end();
      } else req.end(body);
    });
  }

  const LIMITED: { method: string; path: string; headers: () => Record<string, string>; shape: (body: string) => boolean }[] = [
    {
      method: "POST",
      path: "/api.php",
      headers: () => ({ "content-type": "application/json" }),
      shape: (b) => j(JSON.parse(b)) === j({ Success: false, ErrorCode: [106], ErrorText: ["Request body too large"] }),
    },
    {
      method: "POST",
      path: "/api.php",
      headers: () => ({ "content-type": "application/x-www-form-urlencoded" }),
      shape: (b) => (JSON.parse(b) as { ErrorCode: number[] }).ErrorCode[0] === 106,
    },
    {
      method: "POST",
      path: "/api/sso",
      headers: () => ({ "content-type": "application/json", authorization: `Bearer ${key}` }),
      shape: (b) => (JSON.parse(b) as { errors: { title: string }[] }).errors[0]!.title === "Payload Too Large",
    },
    {
      method: "POST",
      path: "/admin/sso",
      headers: () => ({ "content-type": "application/json", "admin-auth": key }),
      shape: (b) => (JSON.parse(b) as { errors: unknown[] }).errors.length === 1,
    },
    {
      method: "POST",
      path: "/GenerateSSOToken",
      headers: () => ({ "content-type": "application/json", "x-api-version": "1.0.0", "x-lob-client-id": "x" }),
      shape: (b) => (JSON.parse(b) as { ReturnCode: string }).ReturnCode === "0",
    },
    {
      method: "POST",
      path: "/v1/sources",
      headers: () => ({ "content-type": "application/json", authorization: `Bearer ${key}` }),
      shape: (b) => (JSON.parse(b) as { status: number }).status === 413,
    },
    {
      method: "PATCH",
      path: "/v1/sources/default",
      headers: () => ({ "content-type": "application/json", authorization: `Bearer ${key}` }),
      shape: (b) => (JSON.parse(b) as { status: number }).status === 413,
    },
    {
      method: "POST",
      path: "/v1/tokens",
      headers: () => ({ "content-type": "application/json", authorization: `Bearer ${key}` }),
      shape: (b) => (JSON.parse(b) as { status: number }).status === 413,
    },
    {
      method: "POST",
      path: "/v1/tokens/redeem",
      headers: () => ({ "content-type": "application/json", authorization: `Bearer ${key}` }),
      shape: (b) => (JSON.parse(b) as { status: number }).status === 413,
    },
    {
      method: "POST",
      path: "/v1/tokens/introspect",
      headers: () => ({ "content-type": "application/json", authorization: `Bearer ${key}` }),
      shape: (b) => (JSON.parse(b) as { status: number }).status === 413,
    },
    {
      method: "POST",
      path: "/v1/tokens/revoke",
      headers: () => ({ "content-type": "application/json", authorization: `Bearer ${key}` }),
      shape: (b) => (JSON.parse(b) as { status: number }).status === 413,
    },
  ];

  for (const chunked of [false, true]) {
    test(`bodies over 64 KiB get 413 in each dialect's shape (${chunked ? "chunked, no Content-Length" : "with Content-Length"})`, async (t) => {
      const big = Buffer.from(j({ token: "t".repeat(MAX + 100) }));
      const wrong: string[] = [];
      for (const e of LIMITED) {
        const a = await raw(e.method, e.path, e.headers(), big, chunked);
        if (a.status !== 413 || !e.shape(a.body)) wrong.push(`${e.method} ${e.path}: ${a.status} ${a.body.slice(0, 120)}`);
      }
      t.diagnostic(`${LIMITED.length} oversized requests of ${big.length} bytes`);
      assert.deepEqual(wrong, []);
    });
  }

  test("the limit is 64 KiB exactly: 65,536 bytes pass, 65,537 get 413 (both framings)", async () => {
    const sized = (n: number) => {
      const shell = j({ user: { email: "edge@example.com", displayName: "" } });
      const pad = n - Buffer.byteLength(shell);
      const body = Buffer.from(j({ user: { email: "edge@example.com", displayName: "d".repeat(pad) } }));
      assert.equal(body.length, n);
      return body;
    };
    const headers = { "content-type": "application/json", authorization: `Bearer ${key}` };
    for (const chunked of [false, true]) {
      const at = await raw("POST", "/v1/tokens", headers, sized(MAX), chunked);
      assert.notEqual(at.status, 413, `exactly 64 KiB (${chunked ? "chunked" : "Content-Length"}) was refused`);
      assert.ok(at.status < 500, at.body);
      const over = await raw("POST", "/v1/tokens", headers, sized(MAX + 1), chunked);
      assert.equal(over.status, 413, `64 KiB + 1 (${chunked ? "chunked" : "Content-Length"}): ${over.status}`);
    }
  });

  /** Opens a raw connection, sends `head`, then trickles `drip` every 300 ms; resolves when the server closes it (or at the deadline). */
  function trickle(head: string, drip: string, deadlineMs: number): Promise<{ closedAfterMs: number | null; answer: string }> {
    return new Promise((resolve) => {
      const started = Date.now();
      const socket: Socket = connect(port, "127.0.0.1");
      let answer = "";
      let done = false;
      const finish = (closed: boolean) => {
        if (done) return;
        done = true;
        clearInterval(timer);
        clearTimeout(deadline);
        socket.destroy();
        resolve({ closedAfterMs: closed ? Date.now() - started : null, answer });
      };
      socket.on("data", (d) => {
        answer += String(d);
        // A 408 is as good as a close.
        if (/^HTTP\/1\.1 408/.test(answer)) finish(true);
      });
      socket.on("close", () => finish(true));
      socket.on("error", () => finish(true));
      socket.write(head);
      const timer = setInterval(() => {
        if (socket.writable) socket.write(drip);
      }, 300);
      const deadline = setTimeout(() => finish(false), deadlineMs);
    });
  }

  test("slow clients are cut off within a few seconds (408 or closed) while others are served", { timeout: 30_000 }, async (t) => {
    const DEADLINE = 7_000; // SSOD_REQUEST_TIMEOUT=2 s, plus slack
    const slow = Promise.all([
      // Headers that never end: one more header line every 300 ms.
      trickle("GET /healthz HTTP/1.1\r\nHost: x\r\n", "X-Slow: 1\r\n", DEADLINE),
      // A declared body that never arrives in full.
      trickle(
        `POST /v1/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{`,
        " ",
        DEADLINE,
      ),
      // A chunked body that never ends.
      trickle(
        `POST /v1/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n`,
        "1\r\n \r\n",
        DEADLINE,
      ),
      // The legacy dialect, chunked, never ending.
      trickle(
        "POST /api.php HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nC\r\n",
        "1\r\na\r\n",
        DEADLINE,
      ),
    ]);
    // Meanwhile, others are served promptly.
    await sleep(500);
    const served: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = Date.now();
      const health = await fetch(`${server.url}/healthz`);
      const issued = await fetch(`${server.url}/v1/tokens`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: j({ user: { email: "other@example.com" } }),
      });
      assert.equal(health.status, 200);
      assert.equal(issued.status, 201);
      served.push(Date.now() - started);
      await sleep(400);
    }
    assert.ok(Math.max(...served) < 1_500, `others waited ${Math.max(...served)} ms`);
    const results = await slow;
    t.diagnostic(`slow clients closed after (ms): ${results.map((r) => r.closedAfterMs ?? `still open at ${DEADLINE}`).join(", ")}`);
    const labels = ["slow headers", "Content-Length body never completed", "chunked body never ended", "legacy chunked body never ended"];
    const open = results.flatMap((r, i) => (r.closedAfterMs === null ? [`${labels[i]}: still open after ${DEADLINE} ms`] : []));
    assert.deepEqual(open, [], "slow requests were not cut off within a few seconds");
    for (const r of results) assert.ok(r.answer === "" || /^HTTP\/1\.1 (408|4\d\d)/.test(r.answer), `answered ${r.answer.slice(0, 60)}`);
    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200);
  });
});
