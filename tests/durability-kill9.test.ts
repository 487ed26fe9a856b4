// SPEC §5: "A token acknowledged with a 2xx survives a crash (kill -9) of the
// server right after the response", and so does its consumption. The built
// server, restarted each time on the same store (same file, so the same
// master.key beside it):
// - under a load of 16 concurrent clients issuing tokens (native nonces and
//   JWTs, Tyk nonces) and creating sources, killed with SIGKILL mid-load,
//   twice: every token answered 2xx before a kill redeems exactly once
//   afterwards; every source answered 201 is still there, secret and all;
// - killed the moment the last of 60 issues (every format and dialect), then
//   of 30 redemptions, was answered: the issued tokens are live after the
//   restart, the redeemed ones stay redeemed.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { generateAdminKey } from "../src/core/admin-keys";
import { postJson } from "./helpers/http";
import { type ServerProcess, startBuiltServer, stopAll } from "./helpers/process";
import { basicAuth } from "./helpers/sources";
import { tempDir } from "./helpers/temp";

const CLIENTS = 16;
const LOAD_MS = 1_500;
const CRASHES = 2;

interface Acked {
  token: string;
  tokenRefNo: string;
  via: string;
  crash: number;
}

interface AckedSource {
  id: number;
  code: string;
  clientId: string;
  clientSecret: string;
  crash: number;
}

/** Every server either test started: stopped (or found gone) at the end, however the test ended. */
const running: ServerProcess[] = [];

after(async () => {
  await stopAll(running, "SIGKILL");
});

/** An answer, or undefined when the connection died with the server (so the request was never acknowledged). */
async function attempt(url: string, init: RequestInit): Promise<{ status: number; text: string } | undefined> {
  try {
    const r = await fetch(url, init);
    return { status: r.status, text: await r.text() };
  } catch {
    return undefined;
  }
}

