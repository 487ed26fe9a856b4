// The test runner (scripts/test.ts) cannot be hung by a test file: a file
// that overruns its time limit is killed with every process it started and
// counted as failed, and a file that leaves a process behind fails too. An
// interrupted run (Ctrl-C) takes its running files down with it.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { tempDir } from "./helpers/temp";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Whether the process runs (a zombie waiting to be reaped does not). */
function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[0] !== "Z";
  } catch {
    return false;
  }
}

/** Whether the process is gone within `ms` (a killed process takes a moment to be reaped). */
async function ends(pid: number, ms = 1000): Promise<boolean> {
  for (let i = 0; i < ms / 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  return !alive(pid);
}

function runFixture(name: string, timeoutSeconds: number) {
  const pidFile = join(tempDir(), "pid");
  const started = performance.now();
  const run = spawnSync(process.execPath, ["--import", "tsx", "scripts/test.ts", `tests/fixtures/${name}`], {
    cwd: ROOT,
    env: { ...process.env, SSOD_TEST_FILE_TIMEOUT: String(timeoutSeconds), RUNNER_FIXTURE_PID_FILE: pidFile },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { run, seconds: (performance.now() - started) / 1000, pid: Number(readFileSync(pidFile, "utf8")) };
}

test("a file that never ends is killed at its time limit, with what it started, and fails the run", async () => {
  const { run, seconds, pid } = runFixture("runner-hangs.ts", 3);
  assert.equal(run.status, 1, run.stdout);
  assert.match(run.stdout, /✖ tests\/fixtures\/runner-hangs\.ts .*overran its 3 s limit/);
  assert.ok(seconds < 30, `the run ended after ${seconds.toFixed(1)} s`);
  assert.ok(await ends(pid), "the process the file started was killed");
});

test("a file that passes but leaves a process running fails the run, and the process is killed", async () => {
  const { run, pid } = runFixture("runner-leaks.ts", 30);
  assert.equal(run.status, 1, run.stdout);
  assert.match(run.stdout, /✖ tests\/fixtures\/runner-leaks\.ts .*left processes running/);
  assert.ok(await ends(pid), "the process left behind was killed");
});

test("SIGINT to the runner (Ctrl-C) kills the running file with what it started, says so, and exits 130", async () => {
  const pidFile = join(tempDir(), "pid");
  const runner = spawn(process.execPath, ["--import", "tsx", "scripts/test.ts", "tests/fixtures/runner-sleeps.ts"], {
    cwd: ROOT,
    env: { ...process.env, SSOD_TEST_FILE_TIMEOUT: "300", RUNNER_FIXTURE_PID_FILE: pidFile },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  runner.stdout.on("data", (d) => (output += String(d)));
  runner.stderr.on("data", (d) => (output += String(d)));
  const exited = new Promise<number | null>((resolve) => runner.once("exit", (code) => resolve(code)));
  let pids: number[] = [];
  try {
    for (let i = 0; i < 600 && !(existsSync(pidFile) && readFileSync(pidFile, "utf8").includes(" ")); i++) await new Promise((r) => setTimeout(r, 50));
    pids = readFileSync(pidFile, "utf8").split(" ").map(Number);
    runner.kill("SIGINT");
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r("still running"), 15_000))]);
    assert.equal(code, 130, output);
    assert.match(output, /interrupted/i);
    for (const pid of pids) assert.ok(await ends(pid, 3000), `process ${pid} of the file still runs`);
  } finally {
    runner.kill("SIGKILL");
    for (const pid of pids.filter(alive)) process.kill(pid, "SIGKILL");
  }
});
