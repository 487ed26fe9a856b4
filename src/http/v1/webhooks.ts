// /v1/webhooks: webhook endpoints, their secrets and their delivery log, for admins (SPEC §9).
import * as v from "valibot";
import { CoreError } from "../../core/errors";
import {
  createWebhook,
  type Delivery,
  deleteWebhook,
  findWebhook,
  listDeliveries,
  listWebhooks,
  retryDelivery,
  rotateWebhookSecret,
  sendTestEvent,
  updateWebhook,
  type WebhookEndpoint,
  webhookDescriptionSchema,
  webhookEventsSchema,
  webhookUrlSchema,
} from "../../core/webhooks/endpoints";
import { adminOnly } from "../auth/callers";
import { requestExamples } from "../docs";
import { reply, route } from "../route";
import { V1, v1Dialect } from "./dialect";
import { changeContext, isoTime, isoTimeOrNull } from "./views";

const time = v.pipe(v.string(), v.isoTimestamp());

const endpointView = v.object({
  id: v.number(),
  url: v.string(),
  description: v.string(),
  events: v.array(v.string()),
  enabled: v.boolean(),
  disabledReason: v.nullable(v.string()),
  createdAt: time,
  updatedAt: time,
});

const endpointWithSecretView = v.object({ ...endpointView.entries, secret: v.pipe(v.string(), v.description("`whsec_…`: shown this once")) });

const deliveryView = v.object({
  id: v.number(),
  eventId: v.pipe(v.string(), v.description("The `webhook-id` header: the same on every attempt")),
  type: v.string(),
  status: v.picklist(["pending", "delivered", "failed"]),
  attempts: v.number(),
  lastStatus: v.nullable(v.number()),
  lastError: v.nullable(v.string()),
  nextAttemptAt: v.nullable(time),
  createdAt: time,
  deliveredAt: v.nullable(time),
});

const fields = {
  url: webhookUrlSchema,
  description: webhookDescriptionSchema,
  events: webhookEventsSchema,
  enabled: v.boolean(),
};

const EXAMPLE = { url: "https://hooks.example.com/ssod", description: "Provisioning", events: ["user.created", "user.updated", "user.deleted"] };

const createBody = v.pipe(
  v.strictObject({ url: fields.url, description: v.optional(fields.description), events: fields.events, enabled: v.optional(fields.enabled) }),
  requestExamples([EXAMPLE]),
);

const patchBody = v.pipe(v.partial(v.strictObject(fields)), requestExamples([{ events: ["*"], enabled: true }]));

const idParam = v.object({
  id: v.pipe(v.string(), v.regex(/^\d{1,15}$/, "must be a webhook endpoint id"), requestExamples(["1"]), v.transform(Number)),
});

const deliveryParams = v.object({
  ...idParam.entries,
  deliveryId: v.pipe(v.string(), v.regex(/^\d{1,15}$/, "must be a delivery id"), requestExamples(["1"]), v.transform(Number)),
});

const deliveryQuery = v.object({
  limit: v.optional(v.pipe(v.string(), v.regex(/^\d{1,4}$/, "must be an integer from 1 to 500"), v.transform(Number), v.minValue(1), v.maxValue(500)), "50"),
  cursor: v.optional(v.pipe(v.string(), v.maxLength(20))),
  status: v.optional(v.picklist(["pending", "delivered", "failed"], 'must be "pending", "delivered" or "failed"')),
});

const endpointJson = (e: WebhookEndpoint): v.InferInput<typeof endpointView> => ({
  ...e,
  createdAt: isoTime(e.createdAt),
  updatedAt: isoTime(e.updatedAt),
});

const deliveryJson = (d: Delivery): v.InferInput<typeof deliveryView> => ({
  ...d,
  nextAttemptAt: d.status === "pending" ? isoTimeOrNull(d.nextAttemptAt) : null,
  createdAt: isoTime(d.createdAt),
  deliveredAt: isoTimeOrNull(d.deliveredAt),
});

/** The dialect's descriptions of these statuses, and descriptions of its own for others. */
const described = (statuses: number[], own: Record<number, string>): Record<number, string> => ({
  ...Object.fromEntries(statuses.map((status) => [status, v1Dialect.failureDescriptions[status]!])),
  ...own,
});

