// `ssod serve`: listen, sweep, and shut down cleanly on SIGTERM/SIGINT
// (stop accepting, finish in-flight requests, close the store, exit 0).
//
// The port is bound before the store is touched: a start that cannot serve
// (the port taken) fails before it creates a store, a master key or a first
// admin key, so the next start still makes and prints one.

import type { Server as HttpServer } from "node:http";
import { type AddressInfo, Server } from "node:net";
import { createAdaptorServer } from "@hono/node-server";
import { displayStore } from "./cli/banner";
import type { Config } from "./config";
import { ConfigError } from "./core/errors";
import { startSweeper } from "./core/sweeper";
import { startDeliveryWorker } from "./core/webhooks/delivery";
import { keepHeapGrowthSmall } from "./heap-growth";
import { cookieDomainCovers } from "./http/shared/session-cookie";
import type { Logger } from "./log";
import { openRuntime, type Runtime } from "./runtime";
import { StoreUnavailableError } from "./store/errors";
import { version } from "./version";

const SHUTDOWN_GRACE_MS = 10_000;

export interface RunningServer {
  runtime: Runtime;
  server: HttpServer;
  url: string;
  stop(): Promise<void>;
}

type Fetch = (request: Request, env: unknown) => Response | Promise<Response>;

/** Binds the port, answering 503 until `serve` gives it the app. */
function bind(config: Config): Promise<{ server: HttpServer; port: number; serve(fetch: Fetch): void; requestsServed(): number }> {
  // Counted for the webhook worker, which yields to requests while they keep the process busy.
  let requests = 0;
  let handler: Fetch = () =>
    new Response(JSON.stringify({ status: "starting" }), { status: 503, headers: { "Content-Type": "application/json", "Retry-After": "1" } });
  const server = createAdaptorServer({
    fetch: (request, env) => {
      requests++;
      return handler(request, env);
    },
    serverOptions: {
      // Slow or never-ending requests are cut off (SPEC §5).
      requestTimeout: config.requestTimeout * 1000,
      headersTimeout: Math.min(10_000, config.requestTimeout * 1000),
      keepAliveTimeout: 5_000,
      // Node checks those timeouts only this often (30 s by default).
      connectionsCheckingInterval: 1_000,
    },
  }) as HttpServer;
  return new Promise((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EADDRINUSE")
        reject(new ConfigError(`SSOD_PORT: port ${config.port} on ${config.host} is already in use; stop what listens there, or choose another port`));
      else if (error.code === "EACCES")
        reject(new ConfigError(`SSOD_PORT: this user may not listen on port ${config.port} of ${config.host}; choose a port above 1023`));
      else reject(error);
    });
    server.listen(config.port, config.host, () => {
      resolve({
        server,
        port: (server.address() as AddressInfo).port,
        serve: (fetch) => {
          handler = fetch;
        },
        requestsServed: () => requests,
      });
    });
  });
}

function closeListener(server: HttpServer): Promise<void> {
  return new Promise((resolve) => Server.prototype.close.call(server, () => resolve()));
}

async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  const started = performance.now();
  const { server, port, serve, requestsServed } = await bind(config);
  const publicUrl = config.publicUrl ?? `http://localhost:${port}`;
  const runtime = await openRuntime(config, logger, publicUrl).catch(async (error: unknown) => {
    await closeListener(server);
    throw error;
  });
  serve(runtime.app.fetch as Fetch);
  if (runtime.migrations.applied.length > 0) logger.info({ applied: runtime.migrations.applied }, "migrations applied");
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
  logger.info({ version: version(), url, publicUrl, store: displayStore(config.databaseUrl), ms: Math.round(performance.now() - started) }, "ssod listening");
  // Not left in the buffer: supervisors and tests wait for this line.
  logger.flush();

  // SPEC §8: a browser drops a cookie whose Domain does not cover the host that set it.
  if (config.cookieDomain && !cookieDomainCovers(config.cookieDomain, new URL(publicUrl).hostname)) {
    logger.warn(
      { cookieDomain: config.cookieDomain, publicUrl },
      "SSOD_COOKIE_DOMAIN does not cover the host of SSOD_PUBLIC_URL: browsers will drop the session cookie",
    );
  }

  const stopSweeper = startSweeper(runtime.core, config.sweepInterval, (error) => {
    // A full disk is said once per incident, by the store (runtime.ts): not again at every sweep.
    if (error instanceof StoreUnavailableError && error.reason === "full") return;
    logger.warn({ err: error }, "sweep failed");
  });

  const deliveries = startDeliveryWorker(runtime.core, {
    requestsServed,
    log: (level, fields, message) => logger[level](fields, message),
  });

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      runtime.beginShutdown();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.closeAllConnections();
          resolve();
        }, SHUTDOWN_GRACE_MS);
        force.unref();
        // net.Server's close, not http.Server's: that one also drops idle
        // keep-alive connections at once, and a request a client is just
        // sending on one would be lost. Here the listener closes (new
        // connections are refused), and every open connection answers what
        // it is sent with Connection: close (src/http/app.ts), then ends;
        // idle ones end at the keep-alive timeout. The callback runs when
        // the last connection is gone.
        void closeListener(server).then(() => {
          clearTimeout(force);
          resolve();
        });
      });
      await stopSweeper();
      // Deliveries in flight end (or time out) and are recorded before the store closes.
      await deliveries.stop();
      await runtime.close();
    })());
  return { runtime, server, url, stop };
}

/** Runs until SIGTERM or SIGINT, then drains and exits 0. */
export async function serveUntilSignalled(config: Config, logger: Logger): Promise<RunningServer> {
  keepHeapGrowthSmall();
  const running = await startServer(config, logger);
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, "shutting down");
    void running.stop().then(
      () => {
        logger.info("stopped");
        logger.flush(() => process.exit(0));
      },
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        logger.flush(() => process.exit(1));
      },
    );
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  return running;
}
