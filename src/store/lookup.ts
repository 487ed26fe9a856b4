// Keyed reads coalesced per turn of the event loop (the DataLoader pattern):
// all the keys asked for while requests were being parsed are fetched by one
// statement, `… WHERE key IN (SELECT value FROM json_each(?))`.
import { type Driver, rowObjects, type SqlValue } from "./driver";
import { classifyStoreError } from "./errors";

export interface LookupDefinition<V> {
  /** SQL with a single `?`, bound to a JSON array of distinct keys. */
  sql: string;
  /** Which column of a row holds its key. */
  keyColumn: string;
  map(row: Record<string, SqlValue>): V;
}

export class BatchedLookup<K extends string | number, V> {
  readonly #driver: Driver;
  readonly #definition: LookupDefinition<V>;
  #pending = new Map<K, { resolve: (v: V | undefined) => void; reject: (e: unknown) => void }[]>();

  constructor(driver: Driver, definition: LookupDefinition<V>) {
    this.#driver = driver;
    this.#definition = definition;
  }

  load(key: K): Promise<V | undefined> {
    return new Promise((resolve, reject) => {
      const waiting = this.#pending.get(key);
      if (waiting) return waiting.push({ resolve, reject });
      if (this.#pending.size === 0) setImmediate(() => void this.#flush());
      this.#pending.set(key, [{ resolve, reject }]);
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#pending;
    this.#pending = new Map();
    try {
      const result = await this.#driver.query({ sql: this.#definition.sql, args: [JSON.stringify([...batch.keys()])] });
      const found = new Map<SqlValue, V>();
      for (const row of rowObjects(result)) found.set(row[this.#definition.keyColumn] ?? null, this.#definition.map(row));
      for (const [key, waiters] of batch) for (const w of waiters) w.resolve(found.get(key));
    } catch (error) {
      const failure = classifyStoreError(error);
      for (const waiters of batch.values()) for (const w of waiters) w.reject(failure);
    }
  }
}
