// Structured logs: one JSON object per line on stdout (SPEC §4). Callers log
// names, ids, codes and timings only, never a secret, token or password.
import { pino, type Logger } from "pino";

export type { Logger };

export function createLogger(level: string, destination: NodeJS.WritableStream | number = 1): Logger {
  return pino(
    { level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
    // Asynchronous: a slow stdout must not stall request handling. Flushed at shutdown.
    typeof destination === "number" ? pino.destination({ dest: destination, sync: false }) : destination,
  );
}
