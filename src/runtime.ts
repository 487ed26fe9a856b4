// Everything a running ssod is made of, assembled from the configuration:
// the store (migrated), the master key, the core and the HTTP app. Used by
// `serve`, by the other CLI commands, and by the tests.
import { dirname, resolve } from "node:path";
import { displayStore } from "./cli/banner";
import type { Config } from "./config";
import { type BootstrapResult, bootstrap, loadMasterKey, requireMasterKeySetting } from "./core/bootstrap";
import { type Core, createCore } from "./core/context";
import { outboxBacklog } from "./core/webhooks/delivery";
import { type App, createApp } from "./http/app";
import type { Logger } from "./log";
import { Metrics } from "./metrics";
import { StoreAuthError, StoreUnavailableError } from "./store/errors";
import type { StoreEventListener } from "./store/events";
import { filePathOf } from "./store/file-url";
import { type MigrationReport, migrate } from "./store/migrations";
import { refusesToken, remoteTransport } from "./store/remote-driver";
import { isRemoteUrl, openStore, type Store, type StoreCall } from "./store/store";

export interface Runtime {
  config: Config;
  store: Store;
  core: Core;
  app: App;
  bootstrap: BootstrapResult;
  /** What this process migrated at start (nothing when another instance did). */
  migrations: MigrationReport;
  /** From now on /readyz answers 503 and every answer closes its connection. */
  beginShutdown(): void;
  close(): Promise<void>;
}

/** The folder of a file store (where the master key file lives); undefined for a remote store. */
function dataDirOf(url: string): string | undefined {
  return isRemoteUrl(url) ? undefined : dirname(resolve(filePathOf(url)));
}

const octal = (mode: number) => mode.toString(8).padStart(4, "0");

/** Logs the store's events: each one line, said once (a full disk once per incident, not once per request). */
function logStoreEvents(logger: Logger): StoreEventListener {
  return (event) => {
    switch (event.kind) {
      case "mode-tightened":
        return logger.warn({ path: event.path, from: octal(event.from), to: octal(event.to) }, "file mode tightened");
      case "folder-left-open":
        return logger.warn({ path: event.path, mode: octal(event.mode) }, "data folder readable by other users");
      case "writes-refused":
        return logger.warn(
          { since: event.since.toISOString(), reason: event.reason },
          "store refuses writes: the disk is full; writes answer 503 until space is freed",
        );
      case "writes-accepted":
        return logger.info({ since: event.since.toISOString(), refusedForMs: event.refusedForMs }, "store accepts writes again");
    }
  };
}

/** For the CLI's one-shot commands, which have no log: the same events as plain lines on stderr. */
const stderrStoreEvents: StoreEventListener = (event) => {
  if (event.kind === "mode-tightened")
    process.stderr.write(`ssod: ${event.path} could be read by other users: mode ${octal(event.from)} tightened to ${octal(event.to)}\n`);
  else if (event.kind === "folder-left-open")
    process.stderr.write(
      `ssod: the data folder ${event.path} (mode ${octal(event.mode)}) can be read by other users; it holds other files, so its mode is left alone\n`,
    );
};

/** Opens the store named by the configuration and applies pending migrations. */
export async function openMigratedStore(
  config: Config,
  metrics?: Metrics,
  onEvent: StoreEventListener = stderrStoreEvents,
): Promise<{ store: Store; migrations: MigrationReport }> {
  const store = await openStore({
    url: config.databaseUrl,
    authToken: config.databaseAuthToken,
    cacheDir: config.cacheDir,
    timeoutMs: config.storeTimeout * 1000,
    onEvent,
    ...(metrics ? { observe: (call: StoreCall) => metrics.storeCall(call) } : {}),
  });
  try {
    const migrations = await migrate(store.driver).catch(async (error: unknown) => {
      throw await startupError(error, config);
    });
    return { store, migrations };
  } catch (error) {
    await store.close().catch(() => {});
    throw error;
  }
}

/**
 * The store, the master key and the core. `publicUrl` is the URL browsers
 * reach ssod at: SSOD_PUBLIC_URL, else what the server knows once it has its
 * port (commands that serve nothing pass the configured one). `serving`:
 * the process is a server, held to the rules of start-up (src/core/bootstrap.ts).
 */
