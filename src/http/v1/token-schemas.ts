// Request and response schemas of /v1/tokens and the browser landing.
import * as v from "valibot";
import { httpUrlSchema, MAX_VALID_FOR_SECONDS, sourceCodeSchema } from "../../core/sources";
import { MAX_TOKEN_LENGTH } from "../../core/tokens/formats";
import { requestExamples } from "../docs";
import { emailSchema, groupsSchema, nameSchema } from "../shared/schemas";

const name = nameSchema;

const tokenUserSchema = v.pipe(
  v.strictObject({
    email: v.optional(emailSchema),
    displayName: v.optional(name(200)),
    externalId: v.optional(name(128)),
    orgId: v.optional(v.pipe(v.string(), v.maxLength(128))),
    groups: v.optional(groupsSchema),
  }),
  v.check((user) => user.email !== undefined || user.externalId !== undefined, "needs an email or an externalId"),
);

export const issueBody = v.pipe(
  v.strictObject({
    user: tokenUserSchema,
    section: v.optional(name(64)),
    lobId: v.optional(name(128)),
    functionality: v.optional(name(128)),
    ttlSeconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_VALID_FOR_SECONDS))),
    format: v.optional(v.picklist(["nonce", "jwt"]), "nonce"),
    registeredOnly: v.optional(v.boolean(), false),
    redirectUrl: v.optional(httpUrlSchema),
    sourceCode: v.optional(sourceCodeSchema),
  }),
  requestExamples([{ user: { email: "alice@example.com", displayName: "Alice", orgId: "org1", groups: ["staff"] }, ttlSeconds: 60 }]),
);

const tokenText = v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_TOKEN_LENGTH));

export const tokenBody = v.pipe(v.strictObject({ token: tokenText }), requestExamples([{ token: "fjd0c3M2DpBKreGqGZaF6iZhf5M0qDapDnkpvGUwyzU" }]));

export const revokeBody = v.pipe(
  v.strictObject({
    token: v.optional(tokenText),
    tokenRefNo: v.optional(v.pipe(v.string(), v.regex(/^\d{1,32}$/, "digits only"))),
  }),
  v.check((b) => b.token !== undefined || b.tokenRefNo !== undefined, "needs a token or a tokenRefNo"),
  requestExamples([{ tokenRefNo: "1737362986858787" }]),
);

// ---- responses (documentation) ----

const time = v.pipe(v.string(), v.isoTimestamp());

export const issuedView = v.object({
  token: v.string(),
  tokenRefNo: v.pipe(v.string(), v.regex(/^\d+$/)),
  expiresAt: time,
  loginUrl: v.string(),
});

const userView = v.object({
  id: v.string(),
  email: v.nullable(v.string()),
  displayName: v.nullable(v.string()),
  externalId: v.nullable(v.string()),
  orgId: v.string(),
  groups: v.array(v.string()),
});

const claimsView = v.object({
  email: v.optional(v.string()),
  displayName: v.optional(v.string()),
  externalId: v.optional(v.string()),
  orgId: v.optional(v.string()),
  groups: v.optional(v.array(v.string())),
  section: v.optional(v.string()),
  lobId: v.optional(v.string()),
  functionality: v.optional(v.string()),
});

export const redeemedView = v.object({
  tokenRefNo: v.string(),
  source: v.string(),
  claims: claimsView,
  created: v.boolean(),
  user: v.optional(userView),
  session: v.optional(v.object({ id: v.string(), expiresAt: time })),
});

export const introspectionView = v.object({
  active: v.boolean(),
  token_type: v.optional(v.string()),
  client_id: v.optional(v.string()),
  source: v.optional(v.string()),
  jti: v.optional(v.string()),
  iat: v.optional(v.number()),
  exp: v.optional(v.number()),
  sub: v.optional(v.string()),
});
