// Reads an api.php request body, JSON or form-encoded, into fields looked up
// case-insensitively (`SourceName`, `sourcename`, `SOURCENAME` are one field).
import type { Context } from "hono";
import { fieldsOf, type Fields } from "../fields";

export class BodyError extends Error {}

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
