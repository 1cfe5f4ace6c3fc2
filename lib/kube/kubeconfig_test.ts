import { deepStrictEqual, equal, match, ok, rejects } from "node:assert/strict";
import { stringify as toYaml } from "yaml";
import { IrsaError } from "../errors.ts";
import type { ExecRunner } from "./exec_credential.ts";
import { environmentProxy, type KubeconfigOptions, type KubeconfigSources, loadKubeConnection } from "./kubeconfig.ts";

const caPem = "-----BEGIN CERTIFICATE-----\nY2E=\n-----END CERTIFICATE-----\n";
const certPem = "-----BEGIN CERTIFICATE-----\nY2VydA==\n-----END CERTIFICATE-----\n";
const keyPem = "-----BEGIN PRIVATE KEY-----\na2V5\n-----END PRIVATE KEY-----\n";
const b64 = (s: string) => btoa(s);

const noExec: ExecRunner = {
  run: () => Promise.reject(new Error("a loader test must not run a plugin")),
  stdinIsTerminal: () => false,
  now: () => 0,
};

/** A kubeconfig with one context "c" → cluster "k" and user "u". */
function kubeconfig(
  o: { cluster?: Record<string, unknown>; user?: Record<string, unknown> | null; context?: Record<string, unknown> } =
    {},
): string {
  return toYaml({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "k", cluster: { server: "https://k.example:6443", ...o.cluster } }],
    ...(o.user === null ? {} : { users: [{ name: "u", user: o.user ?? { token: "t0k3n" } }] }),
    contexts: [{ name: "c", context: { cluster: "k", ...(o.user === null ? {} : { user: "u" }), ...o.context } }],
    "current-context": "c",
  });
}

interface Case {
  name: string;
  files: Record<string, string>;
  env?: Record<string, string>;
  os?: typeof Deno.build.os;
  cwd?: string;
  options?: KubeconfigOptions;
  /** Fields of the resolved connection (token resolved, exec as its config). */
  want?: Record<string, unknown>;
  /** The whole error message, or a pattern of it. */
  error?: string | RegExp;
}

function sources(c: Case, unreadable: Set<string> = new Set()): KubeconfigSources {
  return {
    env: { get: (n) => c.env?.[n] },
    readTextFile: (path) => {
      if (unreadable.has(path)) return Promise.reject(new Deno.errors.PermissionDenied(`readfile '${path}'`));
      const text = c.files[path];
      return text === undefined
        ? Promise.reject(new Deno.errors.NotFound(`readfile '${path}'`))
        : Promise.resolve(text);
    },
    os: c.os ?? "linux",
    cwd: () => c.cwd ?? "/work",
    exec: noExec,
  };
}

async function resolved(c: Case, unreadable?: Set<string>): Promise<Record<string, unknown>> {
  const conn = await loadKubeConnection(sources(c, unreadable), c.options);
  const out: Record<string, unknown> = { ...conn };
  if (conn.token) out.token = await conn.token();
  if (conn.exec) out.exec = conn.exec.config;
  return out;
}

const home = "/home/me/.kube/config";

