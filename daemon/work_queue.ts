// A keyed work queue after client-go's util/workqueue (queue.go, delaying_queue.go, rate_limiting_queue.go): a key
// is queued at most once, a key being processed is re-queued once after done() if it was added meanwhile, failures
// back off per key (exponential, with jitter), and addAfter() keeps the earliest deadline per key.
import { type Clock, realClock, type Timer } from "./clock.ts";

/** Backoff settings. */
export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  /** Share of the delay added or removed at random, 0..1. */
  jitter: number;
}

/** The default: 500 ms doubling up to 5 minutes, ±20 %. */
export const defaultBackoff: BackoffPolicy = { baseMs: 500, maxMs: 300_000, jitter: 0.2 };

/** The delay before retry number `failures` (1-based). Pure given `random`. */
export function backoffDelay(failures: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const raw = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, failures - 1));
  return Math.round(raw * (1 + policy.jitter * (2 * random() - 1)));
}

/** The queue. */
export class WorkQueue {
  /** Keys ready to hand out, in order; each is in #dirty and not in #processing. */
  readonly #queue: string[] = [];
  /** Keys that need processing (queued, or added again while processing). */
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #failures = new Map<string, number>();
  /** One timer per key: its earliest pending deadline (monotonic ms). */
  readonly #waiting = new Map<string, { at: number; timer: Timer }>();
  readonly #getters: ((key: string | undefined) => void)[] = [];
  readonly #policy: BackoffPolicy;
  readonly #clock: Clock;
  readonly #random: () => number;
  #shuttingDown = false;
  /** Called with the queue length whenever it changes. */
  onDepth: (depth: number) => void = () => {};

  constructor(options: { backoff?: BackoffPolicy; clock?: Clock; random?: () => number } = {}) {
    this.#policy = options.backoff ?? defaultBackoff;
    this.#clock = options.clock ?? realClock;
    this.#random = options.random ?? Math.random;
  }

  /** Queues `key` unless it is already waiting; a key being processed is queued again after done(). */
  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return;
    this.#push(key);
  }

  /** Queues `key` after `ms`. The earliest pending deadline for a key wins: a later one is ignored. */
  addAfter(key: string, ms: number): void {
    if (this.#shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = this.#clock.monotonic() + ms;
    const pending = this.#waiting.get(key);
    if (pending && pending.at <= at) return;
    pending?.timer.cancel();
    const timer = this.#clock.after(ms, () => {
      this.#waiting.delete(key);
      this.add(key);
    });
    this.#waiting.set(key, { at, timer });
  }

  /** Queues `key` after its next backoff delay (under addAfter's earliest-wins rule); returns the delay. */
  addRateLimited(key: string): number {
    const failures = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, failures);
    const delay = backoffDelay(failures, this.#policy, this.#random);
    this.addAfter(key, delay);
    return delay;
  }

  /** Resets the backoff of `key` after a success. */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  /** Number of failures since the last success. */
  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** The next key to process, or undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    if (this.#shuttingDown) return Promise.resolve(undefined);
    const key = this.#queue.shift();
    if (key === undefined) return new Promise((resolve) => this.#getters.push(resolve));
    this.onDepth(this.#queue.length);
    this.#take(key);
    return Promise.resolve(key);
  }

  /** Marks `key` processed; queues it again if it was added meanwhile. */
  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key) && !this.#shuttingDown) this.#push(key);
  }

  /** Number of keys waiting. */
  get depth(): number {
    return this.#queue.length;
  }

  /** True once shutDown() was called. */
  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /**
   * Stops handing out keys at once: get() returns undefined even while keys are queued, timers are cancelled and
   * later adds are ignored. Unlike client-go's ShutDown, whose Get drains the queued items first: on leadership
   * loss or SIGTERM the queued work must be cancelled, not drained (another replica or the next start does it).
   */
  shutDown(): void {
    this.#shuttingDown = true;
    for (const { timer } of this.#waiting.values()) timer.cancel();
    this.#waiting.clear();
    for (const getter of this.#getters.splice(0)) getter(undefined);
  }

  #push(key: string): void {
    const getter = this.#getters.shift();
    if (getter) {
      this.#take(key);
      getter(key);
      return;
    }
    this.#queue.push(key);
    this.onDepth(this.#queue.length);
  }

  #take(key: string): void {
    this.#dirty.delete(key);
    this.#processing.add(key);
  }
}
