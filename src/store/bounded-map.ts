// Caches of derived values (imported keys, parsed allowlists, verified caller
// tokens, found lookups) belong to the core or store that made them and are
// bounded: past its limit a map forgets its oldest entry.
export class BoundedMap<K, V> extends Map<K, V> {
  constructor(readonly limit: number) {
    super();
  }

  override set(key: K, value: V): this {
    if (!this.has(key) && this.size >= this.limit) this.delete(this.keys().next().value!);
    return super.set(key, value);
  }

  /** The cached value, made by `make` when absent. */
  getOrMake(key: K, make: () => V): V {
    if (this.has(key)) return this.get(key)!;
    const value = make();
    this.set(key, value);
    return value;
  }
}
