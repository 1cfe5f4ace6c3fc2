// Runs one reconciler the way controller-runtime does: an informer feeds keys through a generation predicate into
// a work queue, bounded workers reconcile them once the cache has synced, failures back off per key, and one
// periodic resync looks at every object again so drift made in AWS gets repaired. Unlike controller-runtime, the
// resync and the objects the initial list finds already reconciled go to a background set that is released into
// the work queue one key at a time, only while no user-triggered key is queued and the AWS call budget allows:
// a restart or a resync of thousands of objects costs a few AWS calls per second, not a burst.
import type { KubeClient, ResourceRef } from "../lib/kube/client.ts";
import type { CallBudget } from "./call_budget.ts";
import { type Clock, realClock, sleep, type Timer } from "./clock.ts";
import { Informer, objectKey } from "./informer.ts";
import type { Logger } from "./log.ts";
import type { DaemonMetrics } from "./metrics.ts";
import type { ReconcileResult } from "./reconcile_irsa.ts";
import { WorkQueue } from "./work_queue.ts";

/** The metadata the controller reads from a cached object. */
export interface ControlledObject {
  metadata: { name: string; namespace?: string; generation?: number; deletionTimestamp?: string };
}

/**
 * What the cache keeps of a controlled object: all but metadata.managedFields (controller-runtime's
 * TransformStripManagedFields) and kubectl's last-applied copy of the object: no reconciler reads them, and with
 * one entry per field manager they can outweigh the rest. Nothing writes a cached object back whole. Pure.
 */
export function trimForCache<T extends ControlledObject>(object: T): T {
  const { managedFields: _fields, ...metadata }: Record<string, unknown> = object.metadata;
  const annotations = metadata.annotations as Record<string, string> | undefined;
  if (annotations?.[lastApplied] !== undefined) {
    const { [lastApplied]: _copy, ...rest } = annotations;
    metadata.annotations = rest;
  }
  return { ...object, metadata: metadata as T["metadata"] };
}
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration";

/** What the controller needs of an informer; daemon/informer.ts's Informer is one. */
export interface InformerSource<T extends ControlledObject> {
  /** `old` is the cached object before the change: undefined on add, `object` undefined on delete. */
  onChange(listener: (key: string, object: T | undefined, old: T | undefined) => void): void;
  list(): T[];
  waitForSync(): Promise<void>;
  run(signal: AbortSignal, onError?: (e: unknown) => void): Promise<void>;
}

/**
 * Whether a change reaches the queue (controller-runtime's GenerationChangedPredicate): adds and deletes always;
 * updates only when the spec changed (metadata.generation) or deletion began. Our own status and finalizer writes
 * leave the generation alone, so they never cause a reconcile or an AWS call.
 */
export function shouldEnqueue<T extends ControlledObject>(old: T | undefined, next: T | undefined): boolean {
  if (old === undefined || next === undefined) return true;
  if (old.metadata.generation !== next.metadata.generation) return true;
  // The apiserver bumps the generation on deletion only when it is already > 0; a missed deletion would leak the
  // AWS resources behind the finalizer, so the start of deletion counts on its own.
  return (old.metadata.deletionTimestamp === undefined) !== (next.metadata.deletionTimestamp === undefined);
}

/** The metrics a controller updates. */
export type ControllerMetrics = Pick<DaemonMetrics, "reconciles" | "reconcileDuration" | "queueDepth">;

/** Options of runController(): the informer is built from `kube` and `resource` unless one is given. */
export type ControllerOptions =
  & {
    kind: string;
    /** Receives the controller's signal: it aborts on SIGTERM or when leadership is lost. */
    reconcile: (key: string, signal: AbortSignal) => Promise<ReconcileResult>;
    concurrency: number;
    resyncMs: number;
    signal: AbortSignal;
    log: Logger;
    metrics: ControllerMetrics;
    clock?: Clock;
    /** The informer's watch inactivity deadline (daemon/informer.ts's default when absent). */
    watchInactivityMs?: number;
    /**
     * Background checks (resyncs, and objects already reconciled when the informer starts) wait for this budget;
     * without one they are queued at once, as controller-runtime does. A rate of 0 turns them off.
     */
    budget?: CallBudget;
    /** True for an object whose status says it was reconciled at its current generation. */
    upToDate?: (object: ControlledObject) => boolean;
  }
  & (
    | { kube: KubeClient; resource: ResourceRef; informer?: undefined }
    | { informer: InformerSource<ControlledObject>; kube?: undefined; resource?: undefined }
  );

/**
 * Runs until `signal` aborts. Then no further key is handed out (queued keys are cancelled, not drained), the
 * in-flight reconciles see the aborted signal, and the promise resolves once they have settled.
 */
