// The built dist/ssod.mjs as a real process: copied alone into an empty
// folder, started with a port of its own, driven over HTTP.
//
// Every process started here is stopped on every path: a start that fails
// kills its child, `startBuiltServers` stops the ones that did start when
// another fails, `stopAll` stops what a test's after() hands it (a server
// that was never made included), and whatever is still running when the
// test process exits is killed then (helpers/children.ts; the runner,
// scripts/test.ts, also kills a file's whole process group when it overruns
// its time).
import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, existsSync, renameSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { track } from "./children";
import { tempDir } from "./temp";

export const BUILT = fileURLToPath(new URL("../../dist/ssod.mjs", import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  dir: string;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
}

/**
 * The built file alone in a fresh folder (or the one given), and its path
 * there. A folder that already holds it keeps its copy: processes started
 * from it may be reading it (its assets are read lazily), and a copy written
 * over it would be a half-written file to them. A new copy is written aside
 * and renamed into place, so no process ever sees a partial file.
 */
export function isolatedCopy(dir = tempDir("ssod-e2e-")): { dir: string; file: string } {
  const file = join(dir, "ssod.mjs");
  if (!existsSync(file)) {
    const partial = `${file}.${process.pid}.partial`;
    copyFileSync(BUILT, partial);
    renameSync(partial, file);
  }
  return { dir, file };
}

export interface StartOptions {
  env?: Record<string, string>;
  args?: string[];
  dir?: string;
  /** How long to wait for the start banner. */
  timeoutMs?: number;
}

export async function startBuiltServer(options: StartOptions = {}): Promise<ServerProcess> {
  const { dir, file } = isolatedCopy(options.dir);
  const child = track(
    spawn(process.execPath, [file, ...(options.args ?? [])], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? "", HOME: dir, SSOD_PORT: "0", SSOD_HOST: "127.0.0.1", SSOD_CACHE_DIR: join(dir, ".cache"), ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    }),
  );
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += String(d)));
  child.stderr!.on("data", (d) => (err += String(d)));
  const exited = new Promise<number | string>((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown")));
  // The start banner (stderr, one write, the first admin key in it) says where it listens, whatever the log level.
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start banner within the time limit\nstdout: ${out}\nstderr: ${err}`)), options.timeoutMs ?? 15_000);
    const look = () => {
      const listening = /\(listening on ([^)\s]+)\)/.exec(err)?.[1];
      if (listening) {
        clearTimeout(timer);
        resolve(`http://${listening}`);
      }
    };
    child.stderr!.on("data", look);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`ssod exited (${code}) before listening\nstdout: ${out}\nstderr: ${err}`));
    });
  }).catch(async (error: unknown) => {
    // A server that did not come up is not left running.
    child.kill("SIGKILL");
    await exited;
    throw error;
  });
  return { child, url, dir, stdout: () => out, stderr: () => err, exited, kill: (signal = "SIGTERM") => child.kill(signal) };
}

/**
 * Starts `count` servers at once from one copy of the built file (so they
 * race for the store as instances would). When any fails to start, the others
 * are stopped before the error is thrown.
 */
export async function startBuiltServers(count: number, options: StartOptions = {}): Promise<ServerProcess[]> {
  const { dir } = isolatedCopy(options.dir);
  const started = await Promise.allSettled(Array.from({ length: count }, () => startBuiltServer({ ...options, dir })));
  const servers = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failure = started.find((s) => s.status === "rejected");
  if (failure) {
    await stopAll(servers, "SIGKILL");
    throw failure.reason;
  }
  return servers;
}

/** Stops servers and waits for them to exit. */
export async function stopAll(servers: readonly (ServerProcess | undefined)[], signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  const live = servers.filter((s): s is ServerProcess => s !== undefined);
  for (const server of live) server.kill(signal);
  await Promise.all(live.map((s) => s.exited));
}

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command of the built file (by default dist/ssod.mjs itself; `file`
 * names a copy) in `dir`, with only PATH, HOME and the environment given, and
 * `input` on its stdin; resolves when it exits.
 */
export function runBuilt(args: string[], options: { dir: string; file?: string; env?: Record<string, string>; input?: string }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = track(
      spawn(process.execPath, [options.file ?? BUILT, ...args], {
        cwd: options.dir,
        env: { PATH: process.env.PATH ?? "", HOME: options.dir, ...options.env },
        stdio: ["pipe", "pipe", "pipe"],
      }),
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += String(d)));
    child.stderr.on("data", (d) => (stderr += String(d)));
    child.once("error", reject);
    child.once("exit", (code, signal) => resolve({ code, signal, stdout, stderr }));
    child.stdin.end(options.input ?? "");
  });
}
