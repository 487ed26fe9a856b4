// Webhook endpoints (SPEC §9) as admins manage them, and their delivery log.
// Every change is one typed batch with its audit row. An endpoint's secret is
// shown once (at creation and rotation) and stored sealed with the master key.
import { and, asc, desc, eq, lt, or, type SQL, sql } from "drizzle-orm";
import type { SQLiteUpdateSetSource } from "drizzle-orm/sqlite-core";
import * as v from "valibot";
import { webhookDeliveries, webhookEndpoints } from "../../store/schema";
import { type Actor, actorName, auditInsertFrom } from "../audit";
import { applyChange } from "../changes";
import type { Core } from "../context";
import { randomBase64 } from "../crypto";
import { CoreError } from "../errors";
import { outboundUrlProblem } from "../outbound";
import { WEBHOOK_EVENTS } from "./outbox";

/** The purpose a secret is sealed under (crypto.ts): a box cannot be moved to another column. */
export const SECRET_PURPOSE = "webhook_secret";

const EVENT_NAMES: readonly string[] = [...WEBHOOK_EVENTS, "*"];

/** The events an endpoint wants: known names, or "*" (all but token.issued); duplicates dropped. */
export const webhookEventsSchema = v.pipe(
  v.array(v.picklist(EVENT_NAMES, `must be "*" or an event type: ${WEBHOOK_EVENTS.join(", ")}`)),
  v.minLength(1, 'must name at least one event type (or "*")'),
  v.maxLength(EVENT_NAMES.length, `must have at most ${EVENT_NAMES.length} names`),
  v.transform((names) => [...new Set(names)]),
);

export const webhookUrlSchema = v.pipe(v.string(), v.maxLength(2048, "must be at most 2048 characters"));
export const webhookDescriptionSchema = v.pipe(v.string(), v.maxLength(500, "must be at most 500 characters"));

export interface WebhookEndpoint {
  id: number;
  url: string;
  description: string;
  events: string[];
  enabled: boolean;
  disabledReason: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface Delivery {
  id: number;
  eventId: string;
  type: string;
  status: "pending" | "delivered" | "failed";
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  nextAttemptAt: number | null;
  createdAt: number;
  deliveredAt: number | null;
}

interface ChangeContext {
  actor: Actor;
  ip: string | null;
}

const endpointColumns = {
  id: webhookEndpoints.id,
  url: webhookEndpoints.url,
  description: webhookEndpoints.description,
  events: webhookEndpoints.events,
  enabled: webhookEndpoints.enabled,
  disabledReason: webhookEndpoints.disabledReason,
  createdAt: webhookEndpoints.createdAt,
  updatedAt: webhookEndpoints.updatedAt,
};

const deliveryColumns = {
  id: webhookDeliveries.id,
  eventId: webhookDeliveries.eventId,
  type: webhookDeliveries.type,
  status: webhookDeliveries.status,
  attempts: webhookDeliveries.attempts,
  lastStatus: webhookDeliveries.lastStatus,
  lastError: webhookDeliveries.lastError,
  nextAttemptAt: webhookDeliveries.nextAttemptAt,
  createdAt: webhookDeliveries.createdAt,
  deliveredAt: webhookDeliveries.deliveredAt,
};

type EndpointRow = Omit<WebhookEndpoint, "events"> & { events: string };

const toEndpoint = (row: EndpointRow): WebhookEndpoint => ({ ...row, enabled: Boolean(row.enabled), events: JSON.parse(row.events) as string[] });
const toDelivery = (row: Omit<Delivery, "status"> & { status: string }): Delivery => ({ ...row, status: row.status as Delivery["status"] });

/** A new secret: `whsec_` + base64 of 32 random bytes (Standard Webhooks), and its sealed form. */
function newSecret(core: Core): { secret: string; sealed: string } {
  const secret = `whsec_${randomBase64(32)}`;
  return { secret, sealed: core.masterKey.seal(secret, SECRET_PURPOSE) };
}

/** Refuses a URL the outbound rules would refuse (SPEC §9): checked here, and again at every delivery. */
function checkUrl(core: Core, url: string): string {
  const problem = outboundUrlProblem(url, core.settings.webhooks.allowHttp);
  if (problem) {
    // The setting's hint only where it would help: it allows http, never a link-local address or credentials.
    const why =
      core.settings.webhooks.allowHttp || !problem.startsWith("must be https")
        ? problem
        : problem.replace(/\)$/, "; SSOD_WEBHOOK_ALLOW_HTTP=true allows any http)");
    throw new CoreError("invalid", `url ${why}`, [{ field: "url", message: why }]);
  }
  return new URL(url).href;
}

const audit = (context: ChangeContext, action: string) => ({
  actor: actorName(context.actor),
  action,
  outcome: "success" as const,
  target: sql`${webhookEndpoints.id}`,
  ip: context.ip,
});

