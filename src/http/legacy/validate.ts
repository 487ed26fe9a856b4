// Runs a command's schema over the case-insensitive fields of a request and
// turns the issues into seed 002's error codes, all of them, ascending.
import * as v from "valibot";
import { canonical, type Fields } from "../fields";
import type { LegacyCode } from "./codes";
import { FIELD_CODES } from "./schemas";

type ObjectSchema = v.ObjectSchema<v.ObjectEntries, undefined>;

function isMissing(input: unknown): boolean {
  return input === undefined || input === null || (typeof input === "string" && input.trim() === "");
}

export type Validated<S extends ObjectSchema> = { ok: true; value: v.InferOutput<S> } | { ok: false; codes: LegacyCode[] };

export function validateCommand<S extends ObjectSchema>(schema: S, fields: Fields): Validated<S> {
  const input = canonical(fields, schema);
  // The command was already matched (in any case, spaces around): it is not a field to fail on.
  if ("Command" in schema.entries) input.Command = (schema.entries.Command as v.LiteralSchema<string, undefined>).literal;
  const result = v.safeParse(schema, input, { abortPipeEarly: true });
  if (result.success) return { ok: true, value: result.output };
  const codes = new Set<LegacyCode>();
  for (const issue of result.issues) {
    const field = String(issue.path?.[0]?.key ?? "");
    const mapping = FIELD_CODES[field];
    if (!mapping) continue;
    codes.add(isMissing(input[field]) ? mapping.missing : mapping.invalid);
  }
  // A field without a code of its own (say, a Username that is a list) is a malformed request.
  if (codes.size === 0) codes.add(105);
  return { ok: false, codes: [...codes].sort((a, b) => a - b) };
}
