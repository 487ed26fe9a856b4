// Keyed reads coalesced per turn of the event loop (the DataLoader pattern):
// all the keys asked for while requests were being parsed are fetched by one
// statement, `… WHERE key IN (SELECT value FROM json_each(?))`.
//
// A lookup may also keep what it found for a short while (`keepFoundMs`):
// on the file store, a read after any commit finds SQLite's page cache
// emptied and reads its pages again, which made the source's lookup ≈ 9 % of
// the main thread's time under load, once per turn. What was not found is
// never kept (a source just made elsewhere is found at once), and the process's
// own changes drop everything kept (`forget`, from src/core/changes.ts).
import { BoundedMap } from "./bounded-map";
import { type Driver, rowObjects, type SqlValue } from "./driver";
import { classifyStoreError } from "./errors";

export interface LookupDefinition<V> {
  /** SQL with a single `?`, bound to a JSON array of distinct keys. */
  sql: string;
  /** Which column of a row holds its key. */
  keyColumn: string;
  map(row: Record<string, SqlValue>): V;
  /** How long a found value is reused without reading it again (0 or absent: never). */
  keepFoundMs?: number;
}

/** Most values a lookup keeps: past it, the oldest is dropped. */
const KEPT_LIMIT = 1024;

export class BatchedLookup<K extends string | number, V> {
  readonly #driver: Driver;
  readonly #definition: LookupDefinition<V>;
  #pending = new Map<K, { resolve: (v: V | undefined) => void; reject: (e: unknown) => void }[]>();
  readonly #kept = new BoundedMap<SqlValue, { value: V; until: number }>(KEPT_LIMIT);

  constructor(driver: Driver, definition: LookupDefinition<V>) {
    this.#driver = driver;
    this.#definition = definition;
  }

  load(key: K): Promise<V | undefined> {
    const kept = this.#kept.get(key);
    if (kept) {
      if (kept.until > performance.now()) return Promise.resolve(kept.value);
      this.#kept.delete(key);
    }
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
      this.#keep(found);
      for (const [key, waiters] of batch) for (const w of waiters) w.resolve(found.get(key));
    } catch (error) {
      const failure = classifyStoreError(error);
      for (const waiters of batch.values()) for (const w of waiters) w.reject(failure);
    }
  }

  /** Drops every value kept: the next load of each reads the store. */
  forget(): void {
    this.#kept.clear();
  }

  #keep(found: Map<SqlValue, V>): void {
    const keepMs = this.#definition.keepFoundMs ?? 0;
    if (keepMs <= 0) return;
    const until = performance.now() + keepMs;
    for (const [key, value] of found) this.#kept.set(key, { value, until });
  }
}
