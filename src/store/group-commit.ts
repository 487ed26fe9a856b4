// Group commit: the writes of concurrent requests are queued and committed
// together in one transaction (one `batch`, so one round trip to a remote
// store and one fsync for a file), and each request is answered only after
// the commit that holds its own write.
//
// Writes come in two forms:
// - a WriteUnit: one request's statements, committed beside the others';
// - a BulkWrite: an operation whose inputs from many requests are planned
//   together into a constant number of set-based statements (a hot path such
//   as issuing or redeeming tokens, where per-statement cost dominates).
//
// A write may be background work (the webhook worker's claims and records):
// it never starts a batch of its own while a batch is in flight, but rides
// along with the next one, so it costs a few statements, not a commit; once
// the store has been idle for BACKGROUND_WAIT_MS it starts one.
//
// Statements must not fail on data (use ON CONFLICT / conditional WHERE and
// read the outcome from RETURNING). Should one fail anyway, the batch is split
// and retried piece by piece, so one bad write never takes others with it.
import type { Driver, Result, Statement } from "./driver";
import { classifyStoreError, StoreUnavailableError } from "./errors";

export interface WriteUnit<T> {
  statements: Statement[];
  decode(results: Result[]): T;
}

export interface BulkWrite<I, O> {
  readonly name: string;
  /** Plans one unit for all inputs; its decode answers each input, in order. */
  plan(inputs: I[]): WriteUnit<O[]>;
}

/** How long the store must be idle before a background write starts a batch of its own. */
const BACKGROUND_WAIT_MS = 5;

/** How a write is queued: `background` joins the next batch rather than starting one (see above). */
export interface WriteOptions {
  background?: boolean;
}

interface Waiter {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

type Entry = (Waiter & { kind: "unit"; unit: WriteUnit<unknown> }) | (Waiter & { kind: "bulk"; op: BulkWrite<unknown, unknown>; input: unknown });

/** A slice of a batch: its statements and how to answer the entries behind them. */
interface Part {
  entries: Entry[];
  statements: Statement[];
  settle(results: Result[]): void;
}

export interface GroupCommitOptions {
  /** Most entries in one transaction. */
  maxEntries: number;
  /**
   * Batches sent before the previous one is answered. Two keep the store busy:
   * the next batch is waiting in its queue while the main thread is still
   * answering the last one. Batches still commit one after the other.
   */
  maxInFlight: number;
  /** Retries of a batch that found the store busy or locked, with doubling delays. */
  busyRetries: number;
  busyRetryDelayMs: number;
  /** Called after every batch with its size and duration (metrics). */
  onBatch?: (info: { entries: number; statements: number; ms: number; ok: boolean }) => void;
}

function unitPart(entry: Entry & { kind: "unit" }): Part {
  return {
    entries: [entry],
    statements: entry.unit.statements,
    settle: (results) => entry.resolve(entry.unit.decode(results)),
  };
}

function bulkPart(op: BulkWrite<unknown, unknown>, entries: (Entry & { kind: "bulk" })[]): Part {
  const unit = op.plan(entries.map((e) => e.input));
  return {
    entries,
    statements: unit.statements,
    settle: (results) => {
      const outputs = unit.decode(results);
      for (const [i, e] of entries.entries()) e.resolve(outputs[i]);
    },
  };
}

export class GroupCommit {
  readonly #driver: Driver;
  readonly #options: GroupCommitOptions;
  #queue: Entry[] = [];
  #inFlight = 0;
  #scheduled = false;
  #idleWaiters: (() => void)[] = [];
  /** Background writes waiting for a batch to ride along with, and the timer that starts one for them. */
  #background: Entry[] = [];
  #backgroundTimer: NodeJS.Timeout | undefined;

  constructor(driver: Driver, options: GroupCommitOptions) {
    this.#driver = driver;
    this.#options = options;
  }

