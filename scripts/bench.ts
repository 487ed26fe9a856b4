// `npm run bench`: measures, in one run, ssod's hot endpoints (forward-auth
// decisions among them: a valid session of a user the app admits) beside two
// references — a bare Hono JSON echo (no durable work: the ceiling of the
// HTTP stack) and the minimal durable server (scripts/bench/minimal-durable.mjs:
// the least a durable token server can do) — in alternating rounds, each at
// 50 connections for a fixed time after a warm-up, every ssod figure a ratio
// to both references within its round, and the median of the rounds
// reported (this machine is shared and noisy). Then ssod on a real sqld,
// with and without webhooks, and OpenID Connect logins. Writes
// bench/results.json.
//
//   npm run bench                     # ~15 minutes
//   BENCH_SECONDS=5 BENCH_ROUNDS=3 npm run bench   # shorter runs
//   npm run bench -- --webhooks-only  # only issue and redeem with and without webhooks
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../tests/helpers/oidc";
import { startSqld } from "../tests/helpers/sqld";
import { tempDir } from "../tests/helpers/temp";
import { benchEndpoints, CONNECTIONS, issueLoad, redeemLoad } from "./bench/endpoints";
import { type Figures, type LoadOptions, measure } from "./bench/load";
import { type LoginFigures, measureOidcLogins } from "./bench/oidc-logins";
import { cpuMs, type Server, startServer } from "./bench/processes";
import { buildSingleFile } from "./build";

const root = fileURLToPath(new URL("..", import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
const ADMIN_KEY = `ssod_ak_${"b".repeat(43)}`;
/** Issue 19's targets. */
const TARGETS = { minimal: 0.8, dialects: 0.7, p99Ms: 20, forwardAuth: 0.5, webhooks: 0.85, rssMb: 150, startMs: 400 };
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** What the webhook endpoint of the bench wants: the events every redemption makes. */
const BENCH_EVENTS = ["token.redeemed", "user.created", "session.created"];

interface Row extends Figures {
  name: string;
  /** To the echo of the same run. */
  ratio: number;
  /** To the minimal durable server doing the same work (none for forward auth, which writes nothing). */
  ratioMinimal?: number;
}

const fileEnv = (dir: string) => ({ SSOD_DATABASE_URL: `file:${join(dir, "ssod.db")}`, SSOD_CACHE_DIR: join(dir, "cache") });

async function startSsod(env: Record<string, string>, dir: string): Promise<Server> {
  return startServer([join(root, "dist/ssod.mjs")], { SSOD_ADMIN_API_KEY: ADMIN_KEY, SSOD_HOST: "127.0.0.1", SSOD_PORT: "0", ...env }, dir);
}

/** Measures issue, redeem, GenerateSSOToken, the Tyk nonce and forward auth against one running ssod. */
async function runEndpoints(ssod: Server): Promise<Record<SsodEndpoint, Figures>> {
  const endpoints = await benchEndpoints(ssod.url, ADMIN_KEY, SECONDS);
  const issue = await measure(endpoints.issue, WARMUP);
  // Enough distinct tokens for the warm-up and the run, with room to spare.
  const redeem = await measure(await endpoints.redeem(tokensFor(issue)), WARMUP);
  return {
    "POST /v1/tokens": issue,
    "POST /v1/tokens/redeem": redeem,
    "POST /GenerateSSOToken": await measure(endpoints.lob, WARMUP),
    "POST /api/sso": await measure(endpoints.tyk, WARMUP),
    "GET /v1/forward-auth": await measure(endpoints.forwardAuth, WARMUP),
  };
}

const SSOD_ENDPOINTS = ["POST /v1/tokens", "POST /v1/tokens/redeem", "POST /GenerateSSOToken", "POST /api/sso", "GET /v1/forward-auth"] as const;
type SsodEndpoint = (typeof SSOD_ENDPOINTS)[number];

/** Distinct tokens for a redeem warm-up and run at the rate issue reached, with room to spare. */
const tokensFor = (issue: Figures) => Math.ceil(issue.requestsPerSecond * 1.5 * (SECONDS + WARMUP)) + 1000;

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
    const redeemLoad = await endpoints.redeem(tokensFor(issue.figures));
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
    const of = (key: keyof Ratios) => median(pairs.map((p) => p[key]));
    return { rows, pairs, runs, ratios: { issue: of("issue"), redeem: of("redeem"), cpuIssue: of("cpuIssue"), cpuRedeem: of("cpuRedeem") } };
  } finally {
    await receiver.stop();
  }
}

