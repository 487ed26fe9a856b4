// Seed 001's GenerateSSOToken request, headers and answers.
import * as v from "valibot";
import { requestExamples } from "../docs";

const required = v.pipe(v.string("must be a string"), v.trim(), v.minLength(1, "must not be empty"), v.maxLength(128));

export const generateSsoTokenBody = v.pipe(
  v.object({
    CIINo: required,
    LOBId: required,
    Functionality: required,
  }),
  // Seed 001's sample request.
  requestExamples([{ CIINo: "10001XXX", LOBId: "XX", Functionality: "D" }]),
);

/** The headers the route checks itself (in SPEC §2.2's order), with seed 001's examples. */
export const generateSsoTokenHeaders = {
  "x-api-version": "1.0.0",
  "x-lob-client-id": "1RrLMyLrZGA=",
  authorization: "eyJraWQiOiJLY2NMeklBY3RhY0R5TWxHVmFVTm52XC9xR3FlQjd2cnNwSWF3a0Z0M21ZND0iLCJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIzbXUzOXZ1cTJhYmdyMmhkaDlsZGNxMzUyOSI",
};

export const generatedView = v.object({
  ReturnCode: v.literal("1"),
  ReturnMessage: v.literal("Token Generated successfully"),
  TokenRefNo: v.pipe(v.string(), v.regex(/^\d+$/)),
  TokenNo: v.string(),
});

export const lobErrorView = v.object({ ReturnCode: v.literal("0"), ReturnMessage: v.string() });

export const SUPPORTED_API_VERSION = "1.0.0";
