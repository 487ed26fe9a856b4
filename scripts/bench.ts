// `npm run bench`: measures, in one run, a bare Hono echo server (the
// ceiling) and ssod's hot endpoints (forward-auth decisions among them: a
// valid session of a user the app admits), each at 50 connections for a
// fixed time after a warm-up, and reports every figure as a ratio to the
// ceiling of the same run (this machine is shared and noisy). Writes
// bench/results.json.
//
//   npm run bench                     # ~5 minutes
//   BENCH_SECONDS=5 npm run bench     # shorter runs
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startSqld } from "../tests/helpers/sqld";
import { tempDir } from "../tests/helpers/temp";
import { benchEndpoints, CONNECTIONS } from "./bench/endpoints";
import { type Figures, type LoadOptions, measure } from "./bench/load";
import { type Server, startServer } from "./bench/processes";
import { buildSingleFile } from "./build";

const root = fileURLToPath(new URL("..", import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
const ADMIN_KEY = `ssod_ak_${"b".repeat(43)}`;
const TARGETS = { ratio: 0.5, sqldRatio: 0.25, p99Ms: 25, rssMb: 150, startMs: 500 };

interface Row extends Figures {
  name: string;
  ratio: number;
}

const fileEnv = (dir: string) => ({ SSOD_DATABASE_URL: `file:${join(dir, "ssod.db")}`, SSOD_CACHE_DIR: join(dir, "cache") });

async function startSsod(env: Record<string, string>, dir: string): Promise<Server> {
  return startServer([join(root, "dist/ssod.mjs")], { SSOD_ADMIN_API_KEY: ADMIN_KEY, SSOD_HOST: "127.0.0.1", SSOD_PORT: "0", ...env }, dir);
}

/** Measures issue, redeem, GenerateSSOToken and the Tyk nonce against one running ssod. */
async function runEndpoints(ssod: Server, suffix: string, rows: Row[]): Promise<void> {
  const endpoints = await benchEndpoints(ssod.url, ADMIN_KEY, SECONDS);
  const run = async (name: string, options: LoadOptions) => {
    const figures = await measure(options, WARMUP);
    rows.push({ name: `${name}${suffix}`, ...figures, ratio: 0 }); // the ratio is set once the ceiling's median is known
    return figures;
  };
  const issue = await run("POST /v1/tokens", endpoints.issue);
  // Enough distinct tokens for the warm-up and the run, with room to spare.
  await run("POST /v1/tokens/redeem", await endpoints.redeem(Math.ceil(issue.requestsPerSecond * 1.5 * (SECONDS + WARMUP)) + 1000));
  await run("POST /GenerateSSOToken", endpoints.lob);
  await run("POST /api/sso", endpoints.tyk);
  await run("GET /v1/forward-auth", endpoints.forwardAuth);
}

function table(rows: Row[]): string {
  const header = ["endpoint", "req/s", "p50 ms", "p99 ms", "ratio", "non-2xx"];
  const lines = rows.map((r) => [r.name, String(r.requestsPerSecond), r.p50Ms.toFixed(1), r.p99Ms.toFixed(1), r.ratio.toFixed(2), String(r.non2xx + r.errors)]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  return [header, ...lines].map((l) => l.map((c, i) => c.padEnd(widths[i]!)).join("  ")).join("\n");
}

async function main() {
  if (!process.argv.includes("--no-build")) await buildSingleFile();
  const dir = tempDir("ssod-bench-");
  const echoBody = JSON.stringify({ user: { email: "bench@example.com" } });

  // (a) the ceiling, measured before, between and after the ssod runs: on a
  // shared machine it alone can move by 2x within minutes, so every ratio is
  // taken against the median of the three.
  const ceilingRuns: Figures[] = [];
  const measureCeiling = async () => {
    const ceiling = await startServer([join(root, "scripts/bench/ceiling.mjs")], {}, root);
    ceilingRuns.push(
      await measure(
        {
          url: `${ceiling.url}/echo`,
          method: "POST",
          headers: { "content-type": "application/json" },
          body: echoBody,
          connections: CONNECTIONS,
          seconds: SECONDS,
        },
        WARMUP,
      ),
    );
    await ceiling.stop();
  };
  const ssodRows: Row[] = [];
  await measureCeiling();

  // Start once on an empty store (migrations, first keys), then three times
  // as in production: like the ceiling, the start time is the median of three.
  const first = await startSsod(fileEnv(dir), dir);
  const coldStartMs = first.startMs;
  await first.stop();
  const startRuns: number[] = [];
  for (let i = 0; i < 2; i++) {
    const again = await startSsod(fileEnv(dir), dir);
    startRuns.push(again.startMs);
    await again.stop();
  }
  const ssod = await startSsod(fileEnv(dir), dir);
  startRuns.push(ssod.startMs);
  const startMs = [...startRuns].sort((a, b) => a - b)[1]!;
  await runEndpoints(ssod, "", ssodRows);
  const peakRssMb = ssod.peakRssMb();
  await ssod.stop();
  await measureCeiling();

  // The same against a real sqld (libSQL's server), as many instances would
  // share it, through a libsql:// URL as Turso gives them (a WebSocket).
  const sqld = await startSqld();
  const libsqlUrl = `${sqld.wsUrl.replace(/^ws:/, "libsql:")}?tls=0`;
  const remote = await startSsod(
    { SSOD_DATABASE_URL: libsqlUrl, SSOD_DATABASE_AUTH_TOKEN: sqld.token, SSOD_MASTER_KEY: "a".repeat(64) },
    tempDir("ssod-bench-remote-"),
  );
  await runEndpoints(remote, " (sqld)", ssodRows);
  await remote.stop();
  await sqld.stop();
  await measureCeiling();

  const base = [...ceilingRuns].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond)[1]!;
  const rows: Row[] = [
    { name: `ceiling: bare Hono JSON echo (median of ${ceilingRuns.map((r) => r.requestsPerSecond).join(", ")})`, ...base, ratio: 1 },
    ...ssodRows.map((r) => ({ ...r, ratio: r.requestsPerSecond / base.requestsPerSecond })),
  ];

  const fileRows = rows.filter((r) => r !== rows[0] && !r.name.endsWith("(sqld)"));
  const sqldRows = rows.filter((r) => /^POST \/v1\/tokens(\/redeem)? \(sqld\)$/.test(r.name));
  const endpoints = rows.slice(1);
  const forwardAuth = rows.find((r) => r.name === "GET /v1/forward-auth");
  const checks = {
    [`forward-auth decisions >= ${TARGETS.ratio * 100}% of the ceiling (${forwardAuth?.ratio.toFixed(2)})`]: (forwardAuth?.ratio ?? 0) >= TARGETS.ratio,
    [`every endpoint >= ${TARGETS.ratio * 100}% of the ceiling (file store)`]: fileRows.every((r) => r.ratio >= TARGETS.ratio),
    [`issue and redeem on sqld >= ${TARGETS.sqldRatio * 100}% of the ceiling`]: sqldRows.every((r) => r.ratio >= TARGETS.sqldRatio),
    [`p99 <= ${TARGETS.p99Ms} ms (file store)`]: fileRows.every((r) => r.p99Ms <= TARGETS.p99Ms),
    [`peak RSS <= ${TARGETS.rssMb} MB (${peakRssMb.toFixed(0)} MB)`]: peakRssMb <= TARGETS.rssMb,
    [`start to healthy <= ${TARGETS.startMs} ms (median ${startMs.toFixed(0)} ms of ${startRuns.map((ms) => ms.toFixed(0)).join(", ")}; first start on an empty store ${coldStartMs.toFixed(0)} ms)`]:
      startMs <= TARGETS.startMs,
    "no errors or non-2xx answers": endpoints.every((r) => r.non2xx + r.errors === 0),
  };
  process.stdout.write(`\n${table(rows)}\n\n`);
  for (const [name, ok] of Object.entries(checks)) process.stdout.write(`${ok ? "met " : "MISS"}  ${name}\n`);
  mkdirSync(join(root, "bench"), { recursive: true });
  writeFileSync(
    join(root, "bench/results.json"),
    `${JSON.stringify({ at: new Date().toISOString(), connections: CONNECTIONS, seconds: SECONDS, warmupSeconds: WARMUP, ceilingRuns, rows, peakRssMb, startMs, startRuns, coldStartMs, checks }, null, 2)}\n`,
  );
}

await main();
