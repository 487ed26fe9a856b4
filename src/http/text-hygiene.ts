// Text that the store cannot keep whole is refused at the door. SQLite and
// libSQL's binding treat a NUL as the end of a string, so "before\0after"
// would be stored as "before"; a lone UTF-16 surrogate is not Unicode and
// cannot be stored as UTF-8 at all. Every dialect checks its parsed input.
import type { FieldIssue } from "../core/errors";

const MAX_DEPTH = 32;

/** The first string (or key) in a parsed request that is not clean text, as a validation issue. */
export function uncleanText(value: unknown, path = "", depth = 0): FieldIssue | undefined {
  if (typeof value === "string") {
    if (value.includes("\0")) return { field: path, message: "must not contain NUL characters" };
    if (!value.isWellFormed()) return { field: path, message: "must be valid Unicode (a lone surrogate is not)" };
    return undefined;
  }
  if (!value || typeof value !== "object") return undefined;
  if (depth >= MAX_DEPTH) return { field: path, message: `must not be nested more than ${MAX_DEPTH} levels deep` };
  const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
  for (const [key, inner] of entries) {
    const at = path ? `${path}.${String(key)}` : String(key);
    const keyIssue = uncleanText(String(key), at, depth + 1);
    if (keyIssue) return { field: at, message: `the field name ${keyIssue.message}` };
    const issue = uncleanText(inner, at, depth + 1);
    if (issue) return issue;
  }
  return undefined;
}
