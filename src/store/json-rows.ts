// Set-based bulk statements take all their rows as one JSON parameter,
// `json_each(?)`, so a batch costs the same few statements however many
// requests it carries. Rows travel as arrays, not objects: SQLite reads a
// field by position (`value->>3`) about twice as fast as by name.
export function jsonRows<K extends string>(fields: readonly K[]) {
  const position = new Map<string, number>(fields.map((f, i) => [f, i]));
  return {
    /** SQL reading one field of the current row of `json_each(?) AS alias` (no alias: of `json_each(?)`). */
    field: (name: K, alias = "j") => `${alias ? `${alias}.` : ""}value->>${position.get(name)}`,
    encode: (rows: readonly Record<K, unknown>[]) => JSON.stringify(rows.map((row) => fields.map((f) => row[f] ?? null))),
  };
}
