// Limits shared by every dialect.

/** Largest request body accepted (SPEC §5); larger ones get 413 before being read whole. */
export const MAX_BODY_BYTES = 64 * 1024;
