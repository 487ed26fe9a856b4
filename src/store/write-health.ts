// Whether the store takes writes (SPEC §5 "A full disk"). A write that fails
// with SQLITE_FULL sets "refuses writes since T"; the next write that goes
// through clears it. While it is set, /readyz answers 503, and asks again
// with a tiny write at most once a second, so that ssod sees the space come
// back even when nothing else writes.
//
// The log hears of it once per incident: one event when the first refusal
// comes, one when writes have gone through with no refusal for a quiet
// while. Near the edge of a full disk small writes fit while larger ones do
// not, and the state flips with each; the incident does not.
import { classifyStoreError, StoreUnavailableError } from "./errors";
import type { StoreEventListener } from "./events";

const PROBE_INTERVAL_MS = 1_000;

export class WriteHealth {
  readonly #onEvent: StoreEventListener;
  readonly #quietMs: number;
  #refusingSince: Date | undefined;
  #incident: { since: Date; failedWrites: number } | undefined;
  #quiet: NodeJS.Timeout | undefined;
  #lastProbe = 0;
  #probing: Promise<boolean> | undefined;

  constructor(onEvent: StoreEventListener, quietMs = 2_000) {
    this.#onEvent = onEvent;
    this.#quietMs = quietMs;
  }

  /** Since when writes have been refused for a full disk, or undefined while they go through. */
  get refusingSince(): Date | undefined {
    return this.#refusingSince;
  }

  /** Told of every write's outcome: `error` undefined for one that committed. */
  observe(error?: unknown): void {
    if (error === undefined) {
      this.#succeeded();
      return;
    }
    const failure = classifyStoreError(error);
    if (failure instanceof StoreUnavailableError && failure.reason === "full") this.#refused(failure);
  }

  /** True while writes go through; while they are refused, the outcome of `probe` (a tiny write), run at most once a second. */
  async writesAccepted(probe: () => Promise<unknown>): Promise<boolean> {
    if (!this.#refusingSince) return true;
    if (this.#probing) return this.#probing;
    if (Date.now() - this.#lastProbe < PROBE_INTERVAL_MS) return false;
    this.#lastProbe = Date.now();
    this.#probing = probe()
      .then(
        () => true,
        () => false,
      )
      .finally(() => (this.#probing = undefined));
    return this.#probing;
  }

  /** At close: an incident whose writes go through again is over now, not after the quiet while. */
  close(): void {
    clearTimeout(this.#quiet);
    if (!this.#refusingSince) this.#end();
  }

  #refused(failure: StoreUnavailableError): void {
    clearTimeout(this.#quiet);
    this.#refusingSince ??= new Date();
    if (!this.#incident) {
      this.#incident = { since: this.#refusingSince, failedWrites: 0 };
      this.#onEvent({ kind: "writes-refused", since: this.#refusingSince, reason: failure.message });
    }
    this.#incident.failedWrites++;
  }

  #succeeded(): void {
    if (!this.#refusingSince) return;
    this.#refusingSince = undefined;
    clearTimeout(this.#quiet);
    this.#quiet = setTimeout(() => this.#end(), this.#quietMs);
    this.#quiet.unref();
  }

  #end(): void {
    const incident = this.#incident;
    if (!incident) return;
    this.#incident = undefined;
    this.#onEvent({ kind: "writes-accepted", since: incident.since, refusedForMs: Date.now() - incident.since.getTime(), failedWrites: incident.failedWrites });
  }
}
