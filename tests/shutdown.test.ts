// SPEC §4: "SIGTERM: stop accepting, finish in-flight requests,
// close the store, exit 0." A built server under load from 20 concurrent
// clients issuing tokens over keep-alive connections (as HTTP clients do),
// plus a few requests whose bodies are still arriving when the signal comes.
// Then SIGTERM: every request already sent completes with a 2xx (no
// connection is reset under a request), new connections are refused soon
// after, the process exits 0, and after a restart every acknowledged token is
// in the store and redeems exactly once.
import assert from "node:assert/strict";
import { Agent, request as httpRequest } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { generateAdminKey } from "../src/core/admin-keys";
import { sha256 } from "../src/core/crypto";
import { type ServerProcess, startBuiltServer, stopAll } from "./helpers/process";
import { tempDir } from "./helpers/temp";

const CLIENTS = 20;
const LOAD_MS = 1_500;
/** How long the clients keep trying after SIGTERM (they stop at a refused connection). */
const AFTER_MS = 12_000;

interface Attempt {
  startedMs: number; // relative to SIGTERM (negative: before it)
  endedMs: number;
  status?: number;
  error?: string;
  token?: string;
  kind: "load" | "slow body" | "same connection";
}

let dir: string;
let env: Record<string, string>;
let adminKey: string;
let server: ServerProcess;
let restarted: ServerProcess | undefined;
const attempts: Attempt[] = [];
let exitCode: number | string;
let exitAfterMs = 0;
let refusedAfterMs: number | null = null;
let connectProbe = "";

const errorCode = (e: unknown): string => {
  const error = e as { code?: string; cause?: { code?: string; message?: string }; message?: string };
  return error.cause?.code ?? error.code ?? error.cause?.message ?? error.message ?? String(e);
};

/** One request on `agent`; its body arrives in two halves `gapMs` apart when a gap is asked for. */
function issueOn(agent: Agent, port: number, gapMs: number, t0: () => number, kind: Attempt["kind"]): Promise<Attempt> {
  return new Promise((resolve) => {
    const body = Buffer.from(JSON.stringify({ user: { email: "slow@example.com", displayName: "S".repeat(200) }, sourceCode: "drain", ttlSeconds: 3600 }));
    const startedMs = performance.now() - t0();
    const req = httpRequest(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/v1/tokens",
        agent,
        headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json", "content-length": String(body.length) },
      },
      (res) => {
        let text = "";
        res.on("data", (d) => (text += String(d)));
        res.on("end", () => {
          const token = res.statusCode === 201 ? (JSON.parse(text) as { token: string }).token : undefined;
          resolve({ startedMs, endedMs: performance.now() - t0(), status: res.statusCode ?? 0, token, kind });
        });
        res.on("error", (e) => resolve({ startedMs, endedMs: performance.now() - t0(), error: errorCode(e), kind }));
      },
    );
    req.on("error", (e) => resolve({ startedMs, endedMs: performance.now() - t0(), error: errorCode(e), kind }));
    if (gapMs === 0) req.end(body);
    else {
      req.write(body.subarray(0, 40));
      setTimeout(() => req.end(body.subarray(40)), gapMs);
    }
  });
}