export const webhookRoutes = [
  route({
    method: "post",
    path: "/v1/webhooks",
    tag: V1.webhooks,
    summary: "Create a webhook endpoint",
    description:
      "It receives the events committed from now on, signed as Standard Webhooks sign them. `events` names event types, or `*` for all but `token.issued`. " +
      "The URL is https (plain http for a loopback host only, unless SSOD_WEBHOOK_ALLOW_HTTP=true), never link-local. Answers the `secret`: the only time it is shown.",
    auth: adminOnly,
    body: { schema: createBody, label: "required" },
    answers: { 201: { description: "The endpoint and its secret", schema: endpointWithSecretView } },
    failures: [400, 401, 403, 413, 415, 429, 503],
    async handle({ c, core, caller, body }) {
      const { endpoint, secret } = await createWebhook(core, body, changeContext(c, caller));
      return reply(201, { ...endpointJson(endpoint), secret }, { Location: `/v1/webhooks/${endpoint.id}` });
    },
  }),
  route({
    method: "get",
    path: "/v1/webhooks",
    tag: V1.webhooks,
    summary: "List webhook endpoints",
    auth: adminOnly,
    answers: { 200: { description: "All endpoints", schema: v.object({ items: v.array(endpointView), nextCursor: v.null() }) } },
    failures: [401, 403, 429, 503],
    handle: async ({ core }) => reply(200, { items: (await listWebhooks(core)).map(endpointJson), nextCursor: null }),
  }),
  route({
    method: "get",
    path: "/v1/webhooks/:id",
    tag: V1.webhooks,
    summary: "Get a webhook endpoint",
    auth: adminOnly,
    params: idParam,
    answers: { 200: { description: "The endpoint", schema: endpointView } },
    failures: [400, 401, 403, 404, 429, 503],
    async handle({ core, params }) {
      const endpoint = await findWebhook(core, params.id);
      if (!endpoint) throw new CoreError("not_found", `no webhook endpoint ${params.id}`);
      return reply(200, endpointJson(endpoint));
    },
  }),
  route({
    method: "patch",
    path: "/v1/webhooks/:id",
    tag: V1.webhooks,
    summary: "Change some fields of a webhook endpoint",
    description:
      "Only the fields sent are written. `enabled: true` clears `disabledReason`; deliveries that waited while the endpoint was disabled are then sent.",
    auth: adminOnly,
    params: idParam,
    body: { schema: patchBody, label: "required" },
    answers: { 200: { description: "The changed endpoint", schema: endpointView } },
    failures: [400, 401, 403, 404, 413, 415, 429, 503],
    handle: async ({ c, core, caller, params, body }) => reply(200, endpointJson(await updateWebhook(core, params.id, body, changeContext(c, caller)))),
  }),
  route({
    method: "delete",
    path: "/v1/webhooks/:id",
    tag: V1.webhooks,
    summary: "Delete a webhook endpoint and its delivery log",
    auth: adminOnly,
    params: idParam,
    answers: { 204: { description: "Deleted" } },
    failures: [400, 401, 403, 404, 429, 503],
    async handle({ c, core, caller, params }) {
      if (!(await deleteWebhook(core, params.id, changeContext(c, caller)))) throw new CoreError("not_found", `no webhook endpoint ${params.id}`);
      return c.body(null, 204);
    },
  }),
  route({
    method: "post",
    path: "/v1/webhooks/:id/secret",
    tag: V1.webhooks,
    summary: "Rotate a webhook endpoint's secret",
    description: "Every delivery from now on, retries included, is signed with the new secret; the old one stops at once.",
    auth: adminOnly,
    params: idParam,
    answers: { 200: { description: "The endpoint and its new secret, shown this once", schema: endpointWithSecretView } },
    failures: [400, 401, 403, 404, 429, 503],
    async handle({ c, core, caller, params }) {
      const { endpoint, secret } = await rotateWebhookSecret(core, params.id, changeContext(c, caller));
      return reply(200, { ...endpointJson(endpoint), secret });
    },
  }),
  route({
    method: "post",
    path: "/v1/webhooks/:id/test",
    tag: V1.webhooks,
    summary: "Send a webhook.test event to this endpoint",
    description: "Queued at once, sent like any event; follow it in the delivery log.",
    auth: adminOnly,
    params: idParam,
    answers: { 202: { description: "The delivery, queued", schema: deliveryView } },
    failures: described([400, 401, 403, 404, 429, 503], { 409: "The endpoint is disabled" }),
    handle: async ({ c, core, caller, params }) => reply(202, deliveryJson(await sendTestEvent(core, params.id, changeContext(c, caller)))),
  }),
  route({
    method: "get",
    path: "/v1/webhooks/:id/deliveries",
    tag: V1.webhooks,
    summary: "The delivery log of a webhook endpoint",
    description: "Newest first; pass `nextCursor` back as `cursor`. Delivered and failed deliveries are kept for SSOD_WEBHOOK_RETENTION.",
    auth: adminOnly,
    params: idParam,
    query: deliveryQuery,
    answers: { 200: { description: "A page of deliveries", schema: v.object({ items: v.array(deliveryView), nextCursor: v.nullable(v.string()) }) } },
    failures: [400, 401, 403, 404, 429, 503],
    async handle({ core, params, query }) {
      const page = await listDeliveries(core, params.id, { limit: query.limit as number, cursor: query.cursor, status: query.status });
      return reply(200, { items: page.deliveries.map(deliveryJson), nextCursor: page.nextCursor });
    },
  }),
  route({
    method: "post",
    path: "/v1/webhooks/:id/deliveries/:deliveryId/retry",
    tag: V1.webhooks,
    summary: "Send a delivery again",
    description: "A failed (or delivered) delivery becomes pending and due now, with the same `webhook-id`: one more attempt.",
    auth: adminOnly,
    params: deliveryParams,
    answers: { 202: { description: "The delivery, due now", schema: deliveryView } },
    failures: described([400, 401, 403, 404, 429, 503], { 409: "The delivery is being sent right now" }),
    handle: async ({ c, core, caller, params }) => reply(202, deliveryJson(await retryDelivery(core, params.id, params.deliveryId, changeContext(c, caller)))),
  }),
];
