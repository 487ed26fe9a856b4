// Seed 001's GenerateSSOToken request, headers and answers.
import * as v from "valibot";

const required = v.pipe(v.string("must be a string"), v.trim(), v.minLength(1, "must not be empty"), v.maxLength(128));

export const generateSsoTokenBody = v.object({
  CIINo: required,
  LOBId: required,
  Functionality: required,
});

export const generateSsoTokenHeaders = v.object({
  "x-api-version": v.pipe(v.string(), v.description("Only 1.0.0 is supported")),
  "x-lob-client-id": v.pipe(v.string(), v.description("The source's clientId")),
  authorization: v.pipe(v.string(), v.description("The caller's JWT, with or without `Bearer `")),
});

export const generatedView = v.object({
  ReturnCode: v.literal("1"),
  ReturnMessage: v.literal("Token Generated successfully"),
  TokenRefNo: v.pipe(v.string(), v.regex(/^\d+$/)),
  TokenNo: v.string(),
});

export const lobErrorView = v.object({ ReturnCode: v.literal("0"), ReturnMessage: v.string() });

export const SUPPORTED_API_VERSION = "1.0.0";
