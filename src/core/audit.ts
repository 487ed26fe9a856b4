// The audit log: one append-only row per admin change, token issued or
// redeemed, failed redemption and failed authentication. Never a secret:
// callers pass names, ids and codes only.
import { and, desc, eq, getTableColumns, is, lt, SQL, sql } from "drizzle-orm";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";
import type { Statement } from "../store/driver";
import { auditEvents } from "../store/schema";
import { statement } from "../store/store";
import type { Core } from "./context";

/** A value, or SQL reading it from the row a change is about (see auditInsertFrom). */
type Value<T> = T | SQL;

export interface AuditEvent {
  actor: string;
  action: string;
  outcome: "success" | "failure";
  target?: Value<string | null>;
  ip?: string | null;
  sourceCode?: Value<string | null>;
  userId?: Value<string | null>;
  detail?: Record<string, unknown> | SQL | null;
}

/** Who did it, as written in the log: "admin_key:3", "admin:alice", "source:portal", "cli", "anonymous". */
export type Actor =
  | { kind: "admin_key"; id: number; name: string }
  | { kind: "admin"; id: number; username: string }
  | { kind: "source"; id: number; code: string }
  /** Someone with the store at hand, running the command line. */
  | { kind: "cli" };

export function actorName(actor: Actor | undefined): string {
  if (!actor) return "anonymous";
  switch (actor.kind) {
    case "admin_key":
      return `admin_key:${actor.id}`;
    case "admin":
      return `admin:${actor.username}`;
    case "source":
      return `source:${actor.code}`;
    case "cli":
      return "cli";
  }
}

type AuditRow = { [K in keyof Omit<typeof auditEvents.$inferInsert, "id">]: Value<(typeof auditEvents.$inferInsert)[K]> };

function auditRow(core: Core, event: AuditEvent): AuditRow {
  const detail = event.detail;
  return {
    at: core.now(),
    actor: event.actor,
    action: event.action,
    outcome: event.outcome,
    target: event.target ?? null,
    ip: event.ip ?? null,
    sourceCode: event.sourceCode ?? null,
    userId: event.userId ?? null,
    detail: detail && !is(detail, SQL) ? JSON.stringify(detail) : (detail ?? null),
  };
}

/** The insert of one event, as a Drizzle query: it rides in the same batch as the change it records. */
export function auditInsert(core: Core, event: AuditEvent) {
  return core.store.db.insert(auditEvents).values(auditRow(core, event) as typeof auditEvents.$inferInsert);
}

/**
 * The insert of one event for each row of `table` that `where` selects, its
 * values free to read that row (`target: ssoSources.code`). Put before the
 * change in the same batch: an update or delete that finds nothing records
 * nothing, and the row is read as it was.
 */
export function auditInsertFrom(core: Core, event: AuditEvent, table: SQLiteTable, where: SQL) {
  const row = auditRow(core, event);
  const columns = Object.entries(getTableColumns(auditEvents)).filter(([key]) => key in row);
  const names = sql.join(
    columns.map(([, column]) => sql.identifier(column.name)),
    sql`, `,
  );
  const values = sql.join(
    columns.map(([key]) => sql`${row[key as keyof AuditRow]}`),
    sql`, `,
  );
  return core.store.db.run(sql`INSERT INTO ${auditEvents} (${names}) SELECT ${values} FROM ${table} WHERE ${where}`);
}

/** The insert of one event as a plain statement, for a group-commit unit. */
export function auditStatement(core: Core, event: AuditEvent): Statement {
  return statement(auditInsert(core, event));
}

/** Appends one event on its own (failures; successes ride in their change's own unit). */
export function recordAudit(core: Core, event: AuditEvent): Promise<void> {
  return core.store.write({ statements: [auditStatement(core, event)], decode: () => undefined });
}

export interface AuditQuery {
  limit: number;
  /** The id of the last event of the previous page. */
  before?: number | undefined;
  action?: string | undefined;
  sourceCode?: string | undefined;
  userId?: string | undefined;
}

export async function listAudit(core: Core, query: AuditQuery) {
  const filters: SQL[] = [];
  if (query.before !== undefined) filters.push(lt(auditEvents.id, query.before));
  if (query.action) filters.push(eq(auditEvents.action, query.action));
  if (query.sourceCode) filters.push(eq(auditEvents.sourceCode, query.sourceCode));
  if (query.userId) filters.push(eq(auditEvents.userId, query.userId));
  const rows = await core.store.db
    .select()
    .from(auditEvents)
    .where(and(...filters))
    .orderBy(desc(auditEvents.id))
    .limit(query.limit + 1);
  const page = rows.slice(0, query.limit);
  return {
    events: page.map((r) => ({ ...r, detail: r.detail ? (JSON.parse(r.detail) as Record<string, unknown>) : null })),
    nextBefore: rows.length > query.limit ? page[page.length - 1]!.id : null,
  };
}
