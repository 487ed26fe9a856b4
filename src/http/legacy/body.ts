// Reads an api.php request body, JSON or form-encoded, into fields looked up
// case-insensitively (`SourceName`, `sourcename`, `SOURCENAME` are one field).
import type { Context } from "hono";
import { parseJsonObject } from "../body";
import { refuse } from "../failure";
import { type Fields, fieldsOf } from "../fields";
import { uncleanText } from "../text-hygiene";

export async function readFields(c: Context): Promise<Fields> {
  const type = (c.req.header("content-type") ?? "").toLowerCase();
  let fields: Fields;
  if (type.startsWith("multipart/form-data")) {
    const form = await c.req.parseBody().catch(() => refuse({ kind: "malformed", message: "malformed multipart body" }));
    fields = fieldsOf(Object.entries(form).filter(([, v]) => typeof v === "string"));
  } else {
    const text = await c.req.text();
    const looksJson = type.includes("json") || (!type.includes("form") && text.trimStart().startsWith("{"));
    fields = looksJson ? fieldsOf(Object.entries(parseJsonObject(text))) : fieldsOf(new URLSearchParams(text).entries());
  }
  if (uncleanText(fields)) refuse({ kind: "malformed", message: "the body holds text that cannot be stored" });
  return fields;
}
