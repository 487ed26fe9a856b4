// The embedded store's writer thread. libSQL's file driver is synchronous: run
// on the main thread, every write and every fsync of a commit would stall
// request handling. Here they stall only this thread, while the main thread
// keeps parsing requests and queueing the next group commit.
import { parentPort, workerData } from "node:worker_threads";
import type { Result } from "./driver";
import { filePathOf } from "./file-url";
import type { WorkerInit, WorkerReply, WorkerRequest } from "./local-protocol";
import { SqliteConnection } from "./sqlite-connection";

const init = workerData as WorkerInit;
const port = parentPort!;

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
    return connection.transaction(request.statements, "BEGIN DEFERRED");
  } finally {
    connection.exec("PRAGMA foreign_keys = ON");
  }
}

function handle(request: WorkerRequest): Result[] {
  switch (request.op) {
    case "execute":
      return [connection.run(request.statement)];
    case "batch":
      return connection.transaction(request.statements, request.mode === "write" ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED");
    case "migrate":
      return migrate(request);
    case "close":
      // Fold the WAL back into the database file, so that a stopped store is
      // one self-contained file. Passive: another process still writing is
      // not waited for (its own close will do it).
      connection.exec("PRAGMA wal_checkpoint(PASSIVE)");
      connection.close();
      return [];
  }
}

port.on("message", (request: WorkerRequest) => {
  let reply: WorkerReply;
  try {
    reply = { id: request.id, ok: true, results: handle(request) };
  } catch (error) {
    const e = error as { message?: string; code?: string };
    reply = { id: request.id, ok: false, error: { message: String(e.message ?? error), code: String(e.code ?? "UNKNOWN") } };
  }
  port.postMessage(reply);
  if (request.op === "close") port.close();
});
