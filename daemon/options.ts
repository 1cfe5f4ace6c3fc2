// Parses `kubectl irsa daemon` flags into typed options. Pure, table-tested.
import { parseArgs } from "node:util";
import { defaultWebhookConfig, type WebhookConfig } from "../lib/pod_mutation.ts";
import { awsEndpointEnv, systemNamespace, webhookObjects } from "../lib/names.ts";
import type { LogLevel } from "./log.ts";

/** Everything the daemon is configured with. */
export interface DaemonOptions {
  kubeconfig?: string;
  context?: string;
  namespace: string;
  logLevel: LogLevel;
  /** Reconcile IRSASetup and IRSA objects (off: webhook only). */
  controllers: boolean;
  leaderElect: boolean;
  /** Identity in the Lease; defaults to the pod name (HOSTNAME) plus a random suffix. */
  identity: string;
  resyncMs: number;
  concurrency: number;
  /** Lease duration; renewals happen every third of it. */
  leaseDurationMs: number;
  /** Timeout of one AWS request. */
  awsRequestTimeoutMs: number;
  /** PEM file trusted for AWS endpoints and the issuer host besides the system roots ($AWS_CA_BUNDLE). */
  awsCaBundlePath?: string;
  /** Address of /healthz, /readyz and /metrics. */
  metricsAddress: { hostname: string; port: number };
  webhook: {
    enabled: boolean;
    hostname: string;
    port: number;
    dnsNames: string[];
    ipAddresses: string[];
    config: WebhookConfig;
    /** Lifetime of the serving certificate, in days (renewed with a third left). */
    certDays: number;
    /** Lifetime of the webhook CA, in days (a successor is staged with a third left). */
    caDays: number;
    /** How long a new CA is published in the caBundle before it signs the serving certificate. */
    caHandoverMs: number;
    /** How long to wait for a ServiceAccount that is not in the cache yet. */
    lookupTimeoutMs: number;
    /** How often the certificate Secret is re-read (another replica may have renewed it). */
    certCheckMs: number;
    /** How often pods are scanned for missed mutations. */
    missedScanMs: number;
  };
}

function hostPort(value: string, flag: string): { hostname: string; port: number } {
  const m = value.match(/^(.*):(\d+)$/);
  if (!m) throw new Error(`--${flag} must be HOST:PORT, got "${value}"`);
  return { hostname: m[1] || "0.0.0.0", port: Number(m[2]) };
}

function positive(value: string, flag: string): number {
  if (!/^\d+$/.test(value) || Number(value) <= 0) {
    throw new Error(`--${flag} must be a positive integer, got "${value}"`);
  }
  return Number(value);
}

