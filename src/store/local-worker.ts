// The embedded store's writer thread. libSQL's file driver is synchronous: run
// on the main thread, every write and every fsync of a commit would stall
// request handling. Here they stall only this thread, while the main thread
// keeps parsing requests and queueing the next group commit.
import { parentPort, workerData } from "node:worker_threads";
import type { Result } from "./driver";
import { filePathOf } from "./file-url";
import type { WorkerInit, WorkerReply, WorkerRequest } from "./local-protocol";
import { StatementUnpacker } from "./packed-statements";
import { SqliteConnection } from "./sqlite-connection";

const init = workerData as WorkerInit;
const port = parentPort!;
const unpacker = new StatementUnpacker();

// One connection, so the pragmas below hold for every statement.
const connection = new SqliteConnection(filePathOf(init.url));
connection.exec(`PRAGMA busy_timeout = ${init.busyTimeoutMs}`);
connection.exec("PRAGMA journal_mode = WAL");
// FULL: a commit is on disk before its requests are answered (SPEC §5).
connection.exec("PRAGMA synchronous = FULL");
connection.exec("PRAGMA foreign_keys = ON");

function migrate(request: Extract<WorkerRequest, { op: "migrate" }>): Result[] {
  // Off for the migration, so that a table rebuilt by it does not cascade deletes into its children.
  connection.exec("PRAGMA foreign_keys = OFF");
  try {
    return connection.transaction(unpacker.unpack(request.packed), "BEGIN DEFERRED");
  } finally {
    connection.exec("PRAGMA foreign_keys = ON");
  }
}

function handle(request: WorkerRequest): Result[] {
  switch (request.op) {
    case "execute":
      return [connection.run(unpacker.unpack(request.packed)[0]!)];
    case "batch":
      return connection.transaction(unpacker.unpack(request.packed), request.mode === "write" ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED");
    case "migrate":
      return migrate(request);
    case "close":
      throw new Error("close is handled by close()");
  }
}

/**
 * Folds the WAL back into the database file and closes, so that a stopped
 * store is one self-contained file: the main thread's reader is closed
 * first, so this is the process's last connection, and when no other
 * process has the store open SQLite removes the -wal and -shm files as it
 * closes. Another process's connection keeps them (its own close folds
 * them); it is not waited for.
 */
async function close(): Promise<Result[]> {
  try {
    connection.exec("PRAGMA busy_timeout = 0");
    connection.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  } catch {
    // busy (another process is writing): its close will fold the WAL back
  }
  await connection.close();
  return [];
}

port.on("message", async (request: WorkerRequest) => {
  let reply: WorkerReply;
  try {
    reply = { id: request.id, ok: true, results: request.op === "close" ? await close() : handle(request) };
  } catch (error) {
    const e = error as { message?: string; code?: string };
    reply = { id: request.id, ok: false, error: { message: String(e.message ?? error), code: String(e.code ?? "UNKNOWN") } };
  }
  port.postMessage(reply);
  if (request.op === "close") port.close();
});
