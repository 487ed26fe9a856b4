// Raw SQL (batched lookups, set-based bulk writes) selects columns under the
// names Drizzle gives them, so one row type serves both kinds of query.
import { getTableColumns, type Table } from "drizzle-orm";

/** `"created_at" AS "createdAt", …` for every column of a table, optionally qualified by an alias. */
export function selectList(table: Table, alias?: string): string {
  const prefix = alias ? `${alias}.` : "";
  return Object.entries(getTableColumns(table))
    .map(([key, column]) => `${prefix}"${column.name}" AS "${key}"`)
    .join(", ");
}
