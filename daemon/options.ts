// Parses `kubectl irsa daemon` flags into typed options. Pure, table-tested.
import { parseArgs } from "node:util";
import { defaultWebhookConfig, type WebhookConfig } from "../lib/pod_mutation.ts";
import { awsEndpointEnv, systemNamespace, webhookObjects } from "../lib/names.ts";
import { leaderElectionTiming, leaderElectionTimingProblem } from "./leader_election.ts";
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
  /** AWS calls per second that background drift checks may use (0: none); every AWS call counts against it. */
  driftBudget: number;
  /** Lease duration: how long others wait, on their own clock, for a lease left unrenewed. */
  leaseDurationMs: number;
  /** How long the leader retries renewing before it steps down (default 2/3 of the lease). */
  renewDeadlineMs: number;
  /** Pause between attempts to acquire or renew (default 2/15 of the lease). */
  retryPeriodMs: number;
  /** Timeout of one AWS request. */
  awsRequestTimeoutMs: number;
  /** A watch silent for this long (no event, no bookmark) is re-opened from its last resourceVersion. */
  watchInactivityMs: number;
  /** PEM file trusted for AWS endpoints and the issuer host besides the system roots ($AWS_CA_BUNDLE). */
  awsCaBundlePath?: string;
  /** Address of /healthz, /readyz and /metrics. */
  metricsAddress: { hostname: string; port: number };
  /**
   * After SIGTERM the webhook serves on this long, /readyz already 503, while endpoints stop pointing at the pod;
   * then it closes.
   */
  shutdownDrainMs: number;
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

function rate(value: string, flag: string): number {
  if (!/^\d+(\.\d+)?$/.test(value)) throw new Error(`--${flag} must be a number of calls per second, got "${value}"`);
  return Number(value);
}

/** Reads a duration such as 300ms, 30s, 5m or 1h, in milliseconds; throws naming `--flag`. */
export function duration(value: string, flag: string): number {
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
      "drift-budget": { type: "string" },
      "lease-duration": { type: "string" },
      "renew-deadline": { type: "string" },
      "retry-period": { type: "string" },
      "aws-request-timeout": { type: "string" },
      "watch-inactivity": { type: "string" },
      "shutdown-drain": { type: "string" },
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
  // kube-controller-manager's --leader-elect-renew-deadline / --leader-elect-retry-period, scaled to the lease.
  const timing = leaderElectionTiming(duration(values["lease-duration"] ?? "15s", "lease-duration"), {
    renewDeadlineMs: values["renew-deadline"] ? duration(values["renew-deadline"], "renew-deadline") : undefined,
    retryPeriodMs: values["retry-period"] ? duration(values["retry-period"], "retry-period") : undefined,
  });
  const timingProblem = leaderElectionTimingProblem(timing);
  if (timingProblem) {
    const { leaseDurationMs: l, renewDeadlineMs: d, retryPeriodMs: r } = timing;
    throw new Error(`--lease-duration ${l}ms, --renew-deadline ${d}ms, --retry-period ${r}ms: ${timingProblem}`);
  }
  const options: DaemonOptions = {
    namespace,
    logLevel,
    controllers: !values["no-controllers"],
    leaderElect: leaderElect === "true",
    identity: `${env.get("HOSTNAME") ?? "kubectl-irsa"}-${crypto.randomUUID().slice(0, 8)}`,
    resyncMs: duration(values["resync-period"] ?? "5m", "resync-period"),
    concurrency: positive(values.concurrency ?? "4", "concurrency"),
    driftBudget: rate(values["drift-budget"] ?? "4", "drift-budget"),
    ...timing,
    awsRequestTimeoutMs: duration(values["aws-request-timeout"] ?? "30s", "aws-request-timeout"),
    // The apiserver sends a bookmark about every minute on a watch that asked for them: two minutes of silence is a
    // dead connection.
    watchInactivityMs: duration(values["watch-inactivity"] ?? "2m", "watch-inactivity"),
    // Longer than endpoint propagation: the EndpointSlice update, then every kube-proxy's sync (and the apiserver's
    // own endpoint cache with --enable-aggregator-routing), seconds on a busy cluster.
    shutdownDrainMs: duration(values["shutdown-drain"] ?? "10s", "shutdown-drain"),
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
