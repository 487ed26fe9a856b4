// The embedded store: a libSQL file, written from a worker thread, read from the main thread.
import { Worker } from "node:worker_threads";
import { embedded } from "../embedded";
import { prepareDataFolder } from "./data-folder";
import type { Driver, Result, Statement } from "./driver";
import { classifyStoreError, StoreQueryError, StoreUnavailableError } from "./errors";
import type { StoreEventListener } from "./events";
import { filePathOf } from "./file-url";
import type { WorkerInit, WorkerReply, WorkerRequest } from "./local-protocol";
import { ensureLibsqlBinding } from "./native-binding";
import { StatementPacker } from "./packed-statements";
import type { SqliteConnection } from "./sqlite-connection";

type Pending = { resolve: (results: Result[]) => void; reject: (error: Error) => void };
type Outgoing = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

function startWorker(init: WorkerInit): Worker {
  if (embedded.storeWorker) return new Worker(embedded.storeWorker, { eval: true, workerData: init });
  // Running from source: Node 20 workers do not inherit `--import tsx`, so the
  // worker registers tsx itself before loading the TypeScript entry.
  const tsx = JSON.stringify(import.meta.resolve("tsx/esm/api"));
  const entry = JSON.stringify(new URL("./local-worker.ts", import.meta.url).href);
  return new Worker(`import(${tsx}).then((m) => m.register()).then(() => import(${entry}))`, { eval: true, workerData: init });
}

/** One store thread and the calls waiting for its answers. */
function connection(init: WorkerInit) {
  const worker = startWorker(init);
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let dead: Error | undefined;
  const failAll = (error: Error) => {
    dead = error;
    for (const p of pending.values()) p.reject(error);
    pending.clear();
  };
  worker.on("message", (reply: WorkerReply) => {
    const p = pending.get(reply.id);
    if (!p) return;
    pending.delete(reply.id);
    if (reply.ok) p.resolve(reply.results);
    else p.reject(classifyStoreError(Object.assign(new Error(reply.error.message), { code: reply.error.code })));
  });
  worker.on("error", (error) => failAll(new StoreUnavailableError(`the store worker failed: ${error.message}`, "unreachable", { cause: error })));
  worker.on("exit", () => failAll(dead ?? new StoreUnavailableError("the store is closed", "unreachable")));
  const packer = new StatementPacker();
  const call = (request: Outgoing): Promise<Result[]> =>
    new Promise((resolve, reject) => {
      if (dead) return reject(dead);
      const id = nextId++;
      pending.set(id, { resolve, reject });
      try {
        worker.postMessage({ ...request, id });
      } catch (error) {
        pending.delete(id);
        if ("packed" in request) packer.unsent(request.packed);
        reject(error);
      }
    });
  return {
    call,
    /** Statements as the worker takes them (./packed-statements.ts). */
    pack: (statements: Statement[]) => packer.pack(statements),
    async close() {
      if (!dead) await call({ op: "close" }).catch(() => {});
      await worker.terminate();
    },
    /** Fails now, with the file's path, if the database cannot be opened. */
    async check(path: string) {
      try {
        await call({ op: "execute", packed: packer.pack([{ sql: "SELECT 1", args: [] }]) });
      } catch (error) {
        await worker.terminate();
        const reason = error instanceof StoreQueryError || error instanceof StoreUnavailableError ? error.message : String(error);
        throw new Error(`cannot open the store at ${path}: ${reason}`);
      }
    },
  };
}

/**
 * The reading connection, on the main thread. Reads are short indexed
 * lookups, coalesced per turn of the event loop; in WAL mode they never wait
 * for the writer, so running them here costs less than a round trip to a
 * thread (and a thread more to share two cores with).
 */
async function openReader(path: string, busyTimeoutMs: number): Promise<SqliteConnection> {
  // Imported only now: the native binding's path must be set before libsql loads.
  const { SqliteConnection } = await import("./sqlite-connection");
  const connection = new SqliteConnection(path);
  connection.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
  connection.exec("PRAGMA query_only = 1");
  return connection;
}

export interface LocalDriverOptions {
  busyTimeoutMs: number;
  cacheDir?: string | undefined;
  /** Told of file modes tightened at start. */
  onEvent?: StoreEventListener | undefined;
}

export async function openLocalDriver(url: string, options: LocalDriverOptions): Promise<Driver> {
  const path = filePathOf(url);
  const libsqlBinding = ensureLibsqlBinding(options.cacheDir);
  // The folder 0700 and the database file 0600 before SQLite makes them (SPEC §5 "Files").
  if (path !== ":memory:") prepareDataFolder(path, options.onEvent ?? (() => {}));
  // The writer first: it creates the file and switches it to WAL.
  const writer = connection({ url, busyTimeoutMs: options.busyTimeoutMs, ...(libsqlBinding ? { libsqlBinding } : {}) });
  await writer.check(path);
  const reader = await openReader(path, options.busyTimeoutMs).catch(async (error: unknown) => {
    await writer.close();
    throw new Error(`cannot open the store at ${path}: ${String(error)}`);
  });
  const read = async <T>(work: () => T): Promise<T> => {
    try {
      return work();
    } catch (error) {
      throw classifyStoreError(error);
    }
  };
  return {
    kind: "file",
    query: (statement) => read(() => reader.run(statement)),
    execute: async (statement) => (await writer.call({ op: "execute", packed: writer.pack([statement]) }))[0]!,
    batch: (statements, mode) =>
      mode === "read" ? read(() => reader.transaction(statements, "BEGIN DEFERRED")) : writer.call({ op: "batch", packed: writer.pack(statements), mode }),
    migrate: (statements) => writer.call({ op: "migrate", packed: writer.pack(statements) }),
    close: async () => {
      // The reader first: the writer's close must be this process's last connection (local-worker.ts).
      await reader.close();
      await writer.close();
    },
  };
}
