// Starts the upstream amazon-eks-pod-identity-webhook ("PIW") as the peer of differential tests and benchmarks:
// out of cluster, against the sandbox's kube-apiserver, with a serving certificate for 127.0.0.1 from its own CA
// and the same settings as our daemon's defaults plus `--aws-default-region`.
import { createRootCa, issueCertificate } from "../../lib/pki.ts";
import { saAnnotation, tokenMount } from "../../lib/names.ts";
import { ensureBinary } from "./go_build.ts";
import type { Sandbox } from "./sandbox.ts";
import { freePort, ServerProcess } from "./server_process.ts";

/** A running PIW. */
export interface PiwProcess {
  process: ServerProcess;
  /** HTTPS port of /mutate and /healthz. */
  port: number;
  /** The CA that signed its serving certificate (the MutatingWebhookConfiguration's caBundle). */
  caPem: string;
  stop(): Promise<void>;
}

/** Region both webhooks inject in differential tests and benchmarks. */
export const piwDefaultRegion = "eu-west-1";

let started = 0;

/**
 * Starts PIW and waits for its /healthz. That answers before its ServiceAccount informer has synced, so callers
 * still poll until a dry-run pod comes back mutated (waitForWebhook). Later `extraArgs` override the defaults.
 */
export async function startPiw(
  sandbox: Sandbox,
  options: { port?: number; extraArgs?: string[] } = {},
): Promise<PiwProcess> {
  const bin = await ensureBinary("pod-identity-webhook");
  const ca = await createRootCa("pod-identity-webhook test CA");
  const leaf = await issueCertificate(ca, "pod-identity-webhook", {
    usage: { kind: "server", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] },
  });
  const n = started++;
  const certPath = await sandbox.writeFile(`piw-${n}.pem`, leaf.certPem);
  const keyPath = await sandbox.writeFile(`piw-${n}.key`, leaf.keyPem);
  const port = options.port ?? freePort();
  // PIW listens on all interfaces, so both ports are always chosen here rather than left at 443 and 9999.
  const process = ServerProcess.start("pod-identity-webhook", [
    bin,
    "--in-cluster=false",
    `--kubeconfig=${sandbox.kubeconfigPath}`,
    `--tls-cert=${certPath}`,
    `--tls-key=${keyPath}`,
    `--port=${port}`,
    `--metrics-port=${freePort()}`,
    `--annotation-prefix=${saAnnotation.prefix}`,
    "--token-audience=sts.amazonaws.com",
    `--aws-default-region=${piwDefaultRegion}`,
    "--sts-regional-endpoint=false",
    "--token-expiration=86400",
    `--token-mount-path=${tokenMount.path}`,
    "--logtostderr",
    ...(options.extraArgs ?? []),
  ], { logPath: `${sandbox.dir}/pod-identity-webhook-${n}.log` });
  const client = Deno.createHttpClient({ caCerts: [ca.certPem] });
  try {
    await process.waitReady(async () => {
      const r = await fetch(`https://127.0.0.1:${port}/healthz`, { client });
      await r.body?.cancel();
      return r.ok;
    }, 30_000);
  } catch (e) {
    await process.stop();
    throw e;
  } finally {
    client.close();
  }
  return { process, port, caPem: ca.certPem, stop: () => process.stop() };
}
