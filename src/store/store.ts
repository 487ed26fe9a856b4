// The store as the core sees it: one driver (file or remote), Drizzle over
// it for ordinary queries, group commit for writes and batched lookups for
// hot keyed reads. Nothing here keeps data between requests: every answer
// comes from the store, so any number of instances can share it.
import { drizzle, type SqliteRemoteDatabase } from "drizzle-orm/sqlite-proxy";
import type { Driver, Result, SqlValue, Statement } from "./driver";
import { StoreUnavailableError } from "./errors";
import type { StoreEventListener } from "./events";
import { type BulkWrite, GroupCommit, type GroupCommitOptions, type WriteOptions, type WriteUnit } from "./group-commit";
import { openLocalDriver } from "./local-driver";
import { BatchedLookup, type LookupDefinition } from "./lookup";
import { openRemoteDriver } from "./remote-driver";
import * as schema from "./schema";
import { WriteHealth } from "./write-health";

type Database = SqliteRemoteDatabase<typeof schema>;

export interface StoreOptions {
  url: string;
  authToken?: string | undefined;
  /** Where the single-file build writes libSQL's native binding (SSOD_CACHE_DIR). */
  cacheDir?: string | undefined;
  /** How long a file store waits for another process's write lock. */
  busyTimeoutMs?: number;
  /** How long any store call may take before it is abandoned with a 503. */
  timeoutMs?: number;
  groupCommit?: Partial<GroupCommitOptions>;
  /** Told of the rare events an operator should read about in the log (src/store/events.ts). */
  onEvent?: StoreEventListener | undefined;
  /** Told of every store call: what kind, how long, whether it failed (metrics). */
  observe?: (call: StoreCall) => void;
}

export interface StoreCall {
  kind: "read" | "write";
  ms: number;
  /** undefined on success, else the error's class ("unavailable", "query"). */
  error?: "unavailable" | "query";
}

export interface Store {
  readonly kind: Driver["kind"];
  readonly driver: Driver;
  readonly db: Database;
  /** Through the group commit; `background` rides along with the next batch instead of starting one. */
  write<T>(unit: WriteUnit<T>, options?: WriteOptions): Promise<T>;
  bulk<I, O>(op: BulkWrite<I, O>, input: I, options?: WriteOptions): Promise<O>;
  lookup<K extends string | number, V>(definition: LookupDefinition<V>): BatchedLookup<K, V>;
  /** Since when the store has refused writes because its disk is full (SPEC §5), or undefined while they go through. */
  readonly writesRefusedSince: Date | undefined;
  /**
   * Whether writes go through: true at once while they do; while they are
   * refused, whether a tiny write now succeeds (tried at most once a second).
   * For /readyz.
   */
  writesAccepted(): Promise<boolean>;
  /** Waits for queued writes, then closes the connection. */
  close(): Promise<void>;
}

/** What /readyz writes to learn whether the disk has room again: one small row, overwritten each time. */
const WRITE_PROBE: Statement = {
  sql: "INSERT INTO settings (key, value) VALUES ('write_probe', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
  args: [],
};

type Query = { sql: string; params: unknown[] };

/** A Drizzle query (insert, update, delete, select, or raw `db.run(sql…)`) as a plain statement for a WriteUnit. */
export function statement(query: { toSQL(): Query } | { getQuery(): Query }): Statement {
  const { sql, params } = "toSQL" in query ? query.toSQL() : query.getQuery();
  return { sql, args: params as SqlValue[] };
}

/** Bounds every call in time (a 503 rather than a hang) and reports it to `observe`, and each write's outcome to `health`. */
function guarded(driver: Driver, timeoutMs: number, observe: (call: StoreCall) => void, health: WriteHealth): Driver {
  const bounded = <T>(kind: StoreCall["kind"], work: Promise<T>): Promise<T> => {
    const started = performance.now();
    let timer: NodeJS.Timeout;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        driver.reset?.(started);
        reject(new StoreUnavailableError(`the store did not answer within ${timeoutMs} ms`, "timeout"));
      }, timeoutMs);
    });
    return Promise.race([work, timeout]).then(
      (value) => {
        clearTimeout(timer);
        observe({ kind, ms: performance.now() - started });
        if (kind === "write") health.observe();
        return value;
      },
      (error: unknown) => {
        clearTimeout(timer);
        observe({ kind, ms: performance.now() - started, error: error instanceof StoreUnavailableError ? "unavailable" : "query" });
        if (kind === "write") health.observe(error);
        throw error;
      },
    );
  };
  return {
    kind: driver.kind,
    query: (s) => bounded("read", driver.query(s)),
    execute: (s) => bounded("write", driver.execute(s)),
    batch: (s, mode) => bounded(mode, driver.batch(s, mode)),
    migrate: (s) => driver.migrate(s),
    close: () => driver.close(),
  };
}

function drizzleOver(driver: Driver): Database {
  const rowsFor = (result: Result, method: string) => ({ rows: method === "get" ? (result.rows[0] as unknown[]) : result.rows });
  return drizzle(
    // Drizzle's "run" is a write; "all", "get" and "values" are reads (writes go through WriteUnits).
    async (sql, params, method) => rowsFor(await (method === "run" ? driver.execute : driver.query)({ sql, args: params }), method),
    async (queries) => {
      const results = await driver.batch(
        queries.map((q) => ({ sql: q.sql, args: q.params })),
        "write",
      );
      return results.map((r, i) => rowsFor(r, queries[i]!.method));
    },
    { schema },
  );
}

export function isRemoteUrl(url: string): boolean {
  return /^(libsql|https?|wss?):/i.test(url);
}

export async function openStore(options: StoreOptions): Promise<Store> {
  const raw = isRemoteUrl(options.url)
    ? openRemoteDriver(options.url, options.authToken)
    : await openLocalDriver(options.url, { busyTimeoutMs: options.busyTimeoutMs ?? 5_000, cacheDir: options.cacheDir, onEvent: options.onEvent });
  const health = new WriteHealth(options.onEvent ?? (() => {}));
  const driver = guarded(raw, options.timeoutMs ?? 10_000, options.observe ?? (() => {}), health);
  const commits = new GroupCommit(driver, {
    maxEntries: 512,
    maxInFlight: 2,
    busyRetries: 4,
    busyRetryDelayMs: 25,
    ...options.groupCommit,
  });
  return {
    kind: driver.kind,
    driver,
    db: drizzleOver(driver),
    write: (unit, options) => commits.write(unit, options),
    bulk: (op, input, options) => commits.bulk(op, input, options),
    lookup: (definition) => new BatchedLookup(driver, definition),
    get writesRefusedSince() {
      return health.refusingSince;
    },
    writesAccepted: () => health.writesAccepted(() => driver.execute({ ...WRITE_PROBE, args: [new Date().toISOString()] })),
    close: async () => {
      await commits.drain();
      await driver.close();
      health.close();
    },
  };
}
