// /v1/sources: source management for admins (SPEC §3).
import { Hono } from "hono";
import { describeRoute } from "hono-openapi";
import type { Core } from "../../core/context";
import { CoreError } from "../../core/errors";
import {
  createSource,
  deleteSources,
  findSource,
  listSources,
  rotateSourceSecrets,
  updateSource,
  type Source,
  type SourceFields,
} from "../../core/sources";
import { callers, jsonAnswer as json, problems } from "../docs";
import { requireJson } from "../middleware/require-json";
import { validate } from "../validation";
import { authenticate, type V1Env } from "./auth";
import { invalidRequest, notJson } from "./problem";
import { createSourceBody, patchSourceBody, sourceListView, sourceRefParam, sourceView, sourceWithSecretsView } from "./source-schemas";
import { sourceJson } from "./views";

export function sourceRoutes(core: Core) {
  const app = new Hono<V1Env>();
  const admin = authenticate(core, { admin: true });
  const context = (c: { get(key: "caller"): V1Env["Variables"]["caller"]; get(key: "clientIp"): string }) => ({
    actor: c.get("caller").actor,
    ip: c.get("clientIp"),
  });

  const byRef = async (ref: string): Promise<Source> => {
    const source = await findSource(core, ref);
    if (!source) throw new CoreError("not_found", `no source ${ref}`);
    return source;
  };

  app.get(
    "/sources",
    describeRoute({ tags: ["sources"], summary: "List sources", security: callers.admin, responses: { 200: json(sourceListView, "All sources"), ...problems(401, 429, 503) } }),
    admin,
    async (c) => c.json({ items: (await listSources(core)).map(sourceJson), nextCursor: null }),
  );

  app.post(
    "/sources",
    describeRoute({
      tags: ["sources"],
      summary: "Create a source",
      description: "Answers the new source with its `clientSecret` and `signingSecret`: the only time they are shown.",
      security: callers.admin,
      responses: { 201: json(sourceWithSecretsView, "The new source and its secrets"), ...problems(400, 401, 409, 413, 415, 429, 503) },
    }),
    admin,
    requireJson(notJson),
    validate("json", createSourceBody, invalidRequest),
    async (c) => {
      const body = c.req.valid("json");
      const fields: SourceFields = {
        code: body.code,
        clientId: body.clientId,
        name: body.name,
        description: body.description ?? "",
        expiresAt: body.expiresAt ?? null,
        validForSeconds: body.validForSeconds,
        options: {
          createNewUserIfNotExists: body.options?.createNewUserIfNotExists ?? true,
          performLogin: body.options?.performLogin ?? true,
          returnUserData: body.options?.returnUserData ?? true,
        },
        allowedIps: body.allowedIps ?? [],
        redirectUrls: body.redirectUrls ?? [],
        identityProvider: body.identityProvider
          ? { ...body.identityProvider, audience: body.identityProvider.audience ?? null, requiredScope: body.identityProvider.requiredScope ?? null }
          : null,
      };
      const { source, secrets } = await createSource(core, fields, { ...context(c), withClientSecret: true });
      c.header("Location", `/v1/sources/${source.id}`);
      return c.json({ ...sourceJson(source), ...secrets }, 201);
    },
  );

  app.get(
    "/sources/:id",
    describeRoute({ tags: ["sources"], summary: "Get a source by id or code", security: callers.admin, responses: { 200: json(sourceView, "The source"), ...problems(400, 401, 404, 429, 503) } }),
    admin,
    validate("param", sourceRefParam, invalidRequest),
    async (c) => c.json(sourceJson(await byRef(c.req.valid("param").id))),
  );

  app.patch(
    "/sources/:id",
    describeRoute({
      tags: ["sources"],
      summary: "Change some fields of a source",
      security: callers.admin,
      responses: { 200: json(sourceView, "The changed source"), ...problems(400, 401, 403, 404, 409, 413, 415, 429, 503) },
    }),
    admin,
    requireJson(notJson),
    validate("param", sourceRefParam, invalidRequest),
    validate("json", patchSourceBody, invalidRequest),
    async (c) => {
      const current = await byRef(c.req.valid("param").id);
      const patch = c.req.valid("json");
      const fields: SourceFields = {
        code: patch.code ?? current.code,
        clientId: patch.clientId,
        name: patch.name ?? current.name,
        description: patch.description ?? current.description,
        expiresAt: patch.expiresAt !== undefined ? patch.expiresAt : current.expiresAt,
        validForSeconds: patch.validForSeconds ?? current.validForSeconds,
        options: { ...current.options, ...definedOnly(patch.options ?? {}) },
        allowedIps: patch.allowedIps ?? current.allowedIps,
        redirectUrls: patch.redirectUrls ?? current.redirectUrls,
        identityProvider:
          patch.identityProvider === undefined
            ? current.identityProvider
            : patch.identityProvider && {
                ...patch.identityProvider,
                audience: patch.identityProvider.audience ?? null,
                requiredScope: patch.identityProvider.requiredScope ?? null,
              },
      };
      return c.json(sourceJson(await updateSource(core, current.id, fields, context(c))));
    },
  );

  app.delete(
    "/sources/:id",
    describeRoute({ tags: ["sources"], summary: "Delete a source and its tokens", security: callers.admin, responses: { 204: { description: "Deleted" }, ...problems(400, 401, 403, 404, 429, 503) } }),
    admin,
    validate("param", sourceRefParam, invalidRequest),
    async (c) => {
      const source = await byRef(c.req.valid("param").id);
      await deleteSources(core, [source.id], context(c));
      return c.body(null, 204);
    },
  );

  app.post(
    "/sources/:id/secret",
    describeRoute({
      tags: ["sources"],
      summary: "Rotate a source's client secret and signing secret",
      security: callers.admin,
      responses: { 200: json(sourceWithSecretsView, "The source and its new secrets, shown this once"), ...problems(400, 401, 404, 429, 503) },
    }),
    admin,
    validate("param", sourceRefParam, invalidRequest),
    async (c) => {
      const source = await byRef(c.req.valid("param").id);
      const rotated = await rotateSourceSecrets(core, source.id, context(c));
      return c.json({ ...sourceJson(rotated.source), ...rotated.secrets });
    },
  );

  return app;
}

function definedOnly<T extends object>(object: T): Partial<T> {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as Partial<T>;
}
