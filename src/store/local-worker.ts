// The embedded store's writer thread. libSQL's file driver is synchronous: run
// on the main thread, every write and every fsync of a commit would stall
// request handling. Here they stall only this thread, while the main thread
// keeps parsing requests and queueing the next group commit.
import { parentPort, workerData } from "node:worker_threads";
import { createClient, type Client, type InStatement } from "@libsql/client/sqlite3";
import { fromLibsql, type Result } from "./driver";
import type { WorkerInit, WorkerReply, WorkerRequest } from "./local-protocol";

const init = workerData as WorkerInit;
const port = parentPort!;

// One connection, so the pragmas below hold for every statement.
const client: Client = createClient({ url: init.url, concurrency: 1, intMode: "number" });

async function applyPragmas(): Promise<void> {
  await client.execute(`PRAGMA busy_timeout = ${init.busyTimeoutMs}`);
  await client.execute("PRAGMA journal_mode = WAL");
  // FULL: a commit is on disk before its requests are answered (SPEC §5).
  await client.execute("PRAGMA synchronous = FULL");
  await client.execute("PRAGMA foreign_keys = ON");
}

async function handle(request: WorkerRequest): Promise<Result[]> {
  switch (request.op) {
    case "execute":
      return [fromLibsql(await client.execute(request.statement as InStatement))];
    case "batch":
      return (await client.batch(request.statements as InStatement[], request.mode)).map(fromLibsql);
    case "migrate":
      return (await client.migrate(request.statements as InStatement[])).map(fromLibsql);
    case "close":
      client.close();
      return [];
  }
}

const ready = applyPragmas();

port.on("message", async (request: WorkerRequest) => {
  let reply: WorkerReply;
  try {
    await ready;
    reply = { id: request.id, ok: true, results: await handle(request) };
  } catch (error) {
    const e = error as { message?: string; code?: string };
    reply = { id: request.id, ok: false, error: { message: String(e.message ?? error), code: String(e.code ?? "UNKNOWN") } };
    // The client drops a connection it could not roll back and opens a fresh
    // one without our pragmas; set them again so FULL sync is never lost.
    if (request.op !== "close") await applyPragmas().catch(() => {});
  }
  port.postMessage(reply);
  if (request.op === "close") port.close();
});
