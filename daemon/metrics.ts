// Prometheus metrics of the daemon (on daemon/prometheus.ts): webhook requests and latency, mutations, ServiceAccount
// cache misses, and (for the reconcilers) reconciles, AWS calls and queue depth.
import { Counter, Gauge, Histogram, registerProcessMetrics, Registry } from "./prometheus.ts";

/** The daemon's metrics, registered on one registry. */
export interface DaemonMetrics {
  registry: Registry;
  webhookRequests: Counter<"result">;
  webhookMutations: Counter;
  webhookLatency: Histogram;
  serviceAccountCacheMisses: Counter;
  missedMutations: Counter;
  reconciles: Counter<"kind" | "result">;
  reconcileDuration: Histogram<"kind">;
  awsCalls: Counter<"operation" | "outcome">;
  queueDepth: Gauge;
}

/** Creates the metrics, the process figures included. */
export function createMetrics(): DaemonMetrics {
  const registry = new Registry();
  registerProcessMetrics(registry);
  const registers = [registry];
  return {
    registry,
    webhookRequests: new Counter({
      name: "kubectl_irsa_webhook_requests_total",
      help: "Admission requests by result (mutated, unchanged, error).",
      labelNames: ["result"],
      registers,
    }),
    webhookMutations: new Counter({
      name: "kubectl_irsa_webhook_mutations_total",
      help: "Pods that received AWS credentials.",
      registers,
    }),
    webhookLatency: new Histogram({
      name: "kubectl_irsa_webhook_request_duration_seconds",
      help: "Time to answer an admission request.",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    }),
    serviceAccountCacheMisses: new Counter({
      name: "kubectl_irsa_webhook_serviceaccount_cache_misses_total",
      help: "ServiceAccounts not yet in the informer cache, looked up in the API instead.",
      registers,
    }),
    missedMutations: new Counter({
      name: "kubectl_irsa_webhook_missed_mutations_total",
      help: "Pods whose ServiceAccount has a role annotation but which run without the injected credentials.",
      registers,
    }),
    reconciles: new Counter({
      name: "kubectl_irsa_reconciles_total",
      help: "Reconciles by kind and result.",
      labelNames: ["kind", "result"],
      registers,
    }),
    reconcileDuration: new Histogram({
      name: "kubectl_irsa_reconcile_duration_seconds",
      help: "Time of one reconcile.",
      labelNames: ["kind"],
      registers,
    }),
    awsCalls: new Counter({
      name: "kubectl_irsa_aws_calls_total",
      help: "AWS API calls by operation and outcome.",
      labelNames: ["operation", "outcome"],
      registers,
    }),
    queueDepth: new Gauge({
      name: "kubectl_irsa_queue_depth",
      help: "Keys waiting in the reconcile queue.",
      registers,
    }),
  };
}
