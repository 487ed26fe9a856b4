// Validation issues in plain words, for every dialect: valibot's defaults
// ("Invalid key: Expected "emailAddress" but received undefined") are written
// for a developer of the validator; a caller wants "emailAddress is required".
// A message a schema wrote itself ("must be an email address") is kept.
import type * as v from "valibot";
import type { FieldIssue } from "../core/errors";

type Issue = v.BaseIssue<unknown>;

const TYPE_NAMES: Record<string, string> = {
  string: "text",
  number: "a number",
  boolean: "true or false",
  Array: "a list",
  Object: "an object",
  null: "null",
};

/** `("a" | "b")` → `"a" or "b"`. */
function alternatives(expected: string): string {
  const parts = expected.replace(/^\((.*)\)$/, "$1").split(" | ");
  return parts.length > 1 ? `${parts.slice(0, -1).join(", ")} or ${parts.at(-1)}` : expected;
}

function plainMessage(issue: Issue): string {
  // Our schemas say "must …" themselves; valibot's defaults all begin "Invalid ".
  if (!issue.message.startsWith("Invalid ")) return issue.message;
  const requirement = (issue as { requirement?: unknown }).requirement;
  const isList = Array.isArray(issue.input);
  switch (issue.type) {
    case "object":
    case "loose_object":
    case "strict_object":
      if (issue.received === "undefined") return "is required";
      if (issue.expected === "never") return "is not a field of this request";
      return "must be an object";
    case "string":
    case "number":
    case "boolean":
    case "array":
      return `must be ${TYPE_NAMES[issue.expected ?? ""] ?? issue.expected}`;
    case "picklist":
    case "literal":
    case "union":
    case "variant":
      return `must be ${alternatives(issue.expected ?? "")}`;
    case "min_length":
    case "non_empty":
      return requirement === 1 || issue.type === "non_empty" ? "must not be empty" : `must have at least ${requirement} ${isList ? "items" : "characters"}`;
    case "max_length":
      return `must have at most ${requirement} ${isList ? "items" : "characters"}`;
    case "min_value":
      return `must be at least ${String(requirement)}`;
    case "max_value":
      return `must be at most ${String(requirement)}`;
    case "integer":
      return "must be a whole number";
    case "email":
      return "must be an email address";
    case "iso_timestamp":
      return "must be an RFC 3339 date-time, e.g. 2030-12-31T23:59:59Z";
    case "regex":
      return "is not in the expected form";
    default:
      return "is not valid";
  }
}

/** Dotted path of an issue ("user.email", "groups.2"), "" for the input itself. */
function issuePath(issue: Issue): string {
  return (issue.path ?? []).map((p) => String(p.key)).join(".");
}

/** valibot's issues as FieldIssues in plain words, one per field. */
export function plainIssues(issues: readonly Issue[]): FieldIssue[] {
  const seen = new Set<string>();
  const plain: FieldIssue[] = [];
  for (const issue of issues) {
    const field = issuePath(issue);
    if (seen.has(field)) continue;
    seen.add(field);
    plain.push({ field, message: plainMessage(issue) });
  }
  return plain;
}
