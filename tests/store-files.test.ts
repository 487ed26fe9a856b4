// SPEC §5 "Files": the data folder is created 0700 and the store's files
// (ssod.db, -wal, -shm) and master.key 0600, whatever the umask; a backup
// too. Folders and files that an older version left readable by others are
// tightened at start when they are ours, and the log says so. A data folder
// that holds more than ssod's files keeps its mode (with a warning): its
// files are still tightened. Also issue 13 item 6: a stopped store is one
// file, the WAL folded back, -wal and -shm gone.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, existsSync, lstatSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { track } from "./helpers/children";
import { type ServerProcess, startBuiltServer, startBuiltServers, stopAll } from "./helpers/process";
import { tempDir } from "./helpers/temp";

const modeOf = (path: string) => lstatSync(path).mode & 0o7777;
const octal = (mode: number) => mode.toString(8).padStart(4, "0");

/** NODE_OPTIONS that start the child with umask 000, as a careless service manager might. */
function umask000(): Record<string, string> {
  const preload = join(tempDir("ssod-umask-"), "umask000.cjs");
  // NODE_OPTIONS reach the store worker too, where umask cannot be set (and is the process's anyway).
  writeFileSync(preload, 'if (require("node:worker_threads").isMainThread) process.umask(0o000);\n');
  return { NODE_OPTIONS: `--require ${preload}` };
}

function assertMode(path: string, expected: number): void {
  assert.ok(existsSync(path), `${path} exists`);
  assert.equal(octal(modeOf(path)), octal(expected), `${path} has mode ${octal(expected)}`);
}

async function stop(server: ServerProcess): Promise<void> {
  server.kill("SIGTERM");
  assert.equal(await server.exited, 0, `SIGTERM drains and exits 0\n${server.stderr()}`);
}

/** Issues a token through v1 with the first admin key (a write through the group commit). */
async function issueToken(server: ServerProcess, key: string): Promise<void> {
  const response = await fetch(`${server.url}/v1/tokens`, {
    method: "POST",
    headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
    body: JSON.stringify({ sourceCode: "default", user: { email: `u${Math.random().toString(36).slice(2)}@example.com` } }),
  });
  assert.equal(response.status, 201, await response.text());
}

const firstKey = (server: ServerProcess) => /ssod_ak_[A-Za-z0-9_-]{43}/.exec(server.stderr())?.[0];

/** Runs the built file copied into `dir` with the given environment, to its end. */
function runBuilt(dir: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = track(
      spawn(process.execPath, [join(dir, "ssod.mjs"), ...args], {
        cwd: dir,
        env: { PATH: process.env.PATH ?? "", HOME: dir, ...env },
        stdio: ["ignore", "pipe", "pipe"],
      }),
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += String(d)));
    child.stderr.on("data", (d) => (stderr += String(d)));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.once("error", reject);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The JSON log lines of a server's stdout, once its start line is there (the log reaches stdout a little after the banner). */
