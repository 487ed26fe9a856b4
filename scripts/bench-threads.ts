// `npm run bench:threads -- ENDPOINT [--sqld]`: where the CPU of one hot
// endpoint goes, per request and per thread, beside the ceiling of the same
// run. ENDPOINT is issue, redeem, lob, tyk or forwardAuth. The built server is loaded at
// 50 connections for BENCH_SECONDS (8) after a 2 s warm-up; the CPU time of
// each of its threads (and of sqld, and of the load generator itself) is read
// before and after, and divided by the requests answered.
//
//   npm run bench:threads -- issue
//   npm run bench:threads -- redeem --sqld
//   npm run bench:threads -- issue --cpu-prof   # also a CPU profile per thread, in bench/
import { mkdirSync, readdirSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Sqld, startSqld } from "../tests/helpers/sqld";
import { tempDir } from "../tests/helpers/temp";
import { benchEndpoints, CONNECTIONS } from "./bench/endpoints";
import { type LoadOptions, measure } from "./bench/load";
import { type Server, startServer } from "./bench/processes";
import { buildSingleFile } from "./build";

const root = fileURLToPath(new URL("..", import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const ADMIN_KEY = `ssod_ak_${"t".repeat(43)}`;
const ENDPOINTS = ["issue", "redeem", "lob", "tyk", "forwardAuth"] as const;
type Endpoint = (typeof ENDPOINTS)[number];

/** CPU milliseconds used so far by each thread of a process, by thread name and id. */
function threadCpu(pid: number): Map<string, number> {
  const threads = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime + stime, in clock ticks of 10 ms; the thread whose id is the process's is the main thread
    threads.set(tid === String(pid) ? "main thread" : `${name} thread ${tid}`, (Number(fields[11]) + Number(fields[12])) * 10);
  }
  return threads;
}

const totalCpu = (pid: number) => [...threadCpu(pid).values()].reduce((a, b) => a + b, 0);

/** The load for one endpoint, against a fresh source of a running ssod. */
async function loadFor(endpoint: Endpoint, url: string): Promise<LoadOptions> {
  const endpoints = await benchEndpoints(url, ADMIN_KEY, SECONDS);
  // Enough distinct tokens for the warm-up and the run at any rate this machine reaches.
  return endpoint === "redeem" ? endpoints.redeem(60_000) : endpoints[endpoint];
}

/** Loads the server and prints req/s and CPU per request: each thread of `server`, sqld, the load generator. */
async function account(label: string, server: Server, load: LoadOptions, sqld?: Sqld): Promise<void> {
  await measure({ ...load, seconds: 2 }, 0);
  const before = threadCpu(server.child.pid!);
  const sqldBefore = sqld ? totalCpu(sqld.pid()!) : 0;
  const own = process.cpuUsage();
  const figures = await measure(load, 0);
  const ownUs = process.cpuUsage(own);
  const after = threadCpu(server.child.pid!);
  const perRequest = (ms: number) => `${((ms * 1000) / figures.total).toFixed(1)} µs`;
  process.stdout.write(
    `\n${label}: ${figures.requestsPerSecond} req/s, p50 ${figures.p50Ms} ms, p99 ${figures.p99Ms} ms, non-2xx ${figures.non2xx + figures.errors}\n`,
  );
  const used = [...after].map(([thread, ms]) => [thread, ms - (before.get(thread) ?? 0)] as const);
  const all = used.reduce((sum, [, ms]) => sum + ms, 0);
  // Threads that did next to nothing (idle helpers) are left out.
  for (const [thread, ms] of used) if (ms >= all * 0.02) process.stdout.write(`  ${thread.padEnd(24)} ${perRequest(ms).padStart(10)} / request\n`);
  process.stdout.write(`  ${"all its threads".padEnd(24)} ${perRequest(all).padStart(10)} / request\n`);
  if (sqld) process.stdout.write(`  ${"sqld (all threads)".padEnd(24)} ${perRequest(totalCpu(sqld.pid()!) - sqldBefore).padStart(10)} / request\n`);
  process.stdout.write(`  ${"load generator".padEnd(24)} ${perRequest((ownUs.user + ownUs.system) / 1000).padStart(10)} / request\n`);
  process.stdout.write(`  peak RSS ${server.peakRssMb().toFixed(0)} MB\n`);
}

async function main() {
  const endpoint = process.argv[2] as Endpoint;
  if (!ENDPOINTS.includes(endpoint)) throw new Error(`usage: npm run bench:threads -- ${ENDPOINTS.join("|")} [--sqld] [--cpu-prof]`);
  const profile = process.argv.includes("--cpu-prof");
  if (!process.argv.includes("--no-build")) await buildSingleFile({ minify: !profile });
  const dir = tempDir("ssod-threads-");

  const ceiling = await startServer([join(root, "scripts/bench/ceiling.mjs")], {}, root);
  await account("ceiling (bare Hono JSON echo)", ceiling, {
    url: `${ceiling.url}/echo`,
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user: { email: "bench@example.com" } }),
    connections: CONNECTIONS,
    seconds: SECONDS,
  });
  await ceiling.stop();

  const sqld = process.argv.includes("--sqld") ? await startSqld() : undefined;
  const store: Record<string, string> = sqld
    ? { SSOD_DATABASE_URL: `${sqld.wsUrl.replace(/^ws:/, "libsql:")}?tls=0`, SSOD_DATABASE_AUTH_TOKEN: sqld.token, SSOD_MASTER_KEY: "a".repeat(64) }
    : { SSOD_DATABASE_URL: `file:${join(dir, "ssod.db")}` };
  const ssod = await startServer(
    [...(profile ? ["--cpu-prof", `--cpu-prof-dir=${dir}`] : []), join(root, "dist/ssod.mjs")],
    {
      SSOD_ADMIN_API_KEY: ADMIN_KEY,
      SSOD_HOST: "127.0.0.1",
      SSOD_PORT: "0",
      SSOD_CACHE_DIR: join(dir, "cache"),
      ...store,
    },
    dir,
  );
  await account(`ssod ${endpoint}${sqld ? " (sqld)" : ""}`, ssod, await loadFor(endpoint, ssod.url), sqld);
  await ssod.stop();
  await sqld?.stop();
  if (profile) {
    mkdirSync(join(root, "bench"), { recursive: true });
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"))) renameSync(join(dir, file), join(root, "bench", `${endpoint}-${file}`));
    process.stdout.write(`\nCPU profiles (one per thread) in bench/: open them in Chrome DevTools or speedscope\n`);
  }
}

await main();
