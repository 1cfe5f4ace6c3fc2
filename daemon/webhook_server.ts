// The pod identity webhook's HTTPS server. Certificates are swapped in place (setSecureContext), so a renewal
// needs no restart and drops no request. ServiceAccounts come from an informer cache, with a direct, bounded API
// lookup on a miss, so a pod created right after its ServiceAccount is still mutated.
import { Buffer } from "node:buffer";
import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { KubeClient } from "../lib/kube/client.ts";
import type { WebhookConfig } from "../lib/pod_mutation.ts";
import { webhookObjects } from "../lib/names.ts";
import { reviewAdmission, type ServiceAccountLookup } from "./admission.ts";
import type { Informer } from "./informer.ts";
import type { Logger } from "./log.ts";
import type { DaemonMetrics } from "./metrics.ts";

interface ServiceAccountObject {
  metadata: { name: string; namespace: string; resourceVersion?: string; annotations?: Record<string, string> };
}

/** Builds the lookup: cache first, then the API with a deadline. */
export function serviceAccountLookup(
  kube: KubeClient,
  informer: Informer<ServiceAccountObject>,
  options: { timeoutMs: number; onMiss?: () => void },
): ServiceAccountLookup {
  return async (namespace, name) => {
    const cached = informer.get(`${namespace}/${name}`);
    if (cached) return cached.metadata.annotations ?? {};
    options.onMiss?.();
    const signal = AbortSignal.timeout(options.timeoutMs);
    const res = await kube.raw("GET", `/api/v1/namespaces/${namespace}/serviceaccounts/${name}`, { signal });
    if (!res.ok) {
      await res.body?.cancel();
      return undefined;
    }
    const sa = await res.json() as ServiceAccountObject;
    return sa.metadata.annotations ?? {};
  };
}

/** A running webhook server. */
export interface WebhookServer {
  port: number;
  /** Serves new connections with this certificate from now on. */
  updateCertificate(certPem: string, keyPem: string): void;
  close(): Promise<void>;
}

const maxBody = 4 * 1024 * 1024;
const decoder = new TextDecoder();

/** Starts the HTTPS server on `hostname:port` (port 0 picks a free one). */
export async function startWebhookServer(
  options: {
    hostname: string;
    port: number;
    certPem: string;
    keyPem: string;
    lookup: ServiceAccountLookup;
    config: WebhookConfig;
    log: Logger;
    metrics?: DaemonMetrics;
  },
): Promise<WebhookServer> {
  const { log, metrics } = options;
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method === "GET" && req.url === "/healthz") {
      res.writeHead(200).end("ok");
      return;
    }
    if (req.method !== "POST" || req.url?.split("?")[0] !== webhookObjects.path) {
      res.writeHead(404).end();
      return;
    }
    const started = performance.now();
    // Events rather than async iteration: fewer promise turns per request on the single event loop.
    const body = await new Promise<Uint8Array | undefined>((resolve, reject) => {
      const chunks: Uint8Array[] = [];
      let size = 0;
      req.on("data", (chunk: Uint8Array) => {
        size += chunk.length;
        if (size <= maxBody) chunks.push(chunk);
      });
      req.on("end", () => resolve(size > maxBody ? undefined : concat(chunks)));
      req.on("error", reject);
    });
    if (!body) {
      res.writeHead(413, { "content-type": "application/json" }).end(JSON.stringify({ error: "request too large" }));
      metrics?.webhookRequests.inc({ result: "error" });
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(decoder.decode(body));
    } catch {
      parsed = null;
    }
    try {
      const outcome = await reviewAdmission(parsed, { lookup: options.lookup, config: options.config });
      const text = JSON.stringify(outcome.body);
      res.writeHead(outcome.status, {
        "content-type": "application/json",
        "content-length": String(Buffer.byteLength(text)),
      }).end(text);
      metrics?.webhookRequests.inc({ result: outcome.result });
      if (outcome.result === "mutated") metrics?.webhookMutations.inc();
      if (outcome.status !== 200) log.warn("Rejected a malformed admission request", { status: outcome.status });
    } catch (e) {
      log.error("Admission review failed", { error: e });
      metrics?.webhookRequests.inc({ result: "error" });
      res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ error: String(e) }));
    } finally {
      metrics?.webhookLatency.observe((performance.now() - started) / 1000);
    }
  };
  const server = https.createServer({ cert: options.certPem, key: options.keyPem }, (req, res) => {
    handle(req, res).catch((e) => log.error("Webhook handler crashed", { error: e }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    updateCertificate(certPem, keyPem) {
      server.setSecureContext({ cert: certPem, key: keyPem });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}
