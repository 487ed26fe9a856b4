// The one-shot commands work on the server's store, never on a new one: run
// from another folder, the default file:./data/ssod.db would be a new, empty
// store that no server reads, and what the command made would be lost there.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigError } from "../config";
import { filePathOf } from "../store/file-url";
import { isRemoteUrl } from "../store/store";
import { displayStore } from "./banner";

/** The store as the reader should recognise it: its URL (no credentials) and, for a file, the file it names here. */
function storeShown(url: string): string {
  if (isRemoteUrl(url)) return displayStore(url);
  const path = resolve(filePathOf(url));
  return url === `file:${path}` ? url : `${url} (${path})`;
}

/** Says on stderr which store the command works on; refuses a file store that is not there (only serve and migrate make one). */
export function requireExistingStore(url: string): void {
  process.stderr.write(`ssod: store ${storeShown(url)}\n`);
  if (isRemoteUrl(url)) return;
  const path = resolve(filePathOf(url));
  if (!existsSync(path)) {
    throw new ConfigError(
      `SSOD_DATABASE_URL: no store exists at ${path} (${url}); \`ssod\` (serve) or \`ssod migrate\` creates one. ` +
        "Run this command from the server's folder, or set SSOD_DATABASE_URL (--database-url) to the server's store.",
    );
  }
}