  write<T>(unit: WriteUnit<T>, options: WriteOptions = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#enqueue({ kind: "unit", unit, resolve: resolve as (v: unknown) => void, reject }, options);
    });
  }

  bulk<I, O>(op: BulkWrite<I, O>, input: I, options: WriteOptions = {}): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#enqueue({ kind: "bulk", op: op as BulkWrite<unknown, unknown>, input, resolve: resolve as (v: unknown) => void, reject }, options);
    });
  }

  /** Resolves once every queued write has been committed or refused. */
  drain(): Promise<void> {
    this.#releaseBackground();
    if (this.#inFlight === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #enqueue(entry: Entry, options: WriteOptions): void {
    if (!options.background) {
      this.#queue.push(entry);
      this.#schedule();
      return;
    }
    this.#background.push(entry);
    this.#backgroundTimer ??= setTimeout(() => this.#backgroundWaited(), BACKGROUND_WAIT_MS);
  }

  /** A batch in flight will be followed by another that the background writes can join: wait on. */
  #backgroundWaited(): void {
    if (this.#inFlight > 0) this.#backgroundTimer = setTimeout(() => this.#backgroundWaited(), BACKGROUND_WAIT_MS);
    else this.#releaseBackground();
  }

  /** The background writes join the queue: the batch about to start, or one of their own. */
  #releaseBackground(): void {
    clearTimeout(this.#backgroundTimer);
    this.#backgroundTimer = undefined;
    if (this.#background.length === 0) return;
    this.#queue.unshift(...this.#background.splice(0));
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= this.#options.maxInFlight || this.#queue.length === 0) return;
    this.#scheduled = true;
    // setImmediate, not a microtask: it lets every request that arrived in
    // this turn of the event loop join the batch.
    setImmediate(() => {
      this.#scheduled = false;
      this.#launch();
    });
  }

  #launch(): void {
    // Background writes waiting now ride along with this batch.
    if (this.#queue.length > 0 && this.#background.length > 0) this.#releaseBackground();
    while (this.#inFlight < this.#options.maxInFlight && this.#queue.length > 0) {
      const entries = this.#queue.splice(0, this.#options.maxEntries);
      this.#inFlight++;
      void this.#commit(this.#partsOf(entries)).finally(() => {
        this.#inFlight--;
        this.#schedule();
        if (this.#inFlight === 0 && this.#queue.length === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
      });
    }
  }

  #partsOf(entries: Entry[]): Part[] {
    const parts: Part[] = [];
    const bulks = new Map<BulkWrite<unknown, unknown>, (Entry & { kind: "bulk" })[]>();
    for (const entry of entries) {
      if (entry.kind === "unit") parts.push(unitPart(entry));
      else {
        const group = bulks.get(entry.op);
        if (group) group.push(entry);
        else bulks.set(entry.op, [entry]);
      }
    }
    for (const [op, group] of bulks) parts.push(this.#guardedPlan(op, group));
    return parts;
  }

  /** A plan that throws (a bug, or an input it cannot handle) fails only its own entries. */
  #guardedPlan(op: BulkWrite<unknown, unknown>, entries: (Entry & { kind: "bulk" })[]): Part {
    try {
      return bulkPart(op, entries);
    } catch (error) {
      for (const e of entries) e.reject(error);
      return { entries: [], statements: [], settle: () => {} };
    }
  }

  async #commit(parts: Part[]): Promise<void> {
    const live = parts.filter((p) => p.entries.length > 0);
    if (live.length === 0) return;
    const statements = live.flatMap((p) => p.statements);
    let results: Result[];
    try {
      results = await this.#batchWithRetry(statements, live);
    } catch (error) {
      const failure = classifyStoreError(error);
      if (failure instanceof StoreUnavailableError) {
        for (const p of live) for (const e of p.entries) e.reject(failure);
        return;
      }
      await this.#isolate(live, failure);
      return;
    }
    let offset = 0;
    for (const part of live) {
      const slice = results.slice(offset, offset + part.statements.length);
      offset += part.statements.length;
      try {
        part.settle(slice);
      } catch (error) {
        for (const e of part.entries) e.reject(error);
      }
    }
  }

  /** Commits each part alone (and each input of a bulk part alone) to find the one that fails. */
  async #isolate(parts: Part[], failure: Error): Promise<void> {
    const single = parts.length === 1 && parts[0]!.entries.length === 1;
    if (single) {
      parts[0]!.entries[0]!.reject(failure);
      return;
    }
    for (const part of parts) {
      if (part.entries.length === 1 || part.entries[0]!.kind === "unit") {
        await this.#commit([part]);
      } else {
        for (const entry of part.entries as (Entry & { kind: "bulk" })[]) {
          await this.#commit([this.#guardedPlan(entry.op, [entry])]);
        }
      }
    }
  }

  async #batchWithRetry(statements: Statement[], parts: Part[]): Promise<Result[]> {
    const { busyRetries, busyRetryDelayMs, onBatch } = this.#options;
    const entries = parts.reduce((n, p) => n + p.entries.length, 0);
    for (let attempt = 0; ; attempt++) {
      const started = performance.now();
      try {
        const results = statements.length > 0 ? await this.#driver.batch(statements, "write") : [];
        onBatch?.({ entries, statements: statements.length, ms: performance.now() - started, ok: true });
        return results;
      } catch (error) {
        onBatch?.({ entries, statements: statements.length, ms: performance.now() - started, ok: false });
        const failure = classifyStoreError(error);
        // Only "busy" is sure not to have committed; anything else is not retried here.
        const retry = failure instanceof StoreUnavailableError && failure.reason === "busy" && attempt < busyRetries;
        if (!retry) throw failure;
        await new Promise((r) => setTimeout(r, busyRetryDelayMs * 2 ** attempt));
      }
    }
  }
}
