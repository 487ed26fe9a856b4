// Seed 000's sso.NonceTokenRequest, with the names of its OpenAPI document.
// Fields match case-insensitively (Tyk Dashboard and Tyk Identity Broker send
// them in PascalCase), so the request is rebuilt under these names first.
import * as v from "valibot";
import { sourceCodeSchema } from "../../core/sources";
import { requestExamples } from "../docs";
import { emailSchema, rfc3339 } from "../shared/schemas";

const id = v.pipe(v.string(), v.maxLength(128));

export const nonceTokenRequest = v.pipe(
  v.object({
    displayName: v.optional(v.pipe(v.string(), v.maxLength(200))),
    emailAddress: emailSchema,
    expiresAt: v.optional(rfc3339),
    forSection: v.optional(v.picklist(["dashboard", "portal"], 'must be "dashboard" or "portal"'), "dashboard"),
    groupID: v.optional(id),
    // Go decodes `null` into an empty list.
    groupsIDs: v.optional(v.nullable(v.pipe(v.array(id), v.maxLength(100)))),
    orgID: v.optional(id),
    ssoonlyForRegisteredUsers: v.optional(v.boolean(), false),
    // Sent by Tyk Identity Broker; accepted and ignored, as the seed does not define it.
    userNotAllowed: v.optional(v.boolean()),
    // ssod's own addition: which source an admin key issues for.
    sourceCode: v.optional(sourceCodeSchema),
  }),
  requestExamples([
    {
      displayName: "Alice",
      emailAddress: "alice@example.com",
      forSection: "dashboard",
      groupID: "admins",
      groupsIDs: ["devs"],
      orgID: "5e9d9544a1dcd60001d0ed20",
      ssoonlyForRegisteredUsers: false,
    },
  ]),
);

export const nonceTokenResponse = v.object({ Status: v.literal("OK"), Message: v.literal("SSO Nonce created"), Meta: v.string() });

export const errorResponse = v.object({ errors: v.array(v.object({ title: v.string(), detail: v.string() })) });

export const nonceQuery = v.object({ nonce: v.optional(v.pipe(v.string(), requestExamples(["phUYVEe6Klpd05hjrzq9rM4dvghV0beoFkrD7Y3RJq8"]))) });
