// Servers under test, as real processes: started, timed to healthy, measured.
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

export interface Server {
  child: ChildProcess;
  url: string;
  /** Milliseconds from spawn to the first 200 from /healthz. */
  startMs: number;
  stderr: () => string;
  /** Peak resident set size so far (VmHWM), in MB. */
  peakRssMb(): number;
  stop(): Promise<void>;
}

export async function startServer(command: string[], env: Record<string, string>, cwd: string): Promise<Server> {
  const started = performance.now();
  const child = spawn(process.execPath, command, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr!.on("data", (d) => (err += String(d)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start within 30 s: ${err}`)), 30_000);
    child.stdout!.on("data", (d) => {
      out += String(d);
      const line = out.split("\n").find((l) => l.includes('"ssod listening"'));
      if (line) {
        clearTimeout(timer);
        // From here on, stdout is drained and dropped (request logs).
        out = "";
        child.stdout!.removeAllListeners("data");
        child.stdout!.resume();
        resolve((JSON.parse(line) as { url: string }).url);
      }
    });
    child.once("exit", (code) => reject(new Error(`exited ${code}: ${err}`)));
  }).catch((error: unknown) => {
    // A server that never said it listens is not left running.
    child.kill("SIGKILL");
    throw error;
  });
  for (;;) {
    const ok = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const startMs = performance.now() - started;
  return {
    child,
    url,
    startMs,
    stderr: () => err,
    peakRssMb() {
      const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
      return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

/** CPU milliseconds a process has used so far, all its threads together (utime + stime, from /proc). */
export function cpuMs(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    total += (Number(fields[11]) + Number(fields[12])) * 10;
  }
  return total;
}
