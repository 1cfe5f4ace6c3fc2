// Runs one reconciler: an informer feeds keys into a work queue, bounded workers reconcile them, failures back
// off per key, successes are requeued for the periodic resync that repairs drift.
import type { KubeClient, ResourceRef } from "../lib/kube/client.ts";
import { Informer, type ObjectMeta } from "./informer.ts";
import type { Logger } from "./log.ts";
import type { DaemonMetrics } from "./metrics.ts";
import type { ReconcileResult } from "./reconcile_irsa.ts";
import { WorkQueue } from "./work_queue.ts";

/** Runs until `signal` aborts; in-flight reconciles finish first. */
export async function runController(options: {
  kind: string;
  kube: KubeClient;
  resource: ResourceRef;
  reconcile: (key: string) => Promise<ReconcileResult>;
  concurrency: number;
  resyncMs: number;
  signal: AbortSignal;
  log: Logger;
  metrics: DaemonMetrics;
}): Promise<void> {
  const { kind, log, metrics, signal } = options;
  const queue = new WorkQueue();
  queue.onDepth = (depth) => metrics.queueDepth.set(depth);
  const informer = new Informer<ObjectMeta>(options.kube, options.resource);
  informer.onChange((key) => queue.add(key));
  const informing = informer.run(signal, (e) => log.warn("Watch failed", { kind, error: e }));
  // Level-based resync: every object is looked at again, so drift made outside the cluster gets repaired.
  const resync = setInterval(() => {
    for (const o of informer.list()) queue.add(`${o.metadata.namespace}/${o.metadata.name}`);
  }, options.resyncMs);
  signal.addEventListener("abort", () => {
    clearInterval(resync);
    queue.close();
  }, { once: true });

  const worker = async () => {
    for (let key = await queue.get(); key !== undefined; key = await queue.get()) {
      const started = performance.now();
      try {
        const result = await options.reconcile(key);
        queue.forget(key);
        metrics.reconciles.inc({ kind, result: "success" });
        if (result.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
      } catch (e) {
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
        metrics.reconcileDuration.observe({ kind }, (performance.now() - started) / 1000);
        queue.done(key);
      }
    }
  };
  await Promise.all([informing, ...Array.from({ length: options.concurrency }, worker)]);
}
