// Messages between the main thread and the store worker (src/store/local-worker.ts).
import type { Result } from "./driver";
import type { PackedStatements } from "./packed-statements";

export type WorkerRequest =
  | { id: number; op: "execute"; packed: PackedStatements }
  | { id: number; op: "batch"; packed: PackedStatements; mode: "write" | "read" }
  | { id: number; op: "migrate"; packed: PackedStatements }
  | { id: number; op: "close" };

export type WorkerReply = { id: number; ok: true; results: Result[] } | { id: number; ok: false; error: { message: string; code: string } };

export interface WorkerInit {
  /** A `file:` URL. */
  url: string;
  /** Absolute path of the libSQL native binding to load (set by the single-file build). */
  libsqlBinding?: string;
  busyTimeoutMs: number;
}
