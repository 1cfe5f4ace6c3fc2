// Resolves how to reach the Kubernetes API by kubectl's rules (client-go clientcmd): --kubeconfig, else the
// KUBECONFIG list (":" or ";" on Windows, first file to define a name wins, missing files skipped, broken ones
// fatal), else ~/.kube/config, else the pod's ServiceAccount. Relative paths are resolved against the file that
// holds them. What kubectl honours is honoured; what kubectl-irsa cannot honour, or does not understand, is
// refused with the file and the field, so no request goes out differently from what the kubeconfig asks for.
import { posix, win32 } from "node:path";
import { IrsaError } from "../errors.ts";
import {
  type ExecApiVersion,
  execApiVersions,
  type ExecClusterInfo,
  type ExecConfig,
  ExecCredentialSource,
  type ExecInteractiveMode,
  type ExecRunner,
} from "./exec_credential.ts";
import { nodeTransportReason } from "./transport.ts";

/** Impersonation headers to send (kubeconfig `as`/`as-groups`/…, overridden by --as/--as-group). */
export interface Impersonation {
  user: string;
  uid?: string;
  groups: string[];
  extra: Record<string, string[]>;
}

/** Everything needed to open a connection to one API server. */
export interface KubeConnection {
  server: string;
  /** PEM CA bundle; undefined means the system roots. */
  caPem?: string;
  insecureSkipTlsVerify?: boolean;
  /** Server name to verify (and send as SNI) instead of the server URL's host. */
  tlsServerName?: string;
  /** The proxy requests go through: the cluster's proxy-url, else HTTPS_PROXY/HTTP_PROXY by Go's rules. */
  proxyUrl?: string;
  /** Set when Go's rules connect directly but Deno's fetch, left to the environment, would use a proxy. */
  fetchWouldProxy?: boolean;
  disableCompression?: boolean;
  clientCertPem?: string;
  clientKeyPem?: string;
  /** Returns the bearer token to send, if any; called per request so rotated token files are re-read. */
  token?: () => Promise<string>;
  /** An exec credential plugin, used when the user has no token and no client certificate of its own. */
  exec?: ExecCredentialSource;
  impersonate?: Impersonation;
  /** The context's namespace, or "default". */
  namespace: string;
  /** Name of the kubeconfig context, or "in-cluster". */
  contextName: string;
}

/** Sources `loadKubeConnection` reads, injectable for tests. */
export interface KubeconfigSources {
  env: { get(name: string): string | undefined };
  /** Rejects with Deno.errors.NotFound for a missing file (skipped in the KUBECONFIG list, like kubectl). */
  readTextFile(path: string): Promise<string>;
  /** The platform's path and list rules; default linux. */
  os?: typeof Deno.build.os;
  /** Base of relative kubeconfig paths; default the root. */
  cwd?(): string;
  /** Runs exec credential plugins; without it an exec user is refused. */
  exec?: ExecRunner;
}

/** What the command line adds to the kubeconfig (kubectl's ConfigOverrides). */
export interface KubeconfigOptions {
  kubeconfig?: string;
  context?: string;
  /** --as and --as-group: replace the kubeconfig user's `as` and `as-groups` when given. */
  impersonate?: { user?: string; groups?: string[] };
}

type Raw = Record<string, unknown>;
interface Doc {
  path: string;
  /** Absolute directory of the file, the base of its relative paths. */
  base: string;
  doc: Raw;
}

const inClusterDir = "/var/run/secrets/kubernetes.io/serviceaccount";
const execExtension = "client.authentication.k8s.io/exec";

// The kubeconfig v1 schema (k8s.io/client-go/tools/clientcmd/api/v1). Anything else in the entries a connection
// uses is refused rather than ignored: ignoring an auth field is how a request goes out anonymous.
const clusterFields = [
  "server",
  "tls-server-name",
  "insecure-skip-tls-verify",
  "certificate-authority",
  "certificate-authority-data",
  "proxy-url",
  "disable-compression",
  "extensions",
] as const;
const userFields = [
  "client-certificate",
  "client-certificate-data",
  "client-key",
  "client-key-data",
  "token",
  "tokenFile",
  "as",
  "as-uid",
  "as-groups",
  "as-user-extra",
  "username",
  "password",
  "auth-provider",
  "exec",
  "extensions",
] as const;
const execFields = [
  "command",
  "args",
  "env",
  "apiVersion",
  "installHint",
  "provideClusterInfo",
  "interactiveMode",
] as const;
const contextFields = ["cluster", "user", "namespace", "extensions"] as const;

