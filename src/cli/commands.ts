// The CLI's commands (SPEC §4): what each takes, what it prints, how it runs.
import * as v from "valibot";
import { passwordSchema, usernameSchema, createAdminAccount } from "../core/admin-accounts";
import { createAdminKey } from "../core/admin-keys";
import type { Config } from "../config";
import { createLogger } from "../log";
import { openCore, openMigratedStore } from "../runtime";
import { serveUntilSignalled } from "../server";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { filePathOf } from "../store/file-url";
import { isRemoteUrl, openStore } from "../store/store";
import { version } from "../version";
import { banner, displayStore } from "./banner";
import { readFirstLine } from "./read-stdin";

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface Command {
  /** Words after `ssod`, e.g. ["admin-key", "create"]. */
  words: string[];
  usage: string;
  summary: string;
  /** Names of the positional arguments it takes after its words. */
  args?: string[];
  /** Flags of its own, beyond the configuration flags. */
  options?: Record<string, { description: string; required?: boolean }>;
  /** Whether it reads the configuration (and so takes the configuration flags). */
  usesConfig: boolean;
  run(config: Config | undefined, options: Record<string, string | undefined>, args: string[]): Promise<number | "keep-running">;
}

const nameSchema = v.pipe(v.string(), v.trim(), v.minLength(1, "must not be empty"), v.maxLength(100, "must be at most 100 characters"));

function check<S extends v.GenericSchema<unknown, string>>(schema: S, value: unknown, what: string): v.InferOutput<S> {
  const result = v.safeParse(schema, value);
  if (!result.success) throw new UsageError(`${what} ${result.issues[0].message}`);
  return result.output;
}

export const COMMANDS: Command[] = [
  {
    words: ["serve"],
    usage: "ssod [serve] [options]",
    summary: "Apply pending migrations, then serve HTTP (the default command)",
    usesConfig: true,
    async run(config) {
      const logger = createLogger(config!.logLevel);
      const running = await serveUntilSignalled(config!, logger);
      process.stderr.write(
        banner({
          publicUrl: running.runtime.core.settings.publicUrl,
          listeningOn: running.url.replace(/^http:\/\//, ""),
          store: config!.databaseUrl,
          firstAdminKey: running.runtime.bootstrap.firstAdminKey,
        }),
      );
      return "keep-running";
    },
  },
  {
    words: ["migrate"],
    usage: "ssod migrate [options]",
    summary: "Apply pending migrations to the store and exit",
    usesConfig: true,
    async run(config) {
      const { store, migrations: report } = await openMigratedStore(config!);
      await store.close();
      process.stdout.write(report.applied.length > 0 ? `applied ${report.applied.join(", ")} (${report.total} in all)\n` : `up to date (${report.total} migrations)\n`);
      return 0;
    },
  },
  {
    words: ["admin-key", "create"],
    usage: "ssod admin-key create --name NAME [options]",
    summary: "Create an admin key and print it (shown this once)",
    options: { name: { description: "What the key is for, e.g. \"ci\" or \"alice's laptop\"", required: true } },
    usesConfig: true,
    async run(config, options) {
      const name = check(nameSchema, options.name, "--name");
      const { store, core } = await openCore(config!);
      try {
        const { key } = await createAdminKey(core, name, { actor: { kind: "cli" }, ip: null });
        process.stdout.write(`${key}\n`);
      } finally {
        await store.close();
      }
      return 0;
    },
  },
  {
    words: ["admin", "create"],
    usage: "echo PASSWORD | ssod admin create --username USERNAME [options]",
    summary: "Create an admin account for the legacy admin.login; the password is read from stdin",
    options: { username: { description: "The account's username", required: true } },
    usesConfig: true,
    async run(config, options) {
      const username = check(usernameSchema, options.username, "--username");
      const password = check(passwordSchema, await readFirstLine("Password: "), "the password");
      const { store, core } = await openCore(config!);
      try {
        await createAdminAccount(core, username, password);
        process.stdout.write(`created admin ${username}\n`);
      } finally {
        await store.close();
      }
      return 0;
    },
  },
  {
    words: ["backup"],
    args: ["FILE"],
    usage: "ssod backup FILE [options]",
    summary: "Write a consistent copy of a file store to FILE (VACUUM INTO), safe while ssod runs",
    usesConfig: true,
    async run(config, _options, args) {
      const target = resolve(args[0]!);
      if (isRemoteUrl(config!.databaseUrl)) throw new UsageError("backup copies a file store; back up a libSQL server with its own tools (see docs/deploy.md)");
      // Opening a store that is not there would make an empty one, and back that up.
      const source = resolve(filePathOf(config!.databaseUrl));
      if (!existsSync(source)) throw new Error(`there is no store at ${source}: name it with SSOD_DATABASE_URL or --database-url`);
      if (existsSync(target)) throw new Error(`${target} already exists; name a new file`);
      const store = await openStore({ url: config!.databaseUrl, cacheDir: config!.cacheDir });
      try {
        await store.driver.execute({ sql: "VACUUM INTO ?", args: [target] });
        process.stdout.write(`backed up ${displayStore(config!.databaseUrl)} to ${target}\n`);
      } finally {
        await store.close();
      }
      return 0;
    },
  },
  {
    words: ["version"],
    usage: "ssod version",
    summary: "Print the version",
    usesConfig: false,
    async run() {
      process.stdout.write(`${version()}\n`);
      return 0;
    },
  },
];
