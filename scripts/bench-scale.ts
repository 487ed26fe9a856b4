// `npm run bench:scale`: does ssod slow down as its store fills up, and does
// the sweeper keep it from growing without bound?
//
// 1. Issue and redeem on an empty store, then on a store already holding 1M
//    live tokens and 100k users, in one run (the ratio is what matters).
// 2. A store holding 1M long-expired tokens, served with a 1-second sweep:
//    how many are left after a while, and the file size.
import { statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "@libsql/client/sqlite3";
import { migrate } from "../src/store/migrations";
import { openStore } from "../src/store/store";
import { tempDir } from "../tests/helpers/temp";
import { measure } from "./bench/load";
import { startServer } from "./bench/processes";
import { buildSingleFile } from "./build";

const root = fileURLToPath(new URL("..", import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ADMIN_KEY = `ssod_ak_${"c".repeat(43)}`;
const TOKENS = Number(process.env.SCALE_TOKENS ?? 1_000_000);
const USERS = Number(process.env.SCALE_USERS ?? 100_000);

/** A migrated store file with `tokens` tokens (expiring at `expiresAt`) and `users` users, made in SQL. */
async function prefilledStore(dir: string, tokens: number, users: number, expiresAt: number): Promise<string> {
  const url = `file:${join(dir, "ssod.db")}`;
  const store = await openStore({ url });
  await migrate(store.driver);
  await store.close();
  const client = createClient({ url });
  await client.execute("PRAGMA journal_mode = WAL");
  const now = Date.now();
  // Random hashes and reference numbers, as real ones are: the indexes grow as in production.
  for (let done = 0; done < tokens; done += 100_000) {
    await client.execute({
      sql: `INSERT INTO sso_tokens (token_hash, ref_no, source_id, dialect, format, email, email_norm, org_id, issued_at, expires_at)
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
            SELECT lower(hex(randomblob(32))), CAST(abs(random()) AS TEXT) || i, 1, 'v1', 'nonce', 'u' || i || '@example.com', 'u' || i || '@example.com', '', ?, ? FROM n`,
      args: [Math.min(100_000, tokens - done), now, expiresAt],
    });
  }
  await client.execute({
    sql: `INSERT INTO users (id, org_id, email, email_norm, groups, created_at, updated_at)
          WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
          SELECT lower(hex(randomblob(16))), '', 'user' || i || '@example.com', 'user' || i || '@example.com', '[]', ?, ? FROM n`,
    args: [users, now, now],
  });
  client.close();
  return url;
}

async function startSsod(dir: string, url: string, env: Record<string, string> = {}) {
  return startServer(
    [join(root, "dist/ssod.mjs")],
    { SSOD_DATABASE_URL: url, SSOD_ADMIN_API_KEY: ADMIN_KEY, SSOD_HOST: "127.0.0.1", SSOD_PORT: "0", SSOD_CACHE_DIR: join(dir, "cache"), ...env },
    dir,
  );
}

async function issueAndRedeem(url: string) {
  const headers = { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" };
  const issue = await measure(
    { url: `${url}/v1/tokens`, method: "POST", headers, body: JSON.stringify({ user: { email: "scale@example.com" } }), connections: 50, seconds: SECONDS },
    2,
  );
  const tokens: string[] = [];
  const count = Math.ceil(issue.requestsPerSecond * (SECONDS + 2) * 1.5) + 1000;
  let next = 0;
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (next < count) {
        next++;
        const r = await fetch(`${url}/v1/tokens`, { method: "POST", headers, body: JSON.stringify({ user: { email: `r${next % 5000}@example.com` } }) });
        tokens.push(((await r.json()) as { token: string }).token);
      }
    }),
  );
  let cursor = 0;
  const redeem = await measure(
    {
      url: `${url}/v1/tokens/redeem`,
      method: "POST",
      headers,
      nextBody: () => JSON.stringify({ token: tokens[cursor++] ?? "x" }),
      connections: 50,
      seconds: SECONDS,
    },
    2,
  );
  return { issue, redeem };
}

async function main() {
  if (!process.argv.includes("--no-build")) await buildSingleFile();
  const report: Record<string, unknown> = {};

  const emptyDir = tempDir("ssod-scale-empty-");
  const empty = await startSsod(emptyDir, await prefilledStore(emptyDir, 0, 0, 0));
  const onEmpty = await issueAndRedeem(empty.url);
  await empty.stop();

  const fullDir = tempDir("ssod-scale-full-");
  const started = performance.now();
  const fullUrl = await prefilledStore(fullDir, TOKENS, USERS, Date.now() + 24 * 3600_000);
  const fillSeconds = (performance.now() - started) / 1000;
  const full = await startSsod(fullDir, fullUrl);
  const onFull = await issueAndRedeem(full.url);
  await full.stop();

  const row = (name: string, a: { requestsPerSecond: number; p99Ms: number }, b: { requestsPerSecond: number; p99Ms: number }) =>
    `${name.padEnd(22)} empty ${String(a.requestsPerSecond).padStart(6)} req/s p99 ${String(a.p99Ms).padStart(4)} ms   full ${String(b.requestsPerSecond).padStart(6)} req/s p99 ${String(b.p99Ms).padStart(4)} ms   ratio ${(b.requestsPerSecond / a.requestsPerSecond).toFixed(2)}`;
  process.stdout.write(`\nstore filled with ${TOKENS} tokens and ${USERS} users in ${fillSeconds.toFixed(1)} s\n`);
  process.stdout.write(`${row("POST /v1/tokens", onEmpty.issue, onFull.issue)}\n${row("POST /v1/tokens/redeem", onEmpty.redeem, onFull.redeem)}\n`);
  report.growth = { tokens: TOKENS, users: USERS, empty: onEmpty, full: onFull };

  // The sweeper: 1M tokens that expired a day ago, swept every second with no grace.
  const sweepDir = tempDir("ssod-scale-sweep-");
  const sweepUrl = await prefilledStore(sweepDir, TOKENS, 0, Date.now() - 24 * 3600_000);
  const dbFile = join(sweepDir, "ssod.db");
  const sizeBefore = statSync(dbFile).size;
  const swept = await startSsod(sweepDir, sweepUrl, { SSOD_SWEEP_INTERVAL: "1", SSOD_SWEEP_GRACE: "0" });
  const count = async () => {
    const client = createClient({ url: sweepUrl });
    const n = Number((await client.execute("SELECT count(*) FROM sso_tokens")).rows[0]![0]);
    client.close();
    return n;
  };
  const sweepStart = performance.now();
  let left = await count();
  while (left > 0 && performance.now() - sweepStart < 120_000) {
    await new Promise((r) => setTimeout(r, 1000));
    left = await count();
  }
  const sweepSeconds = (performance.now() - sweepStart) / 1000;
  // Then 5 s of issuing (tens of thousands of tokens): the file must not grow, the freed pages are reused.
  await measure(
    {
      url: `${swept.url}/v1/tokens`,
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ user: { email: "after@example.com" } }),
      connections: 50,
      seconds: 5,
    },
    0,
  );
  await swept.stop();
  const sizeAfter = statSync(dbFile).size;
  process.stdout.write(
    `sweeper: ${TOKENS} expired tokens → ${left} left after ${sweepSeconds.toFixed(1)} s; store file ${(sizeBefore / 1e6).toFixed(0)} MB before, ${(sizeAfter / 1e6).toFixed(0)} MB after sweeping and issuing again\n`,
  );
  report.sweep = { expiredTokens: TOKENS, left, seconds: sweepSeconds, fileBytesBefore: sizeBefore, fileBytesAfter: sizeAfter };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

await main();
