// The version: written into the single-file build, or read from package.json.
import { readFileSync } from "node:fs";
import { embedded } from "./embedded";

export function version(): string {
  if (embedded.version) return embedded.version;
  return (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
}
