// Reads an api.php request body, JSON or form-encoded, into fields looked up
// case-insensitively (`SourceName`, `sourcename`, `SOURCENAME` are one field).
// Nested options may come as a JSON object, as `Options[PerformLogin]=…` or
// as `Options.PerformLogin`.
import type { Context } from "hono";

export type Fields = Map<string, unknown>;

export class BodyError extends Error {}

function fieldsOf(entries: Iterable<[string, unknown]>): Fields {
  const fields: Fields = new Map();
  for (const [rawKey, value] of entries) {
    const key = rawKey.toLowerCase();
    const nested = /^([^[.\]]+)(?:\[([^\]]+)\]|\.(.+))$/.exec(key);
    if (nested) {
      const [, parent, bracket, dotted] = nested as unknown as [string, string, string | undefined, string | undefined];
      let inner = fields.get(parent);
      if (!(inner instanceof Map)) fields.set(parent, (inner = new Map()));
      (inner as Fields).set(bracket ?? dotted!, value);
    } else if (value && typeof value === "object" && !Array.isArray(value)) {
      fields.set(key, fieldsOf(Object.entries(value)));
    } else {
      fields.set(key, value);
    }
  }
  return fields;
}

export async function readFields(c: Context): Promise<Fields> {
  const type = (c.req.header("content-type") ?? "").toLowerCase();
  if (type.startsWith("multipart/form-data")) {
    const form = await c.req.parseBody().catch(() => {
      throw new BodyError("malformed multipart body");
    });
    return fieldsOf(Object.entries(form).filter(([, v]) => typeof v === "string"));
  }
  const text = await c.req.text();
  const looksJson = type.includes("json") || (!type.includes("form") && text.trimStart().startsWith("{"));
  if (looksJson) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new BodyError("malformed JSON");
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new BodyError("the JSON body must be an object");
    return fieldsOf(Object.entries(parsed));
  }
  return fieldsOf(new URLSearchParams(text).entries());
}

/** A scalar field as text (numbers and booleans as written); undefined when absent or not a scalar. */
export function text(fields: Fields, name: string): string | undefined {
  const value = fields.get(name);
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return undefined;
}

/** Whether a field is present with a value that is not a scalar (an object or a list). */
export function isStructured(fields: Fields, name: string): boolean {
  const value = fields.get(name);
  return value !== undefined && value !== null && typeof value === "object";
}
