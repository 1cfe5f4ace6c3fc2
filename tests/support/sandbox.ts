// The local sandbox: a real etcd + kube-apiserver built from Go modules and a real moto_server over TLS, all on
// 127.0.0.1, sharing one harness CA. Tests, the demo and the benchmarks all start it through `startSandbox`.
import { stringify as toYaml } from "yaml";
import { type CertifiedKey, createRootCa, issueCertificate } from "../../lib/pki.ts";
import { generateRsaKeyPair } from "../../lib/keys.ts";
import { ensureBinary, serverVersions } from "./go_build.ts";
import { type NodeHost, nodeNetwork, prepareNodeHost, type RunningNode, startNode } from "./node.ts";
import { cacheDir } from "./proc.ts";
import { addInterruptHook, freePort, ServerProcess } from "./server_process.ts";

/** The issuer kube-apiserver starts with, as kubeadm clusters have it. */
export const inClusterIssuer = "https://kubernetes.default.svc.cluster.local";
/** Fake credentials moto accepts. */
export const motoCredentials = { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "moto-secret-key" } as const;
/** The account moto answers with. */
export const motoAccount = "123456789012";
const motoPatches = new URL("./moto_patches", import.meta.url).pathname;

/** Region the sandbox uses for AWS. */
export const sandboxRegion = "eu-west-1";

/** kube-apiserver service-account flags that a test may change between restarts. */
export interface ServiceAccountFlags {
  /** `--service-account-issuer` values, the first one signs. */
  issuers: string[];
  /** `--service-account-key-file` values; `""` gives the flag an empty value (what k3s's override looks like). */
  keyFiles: string[];
  /** Absent: no flag (the signing endpoint signs). */
  signingKeyFile?: string;
  /** `--service-account-signing-endpoint`: the external signer's socket. */
  signingEndpoint?: string;
  /** `--service-account-jwks-uri`, when set. */
  jwksUri?: string;
  /** Any further flags, e.g. `--api-audiences=…`. */
  extra?: string[];
}

/** A running sandbox; `stop()` ends every process by PID. */
export interface Sandbox {
  dir: string;
  kubeconfigPath: string;
  /** CA bundle (PEM file) that signs every server's certificate. */
  caPath: string;
  caPem: string;
  ca: CertifiedKey;
  apiserver: {
    url: string;
    version: string;
    flags: ServiceAccountFlags;
    restart(flags: ServiceAccountFlags): Promise<void>;
  };
  moto?: {
    endpoint: string;
    /** The intermediate CA in moto's chain: the OIDC thumbprint must be its SHA-1. */
    intermediatePem: string;
    reset(): Promise<void>;
    /** Calls a moto-api endpoint or any path with the harness CA trusted. */
    fetch(path: string, init?: RequestInit): Promise<Response>;
  };
  /** The real node, with `node: true`. */
  node?: RunningNode;
  /** Address the servers bind to: 127.0.0.1, or the node IP on the bridge with `node: true`. */
  host: string;
  /** Environment for running the plugin against the sandbox. */
  env: Record<string, string>;
  /** A fetch client that authenticates to kube-apiserver as the admin. */
  adminFetch(path: string, init?: RequestInit): Promise<Response>;
  /** Writes a file into the sandbox folder and returns its path. */
  writeFile(name: string, text: string, mode?: number): Promise<string>;
  stop(options?: { keepLogs?: boolean }): Promise<void>;
}

/** Options for `startSandbox`. */
export interface SandboxOptions {
  /** Start moto as well (default true). */
  moto?: boolean;
  /** Print progress on stderr. */
  verbose?: boolean;
  /**
   * Start a real node (kubelet, containerd, controller-manager, scheduler, kube-proxy) as well; the apiserver
   * and moto then bind to the node IP so pods reach them. One node per machine at a time.
   */
  node?: boolean;
}

