// The webhook outbox (SPEC §9): an event is a row per endpoint that wants it,
// inserted by the same transaction as the change it reports. So an
// acknowledged change always has its event (even across kill -9), and there
// is never an event without its change. The delivery worker
// (./delivery.ts) sends the rows later, from any instance.
//
// One INSERT … SELECT … FROM webhook_endpoints, with the endpoints as the
// outer loop: when no enabled endpoint exists it reads one empty table and
// writes nothing, so every change can carry it whether or not anyone listens.
//
// Adding an event to a change is one line in its batch:
//   outboxInsert(core, "source.created", sql.raw(sourceJsonSql("sso_sources")), { table: ssoSources, where: eq(ssoSources.code, code) })
// (a Drizzle batch item, for applyChange; `statement(…)` of it for a
// group-commit unit), or `outboxSql` (raw SQL for a BulkWrite plan).
import { is, SQL, sql } from "drizzle-orm";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";
import type { Core } from "../context";

/** Every event an endpoint may subscribe to (SPEC §9). */
export const WEBHOOK_EVENTS = [
  "token.issued",
  "token.redeemed",
  "token.redeem_failed",
  "user.created",
  "user.updated",
  "user.deleted",
  "session.created",
  "session.revoked",
  "source.created",
  "source.updated",
  "source.deleted",
  "app.created",
  "app.updated",
  "app.deleted",
  "admin_key.created",
  "admin_key.revoked",
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** Named explicitly only: `*` leaves it out (an event per token issued is a lot of traffic). */
const ONLY_WHEN_NAMED: readonly WebhookEvent[] = ["token.issued"];

/** SQL: whether endpoint `e` wants events of `type`. */
function wants(type: WebhookEvent): string {
  const names = ONLY_WHEN_NAMED.includes(type) ? `'${type}'` : `'*', '${type}'`;
  return `EXISTS (SELECT 1 FROM json_each(e.events) w WHERE w.value IN (${names}))`;
}

/** SQL: an integer millisecond time as RFC 3339, exactly as `Date.prototype.toISOString` writes it (null stays null). */
export function isoTimeSql(ms: string): string {
  return `(strftime('%Y-%m-%dT%H:%M:%S', (${ms}) / 1000, 'unixepoch') || printf('.%03dZ', (${ms}) % 1000))`;
}

/** SQL: a 0/1 column as a JSON boolean inside json_object. */
export function jsonBoolSql(value: string): string {
  return `json(iif(${value}, 'true', 'false'))`;
}

/** SQL: the columns and values of one outbox row, after `e` (the endpoint) and before FROM. */
const COLUMNS = "endpoint_id, event_id, type, data, occurred_at, status, next_attempt_at, created_at";
const eventId = "'msg_' || lower(hex(randomblob(16)))";

/** One kind of event a bulk statement inserts: its type, its data (SQL of a JSON object), and the rows it is made for. */
export interface OutboxArm {
  type: WebhookEvent;
  /** SQL building the event's `data` JSON object from the row (json_object(…)). */
  data: string;
  /**
   * What follows `FROM webhook_endpoints e CROSS JOIN`: the tables the data is
   * read from, joined with CROSS JOIN … ON so that SQLite keeps that order
   * (with plain JOINs it may scan a whole table first, on every batch).
   */
  from: string;
  /** SQL choosing the rows an event is made for (true: all). */
  where: string;
}

/**
 * Raw SQL, for a BulkWrite plan: one statement inserting every arm's events
 * for every endpoint that wants them, `at` (SQL) being the event's time. Each
 * arm loops over the enabled endpoints first, so it costs next to nothing
 * when there are none.
 */
export function outboxSql(at: string, arms: readonly OutboxArm[]): string {
  const selects = arms.map(
    (arm) =>
      `SELECT e.id, ${eventId}, '${arm.type}', ${arm.data}, ${at}, 'pending', ${at}, ${at}
FROM webhook_endpoints e CROSS JOIN ${arm.from}
WHERE e.enabled = 1 AND ${wants(arm.type)} AND (${arm.where})`,
  );
  return `INSERT INTO webhook_deliveries (${COLUMNS})\n${selects.join("\nUNION ALL\n")}`;
}

/** The rows an event is made for: one per row of `table` that `where` selects (`data` free to read it), or one when absent. */
export interface OutboxFrom {
  table: SQLiteTable;
  where: SQL;
}

/**
 * The outbox insert of an event, as a Drizzle batch item: put it in the
 * change's own batch (applyChange), after the change when `data` reads the
 * row as it becomes (created, updated), before it when the row goes (deleted).
 * `data` is the event's JSON object, as a value or as SQL (json_object(…))
 * reading the row that `from` selects. Never a secret or a token.
 */
export function outboxInsert(core: Core, type: WebhookEvent, data: SQL | Record<string, unknown>, from?: OutboxFrom) {
  const now = core.now();
  const json = is(data, SQL) ? data : sql`${JSON.stringify(data)}`;
  const source = from ? sql` CROSS JOIN ${from.table}` : sql``;
  const where = from ? sql` AND (${from.where})` : sql``;
  return core.store.db.run(
    sql`INSERT INTO webhook_deliveries (${sql.raw(COLUMNS)}) SELECT e.id, ${sql.raw(eventId)}, ${type}, ${json}, ${now}, 'pending', ${now}, ${now} FROM webhook_endpoints e${source} WHERE e.enabled = 1 AND ${sql.raw(wants(type))}${where}`,
  );
}
