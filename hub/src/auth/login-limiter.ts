/**
 * Counts failed logins per username and per address in a sliding window. Past the limit, further
 * attempts are refused until the oldest failure leaves the window.
 *
 * An attempt is counted as failed as soon as it starts (`failed`), before the slow password
 * check, so that guesses sent in parallel are limited too; `succeeded` then takes it back and
 * forgets the username's failures (not the address's: a resident logging in as themselves
 * between guesses must not reset the count for everyone else's accounts).
 */
export class LoginLimiter {
  #max: number;
  #windowMs: number;
  #failures = new Map<string, number[]>();
  #now: () => number;

  constructor(max: number, windowSec: number, now: () => number = Date.now) {
    this.#max = max;
    this.#windowMs = windowSec * 1000;
    this.#now = now;
  }

  /** Seconds to wait before the next attempt, or 0 when an attempt may go ahead. */
  retryAfterSec(username: string, address: string): number {
    const now = this.#now();
    let wait = 0;
    for (const key of [`u:${username.toLowerCase()}`, `a:${address}`]) {
      const times = this.#recent(key, now);
      if (times.length >= this.#max) wait = Math.max(wait, times[0]! + this.#windowMs - now);
    }
    return Math.ceil(wait / 1000);
  }

  failed(username: string, address: string): void {
    const now = this.#now();
    for (const key of [`u:${username.toLowerCase()}`, `a:${address}`]) {
      const times = this.#recent(key, now);
      times.push(now);
      this.#failures.set(key, times);
    }
    if (this.#failures.size > 10_000) this.#prune(now);
  }

  succeeded(username: string, address: string): void {
    this.#failures.delete(`u:${username.toLowerCase()}`);
    const byAddress = this.#failures.get(`a:${address}`);
    byAddress?.pop();
    if (byAddress?.length === 0) this.#failures.delete(`a:${address}`);
  }

  #recent(key: string, now: number): number[] {
    const times = (this.#failures.get(key) ?? []).filter((t) => t > now - this.#windowMs);
    if (times.length === 0) this.#failures.delete(key);
    return times;
  }

  #prune(now: number): void {
    for (const key of this.#failures.keys()) this.#recent(key, now);
  }
}
