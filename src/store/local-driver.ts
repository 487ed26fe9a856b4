// The embedded store: a libSQL file driven from two worker threads, a writer and a reader.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { embedded } from "../embedded";
import type { Driver, Result } from "./driver";
import { StoreQueryError, StoreUnavailableError, classifyStoreError } from "./errors";
import type { WorkerInit, WorkerReply, WorkerRequest } from "./local-protocol";
import { ensureLibsqlBinding } from "./native-binding";

type Pending = { resolve: (results: Result[]) => void; reject: (error: Error) => void };
type Outgoing = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

/** Path of the database file named by a `file:` URL (relative to the working directory). */
export function filePathOf(url: string): string {
  const rest = url.slice("file:".length);
  if (rest.startsWith("//")) return fileURLToPath(url);
  return rest.split("?")[0]!;
}

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
  const call = (request: Outgoing): Promise<Result[]> =>
    new Promise((resolve, reject) => {
      if (dead) return reject(dead);
      const id = nextId++;
      pending.set(id, { resolve, reject });
      worker.postMessage({ ...request, id });
    });
  return {
    call,
    async close() {
      if (!dead) await call({ op: "close" }).catch(() => {});
      await worker.terminate();
    },
    /** Fails now, with the file's path, if the database cannot be opened. */
    async check(path: string) {
      try {
        await call({ op: "execute", statement: { sql: "SELECT 1", args: [] } });
      } catch (error) {
        await worker.terminate();
        const reason = error instanceof StoreQueryError || error instanceof StoreUnavailableError ? error.message : String(error);
        throw new Error(`cannot open the store at ${path}: ${reason}`);
      }
    },
  };
}

export async function openLocalDriver(url: string, options: { busyTimeoutMs: number }): Promise<Driver> {
  const path = filePathOf(url);
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const libsqlBinding = ensureLibsqlBinding();
  const init = { url, busyTimeoutMs: options.busyTimeoutMs, ...(libsqlBinding ? { libsqlBinding } : {}) };
  // The writer first: it creates the file and switches it to WAL.
  const writer = connection({ ...init, readOnly: false });
  await writer.check(path);
  const reader = connection({ ...init, readOnly: true });
  await reader.check(path).catch(async (error: unknown) => {
    await writer.close();
    throw error;
  });
  const first = (results: Promise<Result[]>) => results.then((r) => r[0]!);
  return {
    kind: "file",
    query: (statement) => first(reader.call({ op: "execute", statement })),
    execute: (statement) => first(writer.call({ op: "execute", statement })),
    batch: (statements, mode) => (mode === "read" ? reader : writer).call({ op: "batch", statements, mode }),
    migrate: (statements) => writer.call({ op: "migrate", statements }),
    close: async () => {
      await Promise.all([reader.close(), writer.close()]);
    },
  };
}
