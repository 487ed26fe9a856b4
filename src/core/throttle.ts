// Throttling of failures (SPEC §5): a sliding window of recent failures per
// client IP and per credential (admin username, client id). Kept per process,
// as the spec allows: with N instances the effective limit is up to N times
// the configured one. Only failures are counted, and a caller presenting valid
// credentials is never refused, so a flood cannot lock out the real owner.

export interface ThrottleLimits {
  perIp: number;
  perCredential: number;
  windowSeconds: number;
}

export interface ThrottleVerdict {
  /** Seconds to wait when the window was already full before this failure (answer 429); else 0. */
  retryAfter: number;
  /** True on the failure that filled a window (audited once, not on every 429). */
  engaged: boolean;
}

const MAX_KEYS = 100_000;

export class Throttle {
  readonly limits: ThrottleLimits;
  readonly #now: () => number;
  // key → failure times (ms), oldest first, at most `limit` of them
  readonly #failures = new Map<string, number[]>();

  constructor(limits: ThrottleLimits, now: () => number = Date.now) {
    this.limits = limits;
    this.#now = now;
  }

  /** How long the caller must wait, without recording anything. */
  retryAfter(ip: string, credential?: string): number {
    const now = this.#now();
    return Math.max(this.#wait(`ip:${ip}`, this.limits.perIp, now), credential ? this.#wait(`cred:${credential}`, this.limits.perCredential, now) : 0);
  }

  /**
   * Records one failure. With a limit of 30, failures 1 to 30 are answered as
   * ordinary failures and the 31st within the window gets a 429.
   */
  fail(ip: string, credential?: string): ThrottleVerdict {
    const now = this.#now();
    const before = this.retryAfter(ip, credential);
    this.#record(`ip:${ip}`, this.limits.perIp, now);
    if (credential) this.#record(`cred:${credential}`, this.limits.perCredential, now);
    if (before > 0) return { retryAfter: this.retryAfter(ip, credential), engaged: false };
    return { retryAfter: 0, engaged: this.retryAfter(ip, credential) > 0 };
  }

  #live(key: string, now: number): number[] {
    const times = this.#failures.get(key);
    if (!times) return [];
    const windowStart = now - this.limits.windowSeconds * 1000;
    while (times.length > 0 && times[0]! <= windowStart) times.shift();
    if (times.length === 0) this.#failures.delete(key);
    return times;
  }

  #wait(key: string, limit: number, now: number): number {
    const times = this.#live(key, now);
    if (times.length < limit) return 0;
    return Math.max(1, Math.ceil((times[0]! + this.limits.windowSeconds * 1000 - now) / 1000));
  }

  #record(key: string, limit: number, now: number): void {
    const times = this.#live(key, now);
    times.push(now);
    // The newest `limit` failures are all it takes to know whether the window is full.
    if (times.length > limit) times.shift();
    this.#failures.delete(key);
    this.#failures.set(key, times);
    if (this.#failures.size > MAX_KEYS) this.#failures.delete(this.#failures.keys().next().value!);
  }
}
