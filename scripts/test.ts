// `npm test [-- FILE…]`: runs tests/**/*.test.ts with node:test.
//
// Each file runs in a process group of its own, with a time limit: a file that
// overruns it is killed with everything it started (servers, proxies, sqld)
// and counted as failed, so no test can hang the suite. A file that ends but
// leaves processes behind fails too: every test stops what it starts.
//
// dist/ssod.mjs is built first only when a chosen file runs it, and the
// standalone executable (136 MB) only when its own test is chosen: with
// SSOD_TEST_SKIP_EXE=1 (or --skip-exe) that test is left out instead.
//
// Ctrl-C reaches only the terminal's foreground group (npm and this runner),
// never the files' own groups: on SIGINT, SIGTERM or SIGHUP the runner takes
// every running file down with it before it exits.
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { constants } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { buildSingleFile } from "./build";
import { buildExecutable } from "./build-exe";

const root = fileURLToPath(new URL("..", import.meta.url));
const FILE_TIMEOUT_S = Number(process.env.SSOD_TEST_FILE_TIMEOUT ?? 900);
const CONCURRENCY = Math.max(1, Number(process.env.SSOD_TEST_CONCURRENCY ?? 1));
const EXECUTABLE_TEST = "tests/standalone-executable.test.ts";

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "helpers" ? [] : testFiles(path);
    return entry.name.endsWith(".test.ts") ? [relative(root, path)] : [];
  });
}

/** Whether a test file starts the built dist/ssod.mjs (through the process helper) or reads it. */
const usesBuiltFile = (file: string) => /helpers\/(process|built)|dist\/ssod\.mjs/.test(readFileSync(join(root, file), "utf8"));

interface Outcome {
  file: string;
  seconds: number;
  counts: Record<string, number>;
  problem?: string;
}

/** The spec reporter ends with `ℹ tests 12`, `ℹ pass 11`, … lines. */
function countsOf(output: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const m of output.matchAll(/^ℹ (tests|suites|pass|fail|cancelled|skipped|todo) (\d+)$/gm)) counts[m[1]!] = Number(m[2]);
  return counts;
}

/** Whether any process of the group still runs (a zombie waiting to be reaped does not). */
function groupAlive(pgid: number): boolean {
  if (!existsSync("/proc")) {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  return readdirSync("/proc").some((pid) => {
    if (!/^\d+$/.test(pid)) return false;
    try {
      // pid (comm) state ppid pgrp …: comm may hold spaces, so read after its closing paren.
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      return fields[0] !== "Z" && Number(fields[2]) === pgid;
    } catch {
      return false;
    }
  });
}

function killGroup(pgid: number, signal: NodeJS.Signals = "SIGKILL"): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

/** The process groups of the files running now. */
const runningGroups = new Set<number>();
const INTERRUPT_GRACE_MS = 2000;

/** SIGTERM to every running file's group, SIGKILL to what is left after a short grace, then exit 128 + the signal's number. */
async function interrupted(signal: NodeJS.Signals): Promise<never> {
  const groups = [...runningGroups];
  process.stderr.write(`\ninterrupted (${signal}): stopping ${groups.length} running test file(s) and everything they started\n`);
  for (const pgid of groups) killGroup(pgid, "SIGTERM");
  for (let waited = 0; waited < INTERRUPT_GRACE_MS && groups.some(groupAlive); waited += 50) await new Promise((r) => setTimeout(r, 50));
  for (const pgid of groups) killGroup(pgid);
  for (let i = 0; i < 40 && groups.some(groupAlive); i++) await new Promise((r) => setTimeout(r, 50));
  process.exit(128 + constants.signals[signal]);
}

let interrupting = false;
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    // A second Ctrl-C while stopping changes nothing: the files are being killed already.
    if (interrupting) return;
    interrupting = true;
    void interrupted(signal);
  });
}

