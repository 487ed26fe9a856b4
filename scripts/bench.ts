// `npm run bench`: measures, in one run, a bare Hono echo server (the
// ceiling) and ssod's hot endpoints (forward-auth decisions among them: a
// valid session of a user the app admits), each at 50 connections for a
// fixed time after a warm-up, and reports every figure as a ratio to the
// ceiling of the same run (this machine is shared and noisy). Writes
// bench/results.json.
//
//   npm run bench                     # ~10 minutes
//   BENCH_SECONDS=5 npm run bench     # shorter runs
//   npm run bench -- --webhooks-only  # only issue and redeem with and without webhooks
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startSqld } from "../tests/helpers/sqld";
import { tempDir } from "../tests/helpers/temp";
import { benchEndpoints, CONNECTIONS } from "./bench/endpoints";
import { type Figures, type LoadOptions, measure } from "./bench/load";
import { cpuMs, type Server, startServer } from "./bench/processes";
import { buildSingleFile } from "./build";

const root = fileURLToPath(new URL("..", import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
const ADMIN_KEY = `ssod_ak_${"b".repeat(43)}`;
const TARGETS = { ratio: 0.5, sqldRatio: 0.25, p99Ms: 25, rssMb: 150, startMs: 500, webhooks: 0.85 };
/** What the webhook endpoint of the bench wants: the events every redemption makes. */
const BENCH_EVENTS = ["token.redeemed", "user.created", "session.created"];

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

interface WebhookRun {
  issue: Figures;
  redeem: Figures;
  /** CPU per request of ssod and the receiver together, µs: steadier than req/s on a machine others load too. */
  cpu: { issue: number; redeem: number };
  /** With webhooks: events committed by the redeem run, and delivered by the end of it, and in the 5 s after. */
  events?: { committed: number; deliveredDuringLoad: number; deliveredPerSecondAfter: number };
}

/**
 * Issue and redeem on a fresh file store, with an endpoint subscribed to
 * BENCH_EVENTS on a local receiver answering 200 at once (`receiverUrl`), or
 * without webhooks. Everything else as runEndpoints does it.
 */
async function runWebhookCase(receiver: Server | undefined): Promise<WebhookRun> {
  const receiverUrl = receiver?.url;
  const dir = tempDir("ssod-bench-webhooks-");
  const ssod = await startSsod(fileEnv(dir), dir);
  try {
    const admin = { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" };
    let endpointId: number | undefined;
    if (receiverUrl) {
      const made = await fetch(`${ssod.url}/v1/webhooks`, {
        method: "POST",
        headers: admin,
        body: JSON.stringify({ url: `${receiverUrl}/hook`, events: BENCH_EVENTS }),
      });
      if (made.status !== 201) throw new Error(`POST /v1/webhooks: ${made.status} ${await made.text()}`);
      endpointId = ((await made.json()) as { id: number }).id;
    }
    const endpoints = await benchEndpoints(ssod.url, ADMIN_KEY, SECONDS);
    const cpuNow = () => cpuMs(ssod.child.pid!) + (receiver ? cpuMs(receiver.child.pid!) : 0);
    /** The warm-up, then the run, its CPU read around it. */
    const measured = async (load: LoadOptions) => {
      await measure({ ...load, seconds: WARMUP }, 0);
      const before = cpuNow();
      const figures = await measure(load, 0);
      return { figures, cpuUs: ((cpuNow() - before) * 1000) / figures.total };
    };
    const issue = await measured(endpoints.issue);
    const redeemLoad = await endpoints.redeem(Math.ceil(issue.figures.requestsPerSecond * 1.5 * (SECONDS + WARMUP)) + 1000);
    const receivedBefore = receiverUrl ? await receivedAt(receiverUrl) : 0;
    const redeem = await measured(redeemLoad);
    const run = { issue: issue.figures, redeem: redeem.figures, cpu: { issue: issue.cpuUs, redeem: redeem.cpuUs } };
    if (!receiverUrl || endpointId === undefined) return run;
    const atEnd = await receivedAt(receiverUrl);
    await new Promise((r) => setTimeout(r, 5_000));
    const after = await receivedAt(receiverUrl);
    const metrics = await (await fetch(`${ssod.url}/metrics`)).text();
    const pending = Number(/^ssod_webhook_deliveries_pending (\d+)/m.exec(metrics)?.[1] ?? 0);
    return {
      ...run,
      events: {
        committed: after - receivedBefore + pending,
        deliveredDuringLoad: atEnd - receivedBefore,
        deliveredPerSecondAfter: Math.round((after - atEnd) / 5),
      },
    };
  } finally {
    await ssod.stop();
  }
}

const receivedAt = async (url: string) => ((await (await fetch(`${url}/count`)).json()) as { received: number }).received;

/** Pairs of runs, without and with webhooks, in alternating order (AB, BA, AB…): the machine's drift falls on both sides. */
const WEBHOOK_PAIRS = Number(process.env.BENCH_WEBHOOK_PAIRS ?? 3);

/**
 * The same work on fresh stores without and with webhooks, pair by pair; the
 * ratio of each pair, and their median: on this shared machine two runs of
 * one configuration minutes apart differ by up to a third.
 */
type Ratios = { issue: number; redeem: number; cpuIssue: number; cpuRedeem: number };

async function runWebhooks(): Promise<{ rows: Row[]; ratios: Ratios; pairs: Ratios[]; runs: WebhookRun[] }> {
  const receiver = await startServer([join(root, "scripts/bench/receiver.mjs")], {}, root);
  try {
    const rows: Row[] = [];
    const pairs: Ratios[] = [];
    const runs: WebhookRun[] = [];
    for (let pair = 0; pair < WEBHOOK_PAIRS; pair++) {
      const order = pair % 2 === 0 ? [false, true] : [true, false];
      const done = new Map<boolean, WebhookRun>();
      for (const withWebhooks of order) done.set(withWebhooks, await runWebhookCase(withWebhooks ? receiver : undefined));
      const [plain, hooked] = [done.get(false)!, done.get(true)!];
      runs.push(hooked);
      pairs.push({
        issue: hooked.issue.requestsPerSecond / plain.issue.requestsPerSecond,
        redeem: hooked.redeem.requestsPerSecond / plain.redeem.requestsPerSecond,
        // As a throughput ratio: CPU per request without, over CPU per request with.
        cpuIssue: plain.cpu.issue / hooked.cpu.issue,
        cpuRedeem: plain.cpu.redeem / hooked.cpu.redeem,
      });
      for (const [what, r] of [
        ["without webhooks", plain],
        ["with webhooks", hooked],
      ] as const) {
        rows.push({ name: `POST /v1/tokens (${what}, pair ${pair + 1})`, ...r.issue, ratio: 0 });
        rows.push({ name: `POST /v1/tokens/redeem (${what}, pair ${pair + 1})`, ...r.redeem, ratio: 0 });
      }
    }
    const median = (values: number[]) => {
      const sorted = [...values].sort((a, b) => a - b);
      const mid = Math.floor(sorted.length / 2);
      return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    };
    const of = (key: keyof Ratios) => median(pairs.map((p) => p[key]));
    return { rows, pairs, runs, ratios: { issue: of("issue"), redeem: of("redeem"), cpuIssue: of("cpuIssue"), cpuRedeem: of("cpuRedeem") } };
  } finally {
    await receiver.stop();
  }
}

function table(rows: Row[]): string {
  const header = ["endpoint", "req/s", "p50 ms", "p99 ms", "ratio", "non-2xx"];
  const lines = rows.map((r) => [r.name, String(r.requestsPerSecond), r.p50Ms.toFixed(1), r.p99Ms.toFixed(1), r.ratio.toFixed(2), String(r.non2xx + r.errors)]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  return [header, ...lines].map((l) => l.map((c, i) => c.padEnd(widths[i]!)).join("  ")).join("\n");
}

/** The with/without ratios, and what became of the events while the server was saturated. */
function webhookSummary(webhooks: Awaited<ReturnType<typeof runWebhooks>>): string {
  const lines = [
    `webhooks (endpoint on ${BENCH_EVENTS.join(", ")}; receiver answering 200): issue ${webhooks.ratios.issue.toFixed(2)}x, redeem ${webhooks.ratios.redeem.toFixed(2)}x of the same without ` +
      `(median of ${webhooks.pairs.length} pairs in alternating order: issue ${webhooks.pairs.map((p) => p.issue.toFixed(2)).join(", ")}; redeem ${webhooks.pairs.map((p) => p.redeem.toFixed(2)).join(", ")})`,
    `  by CPU per request (ssod and the receiver; without over with): issue ${webhooks.ratios.cpuIssue.toFixed(2)}x, redeem ${webhooks.ratios.cpuRedeem.toFixed(2)}x ` +
      `(issue ${webhooks.pairs.map((p) => p.cpuIssue.toFixed(2)).join(", ")}; redeem ${webhooks.pairs.map((p) => p.cpuRedeem.toFixed(2)).join(", ")})`,
  ];
  for (const [i, run] of webhooks.runs.entries()) {
    const e = run.events!;
    lines.push(
      `  pair ${i + 1}: ${e.committed} events committed by the redeem run (its warm-up included); ${e.deliveredDuringLoad} delivered during its load, then ${e.deliveredPerSecondAfter}/s once it stopped`,
    );
  }
  return lines.join("\n");
}

async function main() {
  if (!process.argv.includes("--no-build")) await buildSingleFile();
  if (process.argv.includes("--webhooks-only")) {
    const webhooks = await runWebhooks();
    process.stdout.write(`\n${table(webhooks.rows)}\n\n${webhookSummary(webhooks)}\n`);
    return;
  }
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
  const webhooks = await runWebhooks();
  ssodRows.push(...webhooks.rows);
  await measureCeiling();

  const base = [...ceilingRuns].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond)[1]!;
  const rows: Row[] = [
    { name: `ceiling: bare Hono JSON echo (median of ${ceilingRuns.map((r) => r.requestsPerSecond).join(", ")})`, ...base, ratio: 1 },
    ...ssodRows.map((r) => ({ ...r, ratio: r.requestsPerSecond / base.requestsPerSecond })),
  ];

  const fileRows = rows.filter((r) => r !== rows[0] && !r.name.endsWith("(sqld)") && !r.name.includes("webhooks, pair"));
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
    [`issue and redeem with webhooks >= ${TARGETS.webhooks}x the same without (issue ${webhooks.ratios.issue.toFixed(2)}, redeem ${webhooks.ratios.redeem.toFixed(2)})`]:
      webhooks.ratios.issue >= TARGETS.webhooks && webhooks.ratios.redeem >= TARGETS.webhooks,
  };
  process.stdout.write(`\n${table(rows)}\n\n${webhookSummary(webhooks)}\n\n`);
  for (const [name, ok] of Object.entries(checks)) process.stdout.write(`${ok ? "met " : "MISS"}  ${name}\n`);
  mkdirSync(join(root, "bench"), { recursive: true });
  writeFileSync(
    join(root, "bench/results.json"),
    `${JSON.stringify({ at: new Date().toISOString(), connections: CONNECTIONS, seconds: SECONDS, warmupSeconds: WARMUP, ceilingRuns, rows, peakRssMb, startMs, startRuns, coldStartMs, webhooks: { ratios: webhooks.ratios, pairs: webhooks.pairs, events: webhooks.runs.map((r) => r.events) }, checks }, null, 2)}\n`,
  );
}

await main();
