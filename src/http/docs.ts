// Examples in the OpenAPI document.
import * as v from "valibot";

/**
 * Examples of what a caller sends. valibot types examples as the schema's
 * output, but a request is its input (a date as text, before the transform).
 */
export function requestExamples<T>(examples: readonly unknown[]): v.ExamplesAction<T, readonly T[]> {
  return v.examples(examples as readonly T[]);
}
