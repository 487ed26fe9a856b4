// /v1/apps: the relying parties of ssod's users (SPEC §6), for admins.
import * as v from "valibot";
import {
  type App,
  AUTH_METHODS,
  appUriSchema,
  createApp,
  deleteApp,
  findApp,
  forwardAuthSchema,
  ID_TOKEN_ALGS,
  listApps,
  namesSchema,
  rotateAppSecret,
  updateApp,
  uriListSchema,
} from "../../core/apps";
import type { Core } from "../../core/context";
import { CoreError } from "../../core/errors";
import { httpUrlSchema, orgIdsSchema } from "../../core/sources";
import { adminOnly } from "../auth/callers";
import { requestExamples } from "../docs";
import { reply, route } from "../route";
import { nameSchema } from "../shared/schemas";
import { V1 } from "./dialect";
import { changeContext, isoTime } from "./views";

const fields = {
  name: nameSchema(200),
  tokenEndpointAuthMethod: v.picklist(AUTH_METHODS, 'must be "client_secret_basic", "client_secret_post" or "none"'),
  redirectUris: uriListSchema,
  postLogoutRedirectUris: uriListSchema,
  initiateLoginUri: v.nullable(appUriSchema),
  loginUrl: v.nullable(httpUrlSchema),
  allowedGroups: namesSchema,
  orgIds: orgIdsSchema,
  idTokenSignedResponseAlg: v.picklist(ID_TOKEN_ALGS, 'must be "RS256", "ES256" or "EdDSA"'),
  forwardAuth: forwardAuthSchema,
};

const createAppBody = v.pipe(
  v.strictObject({ ...v.partial(v.strictObject(fields)).entries, name: fields.name }),
  requestExamples([
    {
      name: "Grafana",
      redirectUris: ["https://grafana.example.com/login/generic_oauth"],
      allowedGroups: ["staff"],
      forwardAuth: { hosts: ["wiki.example.com"], pathPrefixes: ["/"] },
    },
  ]),
);
const patchAppBody = v.pipe(v.partial(v.strictObject(fields)), requestExamples([{ allowedGroups: ["staff", "admins"] }]));
const appRefParam = v.object({ id: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/, "must be an app id or client id"), requestExamples(["1"])) });

const time = v.pipe(v.string(), v.isoTimestamp());
const appView = v.object({
  id: v.number(),
  name: v.string(),
  clientId: v.string(),
  tokenEndpointAuthMethod: v.picklist(AUTH_METHODS),
  redirectUris: v.array(v.string()),
  postLogoutRedirectUris: v.array(v.string()),
  initiateLoginUri: v.nullable(v.string()),
  loginUrl: v.nullable(v.string()),
  allowedGroups: v.array(v.string()),
  orgIds: v.array(v.string()),
  idTokenSignedResponseAlg: v.picklist(ID_TOKEN_ALGS),
  forwardAuth: v.nullable(v.object({ hosts: v.array(v.string()), pathPrefixes: v.array(v.string()) })),
  createdAt: time,
  updatedAt: time,
});
const appWithSecretView = v.object({ ...appView.entries, clientSecret: v.nullable(v.string()) });

function appJson(app: App): v.InferInput<typeof appView> {
  return {
    id: app.id,
    name: app.name,
    clientId: app.clientId,
    tokenEndpointAuthMethod: app.tokenEndpointAuthMethod,
    redirectUris: app.redirectUris,
    postLogoutRedirectUris: app.postLogoutRedirectUris,
    initiateLoginUri: app.initiateLoginUri,
    loginUrl: app.loginUrl,
    allowedGroups: app.allowedGroups,
    orgIds: app.orgIds,
    idTokenSignedResponseAlg: app.idTokenSignedResponseAlg,
    forwardAuth: app.forwardAuth,
    createdAt: isoTime(app.createdAt),
    updatedAt: isoTime(app.updatedAt),
  };
}

async function byRef(core: Core, ref: string): Promise<App> {
  const app = await findApp(core, ref);
  if (!app) throw new CoreError("not_found", `no app ${ref}`);
  return app;
}

export const appRoutes = [
  route({
    method: "get",
    path: "/v1/apps",
    tag: V1.apps,
    summary: "List apps",
    auth: adminOnly,
    answers: { 200: { description: "All apps", schema: v.object({ items: v.array(appView), nextCursor: v.null() }) } },
    failures: [401, 429, 503],
    handle: async ({ core }) => reply(200, { items: (await listApps(core)).map(appJson), nextCursor: null }),
  }),
  route({
    method: "post",
    path: "/v1/apps",
    tag: V1.apps,
    summary: "Register an app",
    description:
      'Answers the app with its `clientSecret`, the only time it is shown (none for `tokenEndpointAuthMethod: "none"`, a public app that uses PKCE). ' +
      "Redirect URIs match exactly: absolute, no fragment, https (http for loopback hosts only).",
    auth: adminOnly,
    body: { schema: createAppBody, label: "required" },
    answers: { 201: { description: "The app and its secret", schema: appWithSecretView } },
    failures: [400, 401, 409, 413, 415, 429, 503],
    async handle({ c, core, caller, body }) {
      const { app, clientSecret } = await createApp(core, body, changeContext(c, caller));
      return reply(201, { ...appJson(app), clientSecret }, { Location: `/v1/apps/${app.id}` });
    },
  }),
  route({
    method: "get",
    path: "/v1/apps/:id",
    tag: V1.apps,
    summary: "Get an app by id or client id",
    auth: adminOnly,
    params: appRefParam,
    answers: { 200: { description: "The app", schema: appView } },
    failures: [400, 401, 404, 429, 503],
    handle: async ({ core, params }) => reply(200, appJson(await byRef(core, params.id))),
  }),
  route({
    method: "patch",
    path: "/v1/apps/:id",
    tag: V1.apps,
    summary: "Change some fields of an app",
    description: "Only the fields sent are written. An app made confidential gets a `clientSecret`, shown in this answer.",
    auth: adminOnly,
    params: appRefParam,
    body: { schema: patchAppBody, label: "required" },
    answers: { 200: { description: "The changed app", schema: appWithSecretView } },
    failures: [400, 401, 404, 409, 413, 415, 429, 503],
    async handle({ c, core, caller, params, body }) {
      const { app, clientSecret } = await updateApp(core, (await byRef(core, params.id)).id, body, changeContext(c, caller));
      return reply(200, { ...appJson(app), clientSecret });
    },
  }),
  route({
    method: "delete",
    path: "/v1/apps/:id",
    tag: V1.apps,
    summary: "Delete an app",
    auth: adminOnly,
    params: appRefParam,
    answers: { 204: { description: "Deleted" } },
    failures: [400, 401, 404, 429, 503],
    async handle({ c, core, caller, params }) {
      if (!(await deleteApp(core, (await byRef(core, params.id)).id, changeContext(c, caller)))) throw new CoreError("not_found", "no such app");
      return c.body(null, 204);
    },
  }),
  route({
    method: "post",
    path: "/v1/apps/:id/secret",
    tag: V1.apps,
    summary: "Rotate an app's client secret",
    auth: adminOnly,
    params: appRefParam,
    answers: { 200: { description: "The app and its new secret, shown this once", schema: appWithSecretView } },
    failures: [400, 401, 403, 404, 429, 503],
    async handle({ c, core, caller, params }) {
      const { app, clientSecret } = await rotateAppSecret(core, (await byRef(core, params.id)).id, changeContext(c, caller));
      return reply(200, { ...appJson(app), clientSecret });
    },
  }),
];
