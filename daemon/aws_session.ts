// AWS for the daemon: the SDK default chain (env, profile, web identity, IMDS), overridden by the seed's optional
// aws-secret keys, with optional role assumption. Clients are rebuilt only when that configuration changes, and
// every call is counted into the metrics.
import { type AwsClients, type AwsConfig, awsConfigFromEnv, createAwsClients } from "../lib/aws/clients.ts";
import { CallLog } from "../lib/aws/call_log.ts";
import type { KubeClient } from "../lib/kube/client.ts";
import { awsSecret } from "../lib/names.ts";
import type { DaemonMetrics } from "./metrics.ts";

/** AWS configuration from the environment plus the seed's Secret keys (every key optional). Pure. */
export function daemonAwsConfig(
  env: { get(name: string): string | undefined },
  secret: Record<string, string> | undefined,
  caBundlePem: string | undefined,
): AwsConfig {
  const config = awsConfigFromEnv(env);
  const s = secret ?? {};
  const accessKeyId = s[awsSecret.accessKeyId];
  const secretAccessKey = s[awsSecret.secretAccessKey];
  if (accessKeyId && secretAccessKey) {
    const sessionToken = s[awsSecret.sessionToken];
    config.credentials = { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
  }
  const region = s[awsSecret.region];
  if (region) config.region = region;
  const roleArn = s[awsSecret.roleArn];
  if (roleArn) config.assumeRoleArn = roleArn;
  if (caBundlePem) config.caBundlePem = caBundlePem;
  return config;
}

/** Returns current clients, rebuilding them when the aws-secret or environment changes. */
export function daemonAws(
  kube: KubeClient,
  options: {
    namespace: string;
    metrics: DaemonMetrics;
    env: { get(name: string): string | undefined };
    requestTimeoutMs?: number;
    /** The extra CA bundle, read once at startup (lib/aws/ca_bundle.ts), as the CLI reads its own. */
    caBundlePem?: string;
    /** Called for every AWS call made (the drift budget's meter). */
    onCall?: () => void;
  },
): { clients(): Promise<AwsClients>; close(): void } {
  let current: { key: string; clients: AwsClients; checkedAt: number } | undefined;
  const calls = new CallLog({ retain: false });
  calls.onCall((c) => {
    options.metrics.awsCalls.inc({ operation: `${c.service}:${c.operation}`, outcome: c.outcome });
    options.onCall?.();
  });
  return {
    async clients() {
      // Every reconcile asks for clients; the Secret is read again at most every 30 s, which still picks up
      // rotated credentials quickly without a GET per object.
      if (current && Date.now() - current.checkedAt < 30_000) return current.clients;
      const secret = await kube.get<{ data?: Record<string, string> }>({
        resource: "secrets",
        namespace: options.namespace,
        name: awsSecret.name,
      });
      const decoded = Object.fromEntries(Object.entries(secret?.data ?? {}).map(([k, v]) => [k, atob(v)]));
      const config = daemonAwsConfig(options.env, decoded, options.caBundlePem);
      if (options.requestTimeoutMs !== undefined) config.requestTimeoutMs = options.requestTimeoutMs;
      const key = JSON.stringify(config);
      if (current?.key !== key) {
        current?.clients.destroy();
        current = { key, clients: await createAwsClients(config, calls), checkedAt: Date.now() };
      }
      current.checkedAt = Date.now();
      return current.clients;
    },
    close() {
      current?.clients.destroy();
    },
  };
}