test("tokens and sources acknowledged under load survive two kill -9s: each token redeems exactly once, each source still authenticates", {
  timeout: 90_000,
}, async (t) => {
  const dir = tempDir("ssod-crash-");
  const adminKey = generateAdminKey();
  const env = { SSOD_DATABASE_URL: `file:${join(dir, "ssod.db")}`, SSOD_ADMIN_API_KEY: adminKey, SSOD_LOG_LEVEL: "info" };
  const admin = { authorization: `Bearer ${adminKey}`, "content-type": "application/json" };

  let server = await startBuiltServer({ env, dir });
  running.push(server);
  assert.ok(existsSync(join(dir, "master.key")), "the master key file is made beside the store");

  // A long-lived source, so no token expires before it is checked.
  const made = await fetch(`${server.url}/v1/sources`, {
    method: "POST",
    headers: admin,
    body: JSON.stringify({ code: "durable", name: "Durable", validForSeconds: 3600 }),
  });
  assert.equal(made.status, 201, await made.clone().text());

  const tokens: Acked[] = [];
  const sources: AckedSource[] = [];
  let tried = 0;
  let failedInFlight = 0;
  const other: string[] = [];

  for (let crash = 1; crash <= CRASHES; crash++) {
    const base = server.url;
    let stop = false;
    const client = async (n: number) => {
      for (let i = 0; !stop; i++) {
        tried++;
        let kind: "source" | "tyk" | "v1";
        let answer: { status: number; text: string } | undefined;
        let format: "jwt" | "nonce" = "nonce";
        let code = "";
        if (i % 15 === 2) {
          kind = "source";
          code = `crash${crash}-${n}-${i}`;
          answer = await attempt(`${base}/v1/sources`, { method: "POST", headers: admin, body: JSON.stringify({ code, name: code, validForSeconds: 600 }) });
        } else if (n % 4 === 3 && i % 2 === 0) {
          kind = "tyk";
          answer = await attempt(`${base}/api/sso`, {
            method: "POST",
            headers: admin,
            body: JSON.stringify({ EmailAddress: `tyk-${n}-${i}@example.com`, ForSection: "dashboard" }),
          });
        } else {
          kind = "v1";
          format = i % 3 === 0 ? "jwt" : "nonce";
          answer = await attempt(`${base}/v1/tokens`, {
            method: "POST",
            headers: admin,
            body: JSON.stringify({
              user: { email: `user-${n}-${i % 50}@example.com`, displayName: `User ${n}` },
              format,
              sourceCode: "durable",
              ttlSeconds: 3600,
            }),
          });
        }
        if (!answer) {
          // The connection died with the server: this request was never acknowledged.
          failedInFlight++;
          return;
        }
        // An answer that arrived is JSON, whatever its status (a body that is not fails the test here).
        const body = JSON.parse(answer.text) as Record<string, unknown>;
        if (kind === "source") {
          if (answer.status === 201)
            sources.push({
              id: body.id as number,
              code: body.code as string,
              clientId: body.clientId as string,
              clientSecret: body.clientSecret as string,
              crash,
            });
          else other.push(`source ${answer.status} ${answer.text}`);
        } else if (kind === "tyk") {
          // Tyk's answer carries no reference number: the nonce itself is the receipt.
          if (answer.status === 200) tokens.push({ token: body.Meta as string, tokenRefNo: "", via: "tyk", crash });
          else other.push(`tyk ${answer.status} ${answer.text}`);
        } else if (answer.status === 201) tokens.push({ token: body.token as string, tokenRefNo: body.tokenRefNo as string, via: `v1-${format}`, crash });
        else other.push(`v1 ${answer.status} ${answer.text}`);
      }
    };
    const clients = Array.from({ length: CLIENTS }, (_, n) => client(n));
    await sleep(LOAD_MS);
    const ackedBeforeKill = tokens.filter((x) => x.crash === crash).length;
    server.kill("SIGKILL");
    assert.equal(await server.exited, "SIGKILL");
    stop = true;
    await Promise.all(clients);
    t.diagnostic(`crash ${crash}: SIGKILL after ${LOAD_MS} ms of load; ${ackedBeforeKill} tokens acknowledged when the signal was sent`);

    // Restart on the same store and the same folder (the same master.key).
    server = await startBuiltServer({ env, dir });
    running.push(server);
  }

  assert.deepEqual(other, [], "every request answered before the kill was a success");
  assert.ok(tokens.length >= 100, `only ${tokens.length} tokens were acknowledged: not much of a load`);
  assert.ok(sources.length >= 2, `only ${sources.length} sources were created under load`);
  assert.equal(new Set(tokens.map((x) => x.token)).size, tokens.length, "no token text was handed out twice");

  // Every acknowledged token redeems exactly once: 200 the first time, 400 the second.
  const first = new Map<string, number>();
  const second = new Map<string, number>();
  const lost: string[] = [];
  let next = 0;
  const redeem = (token: string) => fetch(`${server.url}/v1/tokens/redeem`, { method: "POST", headers: admin, body: JSON.stringify({ token }) });
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < tokens.length) {
        const item = tokens[next++]!;
        const r1 = await redeem(item.token);
        const b1 = (await r1.json()) as { tokenRefNo?: string };
        first.set(item.token, r1.status);
        if (r1.status !== 200) lost.push(`${item.via} ${item.tokenRefNo || item.token.slice(0, 12)} (crash ${item.crash}): ${r1.status} ${JSON.stringify(b1)}`);
        else if (item.tokenRefNo) assert.equal(b1.tokenRefNo, item.tokenRefNo);
        const r2 = await redeem(item.token);
        await r2.arrayBuffer();
        second.set(item.token, r2.status);
      }
    }),
  );
  const redeemedOnce = [...first.values()].filter((s) => s === 200).length;
  const secondNot400 = [...second.entries()].filter(([, s]) => s !== 400);
  t.diagnostic(
    `requests tried: ${tried}; faults injected: ${CRASHES} × SIGKILL; requests cut off in flight: ${failedInFlight}; ` +
      `tokens acknowledged: ${tokens.length} (${["v1-nonce", "v1-jwt", "tyk"].map((v) => `${v} ${tokens.filter((x) => x.via === v).length}`).join(", ")}); ` +
      `redeemed once after restart: ${redeemedOnce}; lost: ${lost.length}; sources acknowledged: ${sources.length}`,
  );
  assert.deepEqual(lost.slice(0, 20), [], `${lost.length} acknowledged tokens were lost`);
  assert.equal(redeemedOnce, tokens.length);
  assert.deepEqual(secondNot400.slice(0, 10), [], "a second redemption must be refused with 400");

  // Every source answered 201 exists, with its code, and its client secret still authenticates.
  const missing: string[] = [];
  for (const source of sources) {
    const r = await fetch(`${server.url}/v1/sources/${source.id}`, { headers: admin });
    const body = (await r.json()) as { code?: string; clientId?: string };
    if (r.status !== 200 || body.code !== source.code || body.clientId !== source.clientId) missing.push(`${source.code}: ${r.status} ${JSON.stringify(body)}`);
  }
  assert.deepEqual(missing, [], "sources acknowledged with 201 were lost");
  for (const source of sources.slice(0, 4)) {
    const r = await postJson(`${server.url}/v1/tokens`, { user: { email: "after-crash@example.com" } }, basicAuth(source));
    assert.equal(r.status, 201, `the client secret of ${source.code}: ${await r.text()}`);
  }
  t.diagnostic(`sources checked after restart: ${sources.length}, lost: ${missing.length}`);

  server.kill("SIGTERM");
  assert.equal(await server.exited, 0);
});

