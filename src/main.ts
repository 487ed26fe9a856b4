#!/usr/bin/env node
// ssod's command line: `ssod [serve] | migrate | admin-key create|list|revoke | admin create | app create | webhook create | backup | version | --help`.
import { parseArgs } from "node:util";
import { COMMANDS, type Command, type OptionValues, UsageError } from "./cli/commands";
import { commandHelp, groupHelp, mainHelp } from "./cli/help";
import { ConfigError, flagOf, loadConfig, SETTINGS } from "./config";

function findCommand(positionals: string[]): { command: Command; rest: string[] } | undefined {
  if (positionals.length === 0) return { command: COMMANDS[0]!, rest: [] };
  for (const command of COMMANDS) {
    if (command.words.every((w, i) => positionals[i] === w)) return { command, rest: positionals.slice(command.words.length) };
  }
  return undefined;
}

/** The commands of a group such as `app` or `admin-key` (none for a word that names no group). */
const groupOf = (word: string | undefined) => COMMANDS.filter((c) => c.words.length > 1 && c.words[0] === word);

async function main(argv: string[]): Promise<number | "keep-running"> {
  const configFlags = Object.fromEntries(Object.values(SETTINGS).map((s) => [flagOf(s.env), { type: "string" as const }]));
  const ownFlags = Object.fromEntries(
    COMMANDS.flatMap((c) => Object.entries(c.options ?? {})).map(([name, option]) => [
      name,
      { type: option.flag ? ("boolean" as const) : ("string" as const), multiple: option.repeatable === true },
    ]),
  );
  const { values, positionals } = parseArgs({
    args: argv,
    options: { ...configFlags, ...ownFlags, help: { type: "boolean", short: "h" }, version: { type: "boolean" } },
    allowPositionals: true,
    strict: true,
  });
  if (values.version) return findCommand(["version"])!.command.run(undefined, {}, []);
  if (positionals[0] === "help") {
    const target = findCommand(positionals.slice(1));
    const group = groupOf(positionals[1]);
    process.stdout.write(
      `${positionals.length > 1 && target ? commandHelp(target.command) : group.length > 0 ? groupHelp(positionals[1]!, group) : mainHelp(COMMANDS)}\n`,
    );
    return 0;
  }
  const found = findCommand(positionals);
  if (!found) {
    const group = groupOf(positionals[0]);
    if (group.length === 0) throw new UsageError(`unknown command: ${positionals.join(" ")}`);
    if (values.help) {
      process.stdout.write(`${groupHelp(positionals[0]!, group)}\n`);
      return 0;
    }
    const asked = positionals.length > 1 ? `\`${positionals.join(" ")}\` is not a command` : `\`${positionals[0]}\` needs a command`;
    process.stderr.write(`ssod: ${asked}\n\n${groupHelp(positionals[0]!, group)}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${argv.length === 1 ? mainHelp(COMMANDS) : commandHelp(found.command)}\n`);
    return 0;
  }
  const expected = found.command.args ?? [];
  if (found.rest.length > expected.length) throw new UsageError(`unexpected argument: ${found.rest.slice(expected.length).join(" ")}`);
  if (found.rest.length < expected.length) throw new UsageError(`${found.command.words.join(" ")} needs ${expected.join(" ")}`);
  const options = values as OptionValues;
  const own = found.command.options ?? {};
  for (const [name, option] of Object.entries(own)) {
    if (option.required && !options[name]) throw new UsageError(`--${name} is required`);
  }
  for (const name of Object.keys(ownFlags)) {
    if (options[name] !== undefined && !(name in own) && !(name in configFlags))
      throw new UsageError(`--${name} does not apply to ${found.command.words.join(" ")}`);
  }
  // A command's own flag wins over the configuration flag of its name: `app create --login-url` is the app's, not SSOD_LOGIN_URL.
  const configValues = Object.fromEntries(Object.keys(configFlags).flatMap((name) => (name in own ? [] : [[name, options[name] as string | undefined]])));
  const config = found.command.usesConfig ? loadConfig(process.env, configValues) : undefined;
  return found.command.run(config, options, found.rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== "keep-running") process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`ssod: configuration error\n${error.message}\n`);
      process.exitCode = 2;
    } else if (error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`ssod: ${(error as Error).message}\nRun \`ssod --help\` for usage.\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`ssod: ${(error as Error).message ?? String(error)}\n`);
      process.exitCode = 1;
    }
  },
);
