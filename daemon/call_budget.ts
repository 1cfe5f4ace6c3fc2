// The AWS call budget of background drift checks: a token bucket refilled at `ratePerSecond` that every AWS call
// the daemon makes is charged to, whatever caused it. A background check starts only while the balance is not
// negative, so in steady state the daemon's calls per second stay within the budget however many objects there
// are, and user-triggered work, which never waits for the budget, pushes background checks back while it spends.
// client-go's rate limiters (flowcontrol, workqueue's BucketRateLimiter) wait before every request; here the
// debt is paid after the fact because a check's cost (one to many calls) is known only once it has run.
import type { Clock } from "./clock.ts";

/** The bucket. */
export class CallBudget {
  readonly ratePerSecond: number;
  readonly #burst: number;
  readonly #clock: Clock;
  #balance: number;
  #at: number;

  /** `burst`: the most credit an idle period may save up (default one second's worth, at least one call). */
  constructor(ratePerSecond: number, clock: Clock, burst = Math.max(1, ratePerSecond)) {
    this.ratePerSecond = ratePerSecond;
    this.#burst = burst;
    this.#clock = clock;
    this.#balance = burst;
    this.#at = clock.monotonic();
  }

  /** Records `calls` AWS calls made. */
  charge(calls = 1): void {
    this.#refill();
    this.#balance -= calls;
  }

  /** Milliseconds until a background check may start: 0 now, Infinity when the budget is 0. */
  waitMs(): number {
    this.#refill();
    if (this.#balance >= 0) return 0;
    if (this.ratePerSecond <= 0) return Infinity;
    return Math.ceil((-this.#balance / this.ratePerSecond) * 1000);
  }

  #refill(): void {
    const now = this.#clock.monotonic();
    this.#balance = Math.min(this.#burst, this.#balance + ((now - this.#at) / 1000) * this.ratePerSecond);
    this.#at = now;
  }
}