const cases: Case[] = [
  // Loading rules: which files, in which order, and how they merge.
  {
    name: "~/.kube/config by default, the context's namespace and cluster",
    files: { [home]: kubeconfig({ context: { namespace: "shop" } }) },
    env: { HOME: "/home/me" },
    want: { server: "https://k.example:6443", token: "t0k3n", namespace: "shop", contextName: "c" },
  },
  {
    name: "KUBECONFIG: the first file that defines a name wins the whole entry, missing files are skipped",
    files: {
      "/a": toYaml({ users: [{ name: "u", user: { token: "from-a" } }] }),
      "/b": kubeconfig({ user: { token: "from-b" } }),
    },
    env: { KUBECONFIG: "/missing:/a::/b:/a" },
    want: { token: "from-a", contextName: "c" },
  },
  {
    name: "KUBECONFIG: current-context comes from the first file that sets it",
    files: {
      "/a": toYaml({ "current-context": "second" }),
      "/b": toYaml({
        clusters: [{ name: "k", cluster: { server: "https://k.example:6443" } }],
        users: [{ name: "u", user: { token: "t0k3n" } }],
        contexts: [
          { name: "c", context: { cluster: "k", user: "u" } },
          { name: "second", context: { cluster: "k", user: "u", namespace: "two" } },
        ],
        "current-context": "c",
      }),
    },
    env: { KUBECONFIG: "/a:/b" },
    want: { contextName: "second", namespace: "two" },
  },
  {
    name: "Windows: KUBECONFIG is split on ';' (drive letters keep their colon)",
    os: "windows",
    files: { "C:\\cfg\\one": toYaml({ "current-context": "c" }), "D:\\two": kubeconfig({ context: {} }) },
    env: { KUBECONFIG: "C:\\cfg\\one;D:\\two" },
    want: { contextName: "c", token: "t0k3n" },
  },
  {
    name: "Windows: %USERPROFILE%\\.kube\\config when HOME is unset",
    os: "windows",
    files: { "C:\\Users\\me\\.kube\\config": kubeconfig() },
    env: { USERPROFILE: "C:\\Users\\me" },
    want: { token: "t0k3n" },
  },
  {
    name: "Windows: %HOMEDRIVE%%HOMEPATH% before %USERPROFILE% when it holds .kube\\config",
    os: "windows",
    files: {
      "H:\\me\\.kube\\config": kubeconfig({ user: { token: "home-drive" } }),
      "C:\\Users\\me\\.kube\\config": kubeconfig({ user: { token: "profile" } }),
    },
    env: { HOME: "C:\\nowhere", HOMEDRIVE: "H:", HOMEPATH: "\\me", USERPROFILE: "C:\\Users\\me" },
    want: { token: "home-drive" },
  },
  {
    name: "no kubeconfig anywhere names every path looked at",
    files: {},
    env: { KUBECONFIG: "/x:/y" },
    error: "no kubeconfig found (looked at /x, /y); pass --kubeconfig or set KUBECONFIG",
  },
  {
    name: "an explicit --kubeconfig that does not exist is an error",
    files: {},
    options: { kubeconfig: "/nope" },
    error: "kubeconfig /nope: no such file",
  },
  {
    name: "in a pod with no kubeconfig: the ServiceAccount, with --as applied",
    files: {
      "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt": caPem,
      "/var/run/secrets/kubernetes.io/serviceaccount/token": "sa-token\n",
      "/var/run/secrets/kubernetes.io/serviceaccount/namespace": "irsa",
    },
    env: { KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" },
    options: { impersonate: { user: "jane" } },
    want: {
      server: "https://10.0.0.1:443",
      caPem,
      token: "sa-token",
      namespace: "irsa",
      contextName: "in-cluster",
      impersonate: { user: "jane", groups: [], extra: {} },
    },
  },

  // JSON is YAML too; it is read without the YAML parser, and a broken one gets the YAML parser's message.
  {
    name: "a JSON kubeconfig (kubectl config view -o json) resolves like its YAML form",
    files: {
      "/k/config": JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "k", cluster: { server: "https://k.example:6443", "insecure-skip-tls-verify": true } }],
        users: [{ name: "u", user: { token: "j50n" } }],
        contexts: [{ name: "c", context: { cluster: "k", user: "u", namespace: "ns" } }],
        "current-context": "c",
      }),
    },
    options: { kubeconfig: "/k/config" },
    want: { server: "https://k.example:6443", token: "j50n", namespace: "ns", insecureSkipTlsVerify: true },
  },
  {
    name: "broken JSON is reported by the YAML parser, with its position",
    files: { "/k/config": '{"clusters": [\n' },
    options: { kubeconfig: "/k/config" },
    error: /^kubeconfig \/k\/config: invalid YAML at line 2, column 1: /,
  },

  // Broken files say which file and what is wrong, on one line.
  {
    name: "corrupt YAML names the file, the position and the problem",
    files: { "/k/config": "users: a: b\n" },
    options: { kubeconfig: "/k/config" },
    error:
      "kubeconfig /k/config: invalid YAML at line 1, column 8: nested mappings are not allowed in compact mappings",
  },
  {
    name: "a corrupt file in the KUBECONFIG list is fatal, not skipped",
    files: { "/a": "clusters: [\n", "/b": kubeconfig() },
    env: { KUBECONFIG: "/a:/b" },
    error: /^kubeconfig \/a: invalid YAML at line 2, column 1: /,
  },
  {
    name: "a YAML list is not a kubeconfig",
    files: { "/k": "- a\n- b\n" },
    options: { kubeconfig: "/k" },
    error: "kubeconfig /k: not a kubeconfig: the document is a list",
  },
  {
    name: "another apiVersion is refused",
    files: { "/k": kubeconfig().replace("apiVersion: v1", "apiVersion: v2") },
    options: { kubeconfig: "/k" },
    error: `kubeconfig /k: apiVersion "v2" is not v1`,
  },
  {
    name: "clusters that is not a list",
    files: { "/k": "clusters: {}\n" },
    options: { kubeconfig: "/k" },
    error: `kubeconfig /k: "clusters" must be a list`,
  },
  {
    name: "a wrongly typed field names the field",
    files: { "/k": kubeconfig({ cluster: { "insecure-skip-tls-verify": "true" } }) },
    options: { kubeconfig: "/k" },
    error: `kubeconfig /k: cluster "k": "insecure-skip-tls-verify" must be true or false, got "true"`,
  },

  // Relative paths resolve against the directory of the file that holds them.
  {
    name: "relative certificate-authority, client-certificate, client-key and tokenFile resolve against the file",
    files: {
      "/work/cfg/kubeconfig": kubeconfig({
        cluster: { "certificate-authority": "ca.crt" },
        user: { "client-certificate": "../certs/me.crt", "client-key": "../certs/me.key", tokenFile: "tok" },
      }),
      "/work/cfg/ca.crt": caPem,
      "/work/certs/me.crt": certPem,
      "/work/certs/me.key": keyPem,
      "/work/cfg/tok": "file-token\n",
    },
    cwd: "/work",
    options: { kubeconfig: "cfg/kubeconfig" },
    want: { caPem, clientCertPem: certPem, clientKeyPem: keyPem, token: "file-token" },
  },
  {
    name: "exec command with a separator resolves against the file; a bare name is left to PATH",
    files: {
      "/home/me/.kube/config": kubeconfig({
        user: {
          exec: { apiVersion: "client.authentication.k8s.io/v1beta1", command: "./bin/get-token", args: ["--x"] },
        },
      }),
      "/home/me/.kube/bare": kubeconfig({
        user: { exec: { apiVersion: "client.authentication.k8s.io/v1beta1", command: "aws" } },
      }),
    },
    env: { KUBECONFIG: "/home/me/.kube/config" },
    want: {
      exec: {
        user: "u",
        command: "/home/me/.kube/bin/get-token",
        args: ["--x"],
        env: [],
        apiVersion: "client.authentication.k8s.io/v1beta1",
        interactiveMode: "IfAvailable",
      },
    },
  },
  {
    name: "Windows: relative paths join with backslashes; an exec command with only '/' is not resolved (Go's rule)",
    os: "windows",
    cwd: "C:\\work",
    files: {
      "C:\\Users\\me\\.kube\\config": kubeconfig({
        cluster: { "certificate-authority": "certs\\ca.crt" },
        user: { exec: { apiVersion: "client.authentication.k8s.io/v1beta1", command: "bin/get-token.exe" } },
      }),
      "C:\\Users\\me\\.kube\\certs\\ca.crt": caPem,
    },
    env: { USERPROFILE: "C:\\Users\\me" },
    want: { caPem, exec: { command: "bin/get-token.exe" } },
  },
  {
    name: "Windows: an exec command with a backslash resolves against the file",
    os: "windows",
    files: {
      "C:\\k\\config": kubeconfig({
        user: {
          exec: {
            apiVersion: "client.authentication.k8s.io/v1",
            command: ".\\plugins\\get-token.exe",
            interactiveMode: "Never",
          },
        },
      }),
    },
    options: { kubeconfig: "C:\\k\\config" },
    want: { exec: { command: "C:\\k\\plugins\\get-token.exe", interactiveMode: "Never" } },
  },
  {
    name: "a missing referenced file names the user, the field and the resolved path",
    files: { "/k/config": kubeconfig({ user: { tokenFile: "gone" } }) },
    options: { kubeconfig: "/k/config" },
    error: `kubeconfig /k/config: user "u": cannot read tokenFile /k/gone: readfile '/k/gone'`,
  },

  // TLS and routing that kubectl honours.
  {
    name: "insecure-skip-tls-verify is honoured (YAML 1.1 'yes' too)",
    files: { "/k": kubeconfig({ cluster: { "insecure-skip-tls-verify": "yes" } }).replace("'yes'", "yes") },
    options: { kubeconfig: "/k" },
    want: { insecureSkipTlsVerify: true },
  },
  {
    name: "insecure-skip-tls-verify with a CA is refused, as kubectl does",
    files: {
      "/k": kubeconfig({ cluster: { "insecure-skip-tls-verify": true, "certificate-authority-data": b64(caPem) } }),
    },
    options: { kubeconfig: "/k" },
    error: /^kubeconfig \/k: cluster "k": insecure-skip-tls-verify cannot be combined with a certificate authority/,
  },
  {
    name: "tls-server-name and disable-compression are honoured",
    files: { "/k": kubeconfig({ cluster: { "tls-server-name": "api.internal", "disable-compression": true } }) },
    options: { kubeconfig: "/k" },
    want: { tlsServerName: "api.internal", disableCompression: true },
  },
  {
    name: "proxy-url is honoured and wins over HTTPS_PROXY",
    files: { "/k": kubeconfig({ cluster: { "proxy-url": "http://proxy.internal:3128" } }) },
    env: { HTTPS_PROXY: "http://env-proxy:8080" },
    options: { kubeconfig: "/k" },
    want: { proxyUrl: "http://proxy.internal:3128", fetchWouldProxy: undefined },
  },
  {
    name: "a proxy-url scheme kubectl does not know is refused",
    files: { "/k": kubeconfig({ cluster: { "proxy-url": "ftp://proxy:21" } }) },
    options: { kubeconfig: "/k" },
    error:
      `kubeconfig /k: cluster "k": invalid "proxy-url" "ftp://proxy:21": unsupported scheme "ftp", must be http, https, or socks5`,
  },
  {
    name: "a socks5 proxy cannot carry a connection that needs tls-server-name",
    files: { "/k": kubeconfig({ cluster: { "proxy-url": "socks5://p:1080", "tls-server-name": "api.internal" } }) },
    options: { kubeconfig: "/k" },
    error:
      `kubeconfig /k: cluster "k": a socks5 proxy cannot be combined with tls-server-name in kubectl-irsa; use an http(s) proxy-url`,
  },
  {
    name: "HTTPS_PROXY applies to the server like Go's ProxyFromEnvironment (no scheme means http)",
    files: { "/k": kubeconfig() },
    env: { HTTPS_PROXY: "env-proxy:8080", NO_PROXY: "other.example" },
    options: { kubeconfig: "/k" },
    want: { proxyUrl: "http://env-proxy:8080", fetchWouldProxy: undefined },
  },
  {
    name: "HTTPS_PROXY and a loopback server: direct, as Go does, and flagged because Deno's fetch would proxy it",
    files: { "/k": kubeconfig({ cluster: { server: "https://127.0.0.1:6443" } }) },
    env: { HTTPS_PROXY: "http://p:1" },
    options: { kubeconfig: "/k" },
    want: { proxyUrl: undefined, fetchWouldProxy: true },
  },
  {
    name: "ALL_PROXY alone: Go ignores it, Deno's fetch would not",
    files: { "/k": kubeconfig() },
    env: { ALL_PROXY: "socks5://p:1080" },
    options: { kubeconfig: "/k" },
    want: { proxyUrl: undefined, fetchWouldProxy: true },
  },
  {
    name: "NO_PROXY naming the server: direct for both",
    files: { "/k": kubeconfig() },
    env: { HTTPS_PROXY: "http://p:1", NO_PROXY: ".example" },
    options: { kubeconfig: "/k" },
    want: { proxyUrl: undefined, fetchWouldProxy: undefined },
  },
  {
    name: "a bare server host:port gets https when a CA is configured",
    files: { "/k": kubeconfig({ cluster: { server: "10.1.2.3:6443", "certificate-authority-data": b64(caPem) } }) },
    options: { kubeconfig: "/k" },
    want: { server: "https://10.1.2.3:6443", caPem },
  },
  {
    name: "a cluster without server is refused",
    files: { "/k": kubeconfig({ cluster: { server: "" } }) },
    options: { kubeconfig: "/k" },
    error: `kubeconfig /k: cluster "k": no server`,
  },
  {
    name: "certificate-authority-data that is not a PEM certificate",
    files: { "/k": kubeconfig({ cluster: { "certificate-authority-data": b64("hello") } }) },
    options: { kubeconfig: "/k" },
    error: `kubeconfig /k: cluster "k": certificate-authority-data holds no PEM certificate`,
  },
  {
    name: "certificate-authority-data that is not base64",
    files: { "/k": kubeconfig({ cluster: { "certificate-authority-data": "%%%" } }) },
    options: { kubeconfig: "/k" },
    error: `kubeconfig /k: cluster "k": "certificate-authority-data" is not valid base64`,
  },
  {
    name: "both certificate-authority and its -data are refused, as kubectl does",
    files: {
      "/k": kubeconfig({ cluster: { "certificate-authority": "/ca", "certificate-authority-data": b64(caPem) } }),
    },
    options: { kubeconfig: "/k" },
    error:
      `kubeconfig /k: cluster "k": both "certificate-authority-data" and "certificate-authority" are set; kubectl refuses this too, keep one`,
  },

  // Impersonation.
  {
    name: "kubeconfig as, as-uid, as-groups and as-user-extra are honoured",
    files: {
      "/k": kubeconfig({
        user: {
          token: "t",
          as: "jane",
          "as-uid": "42",
          "as-groups": ["dev", "ops"],
          "as-user-extra": { "scopes.example.com/x": ["a", "b"] },
        },
      }),
    },
    options: { kubeconfig: "/k" },
    want: {
      impersonate: { user: "jane", uid: "42", groups: ["dev", "ops"], extra: { "scopes.example.com/x": ["a", "b"] } },
    },
  },
  {
    name: "--as and --as-group replace the kubeconfig's as and as-groups",
    files: { "/k": kubeconfig({ user: { token: "t", as: "jane", "as-groups": ["dev"] } }) },
    options: { kubeconfig: "/k", impersonate: { user: "bob", groups: ["qa", "sre"] } },
    want: { impersonate: { user: "bob", groups: ["qa", "sre"], extra: {} } },
  },
  {
    name: "--as alone keeps the kubeconfig's as-groups (kubectl merges overrides field by field)",
    files: { "/k": kubeconfig({ user: { token: "t", as: "jane", "as-groups": ["dev"] } }) },
    options: { kubeconfig: "/k", impersonate: { user: "bob" } },
    want: { impersonate: { user: "bob", groups: ["dev"], extra: {} } },
  },
  {
    name: "--as-group without a user to impersonate is refused",
    files: { "/k": kubeconfig() },
    options: { kubeconfig: "/k", impersonate: { groups: ["dev"] } },
    error:
      `kubeconfig /k: user "u": impersonating groups, a uid or user-extra needs a user to impersonate (--as, or "as" in the kubeconfig)`,
  },

  // Credentials: kubectl's precedence, and what is refused.
  {
    name: "a static token wins over an exec plugin (client-go skips the plugin)",
    files: {
      "/k": kubeconfig({
        user: { token: "static", exec: { apiVersion: "client.authentication.k8s.io/v1beta1", command: "x" } },
      }),
    },
    options: { kubeconfig: "/k" },
    want: { token: "static", exec: undefined },
  },
  {
    name: "a client certificate wins over an exec plugin",
    files: {
      "/k": kubeconfig({
        user: {
          "client-certificate-data": b64(certPem),
          "client-key-data": b64(keyPem),
          exec: { apiVersion: "client.authentication.k8s.io/v1beta1", command: "x" },
        },
      }),
    },
    options: { kubeconfig: "/k" },
    want: { clientCertPem: certPem, clientKeyPem: keyPem, exec: undefined, token: undefined },
  },
  {
    name: "exec v1 without interactiveMode is refused, as kubectl does",
    files: { "/k": kubeconfig({ user: { exec: { apiVersion: "client.authentication.k8s.io/v1", command: "x" } } }) },
    options: { kubeconfig: "/k" },
    error: `kubeconfig /k: user "u": exec: interactiveMode must be specified for client.authentication.k8s.io/v1`,
  },
  {
    name: "exec v1alpha1 is refused (client-go removed it)",
    files: {
      "/k": kubeconfig({ user: { exec: { apiVersion: "client.authentication.k8s.io/v1alpha1", command: "x" } } }),
    },
    options: { kubeconfig: "/k" },
    error:
      `kubeconfig /k: user "u": exec: exec plugin: invalid apiVersion "client.authentication.k8s.io/v1alpha1"; use client.authentication.k8s.io/v1 or client.authentication.k8s.io/v1beta1`,
  },
  {
    name: "exec env, installHint and provideClusterInfo (the cluster as written, its exec extension as config)",
    files: {
      "/k": toYaml({
        clusters: [{
          name: "k",
          cluster: {
            server: "https://k.example:6443",
            "certificate-authority-data": b64(caPem),
            "tls-server-name": "api.internal",
            "proxy-url": "http://p:3128",
            extensions: [{ name: "client.authentication.k8s.io/exec", extension: { audience: "k8s" } }],
          },
        }],
        users: [{
          name: "u",
          user: {
            exec: {
              apiVersion: "client.authentication.k8s.io/v1",
              command: "get-token",
              env: [{ name: "REGION", value: "eu-west-1" }, { name: "EMPTY" }],
              interactiveMode: "Always",
              installHint: "install get-token",
              provideClusterInfo: true,
            },
          },
        }],
        contexts: [{ name: "c", context: { cluster: "k", user: "u" } }],
        "current-context": "c",
      }),
    },
    options: { kubeconfig: "/k" },
    want: {
      exec: {
        user: "u",
        command: "get-token",
        args: [],
        env: [{ name: "REGION", value: "eu-west-1" }, { name: "EMPTY", value: "" }],
        apiVersion: "client.authentication.k8s.io/v1",
        interactiveMode: "Always",
        installHint: "install get-token",
        cluster: {
          server: "https://k.example:6443",
          "tls-server-name": "api.internal",
          "certificate-authority-data": b64(caPem),
          "proxy-url": "http://p:3128",
          config: { audience: "k8s" },
        },
      },
    },
  },
  {
    name: "an exec env entry without a name is refused",
    files: {
      "/k": kubeconfig({
        user: { exec: { apiVersion: "client.authentication.k8s.io/v1beta1", command: "x", env: [{ value: "v" }] } },
      }),
    },
    options: { kubeconfig: "/k" },
    error: `kubeconfig /k: user "u": exec: env[0]: env variable name must be specified`,
  },
  {
    name: "an unknown exec field is refused",
    files: {
      "/k": kubeconfig({
        user: { exec: { apiVersion: "client.authentication.k8s.io/v1beta1", command: "x", interactive: "Never" } },
      }),
    },
    options: { kubeconfig: "/k" },
    error:
      `kubeconfig /k: user "u": exec: unknown field "interactive"; kubectl-irsa does not connect with settings it does not understand`,
  },
  {
    name: "auth-provider is refused with the exec plugin to use instead",
    files: { "/k": kubeconfig({ user: { "auth-provider": { name: "oidc", config: { "id-token": "x" } } } }) },
    options: { kubeconfig: "/k" },
    error:
      `kubeconfig /k: user "u": auth-provider "oidc" is not supported (kubectl-irsa runs exec credential plugins only); switch the user to an OIDC exec plugin such as "kubectl oidc-login" (int128/kubelogin)`,
  },
  {
    name: "basic authentication is refused",
    files: { "/k": kubeconfig({ user: { username: "admin", password: "secret" } }) },
    options: { kubeconfig: "/k" },
    error:
      `kubeconfig /k: user "u": username/password (basic authentication) is not supported; Kubernetes removed it in 1.19, use a token, a client certificate or an exec plugin`,
  },
  {
    name: "a misspelt auth field is refused instead of connecting anonymously",
    files: { "/k": kubeconfig({ user: { tokenfile: "/t" } }) },
    options: { kubeconfig: "/k" },
    error:
      `kubeconfig /k: user "u": unknown field "tokenfile" (did you mean "tokenFile"?); kubectl-irsa does not connect with settings it does not understand`,
  },
  {
    name: "an unknown cluster field is refused",
    files: { "/k": kubeconfig({ cluster: { "insecure_skip_tls_verify": true } }) },
    options: { kubeconfig: "/k" },
    error:
      `kubeconfig /k: cluster "k": unknown field "insecure_skip_tls_verify" (did you mean "insecure-skip-tls-verify"?); kubectl-irsa does not connect with settings it does not understand`,
  },
  {
    name: "a context naming a user that is not in the kubeconfig is refused (kubectl would go anonymous)",
    files: { "/k": kubeconfig({ context: { user: "typo" } }) },
    options: { kubeconfig: "/k" },
    error: `user "typo" of context "c" is not in the kubeconfig (/k)`,
  },
  {
    name: "a context with no user at all is anonymous, as asked",
    files: { "/k": kubeconfig({ user: null }) },
    options: { kubeconfig: "/k" },
    want: { token: undefined, exec: undefined, clientCertPem: undefined },
  },
  {
    name: "a client certificate without its key is refused",
    files: { "/k": kubeconfig({ user: { "client-certificate-data": b64(certPem) } }) },
    options: { kubeconfig: "/k" },
    error: `kubeconfig /k: user "u": client-key-data or client-key must be specified to use the client certificate`,
  },
  {
    name: "a client key without its certificate is refused",
    files: { "/k": kubeconfig({ user: { "client-key-data": b64(keyPem) } }) },
    options: { kubeconfig: "/k" },
    error: `kubeconfig /k: user "u": a client key without client-certificate(-data); kubectl would send no certificate`,
  },
  {
    name: "an empty tokenFile is refused",
    files: { "/k": kubeconfig({ user: { tokenFile: "/t" } }), "/t": "\n" },
    options: { kubeconfig: "/k" },
    error: `kubeconfig /k: user "u": tokenFile /t is empty`,
  },
];

