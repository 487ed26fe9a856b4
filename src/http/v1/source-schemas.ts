// Request and response schemas of /v1/sources: the one description used to
// validate requests and to write the OpenAPI document.
import * as v from "valibot";
import { httpUrlSchema, identityProviderSchema, ipRuleSchema, LANDINGS, orgIdsSchema, sourceCodeSchema, validForSecondsSchema } from "../../core/sources";
import { requestExamples } from "../docs";
import { rfc3339 } from "../shared/schemas";

const optionsSchema = v.strictObject({
  createNewUserIfNotExists: v.optional(v.boolean()),
  performLogin: v.optional(v.boolean()),
  returnUserData: v.optional(v.boolean()),
});

const sourceFields = {
  code: sourceCodeSchema,
  clientId: v.pipe(v.string(), v.regex(/^[A-Za-z0-9._~+/=-]{1,128}$/, "1 to 128 URL-safe or base64 characters")),
  name: v.pipe(v.string(), v.trim(), v.minLength(1, "must not be empty"), v.maxLength(200)),
  description: v.pipe(v.string(), v.maxLength(2000)),
  expiresAt: v.nullable(rfc3339),
  validForSeconds: validForSecondsSchema,
  options: optionsSchema,
  allowedIps: v.pipe(v.array(ipRuleSchema), v.maxLength(100)),
  redirectUrls: v.pipe(v.array(httpUrlSchema), v.maxLength(100)),
  identityProvider: v.nullable(identityProviderSchema),
  orgIds: orgIdsSchema,
  landing: v.picklist(LANDINGS, 'must be "direct" or "confirm"'),
};

export const createSourceBody = v.pipe(
  v.strictObject({
    code: sourceFields.code,
    clientId: v.optional(sourceFields.clientId),
    name: sourceFields.name,
    description: v.optional(sourceFields.description),
    expiresAt: v.optional(sourceFields.expiresAt),
    validForSeconds: sourceFields.validForSeconds,
    options: v.optional(sourceFields.options),
    allowedIps: v.optional(sourceFields.allowedIps),
    redirectUrls: v.optional(sourceFields.redirectUrls),
    identityProvider: v.optional(sourceFields.identityProvider),
    orgIds: v.optional(sourceFields.orgIds),
    landing: v.optional(sourceFields.landing),
  }),
  // Seed 002's sso.create example, in the native dialect.
  requestExamples([
    {
      code: "portal",
      name: "External Portal",
      description: "SSO integration for external portal",
      expiresAt: "2030-12-31T23:59:59Z",
      validForSeconds: 3600,
      options: { createNewUserIfNotExists: true, performLogin: true, returnUserData: true },
      redirectUrls: ["https://portal.example.com/welcome"],
    },
  ]),
);

// Seed 002's sso.update example, in the native dialect.
export const patchSourceBody = v.pipe(
  v.partial(v.strictObject(sourceFields)),
  requestExamples([{ name: "Updated External Portal", validForSeconds: 7200, options: { createNewUserIfNotExists: false } }]),
);

export const sourceRefParam = v.object({
  id: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/, "a source id or code"), requestExamples(["portal"])),
});

// ---- responses (documentation) ----

const time = v.pipe(v.string(), v.isoTimestamp());

export const sourceView = v.object({
  id: v.number(),
  code: v.string(),
  name: v.string(),
  description: v.string(),
  expiresAt: v.nullable(time),
  validForSeconds: v.number(),
  options: v.object({ createNewUserIfNotExists: v.boolean(), performLogin: v.boolean(), returnUserData: v.boolean() }),
  clientId: v.string(),
  allowedIps: v.array(v.string()),
  redirectUrls: v.array(v.string()),
  identityProvider: v.nullable(v.object({ issuer: v.string(), jwksUrl: v.string(), audience: v.nullable(v.string()), requiredScope: v.nullable(v.string()) })),
  orgIds: v.array(v.string()),
  landing: v.picklist(LANDINGS),
  createdAt: time,
  updatedAt: time,
});

export const sourceWithSecretsView = v.object({
  ...sourceView.entries,
  clientSecret: v.string(),
  signingSecret: v.string(),
});

export const sourceListView = v.object({ items: v.array(sourceView), nextCursor: v.null() });