// ---- kill -9 the moment the answers are in ----

const durableKey = generateAdminKey();
const shared = tempDir("ssod-durable-");
const durableEnv = { SSOD_DATABASE_URL: `file:${join(shared, "ssod.db")}`, SSOD_ADMIN_API_KEY: durableKey };
const durableAdmin = { authorization: `Bearer ${durableKey}` };

async function start(): Promise<ServerProcess> {
  const server = await startBuiltServer({ env: durableEnv });
  running.push(server);
  return server;
}

async function crash(server: ServerProcess) {
  server.kill("SIGKILL");
  assert.equal(await server.exited, "SIGKILL");
}

const post = (server: ServerProcess, path: string, json: unknown) => postJson(`${server.url}${path}`, json, durableAdmin);

test("the moment its last 2xx is answered, kill -9 loses nothing: issued tokens are live after the restart, redeemed ones stay redeemed", {
  timeout: 120_000,
}, async () => {
  let server = await start();
  const created = await post(server, "/v1/sources", { code: "durable", name: "Durable", validForSeconds: 600 });
  assert.equal(created.status, 201);

  // 60 tokens in every format and dialect, then kill -9 the moment the last 2xx is in.
  const issued = await Promise.all(
    Array.from({ length: 60 }, async (_, i) => {
      if (i % 3 === 2) {
        const r = await postJson(`${server.url}/api/sso`, { emailAddress: `d${i}@example.com`, sourceCode: "durable" }, { "admin-auth": durableKey });
        assert.equal(r.status, 200);
        return ((await r.json()) as { Meta: string }).Meta;
      }
      const r = await post(server, "/v1/tokens", { user: { email: `d${i}@example.com` }, sourceCode: "durable", format: i % 3 === 0 ? "nonce" : "jwt" });
      assert.equal(r.status, 201);
      return ((await r.json()) as { token: string }).token;
    }),
  );
  await crash(server);

  server = await start();
  for (const token of issued) {
    const r = await post(server, "/v1/tokens/introspect", { token });
    assert.equal(((await r.json()) as { active: boolean }).active, true, "an acknowledged token is still there after kill -9");
  }

  // Redeem half, kill -9 the moment the answers are in.
  const [first, second] = [issued.slice(0, 30), issued.slice(30)];
  const redeemed = await Promise.all(first.map((token) => post(server, "/v1/tokens/redeem", { token })));
  assert.deepEqual(
    redeemed.map((r) => r.status),
    first.map(() => 200),
  );
  await crash(server);

  server = await start();
  const again = await Promise.all(first.map((token) => post(server, "/v1/tokens/redeem", { token })));
  assert.deepEqual(
    again.map((r) => r.status),
    first.map(() => 400),
    "a redemption acknowledged before the crash stays done",
  );
  const rest = await Promise.all(second.map((token) => post(server, "/v1/tokens/redeem", { token })));
  assert.deepEqual(
    rest.map((r) => r.status),
    second.map(() => 200),
  );
});
