// Time as a port, so the queue, leader election and the informer's deadlines run under a fake clock in tests
// (client-go's k8s.io/utils/clock). Production code takes a Clock and defaults to realClock.

/** A cancellable timer handle. */
export interface Timer {
  cancel(): void;
}

/** Wall and monotonic time plus timers. */
export interface Clock {
  /** Milliseconds since the epoch (wall time, for timestamps written to the API). */
  now(): number;
  /** Monotonic milliseconds, for durations and deadlines: never jumps with the wall clock. */
  monotonic(): number;
  /** Calls `fn` once after `ms`. */
  after(ms: number, fn: () => void): Timer;
}

/** The process's clocks. */
export const realClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  after(ms, fn) {
    const id = setTimeout(fn, Math.max(0, ms));
    return { cancel: () => clearTimeout(id) };
  },
};

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      timer.cancel();
      resolve();
    };
    const timer = clock.after(ms, () => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    });
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** A clock that moves only when told; timers fire in deadline order during advance(). */
export class FakeClock implements Clock {
  #now: number;
  #mono = 0;
  #seq = 0;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();

  constructor(startMs = Date.parse("2026-01-01T00:00:00Z")) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  monotonic(): number {
    return this.#mono;
  }

  after(ms: number, fn: () => void): Timer {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.#mono + Math.max(0, ms), fn });
    return { cancel: () => this.#timers.delete(id) };
  }

  /** Number of pending timers. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, firing due timers in order and letting promise callbacks run between them. */
  async advance(ms: number): Promise<void> {
    const end = this.#mono + ms;
    for (;;) {
      await flush();
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) if (entry[1].at <= end && (!next || entry[1].at < next[1].at)) next = entry;
      if (!next) break;
      this.#timers.delete(next[0]);
      this.#now += next[1].at - this.#mono;
      this.#mono = next[1].at;
      next[1].fn();
    }
    this.#now += end - this.#mono;
    this.#mono = end;
    await flush();
  }
}

/** Lets pending promise callbacks and queued macrotasks run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
}
