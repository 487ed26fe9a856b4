// An in-process ssod on a real libSQL file in a temp folder, driven through
// its HTTP surface with app.request().
import { join } from "node:path";
import { loadConfig } from "../../src/config";
import { generateAdminKey } from "../../src/core/admin-keys";
import { createLogger } from "../../src/log";
import { openRuntime, type Runtime } from "../../src/runtime";
import { tempDir } from "./temp";

/** Throttling off, for files that are not about it: their failures must not turn into 429s. */
export const NO_THROTTLE = { SSOD_THROTTLE_IP_LIMIT: "1000000", SSOD_THROTTLE_CREDENTIAL_LIMIT: "1000000" };

export interface TestServer {
  runtime: Runtime;
  adminKey: string;
  dir: string;
  /** Sends a request to the app; `json` and `form` set the body and its content type. */
  request(method: string, path: string, options?: RequestOptions): Promise<Response>;
  close(): Promise<void>;
}

export interface RequestOptions {
  json?: unknown;
  form?: Record<string, string> | string;
  body?: string;
  headers?: Record<string, string>;
  /** The TCP peer address the app sees (default 127.0.0.1). */
  ip?: string;
}

export async function openTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const dir = tempDir();
  const adminKey = generateAdminKey();
  const config = loadConfig({
    SSOD_DATABASE_URL: `file:${join(dir, "ssod.db")}`,
    SSOD_ADMIN_API_KEY: adminKey,
    SSOD_LOG_LEVEL: "silent",
    SSOD_PORT: "0",
    SSOD_PUBLIC_URL: "http://ssod.test",
    ...env,
  });
  const runtime = await openRuntime(config, createLogger(config.logLevel));
  return {
    runtime,
    adminKey,
    dir,
    request(method, path, options = {}) {
      const headers: Record<string, string> = { ...options.headers };
      let body: string | undefined = options.body;
      if (options.json !== undefined) {
        body = JSON.stringify(options.json);
        headers["content-type"] ??= "application/json";
      } else if (options.form !== undefined) {
        body = typeof options.form === "string" ? options.form : new URLSearchParams(options.form).toString();
        headers["content-type"] ??= "application/x-www-form-urlencoded";
      }
      const env = { incoming: { socket: { remoteAddress: options.ip ?? "127.0.0.1" } } };
      return Promise.resolve(runtime.app.request(`http://ssod.test${path}`, { method, headers, body }, env as never));
    },
    close: () => runtime.close(),
  };
}
