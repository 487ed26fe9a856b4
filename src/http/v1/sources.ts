// /v1/sources: source management for admins (SPEC §3).
import type { Core } from "../../core/context";
import { CoreError } from "../../core/errors";
import { createSource, deleteSources, findSource, listSources, rotateSourceSecrets, type Source, updateSource } from "../../core/sources";
import { adminOnly } from "../auth/callers";
import { reply, route } from "../route";
import { V1 } from "./dialect";
import { createSourceBody, patchSourceBody, sourceListView, sourceRefParam, sourceView, sourceWithSecretsView } from "./source-schemas";
import { changeContext, sourceJson } from "./views";

async function byRef(core: Core, ref: string): Promise<Source> {
  const source = await findSource(core, ref);
  if (!source) throw new CoreError("not_found", `no source ${ref}`);
  return source;
}

export const sourceRoutes = [
  route({
    method: "get",
    path: "/v1/sources",
    tag: V1.sources,
    summary: "List sources",
    auth: adminOnly,
    answers: { 200: { description: "All sources", schema: sourceListView } },
    failures: [401, 429, 503],
    handle: async ({ core }) => reply(200, { items: (await listSources(core)).map(sourceJson), nextCursor: null }),
  }),
  route({
    method: "post",
    path: "/v1/sources",
    tag: V1.sources,
    summary: "Create a source",
    description: "Answers the new source with its `clientSecret` and `signingSecret`: the only time they are shown.",
    auth: adminOnly,
    body: { schema: createSourceBody, label: "required" },
    answers: { 201: { description: "The new source and its secrets", schema: sourceWithSecretsView } },
    failures: [400, 401, 409, 413, 415, 429, 503],
    async handle({ c, core, caller, body }) {
      const { source, secrets } = await createSource(core, body, { ...changeContext(c, caller), withClientSecret: true });
      return reply(201, { ...sourceJson(source), ...(secrets as { clientSecret: string; signingSecret: string }) }, { Location: `/v1/sources/${source.id}` });
    },
  }),
  route({
    method: "get",
    path: "/v1/sources/:id",
    tag: V1.sources,
    summary: "Get a source by id or code",
    auth: adminOnly,
    params: sourceRefParam,
    answers: { 200: { description: "The source", schema: sourceView } },
    failures: [400, 401, 404, 429, 503],
    handle: async ({ core, params }) => reply(200, sourceJson(await byRef(core, params.id))),
  }),
  route({
    method: "patch",
    path: "/v1/sources/:id",
    tag: V1.sources,
    summary: "Change some fields of a source",
    description: "Only the fields sent are written: two changes of different fields made at once both land.",
    auth: adminOnly,
    params: sourceRefParam,
    body: { schema: patchSourceBody, label: "required" },
    answers: { 200: { description: "The changed source", schema: sourceView } },
    failures: [400, 401, 403, 404, 409, 413, 415, 429, 503],
    async handle({ c, core, caller, params, body }) {
      const id = /^\d{1,15}$/.test(params.id) ? Number(params.id) : (await byRef(core, params.id)).id;
      return reply(200, sourceJson(await updateSource(core, id, body, changeContext(c, caller))));
    },
  }),
  route({
    method: "delete",
    path: "/v1/sources/:id",
    tag: V1.sources,
    summary: "Delete a source and its tokens",
    auth: adminOnly,
    params: sourceRefParam,
    answers: { 204: { description: "Deleted" } },
    failures: [400, 401, 403, 404, 429, 503],
    async handle({ c, core, caller, params }) {
      const source = await byRef(core, params.id);
      await deleteSources(core, [source.id], changeContext(c, caller));
      return c.body(null, 204);
    },
  }),
  route({
    method: "post",
    path: "/v1/sources/:id/secret",
    tag: V1.sources,
    summary: "Rotate a source's client secret and signing secret",
    auth: adminOnly,
    params: sourceRefParam,
    answers: { 200: { description: "The source and its new secrets, shown this once", schema: sourceWithSecretsView } },
    failures: [400, 401, 404, 429, 503],
    async handle({ c, core, caller, params }) {
      const source = await byRef(core, params.id);
      const rotated = await rotateSourceSecrets(core, source.id, changeContext(c, caller));
      return reply(200, { ...sourceJson(rotated.source), ...rotated.secrets });
    },
  }),
];
