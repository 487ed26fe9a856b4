// Field names matched without regard to case, as Go's JSON decoding and the
// legacy PHP API do: a request's fields are read into a map keyed by lower
// case, then rebuilt under the names a schema uses before it is validated.
import type * as v from "valibot";

export type Fields = Map<string, unknown>;

/**
 * Reads entries into case-insensitive fields. Nested objects become nested
 * fields; so do form-style keys `Options[PerformLogin]` and `Options.PerformLogin`.
 */
export function fieldsOf(entries: Iterable<[string, unknown]>, depth = 0): Fields {
  const fields: Fields = new Map();
  for (const [rawKey, value] of entries) {
    const key = rawKey.toLowerCase();
    const nested = /^([^[.\]]+)(?:\[([^\]]+)\]|\.(.+))$/.exec(key);
    if (nested) {
      const [, parent, bracket, dotted] = nested as unknown as [string, string, string | undefined, string | undefined];
      let inner = fields.get(parent);
      if (!(inner instanceof Map)) {
        inner = new Map();
        fields.set(parent, inner);
      }
      (inner as Fields).set(bracket ?? dotted!, value);
    } else if (value && typeof value === "object" && !Array.isArray(value) && depth < 1) {
      // Only one level nests (Options); deeper objects are kept as they are, for the schema to refuse.
      fields.set(key, fieldsOf(Object.entries(value), depth + 1));
    } else {
      fields.set(key, value);
    }
  }
  return fields;
}

type ObjectSchema = v.ObjectSchema<v.ObjectEntries, undefined> | v.StrictObjectSchema<v.ObjectEntries, undefined>;

function unwrapObject(schema: v.GenericSchema): ObjectSchema | undefined {
  let current: v.GenericSchema = schema;
  while (current.type === "optional" || current.type === "nullable" || current.type === "nullish") {
    current = (current as unknown as { wrapped: v.GenericSchema }).wrapped;
  }
  return current.type === "object" || current.type === "strict_object" ? (current as unknown as ObjectSchema) : undefined;
}

/** The fields under the schema's own names (unknown fields dropped), ready for it to validate. */
export function canonical(fields: Fields, schema: ObjectSchema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, entry] of Object.entries(schema.entries)) {
    let value = fields.get(key.toLowerCase());
    const inner = unwrapObject(entry);
    if (inner && value instanceof Map) value = canonical(value as Fields, inner);
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** A scalar field as text (numbers and booleans as written); undefined when absent or not a scalar. */
export function text(fields: Fields, name: string): string | undefined {
  const value = fields.get(name);
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return undefined;
}
