// What the rest of ssod needs from a database connection, whatever the URL.
// Rows travel as plain arrays (cheap to move between threads and to map).
export type SqlValue = null | number | string | bigint | Uint8Array;

export interface Statement {
  sql: string;
  args: SqlValue[];
}

export interface Result {
  columns: string[];
  rows: SqlValue[][];
  rowsAffected: number;
}

export interface Driver {
  /** "file" for an embedded store, "remote" for a libSQL server (sqld, Turso). */
  readonly kind: "file" | "remote";
  /** A read-only statement. A file store answers it on its own connection, never queued behind a commit. */
  query(statement: Statement): Promise<Result>;
  /** A statement that may write. */
  execute(statement: Statement): Promise<Result>;
  /** Runs the statements in one transaction: all of them or none. */
  batch(statements: Statement[], mode: "write" | "read"): Promise<Result[]>;
  /**
   * Runs schema statements in one transaction with foreign keys off, so that
   * a table rebuilt by a migration does not cascade deletes into its children.
   */
  migrate(statements: Statement[]): Promise<Result[]>;
  /**
   * Drops a remote store's connection if it was open at `since` (a
   * performance.now() time): the next call opens a new one. Called when a call
   * started at `since` timed out, since its connection may be dead without
   * knowing it.
   */
  reset?(since: number): void;
  close(): Promise<void>;
}

/** Converts a @libsql/client ResultSet or Hrana rows (array-like objects) to a Result. */
export function fromLibsql(rs: { columns: string[]; rows: ArrayLike<unknown>[]; rowsAffected: number }): Result {
  return { columns: rs.columns, rows: rs.rows.map((row) => Array.from(row) as SqlValue[]), rowsAffected: rs.rowsAffected };
}

/** Maps result rows to objects keyed by column name. */
export function rowObjects<T = Record<string, SqlValue>>(result: Result): T[] {
  const { columns, rows } = result;
  return rows.map((row) => {
    const object: Record<string, SqlValue> = {};
    for (let i = 0; i < columns.length; i++) object[columns[i]!] = row[i] ?? null;
    return object as T;
  });
}
