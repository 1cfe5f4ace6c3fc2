// The pod identity webhook's request handler on https_server.ts, which swaps certificates in place, so a renewal
// needs no restart and drops no request. ServiceAccounts come from an informer cache, with a direct, bounded API
// lookup on a miss, so a pod created right after its ServiceAccount is still mutated.
import type { KubeClient } from "../lib/kube/client.ts";
import type { WebhookConfig } from "../lib/pod_mutation.ts";
import { webhookObjects } from "../lib/names.ts";
import { reviewAdmission, type ServiceAccountLookup } from "./admission.ts";
import { type Clock, realClock, sleep } from "./clock.ts";
import type { Informer } from "./informer.ts";
import type { Logger } from "./log.ts";
import type { DaemonMetrics } from "./metrics.ts";
import {
  type HttpRequest,
  type HttpResponse,
  type HttpsServer,
  type ServerLimits,
  startHttpsServer,
} from "./https_server.ts";

interface ServiceAccountObject {
  metadata: { name: string; namespace: string; resourceVersion?: string; annotations?: Record<string, string> };
}

/**
 * Builds the lookup: cache first, then the API with a deadline. Only a 404 means "no such ServiceAccount"; a 403,
 * a 5xx or a timeout throws, so the review fails and the webhook's failure policy decides.
 */
export function serviceAccountLookup(
  kube: Pick<KubeClient, "raw">,
  informer: Pick<Informer<ServiceAccountObject>, "get">,
  options: { timeoutMs: number; onMiss?: () => void },
): ServiceAccountLookup {
  return async (namespace, name) => {
    const cached = informer.get(`${namespace}/${name}`);
    if (cached) return cached.metadata.annotations ?? {};
    options.onMiss?.();
    const signal = AbortSignal.timeout(options.timeoutMs);
    const res = await kube.raw("GET", `/api/v1/namespaces/${namespace}/serviceaccounts/${name}`, { signal });
    if (res.status === 404) {
      await res.body?.cancel();
      return undefined;
    }
    if (!res.ok) {
      const text = await res.text().catch(() => "");
      let message = text.slice(0, 200);
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? message;
      } catch { /* not a Status object */ }
      throw new Error(`HTTP ${res.status}${message ? `: ${message}` : ""}`);
    }
    const sa = await res.json() as ServiceAccountObject;
    return sa.metadata.annotations ?? {};
  };
}

/** A running webhook server. */
export type WebhookServer = HttpsServer;

const decoder = new TextDecoder();
const json = { "content-type": "application/json" };

/** Starts the HTTPS server on `hostname:port` (port 0 picks a free one). */
export function startWebhookServer(
  options: {
    hostname: string;
    port: number;
    certPem: string;
    keyPem: string;
    lookup: ServiceAccountLookup;
    config: WebhookConfig;
    log: Logger;
    metrics?: DaemonMetrics;
    limits?: Partial<ServerLimits>;
    clock?: Clock;
  },
): Promise<WebhookServer> {
  const { log, metrics } = options;
  const handler = async (req: HttpRequest): Promise<HttpResponse> => {
    const path = req.target.split("?")[0];
    if (req.method === "GET" && path === "/healthz") return { status: 200, body: "ok" };
    if (path !== webhookObjects.path) return { status: 404 };
    if (req.method !== "POST") return { status: 405, headers: { allow: "POST" } };
    const started = performance.now();
    let parsed: unknown;
    try {
      parsed = JSON.parse(decoder.decode(req.body));
    } catch {
      parsed = null;
    }
    try {
      const outcome = await reviewAdmission(parsed, { lookup: options.lookup, config: options.config });
      metrics?.webhookRequests.inc({ result: outcome.result });
      if (outcome.result === "mutated") metrics?.webhookMutations.inc();
      if (outcome.status === 500) {
        log.error("Cannot review a pod; the webhook's failure policy decides", {
          error: (outcome.body as { error: string }).error,
        });
      } else if (outcome.status !== 200) {
        log.warn("Rejected a malformed admission request", { status: outcome.status });
      }
      return { status: outcome.status, headers: json, body: JSON.stringify(outcome.body) };
    } finally {
      metrics?.webhookLatency.observe((performance.now() - started) / 1000);
    }
  };
  return startHttpsServer({
    hostname: options.hostname,
    port: options.port,
    certPem: options.certPem,
    keyPem: options.keyPem,
    handler,
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    onRefused: (refused) => {
      metrics?.webhookRequests.inc({ result: "error" });
      log.warn("Refused an HTTP request", { status: refused.status, reason: refused.message });
    },
    onHandlerError: (error) => {
      metrics?.webhookRequests.inc({ result: "error" });
      log.error("Admission review failed", { error });
    },
  });
}

/**
 * The webhook's part of SIGTERM: serve on for `drainMs` while the endpoints stop pointing at this pod (each answer
 * closing its connection, so the apiserver's pooled connections move to other replicas), then close. `hurry` (a
 * second signal) cuts the wait short.
 */
export async function drainWebhookServer(
  server: WebhookServer,
  options: { drainMs: number; clock?: Clock; hurry?: AbortSignal },
): Promise<void> {
  server.drain();
  if (options.drainMs > 0) await sleep(options.clock ?? realClock, options.drainMs, options.hurry);
  await server.close();
}
