// The one friendly banner `ssod serve` prints to stderr at start.
import { isAbsolute, relative } from "node:path";
import { isSea } from "node:sea";
import { version } from "../version";

/** How this ssod was started, to show a command the reader can paste. */
function selfCommand(): string {
  const shown = (path: string) => {
    const near = relative(process.cwd(), path);
    return near.startsWith("..") || isAbsolute(near) ? path : near;
  };
  if (isSea()) return shown(process.execPath);
  const script = process.argv[1] ?? "ssod.mjs";
  return script.endsWith(".ts") ? `node --import tsx ${shown(script)}` : `node ${shown(script)}`;
}

export interface BannerFacts {
  publicUrl: string;
  listeningOn: string;
  store: string;
  /** Set only on the first start of a store, in the one process that made it. */
  firstAdminKey?: string | undefined;
}

/** The store URL without any credentials it may carry: user:password@, or an `authToken` in the query (libsql://…?authToken=). */
export function displayStore(url: string): string {
  const shown = url.replace(/\/\/[^@/]*@/, "//");
  const query = shown.indexOf("?");
  if (query < 0) return shown;
  const kept = shown
    .slice(query + 1)
    .split("&")
    .filter((pair) => !/^authToken=/i.test(pair));
  return kept.length > 0 ? `${shown.slice(0, query)}?${kept.join("&")}` : shown.slice(0, query);
}

export function banner(facts: BannerFacts): string {
  const lines = [
    "",
    `  ssod ${version()} is running`,
    "",
    `    URL     ${facts.publicUrl}   (listening on ${facts.listeningOn})`,
    `    Store   ${displayStore(facts.store)}`,
    `    Docs    ${facts.publicUrl}/docs`,
    "",
  ];
  if (facts.firstAdminKey) {
    lines.push(
      "  This store had no admin key, so one was made. It is shown this once: keep it safe.",
      "",
      `    ${facts.firstAdminKey}`,
      "",
      "  Try it:",
      `    curl -s ${facts.publicUrl}/v1/sources -H 'Authorization: Bearer ${facts.firstAdminKey}'`,
      "",
    );
  } else {
    lines.push("  Admin keys are shown only when they are made. To make another one:", "", `    ${selfCommand()} admin-key create --name NAME`, "");
  }
  return `${lines.join("\n")}\n`;
}