/** Starts etcd, kube-apiserver and (by default) moto. Always pair with `stop()` in a finally block. */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const [etcdBin, apiserverBin] = [await ensureBinary("etcd"), await ensureBinary("kube-apiserver")];
  const root = `${cacheDir()}/runs`;
  await Deno.mkdir(root, { recursive: true });
  const dir = await Deno.makeTempDir({ dir: root, prefix: "sandbox-" });
  const processes: ServerProcess[] = [];
  let nodeHost: NodeHost | undefined;
  let node: RunningNode | undefined;
  const say = (m: string) => options.verbose && console.error(`sandbox: ${m}`);
  const writeFile = async (name: string, text: string, mode = 0o600) => {
    const path = `${dir}/${name}`;
    await Deno.writeTextFile(path, text, { mode });
    return path;
  };
  try {
    if (options.node) nodeHost = await prepareNodeHost(dir);
    const host = nodeHost?.ip ?? "127.0.0.1";
    const ca = await createRootCa("kubectl-irsa harness root CA");
    // An intermediate between the root and moto's leaf, so the OIDC thumbprint (top intermediate) is testable.
    const intermediate = await issueCertificate(ca, "kubectl-irsa harness intermediate CA", { usage: { kind: "ca" } });
    const serving = await issueCertificate(ca, "kube-apiserver", {
      usage: {
        kind: "server",
        dnsNames: [
          "localhost",
          "kubernetes",
          "kubernetes.default",
          "kubernetes.default.svc",
          "kubernetes.default.svc.cluster.local",
        ],
        // In-cluster clients dial the `kubernetes` Service's ClusterIP.
        ipAddresses: [...new Set(["127.0.0.1", host]), ...(options.node ? [nodeNetwork.kubernetesServiceIp] : [])],
      },
    });
    const admin = await issueCertificate(ca, "kubectl-irsa-admin", {
      usage: { kind: "client", organizations: ["system:masters"] },
    });
    const caPath = await writeFile("ca.pem", ca.certPem, 0o644);
    const sa = await generateRsaKeyPair();
    const flags: ServiceAccountFlags = {
      issuers: [inClusterIssuer],
      keyFiles: [await writeFile("sa.pub", sa.publicPem)],
      signingKeyFile: await writeFile("sa.key", sa.privatePem),
    };
    const files = {
      servingCert: await writeFile("apiserver.pem", serving.certPem),
      servingKey: await writeFile("apiserver.key", serving.keyPem),
    };

    const etcdPort = freePort();
    const etcd = ServerProcess.start("etcd", [
      etcdBin,
      `--data-dir=${dir}/etcd`,
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${freePort()}`,
      "--unsafe-no-fsync",
      "--log-level=warn",
      "--quota-backend-bytes=2147483648",
    ], { logPath: `${dir}/etcd.log` });
    processes.push(etcd);

    let moto: Sandbox["moto"];
    let motoEnv: Record<string, string> = {};
    if (options.moto ?? true) {
      const motoPort = freePort();
      const leaf = await issueCertificate(intermediate, "moto", {
        usage: { kind: "server", dnsNames: ["localhost"], ipAddresses: [...new Set(["127.0.0.1", host])] },
      });
      const motoProc = ServerProcess.start("moto_server", [
        "moto_server",
        "-H",
        host,
        "-p",
        String(motoPort),
        "-c",
        await writeFile("moto.pem", leaf.certPem + intermediate.certPem),
        "-k",
        await writeFile("moto.key", leaf.keyPem),
      ], {
        logPath: `${dir}/moto.log`,
        // moto_patches/sitecustomize.py makes moto's CloudFront keep what real CloudFront returns (see the file).
        env: { MOTO_IAM_LOAD_MANAGED_POLICIES: "true", PYTHONPATH: motoPatches },
      });
      processes.push(motoProc);
      const endpoint = `https://${host}:${motoPort}`;
      const client = Deno.createHttpClient({ caCerts: [ca.certPem] });
      const motoFetch = (path: string, init?: RequestInit) => fetch(`${endpoint}${path}`, { ...init, client });
      await motoProc.waitReady(async () => {
        const r = await motoFetch("/moto-api/data.json");
        await r.body?.cancel();
        return r.ok;
      }, 30_000);
      say(`moto ready at ${endpoint}`);
      moto = {
        endpoint,
        intermediatePem: intermediate.certPem,
        fetch: motoFetch,
        async reset() {
          const r = await motoFetch("/moto-api/reset", { method: "POST" });
          await r.body?.cancel();
          if (!r.ok) throw new Error(`moto reset failed: ${r.status}`);
        },
      };
      motoEnv = {
        AWS_ENDPOINT_URL: endpoint,
        AWS_ACCESS_KEY_ID: motoCredentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: motoCredentials.secretAccessKey,
        AWS_REGION: sandboxRegion,
        AWS_CA_BUNDLE: caPath,
        AWS_S3_FORCE_PATH_STYLE: "true",
      };
    }

    await etcd.waitReady(async () => {
      const r = await fetch(`http://127.0.0.1:${etcdPort}/health`);
      return (await r.json()).health === "true";
    }, 30_000);
    say(`etcd ready on 127.0.0.1:${etcdPort}`);

    const port = freePort();
    const url = `https://${host}:${port}`;
    const kubeletClient = options.node
      ? await issueCertificate(ca, "kube-apiserver-kubelet-client", {
        usage: { kind: "client", organizations: ["system:masters"] },
      })
      : undefined;
    // A node needs the Node authorizer, the ServiceAccount admission plugin (pods mount their API token) and a
    // client certificate for logs and exec; without one, ServiceAccounts are created by the tests.
    const nodeFlags = kubeletClient
      ? [
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        "--kubelet-preferred-address-types=InternalIP",
        `--kubelet-client-certificate=${await writeFile("kubelet-client.pem", kubeletClient.certPem)}`,
        `--kubelet-client-key=${await writeFile("kubelet-client.key", kubeletClient.keyPem)}`,
        `--kubelet-certificate-authority=${caPath}`,
        // Webhooks behind a Service are dialled at the endpoint IP, before kube-proxy has programmed anything.
        "--enable-aggregator-routing=true",
      ]
      : ["--authorization-mode=RBAC", "--disable-admission-plugins=ServiceAccount"];
    const adminClient = Deno.createHttpClient({ caCerts: [ca.certPem], cert: admin.certPem, key: admin.keyPem });
    const adminFetch = (path: string, init?: RequestInit) => fetch(`${url}${path}`, { ...init, client: adminClient });
    const startApiserver = async (): Promise<ServerProcess> => {
      const argv = [
        apiserverBin,
        `--etcd-servers=http://127.0.0.1:${etcdPort}`,
        `--cert-dir=${dir}/apiserver-certs`,
        `--tls-cert-file=${files.servingCert}`,
        `--tls-private-key-file=${files.servingKey}`,
        `--client-ca-file=${caPath}`,
        `--secure-port=${port}`,
        `--bind-address=${host}`,
        `--advertise-address=${host}`,
        `--service-cluster-ip-range=${nodeNetwork.serviceCidr}`,
        ...nodeFlags,
        "--allow-privileged=true",
        ...flags.issuers.map((i) => `--service-account-issuer=${i}`),
        ...flags.keyFiles.map((k) => `--service-account-key-file=${k}`),
        ...(flags.signingKeyFile !== undefined ? [`--service-account-signing-key-file=${flags.signingKeyFile}`] : []),
        ...(flags.signingEndpoint ? [`--service-account-signing-endpoint=${flags.signingEndpoint}`] : []),
        ...(flags.jwksUri ? [`--service-account-jwks-uri=${flags.jwksUri}`] : []),
        ...(flags.extra ?? []),
      ];
      const proc = ServerProcess.start("kube-apiserver", argv, { logPath: `${dir}/kube-apiserver.log` });
      processes.push(proc);
      await proc.waitReady(async () => {
        const r = await adminFetch("/readyz");
        await r.body?.cancel();
        return r.ok;
      }, 90_000);
      say(`kube-apiserver ${serverVersions.kubernetes} ready at ${url}`);
      return proc;
    };
    let apiserver = await startApiserver();

    const kubeconfigPath = await writeFile("kubeconfig", kubeconfig({ url, ca, admin }));
    if (nodeHost) {
      node = await startNode({
        dir,
        ca,
        caPath,
        apiserverUrl: url,
        serviceAccountKeyFile: flags.signingKeyFile!,
        adminFetch,
        kubeconfig: (user) => kubeconfig({ url, ca, admin: user }),
        host: nodeHost,
        say,
      });
    }
    let stopped = false;
    const stopAll = async () => {
      if (stopped) return;
      stopped = true;
      removeHook();
      // The node first: its pods are deleted through the apiserver, and the kubelet tears them down.
      if (node) await node.stop().catch((e) => console.error(`sandbox: node stop: ${e}`));
      await Promise.all(processes.map((p) => p.stop()));
      adminClient.close();
      if (nodeHost) await nodeHost.restore();
    };
    // Ctrl-C (or a SIGTERM to the test run) still stops the node in order and restores the host.
    const removeHook = addInterruptHook(stopAll);
    return {
      dir,
      kubeconfigPath,
      caPath,
      caPem: ca.certPem,
      ca,
      apiserver: {
        url,
        version: serverVersions.kubernetes,
        flags,
        async restart(next: ServiceAccountFlags) {
          await apiserver.stop();
          processes.splice(processes.indexOf(apiserver), 1);
          Object.assign(
            flags,
            { jwksUri: undefined, extra: undefined, signingKeyFile: undefined, signingEndpoint: undefined },
            next,
          );
          apiserver = await startApiserver();
        },
      },
      ...(moto ? { moto } : {}),
      ...(node ? { node } : {}),
      host,
      env: { KUBECONFIG: kubeconfigPath, NO_COLOR: "1", ...motoEnv },
      adminFetch,
      writeFile,
      async stop({ keepLogs = false } = {}) {
        await stopAll();
        if (keepLogs) console.error(`sandbox: logs kept in ${dir}`);
        else await Deno.remove(dir, { recursive: true }).catch(() => {});
      },
    };
  } catch (e) {
    if (node) await node.stop().catch(() => {});
    await Promise.all(processes.map((p) => p.stop()));
    if (nodeHost) await nodeHost.restore();
    console.error(`sandbox: start failed; logs kept in ${dir}`);
    throw e;
  }
}

function kubeconfig(o: { url: string; ca: CertifiedKey; admin: CertifiedKey }): string {
  const b64 = (s: string) => btoa(s);
  return toYaml({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "sandbox", cluster: { server: o.url, "certificate-authority-data": b64(o.ca.certPem) } }],
    users: [{
      name: "sandbox-admin",
      user: { "client-certificate-data": b64(o.admin.certPem), "client-key-data": b64(o.admin.keyPem) },
    }],
    contexts: [{ name: "sandbox", context: { cluster: "sandbox", user: "sandbox-admin", namespace: "default" } }],
    "current-context": "sandbox",
  });
}

/**
 * Runs `body` with a fresh sandbox and stops it afterwards; logs are kept when the body throws, so a failed
 * run can be read afterwards.
 */
export async function withSandbox<T>(body: (s: Sandbox) => Promise<T>, options: SandboxOptions = {}): Promise<T> {
  const sandbox = await startSandbox(options);
  let failed = true;
  try {
    const result = await body(sandbox);
    failed = false;
    return result;
  } finally {
    await sandbox.stop({ keepLogs: failed || Deno.env.get("KUBECTL_IRSA_KEEP_LOGS") === "1" });
  }
}
