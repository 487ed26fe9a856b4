// A libSQL server (sqld, Turso) over a WebSocket (src/store/hrana-ws-driver.ts)
// or HTTP (@libsql/client). Every call is one round trip, so callers batch: a
// group commit is a single `batch`.

import type { InStatement } from "@libsql/client/http";
import { createClient as createHttpClient } from "@libsql/client/http";
import { type Driver, fromLibsql } from "./driver";
import { classifyStoreError, StoreAuthError } from "./errors";
import { openHranaWsDriver } from "./hrana-ws-driver";

/**
 * How a URL reaches its server. `libsql://` takes a WebSocket (TLS unless
 * `?tls=0`), whose streams stay open; over HTTP every call opens a server-side
 * connection, which on sqld costs about 5 ms a round trip against 1 ms. An
 * explicit `http(s)://` keeps HTTP, for proxies that do not pass WebSockets.
 */
export function remoteTransport(url: string): "ws" | "http" {
  return /^(wss?|libsql):/i.test(url) ? "ws" : "http";
}

export function openRemoteDriver(url: string, authToken: string | undefined): Driver {
  if (remoteTransport(url) === "ws") return openHranaWsDriver(url, authToken);
  const client = createHttpClient({ url, intMode: "number", ...(authToken ? { authToken } : {}) });
  const guard = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      throw classifyStoreError(error);
    }
  };
  return {
    kind: "remote",
    query: (statement) => guard(async () => fromLibsql(await client.execute(statement as InStatement))),
    execute: (statement) => guard(async () => fromLibsql(await client.execute(statement as InStatement))),
    batch: (statements, mode) => guard(async () => (await client.batch(statements as InStatement[], mode)).map(fromLibsql)),
    migrate: (statements) => guard(async () => (await client.migrate(statements as InStatement[])).map(fromLibsql)),
    close: async () => client.close(),
  };
}

/**
 * Whether the server refuses this token, asked over HTTP (`libsql://` maps to
 * it by itself). A WebSocket that a server closes for a bad token looks like a
 * network failure (close code 1006); sqld and Turso answer HTTP on the same
 * address with a plain 401.
 */
export async function refusesToken(url: string, authToken: string | undefined): Promise<boolean> {
  const httpUrl = url.replace(/^ws(s?):/i, "http$1:");
  const client = createHttpClient({ url: httpUrl, ...(authToken ? { authToken } : {}) });
  try {
    await client.execute("SELECT 1");
    return false;
  } catch (error) {
    return classifyStoreError(error) instanceof StoreAuthError;
  } finally {
    client.close();
  }
}
