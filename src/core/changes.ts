// The admin write path: a change (sources, apps, users, keys, accounts,
// webhooks) is a typed Drizzle batch, one transaction with its audit row,
// written directly rather than through the group commit (which serves the hot
// path and must never fail on data). A unique index that refuses the write
// becomes a `conflict` naming the field.
import type { BatchItem, BatchResponse } from "drizzle-orm/batch";
import { classifyStoreError, StoreQueryError } from "../store/errors";
import type { Core } from "./context";
import { CoreError } from "./errors";
import { forgetKept } from "./lookups";

/** For each unique column ("sso_sources.code"), the field and message a conflict on it reports. */
export type UniqueFields = Record<string, { field: string; message: string }>;

const UNIQUE = /UNIQUE constraint failed: ([\w.]+)/;

export async function applyChange<T extends Readonly<[BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]>>(
  core: Core,
  queries: T,
  unique: UniqueFields = {},
): Promise<BatchResponse<T>> {
  try {
    return await core.store.db.batch(queries);
  } catch (error) {
    const failure = classifyStoreError(error);
    const column = failure instanceof StoreQueryError ? UNIQUE.exec(failure.message)?.[1] : undefined;
    const known = column ? unique[column] : undefined;
    if (known) throw new CoreError("conflict", known.message, [{ field: known.field, message: "already in use" }]);
    if (column) throw new CoreError("conflict", `${column} is already in use`, []);
    throw failure;
  } finally {
    // A source or admin key this change touched must not be answered from what a lookup kept.
    forgetKept(core.lookups);
  }
}
