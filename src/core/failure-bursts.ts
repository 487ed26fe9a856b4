// Failures that arrive while their IP or credential is throttled are not
// dropped from the audit log (SPEC §5): each burst of them becomes one row
// whose detail.count says how many, written when the burst has been quiet
// for a throttle window (or has lasted a minute), and at shutdown.
import type { AuditEvent } from "./audit";

interface Burst {
  event: AuditEvent;
  count: number;
  first: number;
  last: number;
}

export interface BurstOptions {
  /** Appends the rows (one batch). */
  write(events: AuditEvent[]): Promise<void>;
  now(): number;
  /** A burst quiet this long has ended. */
  quietMs: number;
}

const LONGEST_BURST_MS = 60_000;
const MAX_OPEN = 10_000;

export class FailureBursts {
  readonly #options: BurstOptions;
  readonly #open = new Map<string, Burst>();
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();
  /** Rows a write failed to land (the store was down), tried again with the next. */
  #unwritten: AuditEvent[] = [];

  constructor(options: BurstOptions) {
    this.#options = options;
  }

  /** Counts one throttled failure into the burst of its IP, credential and action. */
  add(event: AuditEvent): void {
    const key = `${event.action}\n${event.ip ?? ""}\n${String(event.target ?? "")}`;
    const now = this.#options.now();
    const burst = this.#open.get(key);
    if (burst) {
      burst.count++;
      burst.last = now;
    } else {
      if (this.#open.size >= MAX_OPEN) this.#end([this.#open.keys().next().value!]);
      this.#open.set(key, { event, count: 1, first: now, last: now });
    }
    this.#timer ??= setInterval(() => this.#end(this.#ended()), 1000).unref();
  }

  /** Writes every open burst now (at shutdown), and waits for the rows to land. */
  async flush(): Promise<void> {
    this.#end([...this.#open.keys()]);
    await this.#writing;
  }

  #ended(): string[] {
    const now = this.#options.now();
    return [...this.#open].filter(([, b]) => now - b.last >= this.#options.quietMs || now - b.first >= LONGEST_BURST_MS).map(([key]) => key);
  }

  #end(keys: string[]): void {
    if (keys.length === 0 && this.#unwritten.length === 0) return;
    const rows = keys.map((key): AuditEvent => {
      const burst = this.#open.get(key)!;
      this.#open.delete(key);
      const detail = {
        ...(burst.event.detail as Record<string, unknown> | null | undefined),
        throttled: true,
        count: burst.count,
        from: new Date(burst.first).toISOString(),
        to: new Date(burst.last).toISOString(),
      };
      return { ...burst.event, detail };
    });
    // One write at a time, in order; rows a write could not land (the store was down) wait for the next.
    this.#writing = this.#writing.then(async () => {
      const batch = [...this.#unwritten.splice(0), ...rows];
      if (batch.length === 0) return;
      try {
        await this.#options.write(batch);
      } catch {
        this.#unwritten = batch.slice(-MAX_OPEN);
      }
    });
    if (this.#open.size === 0 && this.#unwritten.length === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}
