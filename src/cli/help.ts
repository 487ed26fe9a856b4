// --help texts, made from the command table and the settings table.
import { flagOf, SETTINGS } from "../config";
import { version } from "../version";
import type { Command } from "./commands";

/** The configuration flags, but those a command's own flags of the same name replace. */
function configurationHelp(replaced: Command["options"] = {}): string {
  const rows = Object.values(SETTINGS).flatMap((s) => {
    if (flagOf(s.env) in replaced) return [];
    const flag = `--${flagOf(s.env)}`;
    const fallback = "default" in s ? ` (default ${s.default})` : "";
    return `  ${flag.padEnd(36)}${s.env}\n  ${"".padEnd(36)}${s.help}${fallback}`;
  });
  return `Configuration (flags override environment variables):\n${rows.join("\n")}`;
}

/** One line a command (two when its usage is long): its usage, then its summary. */
const commandLines = (commands: Command[]) =>
  commands.map((c) => (c.usage.length < 50 ? `  ${c.usage.padEnd(52)}${c.summary}` : `  ${c.usage}\n  ${"".padEnd(52)}${c.summary}`));

export function mainHelp(commands: Command[]): string {
  const lines = commandLines(commands);
  return [
    `ssod ${version()}: a self-hosted SSO hand-off server`,
    "",
    "Usage: ssod [command] [options]",
    "",
    "Commands:",
    ...lines,
    "",
    "Run `ssod <command> --help` for a command's own options.",
    "",
    configurationHelp(),
  ].join("\n");
}

/** `ssod app --help`: the commands of one group. */
export function groupHelp(group: string, commands: Command[]): string {
  return [
    `Usage: ssod ${group} <command> [options]`,
    "",
    "Commands:",
    ...commandLines(commands),
    "",
    `Run \`ssod ${group} <command> --help\` for a command's own options.`,
  ].join("\n");
}

export function commandHelp(command: Command): string {
  const own = Object.entries(command.options ?? {}).map(
    ([name, o]) => `  --${name.padEnd(34)}${o.description}${o.required ? " (required)" : ""}${o.repeatable ? " (repeatable)" : ""}`,
  );
  return [
    `Usage: ${command.usage}`,
    "",
    command.summary,
    ...(own.length > 0 ? ["", "Options:", ...own] : []),
    ...(command.usesConfig ? ["", configurationHelp(command.options)] : []),
  ].join("\n");
}
