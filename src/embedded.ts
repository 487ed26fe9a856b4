// Payloads that the single-file build (scripts/build.ts) writes into dist/ssod.mjs.
// Running from source, they are absent and each user falls back to the files
// in the checkout: the drizzle/ folder, the worker's .ts file, node_modules.
export interface EmbeddedMigration {
  tag: string;
  sql: string;
}

export interface Embedded {
  version?: string;
  migrations?: EmbeddedMigration[];
  /** CommonJS source of the store worker, run with `new Worker(source, { eval: true })`. */
  storeWorker?: string;
  /** The large payloads kept out of the code, by name, with the SHA-256 (hex) of each one's uncompressed bytes (src/assets.ts). */
  assets?: Record<string, string>;
  /** dist/ssod.mjs only: where each asset's base64 starts in the comment after the code, counted back from the end of the file, and its length. */
  trailer?: Record<string, [fromEnd: number, length: number]>;
}

// scripts/build.ts replaces this whole module with the real payloads.
export const embedded: Embedded = {};
