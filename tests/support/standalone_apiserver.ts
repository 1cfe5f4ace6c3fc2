// One etcd and kube-apiservers started from an argument list as a distribution would run them, for tests that
// own the apiserver's whole command line (the sandbox's apiserver keeps its own). The binaries are the harness's
// cached builds; certificates come from the sandbox's CA.
import { stringify as toYaml } from "yaml";
import { type CertifiedKey, issueCertificate } from "../../lib/pki.ts";
import { KubeClient } from "../../lib/kube/client.ts";
import { loadKubeConnection, processKubeconfigSources } from "../../lib/kube/kubeconfig.ts";
import { ensureBinary } from "./go_build.ts";
import { freePort, ServerProcess } from "./server_process.ts";

/** A running etcd. */
export interface Etcd {
  url: string;
  stop(): Promise<void>;
}

/** Starts etcd with its data and log in `dir` (created). */
export async function startEtcd(dir: string): Promise<Etcd> {
  const bin = await ensureBinary("etcd");
  await Deno.mkdir(dir, { recursive: true });
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const etcd = ServerProcess.start("etcd", [
    bin,
    `--data-dir=${dir}/etcd-data`,
    `--listen-client-urls=${url}`,
    `--advertise-client-urls=${url}`,
    `--listen-peer-urls=http://127.0.0.1:${freePort()}`,
    "--unsafe-no-fsync",
    "--log-level=warn",
  ], { logPath: `${dir}/etcd.log` });
  await etcd.waitReady(async () => {
    const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
    return (await r.json()).health === "true";
  }, 30_000);
  return { url, stop: () => etcd.stop() };
}

/** What a test needs to reach apiservers it starts on one address: certificates, a kubeconfig and a client. */
export interface ApiserverAccess {
  url: string;
  port: number;
  /** PEM files for `--tls-cert-file`, `--tls-private-key-file` and `--client-ca-file`. */
  serving: { certPem: string; keyPem: string; caPem: string };
  kubeconfigPath: string;
  client(): Promise<KubeClient>;
  /** True when `/readyz` answers 200 to the admin. */
  ready(): Promise<boolean>;
  close(): void;
}

/** Certificates for 127.0.0.1:<free port>, an admin (system:masters) kubeconfig in `dir`, and readiness. */
export async function apiserverAccess(ca: CertifiedKey, dir: string): Promise<ApiserverAccess> {
  const port = freePort();
  const url = `https://127.0.0.1:${port}`;
  const serving = await issueCertificate(ca, "kube-apiserver", {
    usage: { kind: "server", dnsNames: ["localhost", "kubernetes.default.svc"], ipAddresses: ["127.0.0.1"] },
  });
  const admin = await issueCertificate(ca, "kubectl-irsa-admin", {
    usage: { kind: "client", organizations: ["system:masters"] },
  });
  const kubeconfigPath = `${dir}/kubeconfig`;
  await Deno.writeTextFile(
    kubeconfigPath,
    toYaml({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "c", cluster: { server: url, "certificate-authority-data": btoa(ca.certPem) } }],
      users: [{
        name: "admin",
        user: { "client-certificate-data": btoa(admin.certPem), "client-key-data": btoa(admin.keyPem) },
      }],
      contexts: [{ name: "c", context: { cluster: "c", user: "admin", namespace: "default" } }],
      "current-context": "c",
    }),
    { mode: 0o600 },
  );
  const http = Deno.createHttpClient({ caCerts: [ca.certPem], cert: admin.certPem, key: admin.keyPem });
  return {
    url,
    port,
    serving: { certPem: serving.certPem, keyPem: serving.keyPem, caPem: ca.certPem },
    kubeconfigPath,
    client: async () =>
      new KubeClient(await loadKubeConnection(processKubeconfigSources, { kubeconfig: kubeconfigPath })),
    ready: async () => {
      const r = await fetch(`${url}/readyz`, { client: http, signal: AbortSignal.timeout(2000) });
      await r.body?.cancel();
      return r.ok;
    },
    close: () => http.close(),
  };
}

/** The outcome of starting kube-apiserver with an argument list. */
export type ApiserverStart =
  | { ready: true; process: ServerProcess }
  | { ready: false; log: string };

/**
 * Starts the cached kube-apiserver with exactly `args` and waits until `/readyz` answers at `access`, or until it
 * exits. Never throws for a refused start: the caller asserts which outcome it expects.
 */
export async function startApiserver(
  args: string[],
  access: ApiserverAccess,
  options: { logPath: string; timeoutMs?: number },
): Promise<ApiserverStart> {
  const bin = await ensureBinary("kube-apiserver");
  const proc = ServerProcess.start("kube-apiserver", [bin, ...args], { logPath: options.logPath });
  try {
    await proc.waitReady(access.ready, options.timeoutMs ?? 90_000);
    return { ready: true, process: proc };
  } catch (e) {
    await proc.stop();
    return { ready: false, log: `${(e as Error).message}\n${await Deno.readTextFile(options.logPath)}` };
  }
}
