// Messages between the main thread and the store worker (src/store/local-worker.ts).
import type { Result, Statement } from "./driver";

export type WorkerRequest =
  | { id: number; op: "execute"; statement: Statement }
  | { id: number; op: "batch"; statements: Statement[]; mode: "write" | "read" }
  | { id: number; op: "migrate"; statements: Statement[] }
  | { id: number; op: "close" };

export type WorkerReply = { id: number; ok: true; results: Result[] } | { id: number; ok: false; error: { message: string; code: string } };

export interface WorkerInit {
  /** A `file:` URL. */
  url: string;
  /** Absolute path of the libSQL native binding to load (set by the single-file build). */
  libsqlBinding?: string;
  busyTimeoutMs: number;
}
