// The built dist/ssod.mjs as a real process: copied alone into an empty
// folder, started with a port of its own, driven over HTTP.
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
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

/** Copies the built file alone into a fresh folder (or the one given) and returns its path there. */
export function isolatedCopy(dir = tempDir("ssod-e2e-")): { dir: string; file: string } {
  const file = join(dir, "ssod.mjs");
  copyFileSync(BUILT, file);
  return { dir, file };
}

export interface StartOptions {
  env?: Record<string, string>;
  args?: string[];
  dir?: string;
  /** How long to wait for the "listening" log line. */
  timeoutMs?: number;
}

export async function startBuiltServer(options: StartOptions = {}): Promise<ServerProcess> {
  const { dir, file } = isolatedCopy(options.dir);
  const child = spawn(process.execPath, [file, ...(options.args ?? [])], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "", HOME: dir, SSOD_PORT: "0", SSOD_HOST: "127.0.0.1", SSOD_CACHE_DIR: join(dir, ".cache"), ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
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
  });
  return { child, url, dir, stdout: () => out, stderr: () => err, exited, kill: (signal = "SIGTERM") => child.kill(signal) };
}