before(async () => {
  dir = tempDir("ssod-shutdown-");
  adminKey = generateAdminKey();
  env = { SSOD_DATABASE_URL: `file:${join(dir, "ssod.db")}`, SSOD_ADMIN_API_KEY: adminKey, SSOD_LOG_LEVEL: "info" };
  server = await startBuiltServer({ env, dir });
  const made = await fetch(`${server.url}/v1/sources`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json" },
    body: JSON.stringify({ code: "drain", name: "Drain", validForSeconds: 3600 }),
  });
  assert.equal(made.status, 201);
  const port = Number(new URL(server.url).port);

  let termAt = 0;
  const t0 = () => termAt || performance.now() + 1e9;
  let stop = false;
  const client = async (n: number) => {
    for (let i = 0; !stop; i++) {
      const startedAbs = performance.now();
      try {
        const r = await fetch(`${server.url}/v1/tokens`, {
          method: "POST",
          headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json" },
          body: JSON.stringify({ user: { email: `load-${n}-${i % 20}@example.com` }, sourceCode: "drain", ttlSeconds: 3600 }),
        });
        const text = await r.text();
        const token = r.status === 201 ? (JSON.parse(text) as { token: string }).token : undefined;
        attempts.push({ startedMs: startedAbs - t0(), endedMs: performance.now() - t0(), status: r.status, token, kind: "load" });
      } catch (e) {
        const code = errorCode(e);
        attempts.push({ startedMs: startedAbs - t0(), endedMs: performance.now() - t0(), error: code, kind: "load" });
        // Refused: ask again a little later, on a new connection.
        await sleep(100);
      }
      // After the signal, keep asking, at a gentler pace.
      if (termAt) await sleep(50);
    }
  };
  /** A request still arriving at the signal, then more on the same keep-alive connection, until it is closed. */
  const keptAlive = async (gapMs: number): Promise<Attempt[]> => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const mine: Attempt[] = [await issueOn(agent, port, gapMs, t0, "slow body")];
    while (!stop && mine.at(-1)!.status === 201) mine.push(await issueOn(agent, port, 0, t0, "same connection"));
    agent.destroy();
    return mine;
  };
  const clients = Array.from({ length: CLIENTS }, (_, n) => client(n));
  await sleep(LOAD_MS - 150);
  // Requests whose bodies are still on their way when the signal arrives.
  const slow = [keptAlive(600), keptAlive(900), keptAlive(1_200)];
  await sleep(150);
  termAt = performance.now();
  server.kill("SIGTERM");
  // New connections: refused soon after.
  void (async () => {
    for (let i = 0; i < 40 && refusedAfterMs === null; i++) {
      await sleep(50);
      const outcome = await new Promise<string>((resolve) => {
        const socket = connect(port, "127.0.0.1");
        socket.once("connect", () => {
          socket.destroy();
          resolve("connected");
        });
        socket.once("error", (e) => resolve((e as NodeJS.ErrnoException).code ?? "error"));
      });
      connectProbe = outcome;
      if (outcome === "ECONNREFUSED") refusedAfterMs = performance.now() - termAt;
    }
  })();
  exitCode = await Promise.race([server.exited, sleep(AFTER_MS + 5_000).then(() => "still running")]);
  exitAfterMs = performance.now() - termAt;
  // Once it is gone, the clients have seen all there is to see.
  const stopTimer = setTimeout(() => (stop = true), 500);
  await Promise.all(clients);
  clearTimeout(stopTimer);
  stop = true;
  attempts.push(...(await Promise.all(slow)).flat());
  if (exitCode === "still running") {
    server.kill("SIGKILL");
    await server.exited;
  }
  restarted = await startBuiltServer({ env, dir });
});

// Whatever before() got to: the server under test (gone, unless before() failed
// before its SIGTERM or it never exited) and the restarted one.
after(async () => {
  await stopAll([server], "SIGKILL");
  await stopAll([restarted]);
});