/** Reads a duration such as 300ms, 30s, 5m or 1h. */
function duration(value: string, flag: string): number {
  const m = value.match(/^(\d+)(ms|s|m|h)$/);
  if (!m) throw new Error(`--${flag} must be a duration like 30s or 5m, got "${value}"`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
}

/** Parses the daemon's argv; throws Error with a one-line message on bad input. */
export function parseDaemonOptions(argv: string[], env: { get(name: string): string | undefined }): DaemonOptions {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      kubeconfig: { type: "string" },
      context: { type: "string" },
      namespace: { type: "string" },
      "log-level": { type: "string" },
      "metrics-bind-address": { type: "string" },
      "no-controllers": { type: "boolean" },
      "leader-elect": { type: "string" },
      "resync-period": { type: "string" },
      concurrency: { type: "string" },
      "lease-duration": { type: "string" },
      "aws-request-timeout": { type: "string" },
      "no-webhook": { type: "boolean" },
      "webhook-bind-address": { type: "string" },
      "webhook-dns-name": { type: "string", multiple: true },
      "webhook-ip-address": { type: "string", multiple: true },
      "webhook-cert-days": { type: "string" },
      "webhook-ca-days": { type: "string" },
      "webhook-ca-handover": { type: "string" },
      "annotation-prefix": { type: "string" },
      "token-audience": { type: "string" },
      "token-mount-path": { type: "string" },
      "token-expiration": { type: "string" },
      "aws-default-region": { type: "string" },
      "sts-regional-endpoint": { type: "boolean" },
      "serviceaccount-lookup-timeout-ms": { type: "string" },
      "webhook-cert-check-ms": { type: "string" },
      "missed-mutation-scan-ms": { type: "string" },
    },
  });
  if (positionals.length > 0) throw new Error(`unexpected argument "${positionals[0]}"`);
  const namespace = values.namespace ?? env.get("POD_NAMESPACE") ?? systemNamespace;
  const logLevel = (values["log-level"] ?? "info") as LogLevel;
  if (!["debug", "info", "warn", "error"].includes(logLevel)) {
    throw new Error(`--log-level must be debug|info|warn|error`);
  }
  const config: WebhookConfig = {
    ...defaultWebhookConfig,
    ...(values["annotation-prefix"] ? { annotationPrefix: values["annotation-prefix"] } : {}),
    ...(values["token-audience"] ? { defaultAudience: values["token-audience"] } : {}),
    ...(values["token-mount-path"] ? { mountPath: values["token-mount-path"] } : {}),
    ...(values["token-expiration"]
      ? { defaultTokenExpiration: positive(values["token-expiration"], "token-expiration") }
      : {}),
    ...(values["aws-default-region"] ? { defaultRegion: values["aws-default-region"] } : {}),
    regionalSts: values["sts-regional-endpoint"] ?? false,
  };
  const service = `${webhookObjects.service}.${namespace}`;
  const leaderElect = values["leader-elect"] ?? "true";
  if (leaderElect !== "true" && leaderElect !== "false") throw new Error(`--leader-elect must be true or false`);
  const options: DaemonOptions = {
    namespace,
    logLevel,
    controllers: !values["no-controllers"],
    leaderElect: leaderElect === "true",
    identity: `${env.get("HOSTNAME") ?? "kubectl-irsa"}-${crypto.randomUUID().slice(0, 8)}`,
    resyncMs: duration(values["resync-period"] ?? "5m", "resync-period"),
    concurrency: positive(values.concurrency ?? "4", "concurrency"),
    leaseDurationMs: duration(values["lease-duration"] ?? "15s", "lease-duration"),
    awsRequestTimeoutMs: duration(values["aws-request-timeout"] ?? "30s", "aws-request-timeout"),
    metricsAddress: hostPort(values["metrics-bind-address"] ?? ":8080", "metrics-bind-address"),
    webhook: {
      enabled: !values["no-webhook"],
      ...hostPort(values["webhook-bind-address"] ?? ":9443", "webhook-bind-address"),
      dnsNames: values["webhook-dns-name"] ?? [service, `${service}.svc`, `${service}.svc.cluster.local`],
      ipAddresses: values["webhook-ip-address"] ?? [],
      config,
      certDays: positive(values["webhook-cert-days"] ?? "30", "webhook-cert-days"),
      caDays: positive(values["webhook-ca-days"] ?? "365", "webhook-ca-days"),
      caHandoverMs: duration(values["webhook-ca-handover"] ?? "5m", "webhook-ca-handover"),
      lookupTimeoutMs: positive(
        values["serviceaccount-lookup-timeout-ms"] ?? "2000",
        "serviceaccount-lookup-timeout-ms",
      ),
      certCheckMs: positive(values["webhook-cert-check-ms"] ?? "60000", "webhook-cert-check-ms"),
      missedScanMs: positive(values["missed-mutation-scan-ms"] ?? "60000", "missed-mutation-scan-ms"),
    },
  };
  if (values.kubeconfig) options.kubeconfig = values.kubeconfig;
  if (values.context) options.context = values.context;
  const caBundle = env.get(awsEndpointEnv.caBundle);
  if (caBundle) options.awsCaBundlePath = caBundle;
  return options;
}