function invalid(reason: string, message: string, cause?: unknown): IrsaError {
  return new IrsaError("invalid", reason, message, cause === undefined ? undefined : { cause });
}

function isMapping(v: unknown): v is Raw {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The kubeconfig files kubectl would read, in precedence order. */
async function precedence(sources: KubeconfigSources, os: string): Promise<string[]> {
  const list = sources.env.get("KUBECONFIG");
  if (list) {
    // filepath.SplitList, then client-go's deduplicate; empty entries are skipped.
    return [...new Set(list.split(os === "windows" ? ";" : ":").filter(Boolean))];
  }
  if (os !== "windows") return [posix.join(sources.env.get("HOME") ?? "", ".kube", "config")];
  return [win32.join(await windowsHome(sources), ".kube", "config")];
}

/**
 * client-go's homedir.HomeDir on Windows: the first of %HOME%, %HOMEDRIVE%%HOMEPATH%, %USERPROFILE% holding
 * .kube\config; else the first set of %HOME%, %USERPROFILE%, %HOMEDRIVE%%HOMEPATH%.
 */
async function windowsHome(sources: KubeconfigSources): Promise<string> {
  const env = (name: string) => sources.env.get(name) || undefined;
  const home = env("HOME");
  const drive = env("HOMEDRIVE");
  const homePath = env("HOMEPATH");
  const driveHome = drive && homePath ? drive + homePath : undefined;
  const profile = env("USERPROFILE");
  for (const p of [home, driveHome, profile]) {
    if (!p) continue;
    try {
      await sources.readTextFile(win32.join(p, ".kube", "config"));
      return p;
    } catch { /* not here */ }
  }
  return home ?? profile ?? driveHome ?? "";
}

/** Finds the connection: explicit kubeconfig, then $KUBECONFIG, then ~/.kube/config, then in-cluster. */
export async function loadKubeConnection(
  sources: KubeconfigSources,
  options: KubeconfigOptions = {},
): Promise<KubeConnection> {
  const os = sources.os ?? "linux";
  const paths = options.kubeconfig ? [options.kubeconfig] : await precedence(sources, os);
  const cwd = sources.cwd?.() ?? (os === "windows" ? "C:\\" : "/");
  const path = os === "windows" ? win32 : posix;
  const docs: Doc[] = [];
  for (const file of paths) {
    let text: string;
    try {
      text = await sources.readTextFile(path.resolve(cwd, file));
    } catch (e) {
      // A missing file in the list is skipped, as kubectl does; an unreadable one is an error, also as kubectl.
      if (e instanceof Deno.errors.NotFound && !options.kubeconfig) continue;
      const why = e instanceof Deno.errors.NotFound ? "no such file" : `cannot read it: ${errorText(e)}`;
      throw invalid("KubeconfigUnreadable", `kubeconfig ${file}: ${why}`, e);
    }
    docs.push({ path: file, base: path.resolve(cwd, path.dirname(file)), doc: await parseKubeconfig(file, text) });
  }
  const empty = docs.every(({ doc }) =>
    !doc["current-context"] && !listOf(doc, "clusters").length && !listOf(doc, "users").length &&
    !listOf(doc, "contexts").length
  );
  if (empty && !options.context) {
    const host = sources.env.get("KUBERNETES_SERVICE_HOST");
    if (host) return await inCluster(sources, host, options);
    if (docs.length === 0) {
      throw new IrsaError(
        "precondition",
        "NoKubeconfig",
        `no kubeconfig found (looked at ${paths.join(", ")}); pass --kubeconfig or set KUBECONFIG`,
      );
    }
  }
  return await fromKubeconfig(docs, sources, options, os);
}

function errorText(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).replace(/\s*\(os error \d+\)/, "").replace(/: \w+ '.*'$/, "");
}

/**
 * Parses one kubeconfig file; a broken one names the file, the position and what is wrong, on one line. The YAML
 * parser is loaded on first use (it is a CommonJS package, whose loader costs resident memory): the daemon in a pod
 * connects without a kubeconfig, and a JSON kubeconfig (`kubectl config view -o json`) needs no YAML parser.
 */
export async function parseKubeconfig(path: string, text: string): Promise<Raw> {
  return checkDocument(path, jsonDocument(text) ?? await yamlDocument(path, text));
}

