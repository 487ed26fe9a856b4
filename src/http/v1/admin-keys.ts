// /v1/admin-keys: the keys that authorise admin calls (SPEC §3, §5).
import * as v from "valibot";
import { type AdminKeyInfo, adminKeyNameSchema, createAdminKey, listAdminKeys, revokeAdminKey } from "../../core/admin-keys";
import { adminOnly } from "../auth/callers";
import { requestExamples } from "../docs";
import { reply, route } from "../route";
import { V1 } from "./dialect";
import { changeContext, isoTime, isoTimeOrNull } from "./views";

const time = v.pipe(v.string(), v.isoTimestamp());

const adminKeyView = v.object({ id: v.number(), name: v.string(), createdAt: time, revokedAt: v.nullable(time) });

const createBody = v.pipe(v.strictObject({ name: adminKeyNameSchema }), requestExamples([{ name: "ci" }]));

// The example is the key that the POST example makes (the store's second): never the key the caller holds.
const idParam = v.object({
  id: v.pipe(v.string(), v.regex(/^\d{1,15}$/, "must be an admin key id"), requestExamples(["2"]), v.transform(Number)),
});

const adminKeyJson = (key: AdminKeyInfo): v.InferInput<typeof adminKeyView> => ({
  ...key,
  createdAt: isoTime(key.createdAt),
  revokedAt: isoTimeOrNull(key.revokedAt),
});

export const adminKeyRoutes = [
  route({
    method: "get",
    path: "/v1/admin-keys",
    tag: V1.adminKeys,
    summary: "List admin keys",
    description: "Every key, revoked ones too, oldest first. A key itself is shown only when it is made.",
    auth: adminOnly,
    answers: { 200: { description: "All admin keys", schema: v.object({ items: v.array(adminKeyView), nextCursor: v.null() }) } },
    failures: [401, 429, 503],
    handle: async ({ core }) => reply(200, { items: (await listAdminKeys(core)).map(adminKeyJson), nextCursor: null }),
  }),
  route({
    method: "post",
    path: "/v1/admin-keys",
    tag: V1.adminKeys,
    summary: "Create an admin key",
    description: "Answers the new key in `key`: the only time it is shown (ssod keeps only its hash).",
    auth: adminOnly,
    body: { schema: createBody, label: "required" },
    answers: { 201: { description: "The new key", schema: v.object({ ...adminKeyView.entries, key: v.string() }) } },
    failures: [400, 401, 413, 415, 429, 503],
    async handle({ c, core, caller, body }) {
      const { key, ...created } = await createAdminKey(core, body.name, changeContext(c, caller));
      return reply(201, { ...adminKeyJson(created), key });
    },
  }),
  route({
    method: "delete",
    path: "/v1/admin-keys/:id",
    tag: V1.adminKeys,
    summary: "Revoke an admin key",
    description:
      "From the next request on, the key authenticates nothing, in every dialect; it stays listed, with `revokedAt`. " +
      "Revoking a revoked key changes nothing (`alreadyRevoked`). A key may revoke itself (`usedByThisRequest`), " +
      "but the last key not revoked is refused (409): create another first.",
    auth: adminOnly,
    params: idParam,
    answers: {
      200: {
        description: "The revoked key",
        schema: v.object({ ...adminKeyView.entries, revokedAt: time, alreadyRevoked: v.boolean(), usedByThisRequest: v.boolean() }),
      },
    },
    failures: [400, 401, 404, 409, 429, 503],
    async handle({ c, core, caller, params }) {
      const { key, alreadyRevoked } = await revokeAdminKey(core, params.id, changeContext(c, caller));
      const usedByThisRequest = caller.actor.kind === "admin_key" && caller.actor.id === key.id;
      return reply(200, { ...adminKeyJson(key), revokedAt: isoTime(key.revokedAt!), alreadyRevoked, usedByThisRequest });
    },
  }),
];
