// A keyed work queue like client-go's: a key is queued at most once, a key being processed is re-queued after
// it finishes if it changed meanwhile, failures back off per key (exponential, with jitter), and keys can be
// re-queued after a delay (resync).

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
  readonly #queue: string[] = [];
  readonly #queued = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #waiters: ((key: string | undefined) => void)[] = [];
  readonly #policy: BackoffPolicy;
  #closed = false;
  /** Called with the queue length whenever it changes. */
  onDepth: (depth: number) => void = () => {};

  constructor(policy: BackoffPolicy = defaultBackoff) {
    this.#policy = policy;
  }

  /** Queues `key` unless it is already waiting. */
  add(key: string): void {
    if (this.#closed) return;
    if (this.#processing.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    const waiter = this.#waiters.shift();
    if (waiter) {
      this.#processing.add(key);
      waiter(key);
      return;
    }
    this.#queued.add(key);
    this.#queue.push(key);
    this.onDepth(this.#queue.length);
  }

  /** Queues `key` after `ms`; an earlier pending delay for the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.#closed) return;
    if (this.#timers.has(key)) return;
    this.#timers.set(
      key,
      setTimeout(() => {
        this.#timers.delete(key);
        this.add(key);
      }, ms),
    );
  }

  /** Queues `key` after its next backoff delay. */
  addRateLimited(key: string): number {
    const failures = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, failures);
    const delay = backoffDelay(failures, this.#policy);
    const pending = this.#timers.get(key);
    if (pending !== undefined) {
      clearTimeout(pending);
      this.#timers.delete(key);
    }
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

  /** The next key to process, or undefined once the queue is closed. */
  get(): Promise<string | undefined> {
    const key = this.#queue.shift();
    if (key !== undefined) {
      this.#queued.delete(key);
      this.#processing.add(key);
      this.onDepth(this.#queue.length);
      return Promise.resolve(key);
    }
    if (this.#closed) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Marks `key` processed; re-queues it if it was added meanwhile. */
  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.delete(key)) this.add(key);
  }

  /** Number of keys waiting. */
  get depth(): number {
    return this.#queue.length;
  }

  /** Stops handing out keys and cancels timers; waiting getters receive undefined. */
  close(): void {
    this.#closed = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    for (const w of this.#waiters.splice(0)) w(undefined);
  }
}