async function runFile(file: string, live: boolean): Promise<Outcome> {
  const started = performance.now();
  const child = spawn(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", "--test-force-exit", file], {
    cwd: root,
    // Run inside a test of the runner itself, node:test's own context must not leak into the file's.
    env: { ...process.env, NODE_TEST_CONTEXT: undefined },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  runningGroups.add(child.pid!);
  let output = "";
  const take = (chunk: Buffer) => {
    output += String(chunk);
    if (live) process.stdout.write(chunk);
  };
  child.stdout.on("data", take);
  child.stderr.on("data", take);
  let problem: string | undefined;
  const timer = setTimeout(() => {
    problem = `overran its ${FILE_TIMEOUT_S} s limit (SSOD_TEST_FILE_TIMEOUT) and was killed with everything it started`;
    killGroup(child.pid!);
  }, FILE_TIMEOUT_S * 1000);
  const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
  clearTimeout(timer);
  // The file's own exit handlers kill what they started; give the signals a moment to land.
  for (let i = 0; i < 40 && groupAlive(child.pid!); i++) await new Promise((r) => setTimeout(r, 50));
  if (groupAlive(child.pid!)) {
    problem ??= "left processes running after it ended (now killed)";
    killGroup(child.pid!);
  }
  runningGroups.delete(child.pid!);
  if (!live) process.stdout.write(output);
  if (code !== 0) problem ??= `exited with code ${code}`;
  return { file, seconds: (performance.now() - started) / 1000, counts: countsOf(output), ...(problem ? { problem } : {}) };
}

async function runAll(files: string[]): Promise<Outcome[]> {
  const queue = [...files];
  const outcomes: Outcome[] = [];
  const worker = async () => {
    for (let file = queue.shift(); file && !interrupting; file = queue.shift()) outcomes.push(await runFile(file, CONCURRENCY === 1));
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, files.length) }, worker));
  return outcomes.sort((a, b) => a.file.localeCompare(b.file));
}

function summary(outcomes: Outcome[], skipped: string[], wallSeconds: number): string {
  const total = (key: string) => outcomes.reduce((n, o) => n + (o.counts[key] ?? 0), 0);
  const lines = ["", "── summary ──────────────────────────────────────────────"];
  for (const o of outcomes) {
    const mark = o.problem || (o.counts.fail ?? 0) > 0 ? "✖" : "✔";
    const counts = `${o.counts.pass ?? 0} passed, ${o.counts.fail ?? 0} failed${o.counts.skipped ? `, ${o.counts.skipped} skipped` : ""}`;
    lines.push(`${mark} ${o.file.padEnd(44)} ${counts.padEnd(30)} ${o.seconds.toFixed(1).padStart(6)} s${o.problem ? `  — ${o.problem}` : ""}`);
  }
  for (const file of skipped) lines.push(`- ${file.padEnd(44)} not run (SSOD_TEST_SKIP_EXE)`);
  const failedFiles = outcomes.filter((o) => o.problem || (o.counts.fail ?? 0) > 0).length;
  lines.push(
    "",
    `${outcomes.length} files, ${total("tests")} tests: ${total("pass")} passed, ${total("fail")} failed, ${total("skipped")} skipped, ${total("cancelled")} cancelled; ${failedFiles} files failed; ${wallSeconds.toFixed(0)} s`,
  );
  return `${lines.join("\n")}\n`;
}

const args = process.argv.slice(2);
const skipExe = process.env.SSOD_TEST_SKIP_EXE === "1" || args.includes("--skip-exe");
const chosen = args.filter((a) => !a.startsWith("--"));
const all = chosen.length > 0 ? chosen : testFiles(join(root, "tests")).sort();
const skipped: string[] = skipExe ? all.filter((f) => f === EXECUTABLE_TEST) : [];
const files = all.filter((f) => !skipped.includes(f));

const started = performance.now();
if (files.some(usesBuiltFile) || files.includes(EXECUTABLE_TEST)) await buildSingleFile();
if (files.includes(EXECUTABLE_TEST) && process.platform === "linux" && process.arch === "x64") await buildExecutable();
const outcomes = await runAll(files);
// Interrupted: the signal's handler stops what runs and exits with its own code.
if (interrupting) await new Promise(() => {});
process.stdout.write(summary(outcomes, skipped, (performance.now() - started) / 1000));
process.exit(outcomes.every((o) => !o.problem && (o.counts.fail ?? 0) === 0) ? 0 : 1);
