// Opens the AWS and Kubernetes connections a command needs, from global flags and the environment. Loaded only
// by commands that talk to AWS or Kubernetes, so `--help` never pays for the SDKs.
import { type AwsClients, awsConfigFromEnv, createAwsClients, MissingRegionError } from "../lib/aws/clients.ts";
import { readCaBundle } from "../lib/aws/ca_bundle.ts";
import { KubeClient } from "../lib/kube/client.ts";
import { awsEndpointEnv } from "../lib/names.ts";
import type { GlobalFlags } from "./args.ts";
import type { Io } from "./main.ts";
import { UsageError } from "./usage_error.ts";
import { cliMessage } from "./remedy.ts";

/** An open AWS session plus the CA bundle it trusts (also used to reach the issuer host). */
export interface AwsSession {
  clients: AwsClients;
  caBundlePem: string | undefined;
}

/** Builds the AWS clients. A missing region is a usage error of `command`. */
export async function openAws(
  flags: GlobalFlags,
  io: Io,
  options: { command: string; defaultRegion?: string },
): Promise<AwsSession> {
  const config = awsConfigFromEnv(io.env);
  if (flags.region) config.region = flags.region;
  // IAM is global, so commands after init fall back to the region init recorded.
  if (!config.region && options.defaultRegion) config.region = options.defaultRegion;
  if (flags.profile) {
    config.profile = flags.profile;
    delete config.credentials; // an explicit profile wins over static environment credentials
  }
  if (flags.s3PathStyle) config.s3PathStyle = true;
  const caPath = flags.caBundle ?? io.env.get(awsEndpointEnv.caBundle);
  let caBundlePem: string | undefined;
  if (caPath) {
    caBundlePem = await readCaBundle(caPath);
    config.caBundlePem = caBundlePem;
  }
  try {
    return { clients: await createAwsClients(config), caBundlePem };
  } catch (e) {
    if (e instanceof MissingRegionError) throw new UsageError(cliMessage(e), options.command);
    throw e;
  }
}

/**
 * Connects to the cluster named by --kubeconfig/--context (or KUBECONFIG, or in-cluster), impersonating --as and
 * --as-group, each request bounded by --request-timeout.
 */
export async function openKube(flags: GlobalFlags): Promise<KubeClient> {
  const impersonate = {
    ...(flags.as ? { user: flags.as } : {}),
    ...(flags.asGroups?.length ? { groups: flags.asGroups } : {}),
  };
  return await KubeClient.connect({
    ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
    ...(flags.context ? { context: flags.context } : {}),
    ...(Object.keys(impersonate).length ? { impersonate } : {}),
    ...(flags.requestTimeoutMs ? { requestTimeoutMs: flags.requestTimeoutMs } : {}),
  });
}

/**
 * Closes the session. Before that, writes the AWS call log where KUBECTL_IRSA_CALL_LOG points (tests count writes
 * with it, also after a failure) and, with -v, a summary.
 */
export async function closeAws(session: AwsSession, io: Io, flags: GlobalFlags): Promise<void> {
  try {
    const calls = session.clients.calls;
    const path = io.env.get("KUBECTL_IRSA_CALL_LOG");
    if (path) {
      await Deno.writeTextFile(path, calls.calls.map((c) => JSON.stringify(c) + "\n").join(""), { append: true });
    }
    if (flags.verbose) {
      io.err(`AWS calls: ${calls.reads} reads, ${calls.writes} writes (${calls.summary().join(", ") || "none"})\n`);
    }
  } finally {
    session.clients.destroy();
  }
}