Deno.test("loadKubeConnection() follows kubectl's rules or refuses with the file and the field", async (t) => {
  for (const c of cases) {
    await t.step(c.name, async () => {
      if (c.error !== undefined) {
        await rejects(resolved(c), (e: unknown) => {
          ok(e instanceof IrsaError, `not an IrsaError: ${e}`);
          if (typeof c.error === "string") equal(e.message, c.error);
          else match(e.message, c.error!);
          ok(!e.message.includes("\n"), "one line");
          return true;
        });
        return;
      }
      const got = await resolved(c);
      for (const [key, want] of Object.entries(c.want ?? {})) {
        if (key === "exec" && want && typeof want === "object") {
          const exec = got.exec as Record<string, unknown> | undefined;
          ok(exec, "an exec plugin");
          for (const [k, v] of Object.entries(want)) deepStrictEqual(exec[k], v, `exec.${k}`);
        } else {
          deepStrictEqual(got[key], want, key);
        }
      }
    });
  }
});

Deno.test("loadKubeConnection() fails on an unreadable file in the KUBECONFIG list instead of skipping it", async () => {
  const c: Case = { name: "", files: { "/b": kubeconfig() }, env: { KUBECONFIG: "/a:/b" } };
  await rejects(
    resolved(c, new Set(["/a"])),
    (e: Error) => e.message === "kubeconfig /a: cannot read it: readfile '/a'",
  );
});