const noSuchEndpoint = (id: number) => new CoreError("not_found", `no webhook endpoint ${id}`);

// ---- endpoints ----

export interface WebhookInput {
  url: string;
  description?: string | undefined;
  events: string[];
  enabled?: boolean | undefined;
}

/** Creates an endpoint; answers it with its secret, the only time the secret is shown. It receives the events committed from now on. */
export async function createWebhook(core: Core, input: WebhookInput, context: ChangeContext): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
  const url = checkUrl(core, input.url);
  const { secret, sealed } = newSecret(core);
  const now = core.now();
  const enabled = input.enabled ?? true;
  const [rows] = await applyChange(core, [
    core.store.db
      .insert(webhookEndpoints)
      .values({
        url,
        description: input.description ?? "",
        events: JSON.stringify(input.events),
        secretEnc: sealed,
        enabled,
        disabledReason: enabled ? null : `disabled by ${actorName(context.actor)}`,
        createdAt: now,
        updatedAt: now,
      })
      .returning(endpointColumns),
    auditInsertFrom(core, audit(context, "webhook.create"), webhookEndpoints, sql`${webhookEndpoints.id} = last_insert_rowid()`),
  ]);
  return { endpoint: toEndpoint(rows[0]!), secret };
}

export async function listWebhooks(core: Core): Promise<WebhookEndpoint[]> {
  const rows = await core.store.db.select(endpointColumns).from(webhookEndpoints).orderBy(asc(webhookEndpoints.id));
  return rows.map(toEndpoint);
}

export async function findWebhook(core: Core, id: number): Promise<WebhookEndpoint | undefined> {
  const row = await core.store.db.select(endpointColumns).from(webhookEndpoints).where(eq(webhookEndpoints.id, id)).get();
  return row ? toEndpoint(row) : undefined;
}

export type WebhookPatch = Partial<WebhookInput>;

/**
 * Writes the fields a patch gives, and no others, in one statement. Enabling
 * an endpoint clears its disabledReason and its record of failures; its
 * deliveries that waited while it was disabled are sent.
 */
export async function updateWebhook(core: Core, id: number, patch: WebhookPatch, context: ChangeContext): Promise<WebhookEndpoint> {
  const set: SQLiteUpdateSetSource<typeof webhookEndpoints> = { updatedAt: core.now() };
  if (patch.url !== undefined) set.url = checkUrl(core, patch.url);
  if (patch.description !== undefined) set.description = patch.description;
  if (patch.events !== undefined) set.events = JSON.stringify(patch.events);
  if (patch.enabled === true) Object.assign(set, { enabled: true, disabledReason: null, failingSince: null });
  if (patch.enabled === false) {
    set.enabled = false;
    // Disabling a disabled endpoint keeps the reason it was disabled for.
    set.disabledReason = sql`CASE WHEN ${webhookEndpoints.enabled} = 1 THEN ${`disabled by ${actorName(context.actor)}`} ELSE ${webhookEndpoints.disabledReason} END`;
  }
  const target = eq(webhookEndpoints.id, id);
  const [, rows] = await applyChange(core, [
    auditInsertFrom(core, { ...audit(context, "webhook.update"), detail: { fields: Object.keys(patch) } }, webhookEndpoints, target),
    core.store.db.update(webhookEndpoints).set(set).where(target).returning(endpointColumns),
  ]);
  if (!rows[0]) throw noSuchEndpoint(id);
  return toEndpoint(rows[0]);
}

/** Deletes an endpoint and its delivery log; what it had not received yet is not sent. */
export async function deleteWebhook(core: Core, id: number, context: ChangeContext): Promise<boolean> {
  const target = eq(webhookEndpoints.id, id);
  const [, rows] = await applyChange(core, [
    auditInsertFrom(core, audit(context, "webhook.delete"), webhookEndpoints, target),
    core.store.db.delete(webhookEndpoints).where(target).returning({ id: webhookEndpoints.id }),
  ]);
  return rows.length > 0;
}

/** A new secret, at once: every delivery from now on, retries included, is signed with it. */
export async function rotateWebhookSecret(core: Core, id: number, context: ChangeContext): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
  const { secret, sealed } = newSecret(core);
  const target = eq(webhookEndpoints.id, id);
  const [, rows] = await applyChange(core, [
    auditInsertFrom(core, audit(context, "webhook.rotate_secret"), webhookEndpoints, target),
    core.store.db.update(webhookEndpoints).set({ secretEnc: sealed, updatedAt: core.now() }).where(target).returning(endpointColumns),
  ]);
  if (!rows[0]) throw noSuchEndpoint(id);
  return { endpoint: toEndpoint(rows[0]), secret };
}