export async function openCore(
  config: Config,
  options: { metrics?: Metrics; publicUrl?: string; onEvent?: StoreEventListener; serving?: boolean } = {},
): Promise<{ store: Store; core: Core; bootstrap: BootstrapResult; migrations: MigrationReport }> {
  const { metrics, onEvent } = options;
  const dataDir = dataDirOf(config.databaseUrl);
  // Checked before the store is touched: a remote store without the master key is a configuration error.
  requireMasterKeySetting(config.masterKey, dataDir);
  const { store, migrations } = await openMigratedStore(config, metrics, onEvent);
  try {
    const masterKey = await loadMasterKey(store, config.masterKey, dataDir);
    const core = createCore(
      store,
      masterKey,
      {
        publicUrl: options.publicUrl ?? config.publicUrl ?? `http://localhost:${config.port}`,
        sessionTtlSeconds: config.sessionTtl,
        adminSessionTtlSeconds: config.adminSessionTtl,
        clockSkewSeconds: config.clockSkew,
        sweepGraceSeconds: config.sweepGrace,
        loginUrl: config.loginUrl ?? null,
        cookieDomain: config.cookieDomain ?? null,
        appRefreshMs: config.appRefreshMs,
        keyPublishLeadSeconds: config.keyPublishLead,
        keyCheckMs: config.keyCheckMs,
        throttle: { perIp: config.throttleIpLimit, perCredential: config.throttleCredentialLimit, windowSeconds: config.throttleWindow },
        webhooks: {
          allowHttp: config.webhookAllowHttp,
          timeoutMs: config.webhookTimeout * 1000,
          leaseMs: (config.webhookTimeout + config.webhookLeaseMargin) * 1000,
          retryScheduleMs: config.webhookRetrySchedule,
          pollIntervalMs: config.webhookPollInterval,
          retentionMs: config.webhookRetention * 1000,
          disableAfterMs: config.webhookDisableAfter * 1000,
          concurrency: config.webhookConcurrency,
          endpointConcurrency: config.webhookEndpointConcurrency,
        },
      },
      metrics ? { telemetry: metrics } : {},
    );
    return { store, core, migrations, bootstrap: await bootstrap(core, { adminApiKey: config.adminApiKey, serving: options.serving ?? false }) };
  } catch (error) {
    await store.close().catch(() => {});
    throw error;
  }
}

/** Says which setting to look at when the store cannot be used at start. */
async function startupError(error: unknown, config: Config): Promise<unknown> {
  const where = displayStore(config.databaseUrl);
  const refused =
    error instanceof StoreAuthError ||
    (error instanceof StoreUnavailableError &&
      remoteTransport(config.databaseUrl) === "ws" &&
      (await refusesToken(config.databaseUrl, config.databaseAuthToken)));
  if (refused) return new Error(`SSOD_DATABASE_AUTH_TOKEN: the store at ${where} refused it; check the token`);
  if (error instanceof StoreUnavailableError) return new Error(`SSOD_DATABASE_URL: cannot reach the store at ${where} (${error.message})`);
  return error;
}

/** Everything a serving process is made of, each part complete when made. */
export async function openRuntime(config: Config, logger: Logger, publicUrl?: string): Promise<Runtime> {
  const metrics = new Metrics();
  const {
    store,
    core,
    bootstrap: first,
    migrations,
  } = await openCore(config, { metrics, onEvent: logStoreEvents(logger), serving: true, ...(publicUrl ? { publicUrl } : {}) });
  metrics.watchOutbox(() => outboxBacklog(core));
  let shuttingDown = false;
  const app = createApp({
    core,
    logger,
    metrics,
    metricsToken: config.metricsToken,
    trustProxy: config.trustProxy,
    isShuttingDown: () => shuttingDown,
  });
  return {
    config,
    store,
    core,
    app,
    bootstrap: first,
    migrations,
    beginShutdown: () => {
      shuttingDown = true;
    },
    close: async () => {
      // Failures counted while throttled land before the store closes.
      await core.failureBursts.flush();
      await store.close();
    },
  };
}
