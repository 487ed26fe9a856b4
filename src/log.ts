// Structured logs: one JSON object per line on stdout (SPEC §4), or readable
// lines when stdout is a terminal. Callers log names, ids, codes and timings
// only, never a secret, token or password.
import { type Logger, pino } from "pino";
import pretty from "pino-pretty";

export type { Logger };

const options = { base: undefined, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label: string) => ({ level: label }) } };

export function createLogger(level: string, destination: NodeJS.WritableStream | number = 1): Logger {
  if (typeof destination !== "number") return pino({ ...options, level }, destination);
  if (destination === 1 && process.stdout.isTTY) {
    return pino({ ...options, level }, pretty({ colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" }));
  }
  // Asynchronous and buffered: under load, lines are written 4 KiB at a time
  // instead of one system call each; the timer bounds how late a line can be.
  const stream = pino.destination({ dest: destination, sync: false, minLength: 4096 });
  setInterval(() => stream.flush(), 250).unref();
  return pino({ ...options, level }, stream);
}