const summary = () => {
  const counts: Record<string, number> = {};
  for (const a of attempts) {
    const key = `${a.startedMs < 0 ? "before" : "after"} SIGTERM: ${a.status ?? a.error}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return JSON.stringify(counts);
};

test("every request sent before SIGTERM completes with a 2xx (bodies still arriving included)", (t) => {
  const before = attempts.filter((a) => a.startedMs < 0);
  t.diagnostic(`requests tried: ${attempts.length} (${summary()}); exit ${exitCode} ${Math.round(exitAfterMs)} ms after SIGTERM`);
  assert.ok(before.length >= 100, `only ${before.length} requests before the signal`);
  const slow = before.filter((a) => a.kind === "slow body");
  assert.equal(slow.length, 3);
  const bad = before
    .filter((a) => a.status === undefined || a.status >= 300)
    .map((a) => `${a.kind} sent at ${Math.round(a.startedMs)} ms: ${a.status ?? a.error} at ${Math.round(a.endedMs)} ms`);
  assert.deepEqual(bad, [], "requests in flight at SIGTERM did not complete");
});

/** Requests sent after the signal that were neither answered 2xx nor refused at connect (so they were sent, then cut off). */
const cutOff = () => attempts.filter((a) => a.startedMs >= 0 && (a.status === undefined ? a.error !== "ECONNREFUSED" : a.status >= 300));
const describeCut = (list: Attempt[]) =>
  list.map((a) => `${a.kind} sent ${Math.round(a.startedMs)} ms after SIGTERM: ${a.status ?? a.error} at ${Math.round(a.endedMs)} ms`);

test("no request already sent is reset as idle keep-alive connections are closed at SIGTERM (first second)", () => {
  const early = cutOff().filter((a) => a.startedMs < 1_000);
  assert.deepEqual(describeCut(early), [], `requests written to a kept-alive connection as the server closed it (${summary()})`);
});

test("requests on connections kept open after SIGTERM are answered, not reset when the shutdown grace runs out", () => {
  const late = cutOff().filter((a) => a.startedMs >= 1_000);
  assert.deepEqual(
    describeCut(late),
    [],
    `the server kept serving new requests on open connections for ${Math.round(exitAfterMs)} ms after SIGTERM, then reset the ones in flight (${summary()})`,
  );
});

test("new connections are refused soon after SIGTERM", () => {
  assert.ok(refusedAfterMs !== null, `a new connection was still accepted 2 s after SIGTERM (last probe: ${connectProbe})`);
  assert.ok(refusedAfterMs < 1_000, `refused only ${Math.round(refusedAfterMs)} ms after SIGTERM`);
});

test("the process exits 0 after draining, having logged 'stopped'", () => {
  assert.equal(exitCode, 0, `exit: ${exitCode}\nstderr: ${server.stderr()}`);
  const lines = server
    .stdout()
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { msg?: string; signal?: string });
  assert.ok(lines.some((l) => l.msg === "shutting down" && l.signal === "SIGTERM"));
  assert.equal(lines.at(-1)?.msg, "stopped");
});

test("after a restart every acknowledged token is there, and redeems exactly once", { timeout: 60_000 }, async (t) => {
  assert.ok(restarted);
  const acked = attempts.filter((a) => a.token);
  assert.equal(new Set(acked.map((a) => a.token)).size, acked.length);
  // Every one of them is in the store, not yet consumed.
  const { createClient } = await import("@libsql/client/sqlite3");
  const client = createClient({ url: env.SSOD_DATABASE_URL!, intMode: "number" });
  try {
    const rows = await client.execute({
      sql: "SELECT count(*) AS n, sum(consumed_at IS NULL AND revoked_at IS NULL) AS live FROM sso_tokens WHERE token_hash IN (SELECT value FROM json_each(?))",
      args: [JSON.stringify(acked.map((a) => sha256(a.token!)))],
    });
    assert.equal(rows.rows[0]!.n, acked.length, "acknowledged tokens missing from the store after the restart");
    assert.equal(rows.rows[0]!.live, acked.length);
  } finally {
    client.close();
  }
  // Through the restarted server: all those acknowledged before the signal, and a sample of those after it.
  const before = acked.filter((a) => a.startedMs < 0);
  const afterSignal = acked.filter((a) => a.startedMs >= 0);
  const step = Math.max(1, Math.ceil(afterSignal.length / 600));
  const chosen = [...before, ...afterSignal.filter((_, i) => i % step === 0)];
  const admin = { authorization: `Bearer ${adminKey}`, "content-type": "application/json" };
  const redeem = (token: string) => fetch(`${restarted!.url}/v1/tokens/redeem`, { method: "POST", headers: admin, body: JSON.stringify({ token }) });
  const lost: string[] = [];
  const twice: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < chosen.length) {
        const a = chosen[next++]!;
        const first = await redeem(a.token!);
        await first.arrayBuffer();
        if (first.status !== 200) lost.push(`${a.kind} acknowledged at ${Math.round(a.endedMs)} ms: ${first.status}`);
        const second = await redeem(a.token!);
        await second.arrayBuffer();
        if (second.status !== 400) twice.push(`${a.kind}: second redemption ${second.status}`);
      }
    }),
  );
  t.diagnostic(
    `tokens acknowledged: ${acked.length} (${afterSignal.length} after SIGTERM), all in the store; redeemed through the restarted server: ${chosen.length}; lost: ${lost.length}; redeemed twice: ${twice.length}`,
  );
  assert.deepEqual(lost.slice(0, 10), [], `${lost.length} acknowledged tokens lost`);
  assert.deepEqual(twice.slice(0, 10), []);
});
