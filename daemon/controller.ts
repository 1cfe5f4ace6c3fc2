// Runs one reconciler the way controller-runtime does: an informer feeds keys through a generation predicate into
// a work queue, bounded workers reconcile them once the cache has synced, failures back off per key, and one
// periodic resync looks at every object again so drift made in AWS gets repaired.
import type { KubeClient, ResourceRef } from "../lib/kube/client.ts";
import { type Clock, realClock, type Timer } from "./clock.ts";
import { Informer, objectKey } from "./informer.ts";
import type { Logger } from "./log.ts";
import type { DaemonMetrics } from "./metrics.ts";
import type { ReconcileResult } from "./reconcile_irsa.ts";
import { WorkQueue } from "./work_queue.ts";

/** The metadata the controller reads from a cached object. */
export interface ControlledObject {
  metadata: { name: string; namespace?: string; generation?: number; deletionTimestamp?: string };
}

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
  const queue = new WorkQueue({ clock });
  queue.onDepth = (depth) => metrics.queueDepth.set(depth);
  const informer: InformerSource<ControlledObject> = options.informer ??
    new Informer<ControlledObject>(options.kube, options.resource, {
      clock,
      ...(options.watchInactivityMs !== undefined ? { watchInactivityMs: options.watchInactivityMs } : {}),
    });
  informer.onChange((key, object, old) => {
    if (shouldEnqueue(old, object)) queue.add(key);
  });
  const informing = informer.run(signal, (e) => log.warn("Watch failed", { kind, error: e }));

  let resync: Timer | undefined;
  const stop = () => {
    resync?.cancel();
    queue.shutDown();
  };
  if (signal.aborted) stop();
  else signal.addEventListener("abort", stop, { once: true });

  // Workers start only once the cache is filled (controller-runtime's WaitForCacheSync).
  const synced = await Promise.race([informer.waitForSync().then(() => true), whenAborted(signal).then(() => false)]);
  if (!synced || signal.aborted) return await informing;

  // The one resync mechanism. It queues directly: the generation predicate would drop it.
  const tick = () => {
    for (const o of informer.list()) queue.add(objectKey(o));
    resync = clock.after(resyncMs, tick);
  };
  resync = clock.after(resyncMs, tick);

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
      }
    }
  };
  await Promise.all([informing, ...Array.from({ length: options.concurrency }, worker)]);
}

function whenAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
