// Field rules more than one dialect's requests use.
import * as v from "valibot";

/** Trimmed text of 1 to `max` characters. */
export const nameSchema = (max: number) =>
  v.pipe(v.string(), v.trim(), v.minLength(1, "must not be empty"), v.maxLength(max, `must have at most ${max} characters`));

export const emailSchema = v.pipe(v.string(), v.trim(), v.maxLength(254), v.email("must be an email address"));
export const groupsSchema = v.pipe(v.array(nameSchema(128)), v.maxLength(100, "must have at most 100 groups"));

/** An RFC 3339 date-time, as epoch milliseconds. */
export const rfc3339 = v.pipe(
  v.string(),
  v.isoTimestamp("must be an RFC 3339 date-time, e.g. 2030-12-31T23:59:59Z"),
  v.transform((s) => Date.parse(s)),
);
