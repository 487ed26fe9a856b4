// Hardening, SPEC §5: "A token acknowledged with a 2xx survives a crash
// (kill -9) of the server right after the response." The built server takes
// a load of 16 concurrent clients issuing tokens (native nonces and JWTs, Tyk
// nonces) and creating sources; it is killed with SIGKILL mid-load, twice,
// and restarted each time on the same store (same file, same folder, so the
// same master.key). Every token answered 2xx before a kill redeems exactly
// once afterwards; every source answered 201 is still there, secret and all.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { generateAdminKey } from "../src/core/admin-keys";
import { startBuiltServer, type ServerProcess } from "./helpers/process";
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

const running: ServerProcess[] = [];

after(async () => {
  for (const server of running) {
    if (server.child.exitCode === null && server.child.signalCode === null) {
      server.kill("SIGKILL");
      await server.exited;
    }
  }
});

test("tokens and sources acknowledged before a kill -9 all survive it; each token redeems exactly once", { timeout: 90_000 }, async (t) => {
  const dir = tempDir("ssod-crash-");
  const adminKey = generateAdminKey();
  const env = { SSOD_DATABASE_URL: `file:${join(dir, "ssod.db")}`, SSOD_ADMIN_API_KEY: adminKey, SSOD_LOG_LEVEL: "info" };
  const admin = { authorization: `Bearer ${adminKey}`, "content-type": "application/json" };

  let server = await startBuiltServer({ env, dir });
  running.push(server);
  assert.ok(existsSync(join(dir, "master.key")), "the master key file is made beside the store");

  // A long-lived source, so no token expires before it is checked.
  const made = await fetch(`${server.url}/v1/sources`, { method: "POST", headers: admin, body: JSON.stringify({ code: "durable", name: "Durable", validForSeconds: 3600 }) });
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
        try {
          if (i % 15 === 2) {
            const code = `crash${crash}-${n}-${i}`;
            const r = await fetch(`${base}/v1/sources`, { method: "POST", headers: admin, body: JSON.stringify({ code, name: code, validForSeconds: 600 }) });
            const body = (await r.json()) as AckedSource;
            if (r.status === 201) sources.push({ id: body.id, code: body.code, clientId: body.clientId, clientSecret: body.clientSecret, crash });
            else other.push(`source ${r.status} ${JSON.stringify(body)}`);
          } else if (n % 4 === 3 && i % 2 === 0) {
            const r = await fetch(`${base}/api/sso`, { method: "POST", headers: admin, body: JSON.stringify({ EmailAddress: `tyk-${n}-${i}@example.com`, ForSection: "dashboard" }) });
            const body = (await r.json()) as { Meta: string };
            // Tyk's answer carries no reference number: the nonce itself is the receipt.
            if (r.status === 200) tokens.push({ token: body.Meta, tokenRefNo: "", via: "tyk", crash });
            else other.push(`tyk ${r.status} ${JSON.stringify(body)}`);
          } else {
            const format = i % 3 === 0 ? "jwt" : "nonce";
            const r = await fetch(`${base}/v1/tokens`, {
              method: "POST",
              headers: admin,
              body: JSON.stringify({ user: { email: `user-${n}-${i % 50}@example.com`, displayName: `User ${n}` }, format, sourceCode: "durable", ttlSeconds: 3600 }),
            });
            const body = (await r.json()) as { token: string; tokenRefNo: string };
            if (r.status === 201) tokens.push({ token: body.token, tokenRefNo: body.tokenRefNo, via: `v1-${format}`, crash });
            else other.push(`v1 ${r.status} ${JSON.stringify(body)}`);
          }
        } catch {
          // The connection died with the server: this request was never acknowledged.
          failedInFlight++;
          return;
        }
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
    const basic = { authorization: `Basic ${Buffer.from(`${source.clientId}:${source.clientSecret}`).toString("base64")}`, "content-type": "application/json" };
    const r = await fetch(`${server.url}/v1/tokens`, { method: "POST", headers: basic, body: JSON.stringify({ user: { email: "after-crash@example.com" } }) });
    assert.equal(r.status, 201, `the client secret of ${source.code}: ${await r.text()}`);
  }
  t.diagnostic(`sources checked after restart: ${sources.length}, lost: ${missing.length}`);

  server.kill("SIGTERM");
  assert.equal(await server.exited, 0);
});