function table(rows: Row[]): string {
  const header = ["endpoint", "req/s", "p50 ms", "p99 ms", "x echo", "x minimal", "non-2xx"];
  const lines = rows.map((r) => [
    r.name,
    String(r.requestsPerSecond),
    r.p50Ms.toFixed(1),
    r.p99Ms.toFixed(1),
    r.ratio.toFixed(2),
    r.ratioMinimal === undefined ? "" : r.ratioMinimal.toFixed(2),
    String(r.non2xx + r.errors),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  return [header, ...lines].map((l) => l.map((c, i) => c.padEnd(widths[i]!)).join("  ")).join("\n");
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** One figure per round → the medians of each field (req/s, p50, p99), and the errors summed. */
function medianFigures(runs: Figures[]): Figures {
  return {
    requestsPerSecond: Math.round(median(runs.map((r) => r.requestsPerSecond))),
    p50Ms: median(runs.map((r) => r.p50Ms)),
    p99Ms: median(runs.map((r) => r.p99Ms)),
    non2xx: runs.reduce((n, r) => n + r.non2xx, 0),
    errors: runs.reduce((n, r) => n + r.errors, 0),
    total: runs.reduce((n, r) => n + r.total, 0),
  };
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

/** The minimal durable server, on a fresh file: issue, then redeem of distinct tokens, with the same requests as ssod's. */
async function runMinimal(): Promise<{ issue: Figures; redeem: Figures }> {
  const dir = tempDir("ssod-bench-minimal-");
  const server = await startServer([join(root, "scripts/bench/minimal-durable.mjs")], { DB: join(dir, "minimal.db"), AUTH: MINIMAL_AUTH }, root);
  try {
    const issue = await measure(issueLoad(server.url, MINIMAL_AUTH, SECONDS), WARMUP);
    const redeem = await measure(await redeemLoad(server.url, MINIMAL_AUTH, SECONDS, tokensFor(issue)), WARMUP);
    return { issue, redeem };
  } finally {
    await server.stop();
  }
}

/** A Basic header as long as ssod's source credentials make: the minimal server compares it whole. */
const MINIMAL_AUTH = `Basic ${Buffer.from(`src_${"c".repeat(16)}:${"s".repeat(43)}`).toString("base64")}`;

async function measureEcho(): Promise<Figures> {
  const echo = await startServer([join(root, "scripts/bench/ceiling.mjs")], {}, root);
  try {
    const body = JSON.stringify({ user: { email: "bench@example.com", displayName: "Bench User" } });
    return await measure(
      { url: `${echo.url}/echo`, method: "POST", headers: { "content-type": "application/json" }, body, connections: CONNECTIONS, seconds: SECONDS },
      WARMUP,
    );
  } finally {
    await echo.stop();
  }
}

interface Round {
  echo: Figures;
  minimal: { issue: Figures; redeem: Figures };
  ssod: Record<SsodEndpoint, Figures>;
  peakRssMb: number;
}

/** One round: the echo, the minimal durable server and ssod (a fresh file store), in the order given. */
async function runRound(order: readonly ("echo" | "minimal" | "ssod")[]): Promise<Round> {
  const round: Partial<Round> = {};
  for (const what of order) {
    if (what === "echo") round.echo = await measureEcho();
    else if (what === "minimal") round.minimal = await runMinimal();
    else {
      const dir = tempDir("ssod-bench-");
      const ssod = await startSsod(fileEnv(dir), dir);
      try {
        round.ssod = await runEndpoints(ssod);
        round.peakRssMb = ssod.peakRssMb();
      } finally {
        await ssod.stop();
      }
    }
  }
  return round as Round;
}

/** Start to healthy: once on an empty store (migrations, first keys), then the median of three as in production. */
async function measureStarts(): Promise<{ coldStartMs: number; startMs: number; startRuns: number[] }> {
  const dir = tempDir("ssod-bench-start-");
  const first = await startSsod(fileEnv(dir), dir);
  await first.stop();
  const startRuns: number[] = [];
  for (let i = 0; i < 3; i++) {
    const again = await startSsod(fileEnv(dir), dir);
    startRuns.push(again.startMs);
    await again.stop();
  }
  return { coldStartMs: first.startMs, startMs: median(startRuns), startRuns };
}

/** Issue and redeem against a real sqld (libSQL's server), as many instances share it, through a libsql:// URL as Turso gives them. */
async function runSqld(): Promise<Record<SsodEndpoint, Figures>> {
  const sqld = await startSqld();
  try {
    const libsqlUrl = `${sqld.wsUrl.replace(/^ws:/, "libsql:")}?tls=0`;
    const remote = await startSsod(
      { SSOD_DATABASE_URL: libsqlUrl, SSOD_DATABASE_AUTH_TOKEN: sqld.token, SSOD_MASTER_KEY: "a".repeat(64) },
      tempDir("ssod-bench-remote-"),
    );
    try {
      return await runEndpoints(remote);
    } finally {
      await remote.stop();
    }
  } finally {
    await sqld.stop();
  }
}

/** OpenID Connect logins against ssod on a fresh file store whose public URL is known before it starts (the issuer). */
async function runOidc(): Promise<LoginFigures> {
  const dir = tempDir("ssod-bench-oidc-");
  const port = await freePort();
  const ssod = await startSsod({ ...fileEnv(dir), SSOD_PORT: String(port), SSOD_PUBLIC_URL: `http://127.0.0.1:${port}` }, dir);
  try {
    return await measureOidcLogins(ssod.url, ADMIN_KEY, SECONDS, WARMUP);
  } finally {
    await ssod.stop();
  }
}

async function main() {
  if (!process.argv.includes("--no-build")) await buildSingleFile();
  if (process.argv.includes("--webhooks-only")) {
    const webhooks = await runWebhooks();
    process.stdout.write(`\n${table(webhooks.rows)}\n\n${webhookSummary(webhooks)}\n`);
    return;
  }
  const starts = await measureStarts();

  // Alternating rounds (echo, minimal, ssod; then ssod, minimal, echo; …): on
  // a shared machine any one server can move by 2x within minutes, so every
  // ratio is taken within a round and the median of the rounds' is reported.
  const rounds: Round[] = [];
  const ORDER = ["echo", "minimal", "ssod"] as const;
  for (let r = 0; r < ROUNDS; r++) {
    rounds.push(await runRound(r % 2 === 0 ? ORDER : [...ORDER].reverse()));
    process.stderr.write(`round ${r + 1} of ${ROUNDS} done\n`);
  }
  const sqld = await runSqld();
  const webhooks = await runWebhooks();
  const oidc = await runOidc();

  const echo = medianFigures(rounds.map((r) => r.echo));
  const minimal = { issue: medianFigures(rounds.map((r) => r.minimal.issue)), redeem: medianFigures(rounds.map((r) => r.minimal.redeem)) };
  /** What each endpoint is held against: its own work on the minimal server (the dialects' issue: the minimal issue); forward auth writes nothing. */
  const minimalOf = (name: SsodEndpoint) => (name === "POST /v1/tokens/redeem" ? "redeem" : name === "GET /v1/forward-auth" ? undefined : "issue");
  const perRound = (name: SsodEndpoint, against: (r: Round) => Figures) =>
    median(rounds.map((r) => r.ssod[name].requestsPerSecond / against(r).requestsPerSecond));
  const rows: Row[] = [
    { name: `echo: bare Hono JSON echo (rounds: ${rounds.map((r) => r.echo.requestsPerSecond).join(", ")})`, ...echo, ratio: 1 },
    ...(["issue", "redeem"] as const).map((op) => ({
      name: `minimal durable server: ${op} (rounds: ${rounds.map((r) => r.minimal[op].requestsPerSecond).join(", ")})`,
      ...minimal[op],
      ratio: median(rounds.map((r) => r.minimal[op].requestsPerSecond / r.echo.requestsPerSecond)),
      ratioMinimal: 1,
    })),
    ...SSOD_ENDPOINTS.map((name) => {
      const against = minimalOf(name);
      return {
        name: `${name} (rounds: ${rounds.map((r) => r.ssod[name].requestsPerSecond).join(", ")})`,
        ...medianFigures(rounds.map((r) => r.ssod[name])),
        ratio: perRound(name, (r) => r.echo),
        ...(against ? { ratioMinimal: perRound(name, (r) => r.minimal[against]) } : {}),
      };
    }),
    ...SSOD_ENDPOINTS.filter((name) => name !== "GET /v1/forward-auth").map((name) => {
      const against = minimalOf(name)!;
      return {
        name: `${name} (sqld)`,
        ...sqld[name],
        ratio: sqld[name].requestsPerSecond / echo.requestsPerSecond,
        ratioMinimal: sqld[name].requestsPerSecond / minimal[against].requestsPerSecond,
      };
    }),
    ...webhooks.rows.map((r) => ({ ...r, ratio: r.requestsPerSecond / echo.requestsPerSecond })),
  ];
  const row = (name: SsodEndpoint) => rows.find((r) => r.name.startsWith(`${name} (rounds`))!;
  const peakRssMb = Math.max(...rounds.map((r) => r.peakRssMb));
  const ratioOf = (name: SsodEndpoint) => row(name).ratioMinimal!;
  const hot = SSOD_ENDPOINTS.filter((name) => name !== "GET /v1/forward-auth");
  const checks = {
    [`issue and redeem >= ${TARGETS.minimal}x the minimal durable server (issue ${ratioOf("POST /v1/tokens").toFixed(2)}, redeem ${ratioOf("POST /v1/tokens/redeem").toFixed(2)})`]:
      ratioOf("POST /v1/tokens") >= TARGETS.minimal && ratioOf("POST /v1/tokens/redeem") >= TARGETS.minimal,
    [`GenerateSSOToken and /api/sso >= ${TARGETS.dialects}x the minimal server's issue (${ratioOf("POST /GenerateSSOToken").toFixed(2)}, ${ratioOf("POST /api/sso").toFixed(2)})`]:
      ratioOf("POST /GenerateSSOToken") >= TARGETS.dialects && ratioOf("POST /api/sso") >= TARGETS.dialects,
    [`p99 <= ${TARGETS.p99Ms} ms for all four (${hot.map((n) => row(n).p99Ms.toFixed(0)).join(", ")} ms)`]: hot.every((n) => row(n).p99Ms <= TARGETS.p99Ms),
    [`forward-auth decisions >= ${TARGETS.forwardAuth}x the echo (${row("GET /v1/forward-auth").ratio.toFixed(2)})`]:
      row("GET /v1/forward-auth").ratio >= TARGETS.forwardAuth,
    [`issue and redeem with webhooks >= ${TARGETS.webhooks}x the same without (issue ${webhooks.ratios.issue.toFixed(2)}, redeem ${webhooks.ratios.redeem.toFixed(2)})`]:
      webhooks.ratios.issue >= TARGETS.webhooks && webhooks.ratios.redeem >= TARGETS.webhooks,
    [`peak RSS <= ${TARGETS.rssMb} MB (${peakRssMb.toFixed(0)} MB)`]: peakRssMb <= TARGETS.rssMb,
    [`start to healthy <= ${TARGETS.startMs} ms (median ${starts.startMs.toFixed(0)} ms of ${starts.startRuns.map((ms) => ms.toFixed(0)).join(", ")}; first start on an empty store ${starts.coldStartMs.toFixed(0)} ms)`]:
      starts.startMs <= TARGETS.startMs,
    "no errors or non-2xx answers": rows.every((r) => r.non2xx + r.errors === 0) && oidc.failures === 0,
  };
  const oidcLine = `OpenID Connect: ${oidc.loginsPerSecond} logins/s (${oidc.loginsPerSecond / echo.requestsPerSecond < 0.01 ? (oidc.loginsPerSecond / echo.requestsPerSecond).toFixed(3) : (oidc.loginsPerSecond / echo.requestsPerSecond).toFixed(2)}x the echo; each ${oidc.requestsPerLogin.toFixed(1)} requests: authorize, its redirects, the token request), p50 ${oidc.p50Ms.toFixed(0)} ms, p99 ${oidc.p99Ms.toFixed(0)} ms, ${oidc.failures} failed`;
  process.stdout.write(`\n${table(rows)}\n\n${oidcLine}\n\n${webhookSummary(webhooks)}\n\n`);
  for (const [name, ok] of Object.entries(checks)) process.stdout.write(`${ok ? "met " : "MISS"}  ${name}\n`);
  mkdirSync(join(root, "bench"), { recursive: true });
  writeFileSync(
    join(root, "bench/results.json"),
    `${JSON.stringify({ at: new Date().toISOString(), connections: CONNECTIONS, seconds: SECONDS, warmupSeconds: WARMUP, rounds, rows, oidc, peakRssMb, ...starts, webhooks: { ratios: webhooks.ratios, pairs: webhooks.pairs, events: webhooks.runs.map((r) => r.events) }, checks }, null, 2)}\n`,
  );
}

await main();
