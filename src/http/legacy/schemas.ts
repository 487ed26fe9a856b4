// The api.php commands as valibot schemas: the one description of each
// command's parameters, used to validate requests (issues become seed 002's
// error codes through FIELD_CODES) and to document them in OpenAPI.
import * as v from "valibot";
import { LANDINGS, MAX_VALID_FOR_SECONDS, orgIdsSchema, sourceCodeSchema } from "../../core/sources";
import { requestExamples } from "../docs";
import type { LegacyCode } from "./codes";

const LEGACY_DATETIME = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/;

/** "YYYY-MM-DD HH:MM:SS" (UTC) to epoch milliseconds; undefined when not a real date and time. */
function parseLegacyDateTime(text: string): number | undefined {
  const m = LEGACY_DATETIME.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const back = new Date(ms);
  // Date.UTC rolls 2025-02-30 over to March: a real date survives the round trip.
  if (back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) return undefined;
  return ms;
}

export function formatLegacyDateTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace("T", " ");
}

const toggle = v.pipe(
  v.string(),
  v.transform((s) => s.trim().toLowerCase()),
  v.picklist(["enabled", "disabled"]),
  v.transform((s) => s === "enabled"),
);

const auth = {
  APIKey: v.optional(v.string()),
  SessionID: v.optional(v.string()),
};

const sourceFields = {
  SourceName: v.pipe(v.string(), v.trim(), v.nonEmpty()),
  SourceCode: v.pipe(v.string(), v.nonEmpty(), sourceCodeSchema),
  SourceDescription: v.optional(v.string()),
  ExpiresAt: v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.check((s) => s === "" || parseLegacyDateTime(s) !== undefined),
      v.transform((s) => (s === "" ? null : parseLegacyDateTime(s)!)),
    ),
  ),
  ValidForSeconds: v.pipe(
    v.union([v.number(), v.pipe(v.string(), v.trim(), v.regex(/^\d{1,12}$/), v.transform(Number))]),
    v.integer(),
    v.minValue(1),
    v.maxValue(MAX_VALID_FOR_SECONDS),
  ),
  Options: v.optional(
    v.object({
      CreateNewUserIfNotExists: v.optional(toggle),
      PerformLogin: v.optional(toggle),
      ReturnUserData: v.optional(toggle),
    }),
  ),
  // ssod's own: the orgs the source may issue for ("org1,org2", or a JSON list; "" clears), and its landing.
  OrgIds: v.optional(
    v.pipe(
      v.union([v.string(), v.array(v.string())]),
      v.transform((value) => (Array.isArray(value) ? value : value.split(",")).map((id) => id.trim()).filter((id) => id !== "")),
      orgIdsSchema,
    ),
  ),
  Landing: v.optional(
    v.pipe(
      v.string(),
      v.transform((s) => s.trim().toLowerCase()),
      v.picklist(LANDINGS),
    ),
  ),
};

const sourceId = v.pipe(v.union([v.number(), v.pipe(v.string(), v.trim(), v.regex(/^\d{1,15}$/), v.transform(Number))]), v.integer(), v.minValue(1));

// Seed 002's examples, with APIKey where the seed shows a SessionID.
const seedOptions = { CreateNewUserIfNotExists: "Enabled", PerformLogin: "Enabled", ReturnUserData: "Enabled" };
const createExample = {
  Command: "sso.create",
  APIKey: "ssod_ak_…",
  SourceName: "External Portal",
  SourceCode: "external_portal_v1",
  SourceDescription: "SSO integration for external portal",
  ExpiresAt: "2030-12-31 23:59:59",
  ValidForSeconds: 3600,
  Options: seedOptions,
};
const updateExample = {
  Command: "sso.update",
  APIKey: "ssod_ak_…",
  SourceID: 123,
  SourceName: "Updated External Portal",
  SourceCode: "external_portal_v2",
  SourceDescription: "Updated SSO integration for external portal",
  ExpiresAt: "2030-12-31 23:59:59",
  ValidForSeconds: 7200,
  Options: { ...seedOptions, CreateNewUserIfNotExists: "Disabled" },
};

export const commandSchemas = {
  "admin.login": v.object({ Command: v.literal("admin.login"), Username: v.string(), Password: v.string() }),
  "admin.logout": v.object({ Command: v.literal("admin.logout"), SessionID: v.string() }),
  "sso.create": v.pipe(v.object({ Command: v.literal("sso.create"), ...auth, ...sourceFields }), requestExamples([createExample])),
  "sso.update": v.pipe(v.object({ Command: v.literal("sso.update"), ...auth, SourceID: sourceId, ...sourceFields }), requestExamples([updateExample])),
  "sso.delete": v.object({
    Command: v.literal("sso.delete"),
    ...auth,
    // "123" or "123,124": every element a positive integer.
    SourceID: v.pipe(
      v.union([v.number(), v.string()]),
      v.transform((value) =>
        String(value)
          .split(",")
          .map((s) => s.trim()),
      ),
      v.check((ids) => ids.every((s) => /^\d{1,15}$/.test(s) && Number(s) >= 1)),
      v.transform((ids) => [...new Set(ids.map(Number))]),
    ),
  }),
  "sso.get": v.object({ Command: v.literal("sso.get"), ...auth, SourceID: sourceId }),
  "sso.list": v.object({ Command: v.literal("sso.list"), ...auth }),
};

/** Which codes a failing field reports: when it is missing, and when it is there but wrong. */
export const FIELD_CODES: Record<string, { missing: LegacyCode; invalid: LegacyCode }> = {
  SourceName: { missing: 1, invalid: 3 },
  SourceCode: { missing: 2, invalid: 4 },
  ExpiresAt: { missing: 5, invalid: 5 },
  ValidForSeconds: { missing: 7, invalid: 8 },
  SourceID: { missing: 9, invalid: 10 },
  Options: { missing: 11, invalid: 11 },
  OrgIds: { missing: 14, invalid: 14 },
  Landing: { missing: 15, invalid: 15 },
};

/** Any command, for the OpenAPI document; its examples are seed 002's. */
export const anyCommand = v.pipe(
  v.union(Object.values(commandSchemas)),
  requestExamples([createExample, updateExample, { Command: "sso.delete", APIKey: "ssod_ak_…", SourceID: "123" }]),
);

export const successResponse = v.object({
  Success: v.literal(true),
  ErrorCode: v.literal(0),
  ErrorText: v.optional(v.literal("")),
  SSOSourceID: v.optional(v.number()),
  SessionID: v.optional(v.string()),
  ExpiresAt: v.optional(v.string()),
  Source: v.optional(v.record(v.string(), v.unknown())),
  Sources: v.optional(v.array(v.record(v.string(), v.unknown()))),
});

export const errorResponse = v.object({
  Success: v.literal(false),
  ErrorCode: v.array(v.number()),
  ErrorText: v.array(v.string()),
});