/** The document when the text is JSON, which is YAML too; undefined otherwise, so YAML reports the error. */
function jsonDocument(text: string): { doc: unknown } | undefined {
  if (!/^\s*\{/.test(text)) return undefined;
  try {
    return { doc: JSON.parse(text) };
  } catch {
    return undefined;
  }
}

async function yamlDocument(path: string, text: string): Promise<{ doc: unknown }> {
  const { parse: parseYaml, YAMLParseError } = await import("yaml");
  try {
    // YAML 1.1 like kubectl's go-yaml: `insecure-skip-tls-verify: yes` is a boolean there too.
    return { doc: parseYaml(text, { version: "1.1", logLevel: "error" }) };
  } catch (e) {
    if (e instanceof YAMLParseError) {
      const pos = e.linePos?.[0];
      const what = e.message.replace(/ at line \d+, column \d+:[\s\S]*$/, "").replace(/\s+/g, " ").trim();
      throw invalid(
        "KubeconfigInvalidYaml",
        `kubeconfig ${path}: invalid YAML${pos ? ` at line ${pos.line}, column ${pos.col}` : ""}: ${
          what.charAt(0).toLowerCase() + what.slice(1)
        }`,
        e,
      );
    }
    throw invalid("KubeconfigInvalidYaml", `kubeconfig ${path}: invalid YAML: ${errorText(e)}`, e);
  }
}

function checkDocument(path: string, { doc }: { doc: unknown }): Raw {
  if (doc === null || doc === undefined) return {};
  if (!isMapping(doc)) {
    throw invalid(
      "KubeconfigInvalid",
      `kubeconfig ${path}: not a kubeconfig: the document is ${Array.isArray(doc) ? "a list" : `a ${typeof doc}`}`,
    );
  }
  if (doc.apiVersion !== undefined && doc.apiVersion !== null && doc.apiVersion !== "v1") {
    throw invalid("KubeconfigInvalid", `kubeconfig ${path}: apiVersion "${doc.apiVersion}" is not v1`);
  }
  if (doc.kind !== undefined && doc.kind !== null && doc.kind !== "Config") {
    throw invalid("KubeconfigInvalid", `kubeconfig ${path}: kind "${doc.kind}" is not Config`);
  }
  for (const key of ["clusters", "users", "contexts"] as const) {
    const list = doc[key];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) throw invalid("KubeconfigInvalid", `kubeconfig ${path}: "${key}" must be a list`);
    const inner = key.slice(0, -1);
    for (const [i, entry] of list.entries()) {
      if (!isMapping(entry) || typeof entry.name !== "string") {
        throw invalid("KubeconfigInvalid", `kubeconfig ${path}: ${key}[${i}] needs a "name" string`);
      }
      if (entry[inner] !== undefined && entry[inner] !== null && !isMapping(entry[inner])) {
        throw invalid("KubeconfigInvalid", `kubeconfig ${path}: ${inner} "${entry.name}" must be a mapping`);
      }
    }
  }
  const current = doc["current-context"];
  if (current !== undefined && current !== null && typeof current !== "string") {
    throw invalid("KubeconfigInvalid", `kubeconfig ${path}: "current-context" must be a string`);
  }
  return doc;
}

function listOf(doc: Raw, key: string): Raw[] {
  return (doc[key] as Raw[] | undefined | null) ?? [];
}

/** The entries of one kind across files; the first file that defines a name wins the whole entry, as in kubectl. */
function merged(docs: Doc[], key: "clusters" | "users" | "contexts"): Map<string, { file: Doc; value: Raw }> {
  const inner = key.slice(0, -1);
  const out = new Map<string, { file: Doc; value: Raw }>();
  for (const file of docs) {
    for (const entry of listOf(file.doc, key)) {
      const name = entry.name as string;
      if (!out.has(name)) out.set(name, { file, value: (entry[inner] ?? {}) as Raw });
    }
  }
  return out;
}

/** Field readers that refuse a wrong type with the field's place. */
class Fields {
  constructor(readonly value: Raw, readonly where: string) {}

  only(known: readonly string[]): this {
    for (const key of Object.keys(this.value)) {
      if (known.includes(key)) continue;
      const squash = (s: string) => s.replace(/[-_]/g, "").toLowerCase();
      const near = known.find((k) => squash(k) === squash(key));
      throw invalid(
        "KubeconfigUnknownField",
        `${this.where}: unknown field "${key}"${
          near ? ` (did you mean "${near}"?)` : ""
        }; kubectl-irsa does not connect with settings it does not understand`,
      );
    }
    return this;
  }

