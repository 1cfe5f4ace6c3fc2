// Prometheus metrics of the daemon: webhook requests and latency, mutations, ServiceAccount cache misses, and
// (for the reconcilers) reconciles, AWS calls and queue depth.
import type { Counter, Gauge, Histogram, Registry } from "prom-client";

/** The daemon's metrics, registered on one registry. */
export interface DaemonMetrics {
  registry: Registry;
  webhookRequests: Counter<"result">;
  webhookMutations: Counter<string>;
  webhookLatency: Histogram<string>;
  serviceAccountCacheMisses: Counter<string>;
  missedMutations: Counter<string>;
  reconciles: Counter<"kind" | "result">;
  reconcileDuration: Histogram<"kind">;
  awsCalls: Counter<"operation" | "outcome">;
  queueDepth: Gauge<string>;
}

/** Creates the metrics (prom-client is loaded here, inside the daemon only). */
export async function createMetrics(): Promise<DaemonMetrics> {
  const prom = await import("prom-client");
  const registry = new prom.Registry();
  prom.collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    webhookRequests: new prom.Counter({
      name: "kubectl_irsa_webhook_requests_total",
      help: "Admission requests by result (mutated, unchanged, error).",
      labelNames: ["result"],
      registers,
    }),
    webhookMutations: new prom.Counter({
      name: "kubectl_irsa_webhook_mutations_total",
      help: "Pods that received AWS credentials.",
      registers,
    }),
    webhookLatency: new prom.Histogram({
      name: "kubectl_irsa_webhook_request_duration_seconds",
      help: "Time to answer an admission request.",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    }),
    serviceAccountCacheMisses: new prom.Counter({
      name: "kubectl_irsa_webhook_serviceaccount_cache_misses_total",
      help: "ServiceAccounts not yet in the informer cache, looked up in the API instead.",
      registers,
    }),
    missedMutations: new prom.Counter({
      name: "kubectl_irsa_webhook_missed_mutations_total",
      help: "Pods whose ServiceAccount has a role annotation but which run without the injected credentials.",
      registers,
    }),
    reconciles: new prom.Counter({
      name: "kubectl_irsa_reconciles_total",
      help: "Reconciles by kind and result.",
      labelNames: ["kind", "result"],
      registers,
    }),
    reconcileDuration: new prom.Histogram({
      name: "kubectl_irsa_reconcile_duration_seconds",
      help: "Time of one reconcile.",
      labelNames: ["kind"],
      registers,
    }),
    awsCalls: new prom.Counter({
      name: "kubectl_irsa_aws_calls_total",
      help: "AWS API calls by operation and outcome.",
      labelNames: ["operation", "outcome"],
      registers,
    }),
    queueDepth: new prom.Gauge({
      name: "kubectl_irsa_queue_depth",
      help: "Keys waiting in the reconcile queue.",
      registers,
    }),
  };
}
