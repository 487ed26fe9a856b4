// The CLI's commands (SPEC §4): what each takes, what it prints, how it runs.

import { existsSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import * as v from "valibot";
import type { Config } from "../config";
import { createAdminAccount, passwordSchema, usernameSchema } from "../core/admin-accounts";
import { adminKeyNameSchema, createAdminKey, listAdminKeys, revokeAdminKey } from "../core/admin-keys";
import { createApp, forwardAuthHostSchema, forwardAuthSchema, namesSchema, uriListSchema } from "../core/apps";
import type { Core } from "../core/context";
import { CoreError } from "../core/errors";
import { httpUrlSchema, orgIdsSchema } from "../core/sources";
import { createWebhook, webhookEventsSchema, webhookUrlSchema } from "../core/webhooks/endpoints";
import { nameSchema } from "../http/shared/schemas";
import { createLogger } from "../log";
import { openCore, openMigratedStore } from "../runtime";
import { serveUntilSignalled } from "../server";
import { createPrivateFile } from "../store/data-folder";
import { filePathOf } from "../store/file-url";
import { isRemoteUrl, openStore } from "../store/store";
import { version } from "../version";
import { banner, displayStore } from "./banner";
import { requireExistingStore } from "./existing-store";
import { readFirstLine } from "./read-stdin";
import { table } from "./table";

export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Flags as parsed: a flag's text, a switch's true, or every value of a repeatable flag. */
export type OptionValues = Record<string, string | boolean | string[] | undefined>;

export interface Command {
  /** Words after `ssod`, e.g. ["admin-key", "create"]. */
  words: string[];
  usage: string;
  summary: string;
  /** Names of the positional arguments it takes after its words. */
  args?: string[];
  /** Flags of its own, beyond the configuration flags. */
  options?: Record<
    string,
    {
      description: string;
      required?: boolean;
      /** A switch: present or not. */
      flag?: boolean;
      /** Given once per value (a URL may hold commas, so no list in one value). */
      repeatable?: boolean;
    }
  >;
  /** Whether it reads the configuration (and so takes the configuration flags). */
  usesConfig: boolean;
  run(config: Config | undefined, options: OptionValues, args: string[]): Promise<number | "keep-running">;
}

const CLI = { actor: { kind: "cli" }, ip: null } as const;

/** A time as the terminal shows it: UTC to the second. */
const when = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** Runs `work` on the store the configuration names, which must exist, then closes it. */
async function withCore<T>(config: Config, work: (core: Core) => Promise<T>): Promise<T> {
  requireExistingStore(config.databaseUrl);
  const { store, core } = await openCore(config);
  try {
    return await work(core);
  } finally {
    await store.close();
  }
}

function check<S extends v.GenericSchema>(schema: S, value: unknown, what: string): v.InferOutput<S> {
  const result = v.safeParse(schema, value);
  if (!result.success) throw new UsageError(`${what} ${result.issues[0].message}`);
  return result.output;
}

/** A comma-separated flag value as a list. */
const listOf = (value: OptionValues[string]) =>
  (typeof value === "string" ? value : "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");

/** Every value of a repeatable flag. */
const valuesOf = (value: OptionValues[string]) => (Array.isArray(value) ? value : []);

/** The forward-auth part of an app, judged as /v1/apps judges it; a bad value named by its flag. */
function forwardAuthOf(hosts: string[], pathPrefixes: string[]) {
  const result = v.safeParse(forwardAuthSchema, { hosts, ...(pathPrefixes.length > 0 ? { pathPrefixes } : {}) });
  if (!result.success) {
    const field = result.issues[0].path?.[0]?.key;
    throw new UsageError(`${field === "pathPrefixes" ? "--path-prefix" : "--forward-auth-host"} ${result.issues[0].message}`);
  }
  return result.output;
}

const ADMITS_EVERYONE = "admits every user with an ssod session; restrict it with --allowed-groups or --org-ids";

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
      process.stdout.write(
        report.applied.length > 0 ? `applied ${report.applied.join(", ")} (${report.total} in all)\n` : `up to date (${report.total} migrations)\n`,
      );
      return 0;
    },
  },
  {
    words: ["app", "create"],
    usage: "ssod app create --name NAME (--redirect-uri URL | --forward-auth-host HOST) [options]",
    summary: "Register an app (an OpenID Connect client and/or hosts behind forward auth); prints its client id and secret (shown once)",
    options: {
      name: { description: "The app's name, as people know it", required: true },
      "redirect-uri": {
        description: "Where the OpenID Connect provider sends the browser back, one URI a flag; needed unless --forward-auth-host is given",
        repeatable: true,
      },
      "post-logout-redirect-uri": { description: "Where the app may send the browser after its logout, one URI a flag", repeatable: true },
      public: { description: "A public app (a browser or mobile app): no client secret, PKCE instead", flag: true },
      "forward-auth-host": {
        description: "A host the reverse proxy protects with this app's rule (or several, comma-separated; *.example.com for one label)",
        repeatable: true,
      },
      "path-prefix": {
        description: "With --forward-auth-host: a path prefix the app covers (default /), matched case-sensitively against the start of the path",
        repeatable: true,
      },
      "allowed-groups": { description: "Comma-separated groups: only their members may enter (default: every user)" },
      "org-ids": { description: "Comma-separated org ids: only their users may enter (default: every org)" },
      "login-url": { description: "The portal page that starts a hand-off for this app's users without a session (default SSOD_LOGIN_URL)" },
    },
    usesConfig: true,
    async run(config, options) {
      const hosts = check(v.array(forwardAuthHostSchema), valuesOf(options["forward-auth-host"]).flatMap(listOf), "--forward-auth-host");
      const pathPrefixes = valuesOf(options["path-prefix"]);
      if (pathPrefixes.length > 0 && hosts.length === 0) throw new UsageError("--path-prefix is for forward auth: give --forward-auth-host too");
      const input = {
        name: check(nameSchema(200), options.name, "--name"),
        redirectUris: check(uriListSchema, valuesOf(options["redirect-uri"]), "--redirect-uri"),
        postLogoutRedirectUris: check(uriListSchema, valuesOf(options["post-logout-redirect-uri"]), "--post-logout-redirect-uri"),
        loginUrl: check(v.optional(httpUrlSchema), options["login-url"], "--login-url"),
        allowedGroups: check(namesSchema, listOf(options["allowed-groups"]), "--allowed-groups"),
        orgIds: check(orgIdsSchema, listOf(options["org-ids"]), "--org-ids"),
        tokenEndpointAuthMethod: options.public ? ("none" as const) : ("client_secret_basic" as const),
        forwardAuth: hosts.length > 0 ? forwardAuthOf(hosts, pathPrefixes) : null,
      };
      if (input.redirectUris.length === 0 && !input.forwardAuth)
        throw new UsageError("an app needs --redirect-uri (OpenID Connect) or --forward-auth-host (forward auth), or both");
      const { app, clientSecret } = await withCore(config!, (core) => createApp(core, input, CLI));
      const open = app.allowedGroups.length === 0 && app.orgIds.length === 0;
      process.stdout.write(
        `id             ${app.id}\nclient id      ${app.clientId}\nclient secret  ${clientSecret ?? "(none: a public app uses PKCE)"}\n${open ? `access         ${ADMITS_EVERYONE}\n` : ""}`,
      );
      return 0;
    },
  },
  {
    words: ["admin-key", "create"],
    usage: "ssod admin-key create --name NAME [options]",
    summary: "Create an admin key and print it (shown this once)",
    options: { name: { description: 'What the key is for, e.g. "ci" or "alice\'s laptop"', required: true } },
    usesConfig: true,
    async run(config, options) {
      const name = check(adminKeyNameSchema, options.name, "--name");
      const { key } = await withCore(config!, (core) => createAdminKey(core, name, CLI));
      process.stdout.write(`${key}\n`);
      return 0;
    },
  },
  {
    words: ["admin-key", "list"],
    usage: "ssod admin-key list [options]",
    summary: "List the admin keys: id, name, when made, when revoked (never the keys)",
    usesConfig: true,
    async run(config) {
      const keys = await withCore(config!, listAdminKeys);
      process.stdout.write(
        table(
          ["ID", "NAME", "CREATED", "REVOKED"],
          keys.map((k) => [String(k.id), k.name, when(k.createdAt), k.revokedAt === null ? "-" : when(k.revokedAt)]),
        ),
      );
      return 0;
    },
  },
  {
    words: ["admin-key", "revoke"],
    args: ["ID"],
    usage: "ssod admin-key revoke ID [options]",
    summary: "Revoke an admin key (see `admin-key list`); the last one not revoked is kept",
    usesConfig: true,
    async run(config, _options, args) {
      const id = Number(check(v.pipe(v.string(), v.regex(/^\d{1,15}$/, "must be a key's number, as `ssod admin-key list` shows it")), args[0], "ID"));
      const { key, alreadyRevoked } = await withCore(config!, (core) => revokeAdminKey(core, id, CLI));
      process.stdout.write(
        alreadyRevoked ? `admin key ${key.id} (${key.name}) was already revoked on ${when(key.revokedAt!)}\n` : `revoked admin key ${key.id} (${key.name})\n`,
      );
      return 0;
    },
  },
  {
    words: ["webhook", "create"],
    usage: "ssod webhook create --url URL --events TYPE,TYPE [options]",
    summary: "Create a webhook endpoint and print its id and secret (the secret is shown this once)",
    options: {
      url: { description: "Where events are POSTed: https (http for a loopback host, or any host with SSOD_WEBHOOK_ALLOW_HTTP=true)", required: true },
      events: { description: 'Comma-separated event types, e.g. user.created,user.deleted; "*" for all but token.issued', required: true },
      description: { description: "What the endpoint is for" },
    },
    usesConfig: true,
    async run(config, options) {
      const events = check(webhookEventsSchema, listOf(options.events), "--events");
      const url = check(webhookUrlSchema, options.url, "--url");
      const description = check(v.optional(v.string()), options.description, "--description");
      const { endpoint, secret } = await withCore(config!, (core) => createWebhook(core, { url, events, description }, CLI)).catch((error: unknown) => {
        // A URL the outbound rules refuse is bad usage, said in their words.
        if (error instanceof CoreError && error.code === "invalid") throw new UsageError(`--${error.message}`);
        throw error;
      });
      process.stdout.write(`id: ${endpoint.id}\nsecret: ${secret}\n`);
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
      // The store first: no password asked for a store that is not there.
      await withCore(config!, async (core) => createAdminAccount(core, username, check(passwordSchema, await readFirstLine("Password: "), "the password")));
      process.stdout.write(`created admin ${username}\n`);
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
        // Made empty and 0600 first, whatever the umask: a backup holds what the store holds (SPEC §5 "Files").
        createPrivateFile(target);
        await store.driver.execute({ sql: "VACUUM INTO ?", args: [target] }).catch((error: unknown) => {
          rmSync(target, { force: true });
          throw error;
        });
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