  string(key: string): string | undefined {
    const v = this.value[key];
    if (v === undefined || v === null || v === "") return undefined;
    if (typeof v !== "string") throw invalid("KubeconfigInvalid", `${this.where}: "${key}" must be a string`);
    return v;
  }

  bool(key: string): boolean {
    const v = this.value[key];
    if (v === undefined || v === null) return false;
    if (typeof v !== "boolean") {
      throw invalid("KubeconfigInvalid", `${this.where}: "${key}" must be true or false, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  strings(key: string): string[] {
    const v = this.value[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) {
      throw invalid("KubeconfigInvalid", `${this.where}: "${key}" must be a list of strings`);
    }
    return v as string[];
  }

  mapping(key: string): Raw | undefined {
    const v = this.value[key];
    if (v === undefined || v === null) return undefined;
    if (!isMapping(v)) throw invalid("KubeconfigInvalid", `${this.where}: "${key}" must be a mapping`);
    return v;
  }

  list(key: string): unknown[] {
    const v = this.value[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw invalid("KubeconfigInvalid", `${this.where}: "${key}" must be a list`);
    return v;
  }
}

/** Go's filepath.IsAbs and filepath.Join for the platform. */
function resolvePath(ref: string, base: string, os: string): string {
  if (os === "windows") return /^([A-Za-z]:[\\/]|[\\/]{2})/.test(ref) ? ref : win32.join(base, ref);
  return ref.startsWith("/") ? ref : posix.join(base, ref);
}

async function readFileRef(sources: KubeconfigSources, file: string, where: string, field: string): Promise<string> {
  try {
    return await sources.readTextFile(file);
  } catch (e) {
    throw invalid("KubeconfigUnreadable", `${where}: cannot read ${field} ${file}: ${errorText(e)}`, e);
  }
}

function decodeData(value: string, where: string, field: string): string {
  try {
    const binary = atob(value.replace(/\s+/g, ""));
    return new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
  } catch {
    throw invalid("KubeconfigInvalid", `${where}: "${field}" is not valid base64`);
  }
}

/** A `-data` field or its file counterpart, read and checked; kubectl refuses both at once. */
async function pemRef(
  sources: KubeconfigSources,
  f: Fields,
  names: { data: string; file: string; label: "certificate" | "private key" },
  base: string,
  os: string,
): Promise<string | undefined> {
  const data = f.string(names.data);
  const file = f.string(names.file);
  if (data && file) {
    throw invalid(
      "KubeconfigConflict",
      `${f.where}: both "${names.data}" and "${names.file}" are set; kubectl refuses this too, keep one`,
    );
  }
  let pem: string | undefined;
  let source = names.data;
  if (data) pem = decodeData(data, f.where, names.data);
  else if (file) {
    const resolved = resolvePath(file, base, os);
    source = `${names.file} ${resolved}`;
    pem = await readFileRef(sources, resolved, f.where, names.file);
  }
  if (pem === undefined) return undefined;
  const marker = names.label === "certificate" ? /-----BEGIN CERTIFICATE-----/ : /-----BEGIN [A-Z ]*PRIVATE KEY-----/;
  if (!marker.test(pem)) throw invalid("KubeconfigInvalid", `${f.where}: ${source} holds no PEM ${names.label}`);
  return pem;
}

function serverUrl(raw: string, defaultTls: boolean, where: string): string {
  // client-go's DefaultServerURL: a bare host:port gets https when TLS is configured, else http.
  const text = raw.includes("://") ? raw : `${defaultTls ? "https" : "http"}://${raw}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid("KubeconfigInvalid", `${where}: server "${raw}" is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw invalid("KubeconfigInvalid", `${where}: server "${raw}" must be an https:// (or http://) URL`);
  }
  return text.replace(/\/+$/, "");
}

function checkProxyUrl(raw: string, where: string): string {
  // client-go's parseProxyURL: http, https or socks5.
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid("KubeconfigInvalid", `${where}: invalid "proxy-url" "${raw}": not a URL`);
  }
  if (!["http:", "https:", "socks5:"].includes(url.protocol)) {
    throw invalid(
      "KubeconfigInvalid",
      `${where}: invalid "proxy-url" "${raw}": unsupported scheme "${
        url.protocol.slice(0, -1)
      }", must be http, https, or socks5`,
    );
  }
  return raw;
}

type Env = { get(name: string): string | undefined };

function pickEnv(env: Env, ...names: string[]): string {
  return names.map((n) => env.get(n)).find((v) => v) ?? "";
}

/** Whether NO_PROXY names the server's host (exactly, as a domain suffix, by CIDR, or "*"). */
function noProxyMatches(url: URL, env: Env): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  return pickEnv(env, "NO_PROXY", "no_proxy").split(",").some((raw) => {
    const entry = raw.trim().toLowerCase();
    if (!entry) return false;
    if (entry === "*") return true;
    if (entry.includes("/")) return inCidr(host, entry);
    const m = entry.match(/^(.*?)(?::(\d+))?$/)!;
    let name = m[1]!.replace(/^\[|\]$/g, "");
    if (m[2] && m[2] !== port) return false;
    if (name.startsWith("*.")) name = name.slice(1);
    return name.startsWith(".") ? host.endsWith(name) : host === name || host.endsWith(`.${name}`);
  });
}

