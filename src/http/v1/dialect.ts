// The native dialect: JSON in, JSON out, failures as RFC 9457 problems.
import * as v from "valibot";
import type { Dialect } from "../route";
import { problemRenderer } from "./problem";

const problemView = v.object({
  type: v.string(),
  title: v.string(),
  status: v.number(),
  detail: v.optional(v.string()),
  errors: v.optional(v.array(v.object({ pointer: v.string(), detail: v.string() }))),
});

export const v1Dialect: Dialect = {
  renderer: problemRenderer,
  errorSchema: problemView,
  errorMediaType: "application/problem+json",
  failureDescriptions: {
    400: "Invalid request (each bad field named in `errors`)",
    401: "Missing or invalid credentials",
    403: "Not allowed",
    404: "No such thing",
    409: "Conflict (a code or email already in use; revoking the last admin key)",
    413: "Body over 64 KiB",
    415: "Not JSON",
    429: "Too many failed attempts (Retry-After)",
    503: "The store is unavailable (Retry-After)",
  },
};

/** The tag every native operation is grouped under in the document, by area. */
export const V1 = {
  sources: "Native v1: sources",
  tokens: "Native v1: tokens",
  users: "Native v1: users and sessions",
  audit: "Native v1: audit log",
  keys: "Native v1: signing keys",
  apps: "Native v1: apps",
  adminKeys: "Native v1: admin keys",
  webhooks: "Native v1: webhooks",
  browser: "Browser sign-in",
  forwardAuth: "Forward auth",
} as const;
