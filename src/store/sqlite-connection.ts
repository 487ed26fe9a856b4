// One connection to a libSQL file, through the `libsql` package itself, with
// its prepared statements kept. @libsql/client's file driver prepares every
// statement anew on each call and turns each row into an object twice over;
// on the hot path that was the largest cost of a read and of a commit. The
// statements ssod runs are few and fixed (bulk rows travel as JSON arrays), so
// a small cache holds them all.

import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import Database from "libsql";
import type { Result, SqlValue, Statement } from "./driver";

// Above this many distinct statements the oldest is dropped: the cache serves
// the fixed hot statements, not one-off SQL.
const STATEMENT_CACHE_LIMIT = 256;

type Prepared = { statement: Database.Statement<unknown[]>; reader: boolean; columns?: string[] };

/** What a driver call may bind: our `SqlValue`s, plus the booleans and dates Drizzle may pass. */
function bindable(value: unknown): unknown {
  if (typeof value === "boolean") return value ? 1 : 0;
  if (value instanceof Date) return value.valueOf();
  if (value === undefined) throw new TypeError("undefined cannot be bound to a statement");
  if (typeof value === "number" && !Number.isFinite(value)) throw new RangeError("only finite numbers can be bound to a statement");
  return value;
}

let gc: (() => void) | undefined;

/** A full collection on this thread, and time for the finalizers it queues to run. Only at close: never on a request's path. */
async function collectGarbage(): Promise<void> {
  // As jest's leak detector does: the flag, then a fresh context that has `gc`.
  if (!gc) {
    gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) {
      setFlagsFromString("--expose-gc");
      gc = runInNewContext("gc") as () => void;
    }
  }
  for (let i = 0; i < 2; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

export class SqliteConnection {
  readonly #db: Database.Database;
  readonly #prepared = new Map<string, Prepared>();

  constructor(path: string) {
    this.#db = new Database(path);
  }

  /** Runs SQL text as is (pragmas, BEGIN/COMMIT), never cached. */
  exec(sql: string): void {
    this.#db.exec(sql);
  }

  run({ sql, args }: Statement): Result {
    const prepared = this.#prepare(sql);
    const values = args.map(bindable);
    if (!prepared.reader) return { columns: [], rows: [], rowsAffected: prepared.statement.run(values).changes };
    prepared.columns ??= prepared.statement.columns().map((c) => c.name);
    // Statements with RETURNING count as readers; like @libsql/client, they report 0 rows affected.
    return { columns: prepared.columns, rows: prepared.statement.all(values) as SqlValue[][], rowsAffected: 0 };
  }

  /** Runs the statements in one transaction opened by `begin`: all of them or, on any error, none. */
  transaction(statements: Statement[], begin: string): Result[] {
    this.#db.exec(begin);
    try {
      const results = statements.map((s) => this.run(s));
      this.#db.exec("COMMIT");
      return results;
    } catch (error) {
      if (this.#db.inTransaction) this.#db.exec("ROLLBACK");
      throw error;
    }
  }

  /**
   * Closes the connection for real. libsql's close() leaves SQLite's connection
   * open while any statement prepared on it is alive, and the cached ones are
   * freed only when the garbage collector finalizes them: until then the
   * connection holds its locks, and SQLite cannot see that the last connection
   * to the store has gone (when it removes the -wal and -shm files). So the
   * cache is dropped and a collection forced, on this thread, right here.
   */
  async close(): Promise<void> {
    this.#prepared.clear();
    this.#db.close();
    await collectGarbage();
  }

  #prepare(sql: string): Prepared {
    let prepared = this.#prepared.get(sql);
    if (prepared) return prepared;
    const statement = this.#db.prepare(sql) as Database.Statement<unknown[]>;
    const reader = statement.reader;
    if (reader) statement.raw(true);
    prepared = { statement, reader };
    if (this.#prepared.size >= STATEMENT_CACHE_LIMIT) this.#prepared.delete(this.#prepared.keys().next().value!);
    this.#prepared.set(sql, prepared);
    return prepared;
  }
}
