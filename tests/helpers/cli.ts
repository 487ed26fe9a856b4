// `ssod ARGS` from source (`node --import tsx src/main.ts`) as a real process.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { track } from "./children";
import type { Run } from "./process";
import { tempDir } from "./temp";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Runs `ssod ARGS` from source with only the environment given (plus PATH and HOME). */
export function ssod(args: string[], options: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {}): Promise<Run> {
  const home = tempDir("ssod-cli-home-");
  return new Promise((resolve, reject) => {
    const child = track(
      spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? "", HOME: home, ...options.env },
        stdio: ["pipe", "pipe", "pipe"],
      }),
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += String(d)));
    child.stderr.on("data", (d) => (stderr += String(d)));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(options.input ?? "");
  });
}