export async function runController(options: ControllerOptions): Promise<void> {
  const { kind, log, metrics, signal, resyncMs } = options;
  const clock = options.clock ?? realClock;
  const { budget, upToDate } = options;
  const queue = new WorkQueue({ clock });
  const background = new BackgroundKeys();
  queue.onDepth = (depth) => {
    metrics.queueDepth.set(depth);
    if (depth === 0) background.nudge();
  };
  const informer: InformerSource<ControlledObject> = options.informer ??
    new Informer<ControlledObject>(options.kube, options.resource, {
      clock,
      transform: trimForCache,
      ...(options.watchInactivityMs !== undefined ? { watchInactivityMs: options.watchInactivityMs } : {}),
    });
  let synced = false;
  informer.onChange((key, object, old) => {
    // What the initial list finds already reconciled needs only a drift check, which waits for the budget.
    if (budget && !synced && old === undefined && object && upToDate?.(object)) {
      if (budget.ratePerSecond > 0) background.add(key);
    } else if (shouldEnqueue(old, object)) {
      background.delete(key);
      queue.add(key);
    }
  });
  const informing = informer.run(signal, (e) => log.warn("Watch failed", { kind, error: e }));

  let resync: Timer | undefined;
  /** The background key handed to the queue, until a worker is done with it. */
  let released: { key: string; done: () => void } | undefined;
  const stop = () => {
    resync?.cancel();
    queue.shutDown();
    background.nudge();
    released?.done();
  };
  if (signal.aborted) stop();
  else signal.addEventListener("abort", stop, { once: true });

  // Workers start only once the cache is filled (controller-runtime's WaitForCacheSync).
  synced = await Promise.race([informer.waitForSync().then(() => true), whenAborted(signal).then(() => false)]);
  if (!synced || signal.aborted) return await informing;

  // The one resync mechanism. It bypasses the generation predicate, which would drop it. A key still waiting from
  // the last resync keeps its place, so each object is checked at most once per period.
  const tick = () => {
    for (const o of informer.list()) {
      if (!budget) queue.add(objectKey(o));
      else if (budget.ratePerSecond > 0) background.add(objectKey(o));
    }
    background.nudge();
    resync = clock.after(resyncMs, tick);
  };
  resync = clock.after(resyncMs, tick);

  // Releases background keys one at a time: none while a user-triggered key is queued, and the next only once the
  // last has been reconciled and the budget has paid for what every AWS call since has cost.
  const pump = async (b: CallBudget) => {
    while (!signal.aborted) {
      const key = background.first();
      if (key === undefined || queue.depth > 0) {
        await background.changed();
        continue;
      }
      const wait = b.waitMs();
      if (wait > 0) {
        await sleep(clock, wait, signal);
        continue;
      }
      background.delete(key);
      await new Promise<void>((done) => {
        released = { key, done };
        queue.add(key);
        if (queue.shuttingDown) done();
      });
      released = undefined;
    }
  };

  const worker = async () => {
    for (let key = await queue.get(); key !== undefined; key = await queue.get()) {
      const started = clock.monotonic();
      try {
        const result = await options.reconcile(key, signal);
        queue.forget(key);
        metrics.reconciles.inc({ kind, result: "success" });
        // A requeue at or beyond the resync period is left to the periodic resync: honouring both resynced every
        // object twice per period. Shorter ones (a setup not yet ready) are kept.
        const after = result.requeueAfterMs;
        if (after !== undefined && after < resyncMs) queue.addAfter(key, after);
      } catch (e) {
        if (signal.aborted) {
          log.debug("Reconcile cancelled", { kind, key });
          continue;
        }
        const delay = queue.addRateLimited(key);
        metrics.reconciles.inc({ kind, result: "error" });
        log.warn("Reconcile failed; retrying", {
          kind,
          key,
          retryInMs: delay,
          failures: queue.failures(key),
          error: e,
        });
      } finally {
        metrics.reconcileDuration.observe({ kind }, (clock.monotonic() - started) / 1000);
        queue.done(key);
        if (released?.key === key) released.done();
      }
    }
  };
  await Promise.all([
    informing,
    ...(budget ? [pump(budget)] : []),
    ...Array.from({ length: options.concurrency }, worker),
  ]);
}

/** Keys waiting for a background check, in the order they came, with one waiter woken on any change. */
class BackgroundKeys {
  readonly #keys = new Set<string>();
  #wake: (() => void) | undefined;
  #poked = false;

  add(key: string): void {
    if (this.#keys.has(key)) return;
    this.#keys.add(key);
    this.nudge();
  }

  delete(key: string): void {
    this.#keys.delete(key);
  }

  first(): string | undefined {
    return this.#keys.values().next().value;
  }

  /** Wakes the waiter of changed(), or the next one when none is waiting. */
  nudge(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    if (wake) wake();
    else this.#poked = true;
  }

  changed(): Promise<void> {
    if (this.#poked) {
      this.#poked = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#wake = resolve);
  }
}

function whenAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
