// `npm run bench:pages`: how many database pages a redemption dirties, for
// the store's layout and for candidate layouts, and what the audit log's
// filter by user costs with and without its index (issue 19, "redeem's pages").
//
// Pages are counted as the WAL's frames: a copy of the built file whose writer
// never checkpoints (`wal_autocheckpoint = 0`, the only change) serves the
// bench's redeem load (50 connections, distinct tokens of 5,000 users) after
// the WAL was emptied; frames appended / redemptions answered. Each layout is
// applied to a freshly migrated store before the load, in alternating rounds.
//
//   npm run bench:pages
//   BENCH_SECONDS=4 BENCH_ROUNDS=1 npm run bench:pages -- --no-build
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "@libsql/client/sqlite3";
import { tempDir } from "../tests/helpers/temp";
import { benchEndpoints, json } from "./bench/endpoints";
import { measure } from "./bench/load";
import { startServer } from "./bench/processes";
import { buildSingleFile } from "./build";

const root = fileURLToPath(new URL("..", import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ADMIN_KEY = `ssod_ak_${"p".repeat(43)}`;
// The WAL file's header, and each frame's header before its page.
const WAL_HEADER_BYTES = 32;
const FRAME_HEADER_BYTES = 24;

/** SQL that turns the migrated store into a candidate layout (run with the server stopped). */
type Layout = (sql: (statement: string) => Promise<{ rows: Record<string, unknown>[] }>) => Promise<void>;

const LAYOUTS: Record<string, Layout> = {
  "as migrated": async () => {},
  "audit log without its user index": async (sql) => {
    await sql("DROP INDEX audit_user_idx");
  },
  // The session row keyed by its hash: one B-tree fewer (no separate key index).
  "sessions WITHOUT ROWID": async (sql) => {
    const [table] = (await sql("SELECT sql FROM sqlite_master WHERE name = 'login_sessions'")).rows;
    const indexes = (await sql("SELECT sql FROM sqlite_master WHERE tbl_name = 'login_sessions' AND type = 'index' AND sql IS NOT NULL")).rows;
    await sql(`${String(table!.sql).replace(/^CREATE TABLE [`"]?login_sessions[`"]?/, "CREATE TABLE login_sessions_rebuilt")} WITHOUT ROWID`);
    await sql("DROP TABLE login_sessions");
    await sql("ALTER TABLE login_sessions_rebuilt RENAME TO login_sessions");
    for (const index of indexes) await sql(String(index.sql));
  },
};

/** The built file, but its writer never folds the WAL back: every page a commit writes stays countable. */
function neverCheckpointingCopy(dir: string): string {
  const pragma = 'exec("PRAGMA synchronous = FULL");';
  const source = readFileSync(join(root, "dist/ssod.mjs"), "latin1");
  const at = source.indexOf(pragma);
  if (at < 0 || source.indexOf(pragma, at + 1) >= 0) throw new Error("the writer's synchronous pragma is not in dist/ssod.mjs exactly once");
  const receiver = source.slice(source.lastIndexOf(";", at) + 1, at).replace(/^\s+/, "");
  const file = join(dir, "ssod-no-checkpoint.mjs");
  // The assets are found counting from the file's end, so text added before them is harmless.
  writeFileSync(file, `${source.slice(0, at + pragma.length)}${receiver}exec("PRAGMA wal_autocheckpoint = 0");${source.slice(at + pragma.length)}`, "latin1");
  return file;
}

function env(dir: string) {
  return {
    SSOD_DATABASE_URL: `file:${join(dir, "ssod.db")}`,
    SSOD_ADMIN_API_KEY: ADMIN_KEY,
    SSOD_HOST: "127.0.0.1",
    SSOD_PORT: "0",
    SSOD_CACHE_DIR: join(dir, "cache"),
  };
}

async function withStore<T>(dir: string, use: (sql: (statement: string) => Promise<{ rows: Record<string, unknown>[] }>) => Promise<T>): Promise<T> {
  const client = createClient({ url: `file:${join(dir, "ssod.db")}` });
  try {
    return await use((statement) => client.execute(statement) as Promise<{ rows: Record<string, unknown>[] }>);
  } finally {
    client.close();
  }
}

async function pagesPerRedemption(binary: string, layout: Layout) {
  const dir = tempDir("ssod-pages-");
  // The first start migrates the store; the layout is changed with the server stopped.
  await (await startServer([binary], env(dir), dir)).stop();
  await withStore(dir, layout);
  const server = await startServer([binary], env(dir), dir);
  try {
    const load = await (await benchEndpoints(server.url, ADMIN_KEY, SECONDS)).redeem(60_000);
    const wal = join(dir, "ssod.db-wal");
    const redeemed = () =>
      withStore(dir, async (sql) => {
        const [row] = (await sql("SELECT count(*) AS tokens, count(DISTINCT redeem_batch) AS batches FROM sso_tokens WHERE redeem_batch IS NOT NULL")).rows;
        return { tokens: Number(row!.tokens), batches: Number(row!.batches) };
      });
    const pageSize = await withStore(dir, async (sql) => Number((await sql("PRAGMA page_size")).rows[0]!.page_size));
    await withStore(dir, (sql) => sql("PRAGMA wal_checkpoint(TRUNCATE)"));
    // Emptied, or the writer would write its next frames over old ones and the count would come out short.
    if (statSync(wal).size !== 0) throw new Error("the WAL was not emptied before the load (another connection was reading)");
    const before = await redeemed();
    const figures = await measure(load, 0);
    if (figures.non2xx + figures.errors > 0) throw new Error(`redeem failed ${figures.non2xx + figures.errors} times`);
    const after = await redeemed();
    const frames = (statSync(wal).size - WAL_HEADER_BYTES) / (pageSize + FRAME_HEADER_BYTES);
    const tokens = after.tokens - before.tokens;
    return { pages: frames / tokens, perBatch: tokens / (after.batches - before.batches), rps: figures.requestsPerSecond, p99: figures.p99Ms };
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** GET /v1/audit?user=…, median of 21, on a store holding `rows` events of 5,000 users (and one user with a single event). */
async function auditByUser(binary: string, withIndex: boolean, rows: number) {
  const dir = tempDir("ssod-audit-");
  await (await startServer([binary], env(dir), dir)).stop();
  await withStore(dir, async (sql) => {
    await sql(`INSERT INTO audit_events (at, actor, action, target, outcome, ip, source_code, user_id, detail)
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${rows})
      SELECT 1700000000000 + i, 'source:bench', 'token.redeem', 'ref' || i, 'success', '127.0.0.1', 'bench', 'user-' || (i % 5000), '{"format":"hex"}' FROM n`);
    await sql("INSERT INTO audit_events (at, actor, action, outcome, user_id) VALUES (1, 'admin', 'user.update', 'success', 'user-rare')");
    if (!withIndex) await sql("DROP INDEX audit_user_idx");
  });
  const server = await startServer([binary], env(dir), dir);
  try {
    const median = async (user: string) => {
      const times: number[] = [];
      for (let i = 0; i < 21; i++) {
        const started = performance.now();
        await json(`${server.url}/v1/audit?user=${user}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
        times.push(performance.now() - started);
      }
      return times.sort((a, b) => a - b)[10]!;
    };
    return { busy: await median("user-42"), rare: await median("user-rare") };
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  if (!process.argv.includes("--no-build")) await buildSingleFile({ minify: true });
  const binary = neverCheckpointingCopy(tempDir("ssod-pages-build-"));
  const results = new Map<string, Awaited<ReturnType<typeof pagesPerRedemption>>[]>();
  const names = Object.keys(LAYOUTS);
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of round % 2 ? [...names].reverse() : names) {
      const result = await pagesPerRedemption(binary, LAYOUTS[name]!);
      results.set(name, [...(results.get(name) ?? []), result]);
      process.stdout.write(
        `round ${round + 1}, ${name}: ${result.pages.toFixed(2)} pages per redemption, ${result.perBatch.toFixed(1)} a batch, ${result.rps} req/s, p99 ${result.p99} ms\n`,
      );
    }
  }
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  process.stdout.write("\n| layout | pages per redemption | redemptions per commit | redeem req/s | p99 |\n| --- | ---: | ---: | ---: | ---: |\n");
  for (const [name, runs] of results) {
    process.stdout.write(
      `| ${name} | ${median(runs.map((r) => r.pages)).toFixed(2)} | ${median(runs.map((r) => r.perBatch)).toFixed(1)} | ${median(runs.map((r) => r.rps))} | ${median(runs.map((r) => r.p99))} ms |\n`,
    );
  }
  const rows = 1_000_000;
  process.stdout.write(`\nGET /v1/audit?user=… on ${rows.toLocaleString("en")} events (median of 21):\n`);
  for (const withIndex of [true, false]) {
    const { busy, rare } = await auditByUser(binary, withIndex, rows);
    process.stdout.write(
      `  ${withIndex ? "with" : "without"} audit_user_idx: a user with 200 events ${busy.toFixed(1)} ms, a user with one ${rare.toFixed(1)} ms\n`,
    );
  }
}

await main();