/** Go's http.ProxyFromEnvironment for one server URL: the proxy to use, or undefined for a direct connection. */
export function environmentProxy(server: string, env: Env): string | undefined {
  const url = new URL(server);
  const proxy = url.protocol === "https:"
    ? pickEnv(env, "HTTPS_PROXY", "https_proxy")
    : pickEnv(env, "HTTP_PROXY", "http_proxy");
  if (!proxy) return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (host === "localhost" || isLoopback(host)) return undefined;
  if (noProxyMatches(url, env)) return undefined;
  return proxy.includes("://") ? proxy : `http://${proxy}`;
}

/**
 * Whether Deno's fetch, left to the environment, would proxy this server: it also reads ALL_PROXY (which Go
 * ignores) and proxies loopback and localhost (which Go never does).
 */
export function fetchWouldProxy(server: string, env: Env): boolean {
  const url = new URL(server);
  const proxy = url.protocol === "https:"
    ? pickEnv(env, "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
    : pickEnv(env, "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy");
  return proxy !== "" && !noProxyMatches(url, env);
}

function isLoopback(host: string): boolean {
  return host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function inCidr(host: string, cidr: string): boolean {
  const [net, bitsText] = cidr.split("/");
  const ip = (s: string) => {
    const parts = s.split(".").map(Number);
    return parts.length === 4 && parts.every((n) => Number.isInteger(n) && n >= 0 && n <= 255)
      ? parts.reduce((a, n) => (a << 8) + n, 0) >>> 0
      : undefined;
  };
  const a = ip(host);
  const b = ip(net ?? "");
  const bits = Number(bitsText);
  if (a === undefined || b === undefined || !(bits >= 0 && bits <= 32)) return false;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return ((a & mask) >>> 0) === ((b & mask) >>> 0);
}

async function inCluster(
  sources: KubeconfigSources,
  host: string,
  options: KubeconfigOptions,
): Promise<KubeConnection> {
  const port = sources.env.get("KUBERNETES_SERVICE_PORT") ?? "443";
  const server = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
  const namespace = (await sources.readTextFile(`${inClusterDir}/namespace`).catch(() => "default")).trim();
  const conn: KubeConnection = {
    server,
    caPem: await sources.readTextFile(`${inClusterDir}/ca.crt`),
    token: async () => (await sources.readTextFile(`${inClusterDir}/token`)).trim(),
    namespace,
    contextName: "in-cluster",
  };
  const proxy = environmentProxy(server, sources.env);
  if (proxy) conn.proxyUrl = proxy;
  if (!conn.proxyUrl && fetchWouldProxy(server, sources.env)) conn.fetchWouldProxy = true;
  const impersonate = impersonation(undefined, options, "in-cluster config");
  if (impersonate) conn.impersonate = impersonate;
  return conn;
}

async function fromKubeconfig(
  docs: Doc[],
  sources: KubeconfigSources,
  options: KubeconfigOptions,
  os: string,
): Promise<KubeConnection> {
  const files = docs.map((d) => d.path).join(", ");
  const contextName = options.context ??
    docs.map((d) => d.doc["current-context"] as string | undefined).find((c) => c);
  if (!contextName) {
    throw new IrsaError(
      "precondition",
      "NoContext",
      `the kubeconfig (${files}) has no current-context; pass --context`,
    );
  }
  const context = merged(docs, "contexts").get(contextName);
  if (!context) {
    throw invalid("UnknownContext", `context "${contextName}" is not in the kubeconfig (${files})`);
  }
  const ctx = new Fields(context.value, `kubeconfig ${context.file.path}: context "${contextName}"`).only(
    contextFields,
  );
  const clusterName = ctx.string("cluster");
  if (!clusterName) throw invalid("UnknownCluster", `${ctx.where} names no cluster`);
  const cluster = merged(docs, "clusters").get(clusterName);
  if (!cluster) {
    throw invalid(
      "UnknownCluster",
      `cluster "${clusterName}" of context "${contextName}" is not in the kubeconfig (${files})`,
    );
  }
  const userName = ctx.string("user");
  const user = userName === undefined ? undefined : merged(docs, "users").get(userName);
  if (userName !== undefined && !user) {
    // kubectl would go on without credentials; a misspelt user name must not turn into anonymous requests.
    throw invalid("UnknownUser", `user "${userName}" of context "${contextName}" is not in the kubeconfig (${files})`);
  }

  const c = new Fields(cluster.value, `kubeconfig ${cluster.file.path}: cluster "${clusterName}"`).only(clusterFields);
  const rawServer = c.string("server");
  if (!rawServer) throw invalid("KubeconfigInvalid", `${c.where}: no server`);
  const caPem = await pemRef(
    sources,
    c,
    { data: "certificate-authority-data", file: "certificate-authority", label: "certificate" },
    cluster.file.base,
    os,
  );
  const insecure = c.bool("insecure-skip-tls-verify");
  if (insecure && caPem) {
    throw invalid(
      "KubeconfigConflict",
      `${c.where}: insecure-skip-tls-verify cannot be combined with a certificate authority (kubectl: specifying a root certificates file with the insecure flag is not allowed)`,
    );
  }
  const tlsServerName = c.string("tls-server-name");
  const proxyField = c.string("proxy-url");
  const proxyUrl = proxyField === undefined ? undefined : checkProxyUrl(proxyField, c.where);
  const conn: KubeConnection = {
    server: "",
    namespace: ctx.string("namespace") ?? "default",
    contextName,
  };
  if (caPem) conn.caPem = caPem;
  if (insecure) conn.insecureSkipTlsVerify = true;
  if (tlsServerName) conn.tlsServerName = tlsServerName;
  if (c.bool("disable-compression")) conn.disableCompression = true;

  let u: Fields | undefined;
  if (user) {
    u = new Fields(user.value, `kubeconfig ${user.file.path}: user "${userName}"`).only(userFields);
    const cluster = execClusterInfo(rawServer, conn, proxyUrl, c);
    await applyUser(conn, u, { sources, base: user.file.base, os, cluster });
  }
  conn.server = serverUrl(rawServer, Boolean(caPem || insecure || conn.clientCertPem), c.where);
  const impersonate = impersonation(u, options, u?.where ?? `context "${contextName}"`);
  if (impersonate) conn.impersonate = impersonate;
  if (proxyUrl) conn.proxyUrl = proxyUrl;
  else {
    const fromEnv = environmentProxy(conn.server, sources.env);
    if (fromEnv) conn.proxyUrl = fromEnv;
  }
  if (!conn.proxyUrl && fetchWouldProxy(conn.server, sources.env)) conn.fetchWouldProxy = true;
  refuseUnsendable(conn, c.where);
  return conn;
}

/** Mirrors client-go's ConfigToExecCluster: the cluster as the plugin sees it (server as written). */
function execClusterInfo(server: string, conn: KubeConnection, proxyUrl: string | undefined, c: Fields) {
  const info: ExecClusterInfo = { server };
  if (conn.tlsServerName) info["tls-server-name"] = conn.tlsServerName;
  if (conn.insecureSkipTlsVerify) info["insecure-skip-tls-verify"] = true;
  if (conn.caPem) {
    let binary = "";
    for (const byte of new TextEncoder().encode(conn.caPem)) binary += String.fromCharCode(byte);
    info["certificate-authority-data"] = btoa(binary);
  }
  if (proxyUrl) info["proxy-url"] = proxyUrl;
  if (conn.disableCompression) info["disable-compression"] = true;
  for (const ext of c.list("extensions")) {
    if (isMapping(ext) && ext.name === execExtension && ext.extension !== undefined) info.config = ext.extension;
  }
  return info;
}

/** A connection that needs node:https cannot tunnel through SOCKS5 or proxy plain http; say so instead. */
function refuseUnsendable(conn: KubeConnection, where: string): void {
  const reason = nodeTransportReason({
    ...conn,
    repeatedHeaders: (conn.impersonate?.groups.length ?? 0) > 1 ||
      Object.values(conn.impersonate?.extra ?? {}).some((v) => v.length > 1),
  });
  if (!reason || !conn.proxyUrl) return;
  if (conn.proxyUrl.startsWith("socks5:")) {
    throw invalid(
      "KubeconfigUnsupported",
      `${where}: a socks5 proxy cannot be combined with ${reason} in kubectl-irsa; use an http(s) proxy-url`,
    );
  }
  if (conn.server.startsWith("http:")) {
    throw invalid("KubeconfigUnsupported", `${where}: an http:// server through a proxy cannot use ${reason}`);
  }
}

const authProviderPlugins: Record<string, string> = {
  gcp: `the "gke-gcloud-auth-plugin" exec plugin`,
  azure: `the "kubelogin" exec plugin (Azure/kubelogin)`,
  oidc: `an OIDC exec plugin such as "kubectl oidc-login" (int128/kubelogin)`,
};

/** Credentials of the user, with kubectl's precedence: token, token file, client certificate, exec plugin. */
async function applyUser(
  conn: KubeConnection,
  u: Fields,
  at: { sources: KubeconfigSources; base: string; os: string; cluster: ExecClusterInfo },
): Promise<void> {
  if (u.value.username !== undefined || u.value.password !== undefined) {
    throw invalid(
      "KubeconfigUnsupported",
      `${u.where}: username/password (basic authentication) is not supported; Kubernetes removed it in 1.19, use a token, a client certificate or an exec plugin`,
    );
  }
  const provider = u.mapping("auth-provider");
  if (provider) {
    const name = typeof provider.name === "string" ? provider.name : "";
    const instead = authProviderPlugins[name] ?? "a client-go exec credential plugin";
    throw invalid(
      "KubeconfigUnsupported",
      `${u.where}: auth-provider "${name}" is not supported (kubectl-irsa runs exec credential plugins only); switch the user to ${instead}`,
    );
  }
  const cert = await pemRef(
    at.sources,
    u,
    { data: "client-certificate-data", file: "client-certificate", label: "certificate" },
    at.base,
    at.os,
  );
  const key = await pemRef(
    at.sources,
    u,
    { data: "client-key-data", file: "client-key", label: "private key" },
    at.base,
    at.os,
  );
  if (cert && !key) {
    throw invalid(
      "KubeconfigInvalid",
      `${u.where}: client-key-data or client-key must be specified to use the client certificate`,
    );
  }
  if (key && !cert) {
    throw invalid(
      "KubeconfigInvalid",
      `${u.where}: a client key without client-certificate(-data); kubectl would send no certificate`,
    );
  }
  if (cert && key) {
    conn.clientCertPem = cert;
    conn.clientKeyPem = key;
  }
  const token = u.string("token");
  const tokenFile = u.string("tokenFile");
  if (token) {
    conn.token = () => Promise.resolve(token);
  } else if (tokenFile) {
    const file = resolvePath(tokenFile, at.base, at.os);
    // Read now, as kubectl does, so a missing file fails before any request; re-read per request for rotation.
    let last = (await readFileRef(at.sources, file, u.where, "tokenFile")).trim();
    if (!last) throw invalid("KubeconfigInvalid", `${u.where}: tokenFile ${file} is empty`);
    conn.token = async () => {
      try {
        const next = (await at.sources.readTextFile(file)).trim();
        if (next) last = next;
      } catch { /* keep the last token, like client-go's cached file token source */ }
      return last;
    };
  }
  const exec = u.mapping("exec");
  if (!exec) return;
  const config = execConfig(new Fields(exec, `${u.where}: exec`), u, at);
  // client-go runs the plugin only for a user without a token or certificate of its own.
  if (conn.token || conn.clientCertPem) return;
  if (!at.sources.exec) {
    throw invalid("KubeconfigUnsupported", `${u.where}: exec credential plugins cannot run here`);
  }
  conn.exec = new ExecCredentialSource(config, at.sources.exec);
}

function execConfig(e: Fields, u: Fields, at: { base: string; os: string; cluster: ExecClusterInfo }): ExecConfig {
  e.only(execFields);
  const user = u.where.replace(/^.*: user "(.*)"$/, "$1");
  const command = e.string("command");
  if (!command) throw invalid("KubeconfigInvalid", `${e.where}: command must be specified`);
  const apiVersion = e.string("apiVersion");
  if (!apiVersion) throw invalid("KubeconfigInvalid", `${e.where}: apiVersion must be specified`);
  if (!(execApiVersions as readonly string[]).includes(apiVersion)) {
    throw invalid(
      "KubeconfigUnsupported",
      `${e.where}: exec plugin: invalid apiVersion "${apiVersion}"; use ${execApiVersions.join(" or ")}`,
    );
  }
  const mode = e.string("interactiveMode");
  let interactiveMode: ExecInteractiveMode;
  if (mode === undefined) {
    // v1beta1 defaults it; v1 requires it (clientcmd validation).
    if (apiVersion === "client.authentication.k8s.io/v1") {
      throw invalid("KubeconfigInvalid", `${e.where}: interactiveMode must be specified for ${apiVersion}`);
    }
    interactiveMode = "IfAvailable";
  } else if (mode === "Never" || mode === "IfAvailable" || mode === "Always") {
    interactiveMode = mode;
  } else {
    throw invalid(
      "KubeconfigInvalid",
      `${e.where}: invalid interactiveMode "${mode}"; use Never, IfAvailable or Always`,
    );
  }
  const env = e.list("env").map((entry, i) => {
    if (!isMapping(entry)) throw invalid("KubeconfigInvalid", `${e.where}: env[${i}] must be a mapping`);
    const f = new Fields(entry, `${e.where}: env[${i}]`).only(["name", "value"]);
    const name = f.string("name");
    if (!name) throw invalid("KubeconfigInvalid", `${f.where}: env variable name must be specified`);
    return { name, value: f.string("value") ?? "" };
  });
  // client-go resolves the command against the kubeconfig's directory only when it has a path separator;
  // a bare name is looked up in PATH.
  const separator = at.os === "windows" ? "\\" : "/";
  const config: ExecConfig = {
    user,
    command: command.includes(separator) ? resolvePath(command, at.base, at.os) : command,
    args: e.strings("args"),
    env,
    apiVersion: apiVersion as ExecApiVersion,
    interactiveMode,
  };
  const hint = e.string("installHint");
  if (hint) config.installHint = hint;
  if (e.bool("provideClusterInfo")) config.cluster = at.cluster;
  return config;
}

/** kubeconfig `as`, `as-uid`, `as-groups`, `as-user-extra` with --as/--as-group on top (each replaces its field). */
function impersonation(u: Fields | undefined, options: KubeconfigOptions, where: string): Impersonation | undefined {
  const user = options.impersonate?.user || u?.string("as");
  const groups = options.impersonate?.groups?.length ? options.impersonate.groups : (u?.strings("as-groups") ?? []);
  const uid = u?.string("as-uid");
  const extra: Record<string, string[]> = {};
  const extraMap = u?.mapping("as-user-extra");
  for (const [key, values] of Object.entries(extraMap ?? {})) {
    if (!Array.isArray(values) || values.some((v) => typeof v !== "string")) {
      throw invalid("KubeconfigInvalid", `${u!.where}: "as-user-extra.${key}" must be a list of strings`);
    }
    extra[key] = values as string[];
  }
  if (!user) {
    if (groups.length > 0 || Object.keys(extra).length > 0 || uid) {
      throw invalid(
        "KubeconfigInvalid",
        `${where}: impersonating groups, a uid or user-extra needs a user to impersonate (--as, or "as" in the kubeconfig)`,
      );
    }
    return undefined;
  }
  return { user, groups, extra, ...(uid ? { uid } : {}) };
}

/** The real files, environment and process runner. */
export const processKubeconfigSources: KubeconfigSources = {
  env: Deno.env,
  readTextFile: (path) => Deno.readTextFile(path),
  os: Deno.build.os,
  cwd: () => Deno.cwd(),
  exec: {
    async run({ command, args, env, interactive }) {
      const out = await new Deno.Command(command, {
        args,
        env,
        stdin: interactive ? "inherit" : "null",
        stdout: "piped",
        stderr: "inherit",
      }).output();
      return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
    },
    stdinIsTerminal: () => Deno.stdin.isTerminal(),
    now: () => Date.now(),
  },
};