async function logLines(server: ServerProcess): Promise<Record<string, unknown>[]> {
  for (let i = 0; i < 100 && !server.stdout().includes('"ssod listening"'); i++) await new Promise((r) => setTimeout(r, 50));
  return server
    .stdout()
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("the store's files are private to ssod's user", () => {
  test("under umask 000, a new store's folder is 0700 and its files, key and backups 0600", async () => {
    const env = umask000();
    const server = await startBuiltServer({ env });
    try {
      const key = firstKey(server);
      assert.ok(key, server.stderr());
      for (let i = 0; i < 5; i++) await issueToken(server, key);
      const data = join(server.dir, "data");
      assertMode(data, 0o700);
      for (const file of ["ssod.db", "ssod.db-wal", "ssod.db-shm", "master.key"]) assertMode(join(data, file), 0o600);
      // The binding's cache folder is private too (SPEC §5; tests/native-binding.test.ts has the rest).
      assertMode(join(server.dir, ".cache"), 0o700);
      const backup = join(server.dir, "backup.db");
      const r = await runBuilt(server.dir, ["backup", backup], { ...env, SSOD_CACHE_DIR: join(server.dir, ".cache") });
      assert.equal(r.code, 0, r.stderr);
      assertMode(backup, 0o600);
    } finally {
      await stop(server);
    }
  });

  test("an older version's loose modes are tightened at start, and the log says so", async () => {
    const first = await startBuiltServer();
    const dir = first.dir;
    await stop(first);
    const data = join(dir, "data");
    // What an older version left: a 0755 folder, 0644 files (a -wal and -shm of a store stopped uncleanly too).
    chmodSync(data, 0o755);
    writeFileSync(join(data, "ssod.db-wal"), "");
    writeFileSync(join(data, "ssod.db-shm"), "");
    for (const file of ["ssod.db", "ssod.db-wal", "ssod.db-shm", "master.key"]) chmodSync(join(data, file), 0o644);

    const server = await startBuiltServer({ dir, env: umask000() });
    try {
      assertMode(data, 0o700);
      for (const file of ["ssod.db", "ssod.db-wal", "ssod.db-shm", "master.key"]) assertMode(join(data, file), 0o600);
      const tightened = (await logLines(server)).filter((line) => line.msg === "file mode tightened");
      assert.deepEqual(
        tightened.map((line) => [line.path, line.from, line.to]).sort(),
        [[data, "0755", "0700"], ...["master.key", "ssod.db", "ssod.db-shm", "ssod.db-wal"].map((file) => [join(data, file), "0644", "0600"])].sort(),
        server.stdout(),
      );
      assert.ok(tightened.every((line) => line.level === "warn"));
    } finally {
      await stop(server);
    }
    // Tight already: the next start has nothing to say.
    const again = await startBuiltServer({ dir });
    try {
      assert.equal((await logLines(again)).filter((line) => line.msg === "file mode tightened").length, 0, again.stdout());
    } finally {
      await stop(again);
    }
  });

  test("a data folder that holds other files keeps its mode, with a warning; the store's files are still 0600", async () => {
    const dir = tempDir("ssod-shared-folder-");
    chmodSync(dir, 0o755);
    // The store in the working folder, beside ssod.mjs itself.
    const server = await startBuiltServer({ dir, env: { ...umask000(), SSOD_DATABASE_URL: "file:./ssod.db" } });
    try {
      assertMode(dir, 0o755);
      for (const file of ["ssod.db", "ssod.db-wal", "ssod.db-shm", "master.key"]) assertMode(join(dir, file), 0o600);
      const warned = (await logLines(server)).filter((line) => line.msg === "data folder readable by other users");
      assert.equal(warned.length, 1, server.stdout());
      assert.equal(warned[0]!.path, dir);
      assert.equal(warned[0]!.level, "warn");
    } finally {
      await stop(server);
    }
  });
});

describe("a stopped store is one file (issue 13)", () => {
  test("after writes and SIGTERM, only ssod.db and master.key remain in data/", async () => {
    const server = await startBuiltServer();
    const data = join(server.dir, "data");
    try {
      const key = firstKey(server);
      assert.ok(key, server.stderr());
      await Promise.all(Array.from({ length: 50 }, () => issueToken(server, key)));
      // Reads on the main thread's connection too, so that both connections have used the WAL.
      assert.equal((await fetch(`${server.url}/v1/sources`, { headers: { Authorization: `Bearer ${key}` } })).status, 200);
      assert.ok(existsSync(join(data, "ssod.db-wal")), "the store runs in WAL mode");
    } finally {
      await stop(server);
    }
    assert.deepEqual(readdirSync(data).sort(), ["master.key", "ssod.db"]);
  });

  test("while another process has the store open, its -wal and -shm stay; the last one to stop folds them back", async () => {
    const servers = await startBuiltServers(2);
    const [a, b] = servers as [ServerProcess, ServerProcess];
    const data = join(a.dir, "data");
    try {
      const key = firstKey(a) ?? firstKey(b);
      assert.ok(key, a.stderr() + b.stderr());
      for (const server of servers) await Promise.all(Array.from({ length: 10 }, () => issueToken(server, key)));
      await stop(a);
      assert.ok(existsSync(join(data, "ssod.db-wal")) && existsSync(join(data, "ssod.db-shm")), "the files of a store still open stay");
      await issueToken(b, key);
    } finally {
      await stopAll(servers);
    }
    assert.equal(await b.exited, 0);
    assert.deepEqual(readdirSync(data).sort(), ["master.key", "ssod.db"]);
  });
});