Deno.test("loadKubeConnection() re-reads a tokenFile per request and keeps the last token when it vanishes", async () => {
  const files: Record<string, string> = { "/k": kubeconfig({ user: { tokenFile: "/t" } }), "/t": "one\n" };
  const conn = await loadKubeConnection(sources({ name: "", files }), { kubeconfig: "/k" });
  equal(await conn.token!(), "one");
  files["/t"] = "two\n";
  equal(await conn.token!(), "two");
  delete files["/t"];
  equal(await conn.token!(), "two");
});

Deno.test("environmentProxy() follows Go's ProxyFromEnvironment", async (t) => {
  const cases: { name: string; server: string; env: Record<string, string>; want: string | undefined }[] = [
    {
      name: "https uses HTTPS_PROXY",
      server: "https://a.example",
      env: { HTTPS_PROXY: "http://p:1" },
      want: "http://p:1",
    },
    {
      name: "lower-case https_proxy",
      server: "https://a.example",
      env: { https_proxy: "http://p:2" },
      want: "http://p:2",
    },
    { name: "http uses HTTP_PROXY", server: "http://a.example", env: { HTTPS_PROXY: "http://p:1" }, want: undefined },
    {
      name: "loopback is never proxied",
      server: "https://127.0.0.1:6443",
      env: { HTTPS_PROXY: "p:1" },
      want: undefined,
    },
    {
      name: "localhost is never proxied",
      server: "https://localhost:6443",
      env: { HTTPS_PROXY: "p:1" },
      want: undefined,
    },
    {
      name: "NO_PROXY domain suffix",
      server: "https://api.corp.example",
      env: { HTTPS_PROXY: "p:1", NO_PROXY: "corp.example" },
      want: undefined,
    },
    {
      name: "NO_PROXY leading dot does not match the bare domain",
      server: "https://corp.example",
      env: { HTTPS_PROXY: "p:1", NO_PROXY: ".corp.example" },
      want: "http://p:1",
    },
    {
      name: "NO_PROXY CIDR",
      server: "https://10.1.2.3:6443",
      env: { HTTPS_PROXY: "p:1", NO_PROXY: "10.0.0.0/8" },
      want: undefined,
    },
    {
      name: "NO_PROXY with another port does not match",
      server: "https://a.example:6443",
      env: { HTTPS_PROXY: "p:1", NO_PROXY: "a.example:443" },
      want: "http://p:1",
    },
    { name: "NO_PROXY *", server: "https://a.example", env: { HTTPS_PROXY: "p:1", NO_PROXY: "*" }, want: undefined },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      equal(environmentProxy(c.server, { get: (n) => c.env[n] }), c.want);
    });
  }
});
