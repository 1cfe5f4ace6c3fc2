// Resolves how to reach the Kubernetes API: a kubeconfig (KUBECONFIG list, --context) or, inside a pod, the
// mounted ServiceAccount token. Client certificates, bearer tokens, token files and exec plugins are supported.
import { parse as parseYaml } from "yaml";
import { IrsaError } from "../errors.ts";

/** Everything needed to open a connection to one API server. */
export interface KubeConnection {
  server: string;
  /** PEM CA bundle; undefined means the system roots. */
  caPem?: string;
  insecureSkipTlsVerify?: boolean;
  clientCertPem?: string;
  clientKeyPem?: string;
  /** Returns the bearer token to send, if any; called per request so rotated token files are re-read. */
  token?: () => Promise<string>;
  /** The context's namespace, or "default". */
  namespace: string;
  /** Name of the kubeconfig context, or "in-cluster". */
  contextName: string;
}

interface NamedEntry<T> {
  name: string;
  [key: string]: unknown;
  _value?: T;
}

type Raw = Record<string, unknown>;

/** Sources `loadKubeConnection` reads, injectable for tests. */
export interface KubeconfigSources {
  env: { get(name: string): string | undefined };
  readTextFile(path: string): Promise<string>;
  runExec?(command: string, args: string[], env: Record<string, string>): Promise<string>;
}

const inClusterDir = "/var/run/secrets/kubernetes.io/serviceaccount";

/** Finds the connection: explicit kubeconfig, then $KUBECONFIG, then ~/.kube/config, then in-cluster. */
export async function loadKubeConnection(
  sources: KubeconfigSources,
  options: { kubeconfig?: string; context?: string } = {},
): Promise<KubeConnection> {
  const paths = options.kubeconfig
    ? [options.kubeconfig]
    : (sources.env.get("KUBECONFIG")?.split(":").filter(Boolean) ??
      [`${sources.env.get("HOME") ?? ""}/.kube/config`]);
  const docs: { path: string; doc: Raw }[] = [];
  for (const path of paths) {
    let text: string;
    try {
      text = await sources.readTextFile(path);
    } catch (e) {
      if (options.kubeconfig) {
        throw new IrsaError("invalid", "KubeconfigUnreadable", `cannot read kubeconfig "${path}"`, { cause: e });
      }
      continue;
    }
    docs.push({ path, doc: (parseYaml(text) ?? {}) as Raw });
  }
  if (docs.length === 0) {
    const host = sources.env.get("KUBERNETES_SERVICE_HOST");
    if (host) return await inCluster(sources, host);
    throw new IrsaError(
      "precondition",
      "NoKubeconfig",
      `no kubeconfig found (looked at ${paths.join(", ")}); pass --kubeconfig or set KUBECONFIG`,
    );
  }
  return await fromKubeconfig(docs, sources, options.context);
}

async function inCluster(sources: KubeconfigSources, host: string): Promise<KubeConnection> {
  const port = sources.env.get("KUBERNETES_SERVICE_PORT") ?? "443";
  const server = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
  const namespace = (await sources.readTextFile(`${inClusterDir}/namespace`).catch(() => "default")).trim();
  return {
    server,
    caPem: await sources.readTextFile(`${inClusterDir}/ca.crt`),
    token: async () => (await sources.readTextFile(`${inClusterDir}/token`)).trim(),
    namespace,
    contextName: "in-cluster",
  };
}

function merged(docs: { path: string; doc: Raw }[], key: "clusters" | "users" | "contexts") {
  // The first file that defines a name wins, as kubectl merges KUBECONFIG lists.
  const out = new Map<string, { path: string; value: Raw }>();
  for (const { path, doc } of docs) {
    for (const entry of (doc[key] as NamedEntry<unknown>[] | undefined) ?? []) {
      const inner = key === "clusters" ? entry.cluster : key === "users" ? entry.user : entry.context;
      if (!out.has(entry.name)) out.set(entry.name, { path, value: (inner ?? {}) as Raw });
    }
  }
  return out;
}

