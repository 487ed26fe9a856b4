// The one friendly banner `ssod serve` prints to stderr at start.
import { version } from "../version";

export interface BannerFacts {
  publicUrl: string;
  listeningOn: string;
  store: string;
  /** Set only on the first start of a store, in the one process that made it. */
  firstAdminKey?: string | undefined;
}

/** The store URL without any credentials it may carry. */
export function displayStore(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//");
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
  }
  return `${lines.join("\n")}\n`;
}
