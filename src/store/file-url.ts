// `file:` URLs of the embedded store.
import { fileURLToPath } from "node:url";

/** Path of the database file named by a `file:` URL (relative to the working directory). */
export function filePathOf(url: string): string {
  const rest = url.slice("file:".length);
  if (rest.startsWith("//")) return fileURLToPath(url);
  return rest.split("?")[0]!;
}