async function fromKubeconfig(
  docs: { path: string; doc: Raw }[],
  sources: KubeconfigSources,
  contextOverride: string | undefined,
): Promise<KubeConnection> {
  const contextName = contextOverride ??
    docs.map((d) => d.doc["current-context"] as string | undefined).find((c) => c);
  if (!contextName) {
    throw new IrsaError("precondition", "NoContext", "the kubeconfig has no current-context; pass --context");
  }
  const context = merged(docs, "contexts").get(contextName)?.value;
  if (!context) {
    throw new IrsaError("invalid", "UnknownContext", `context "${contextName}" is not in the kubeconfig`);
  }
  const cluster = merged(docs, "clusters").get(String(context.cluster));
  if (!cluster) {
    throw new IrsaError(
      "invalid",
      "UnknownCluster",
      `cluster "${context.cluster}" of context "${contextName}" is not in the kubeconfig`,
    );
  }
  const user = merged(docs, "users").get(String(context.user));
  const dirOf = (path: string) => path.replace(/\/[^/]*$/, "") || ".";
  const readRef = async (value: Raw, dataKey: string, fileKey: string, base: string) => {
    if (typeof value[dataKey] === "string") return atob(value[dataKey] as string);
    if (typeof value[fileKey] === "string") {
      const file = value[fileKey] as string;
      return await sources.readTextFile(file.startsWith("/") ? file : `${base}/${file}`);
    }
    return undefined;
  };
  const c = cluster.value;
  const conn: KubeConnection = {
    server: String(c.server ?? "").replace(/\/$/, ""),
    namespace: String(context.namespace ?? "default"),
    contextName,
  };
  const ca = await readRef(c, "certificate-authority-data", "certificate-authority", dirOf(cluster.path));
  if (ca) conn.caPem = ca;
  if (c["insecure-skip-tls-verify"] === true) conn.insecureSkipTlsVerify = true;
  if (user) {
    const u = user.value;
    const base = dirOf(user.path);
    const cert = await readRef(u, "client-certificate-data", "client-certificate", base);
    const key = await readRef(u, "client-key-data", "client-key", base);
    if (cert) conn.clientCertPem = cert;
    if (key) conn.clientKeyPem = key;
    if (typeof u.token === "string") {
      const token = u.token;
      conn.token = () => Promise.resolve(token);
    } else if (typeof u.tokenFile === "string") {
      const file = u.tokenFile;
      conn.token = async () => (await sources.readTextFile(file)).trim();
    } else if (u.exec && typeof u.exec === "object") {
      conn.token = execTokenSource(u.exec as Raw, sources);
    }
  }
  return conn;
}

function execTokenSource(exec: Raw, sources: KubeconfigSources): () => Promise<string> {
  let cached: { token: string; expires: number } | undefined;
  return async () => {
    if (cached && cached.expires > Date.now() + 30_000) return cached.token;
    if (!sources.runExec) {
      throw new IrsaError("invalid", "ExecUnsupported", "kubeconfig exec plugins are not supported here");
    }
    const env: Record<string, string> = {};
    for (const e of (exec.env as { name: string; value: string }[] | undefined) ?? []) env[e.name] = e.value;
    const out = await sources.runExec(String(exec.command), (exec.args as string[] | undefined) ?? [], env);
    const status = (JSON.parse(out) as { status?: { token?: string; expirationTimestamp?: string } }).status;
    if (!status?.token) {
      throw new IrsaError("denied", "ExecNoToken", `kubeconfig exec plugin "${exec.command}" returned no token`);
    }
    const expires = status.expirationTimestamp ? Date.parse(status.expirationTimestamp) : Date.now() + 600_000;
    cached = { token: status.token, expires };
    return status.token;
  };
}

/** The real files, environment and process runner. */
export const processKubeconfigSources: KubeconfigSources = {
  env: Deno.env,
  readTextFile: (path) => Deno.readTextFile(path),
  async runExec(command, args, env) {
    const out = await new Deno.Command(command, { args, env, stdout: "piped", stderr: "inherit" }).output();
    if (!out.success) {
      throw new IrsaError("denied", "ExecFailed", `kubeconfig exec plugin "${command}" exited with ${out.code}`);
    }
    return new TextDecoder().decode(out.stdout);
  },
};