/** Queues one `webhook.test` event for this endpoint only, whatever it subscribes to. */
export async function sendTestEvent(core: Core, id: number, context: ChangeContext): Promise<Delivery> {
  const now = core.now();
  const chosen = and(eq(webhookEndpoints.id, id), eq(webhookEndpoints.enabled, true))!;
  const [rows] = await applyChange(core, [
    // Raw SQL answers rows as arrays, in the order of RETURNING.
    core.store.db.all<unknown[]>(sql`
      INSERT INTO ${webhookDeliveries} (endpoint_id, event_id, type, data, occurred_at, status, next_attempt_at, created_at)
      SELECT ${webhookEndpoints.id}, 'msg_' || lower(hex(randomblob(16))), 'webhook.test', json_object('webhookId', ${webhookEndpoints.id}), ${now}, 'pending', ${now}, ${now}
      FROM ${webhookEndpoints} WHERE ${chosen}
      RETURNING id, event_id, type, status, attempts, last_status, last_error, next_attempt_at, created_at, delivered_at`),
    auditInsertFrom(core, { ...audit(context, "webhook.test"), detail: sql`json_object('delivery', last_insert_rowid())` }, webhookEndpoints, chosen),
  ]);
  const row = rows[0];
  if (row) {
    const [id, eventId, type, status, attempts, lastStatus, lastError, nextAttemptAt, createdAt, deliveredAt] = row as [
      number,
      string,
      string,
      string,
      number,
      null,
      null,
      number,
      number,
      null,
    ];
    return toDelivery({ id, eventId, type, status, attempts, lastStatus, lastError, nextAttemptAt, createdAt, deliveredAt });
  }
  if (await findWebhook(core, id)) throw new CoreError("conflict", `webhook endpoint ${id} is disabled: enable it (PATCH "enabled": true) to send a test`);
  throw noSuchEndpoint(id);
}

// ---- the delivery log ----

export interface DeliveryQuery {
  limit: number;
  /** From the previous page's `nextCursor`. */
  cursor?: string | undefined;
  status?: Delivery["status"] | undefined;
}

/** An endpoint's deliveries, newest first. */
export async function listDeliveries(core: Core, endpointId: number, query: DeliveryQuery): Promise<{ deliveries: Delivery[]; nextCursor: string | null }> {
  if (!(await findWebhook(core, endpointId))) throw noSuchEndpoint(endpointId);
  const filters: (SQL | undefined)[] = [eq(webhookDeliveries.endpointId, endpointId)];
  if (query.cursor !== undefined) {
    if (!/^\d{1,15}$/.test(query.cursor))
      throw new CoreError("invalid", "the cursor is not one this server gave", [{ field: "cursor", message: "unknown cursor" }]);
    filters.push(lt(webhookDeliveries.id, Number(query.cursor)));
  }
  if (query.status) filters.push(eq(webhookDeliveries.status, query.status));
  const rows = await core.store.db
    .select(deliveryColumns)
    .from(webhookDeliveries)
    .where(and(...filters))
    .orderBy(desc(webhookDeliveries.id))
    .limit(query.limit + 1);
  const page = rows.slice(0, query.limit).map(toDelivery);
  return { deliveries: page, nextCursor: rows.length > query.limit ? String(page[page.length - 1]!.id) : null };
}

/**
 * Sends a delivery again (a failed one, typically, or a delivered one to
 * resend): pending and due now, with the same webhook-id. One attempt: if it
 * fails, and its schedule is spent, it is failed again. Not while an
 * instance is sending it.
 */
export async function retryDelivery(core: Core, endpointId: number, deliveryId: number, context: ChangeContext): Promise<Delivery> {
  const now = core.now();
  const target = and(
    eq(webhookDeliveries.id, deliveryId),
    eq(webhookDeliveries.endpointId, endpointId),
    or(sql`${webhookDeliveries.leaseUntil} IS NULL`, lt(webhookDeliveries.leaseUntil, now)),
  )!;
  const [, rows] = await applyChange(core, [
    auditInsertFrom(
      core,
      {
        actor: actorName(context.actor),
        action: "webhook.retry",
        outcome: "success",
        target: String(endpointId),
        ip: context.ip,
        detail: sql`json_object('delivery', ${webhookDeliveries.id}, 'eventId', ${webhookDeliveries.eventId}, 'status', ${webhookDeliveries.status})`,
      },
      webhookDeliveries,
      target,
    ),
    core.store.db
      .update(webhookDeliveries)
      .set({ status: "pending", nextAttemptAt: now, finishedAt: null, deliveredAt: null })
      .where(target)
      .returning(deliveryColumns),
  ]);
  if (rows[0]) return toDelivery(rows[0]);
  const found = await core.store.db
    .select({ id: webhookDeliveries.id })
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.endpointId, endpointId)))
    .get();
  if (found) throw new CoreError("conflict", `delivery ${deliveryId} is being sent right now: look again in a moment`);
  throw new CoreError("not_found", `no delivery ${deliveryId} of webhook endpoint ${endpointId}`);
}
