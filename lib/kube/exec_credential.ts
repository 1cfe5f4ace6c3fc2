// Runs a kubeconfig exec credential plugin the way client-go does (plugin/pkg/client/auth/exec): the
// client.authentication.k8s.io ExecCredential in KUBERNETES_EXEC_INFO, the configured env on top of ours, stdin only
// when interactive, the answer's apiVersion checked, credentials cached until expirationTimestamp, one run at a time
// (an interactive login must never be started twice), and a re-run after a 401 unless another request already did.
import { IrsaError } from "../errors.ts";

/** The two ExecCredential versions client-go still runs (v1alpha1 was removed in Kubernetes 1.24). */
export const execApiVersions = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"] as const;
/** One of `execApiVersions`. */
export type ExecApiVersion = (typeof execApiVersions)[number];
/** `interactiveMode` of an exec entry. */
export type ExecInteractiveMode = "Never" | "IfAvailable" | "Always";

/** The cluster as an exec plugin sees it in KUBERNETES_EXEC_INFO when `provideClusterInfo` is true. */
export interface ExecClusterInfo {
  server: string;
  "tls-server-name"?: string;
  "insecure-skip-tls-verify"?: boolean;
  /** Base64 of the PEM bundle, as client-go encodes []byte. */
  "certificate-authority-data"?: string;
  "proxy-url"?: string;
  "disable-compression"?: boolean;
  /** The cluster's `client.authentication.k8s.io/exec` extension. */
  config?: unknown;
}

/** A resolved exec entry: paths already resolved against the kubeconfig file's directory. */
export interface ExecConfig {
  /** The kubeconfig user, for messages. */
  user: string;
  command: string;
  args: string[];
  env: { name: string; value: string }[];
  apiVersion: ExecApiVersion;
  interactiveMode: ExecInteractiveMode;
  installHint?: string;
  /** Present when `provideClusterInfo` is true. */
  cluster?: ExecClusterInfo;
}

/** What a plugin returned; `token` or the certificate pair (or both). */
export interface ExecCredentials {
  token?: string;
  clientCertPem?: string;
  clientKeyPem?: string;
  /** Epoch milliseconds; absent means valid until the API server answers 401. */
  expiresAt?: number;
}

/** Process access the plugin needs, injectable for tests. */
export interface ExecRunner {
  /**
   * Runs `command` with `env` added to this process's environment, stderr passed through, stdin passed through
   * only when `interactive`. Rejects with Deno.errors.NotFound when the executable does not exist.
   */
  run(request: {
    command: string;
    args: string[];
    env: Record<string, string>;
    interactive: boolean;
  }): Promise<{ code: number; stdout: string }>;
  stdinIsTerminal(): boolean;
  now(): number;
}

function failure(config: ExecConfig, message: string, cause?: unknown): IrsaError {
  return new IrsaError(
    "denied",
    "ExecPluginFailed",
    `getting credentials for kubeconfig user "${config.user}": ${message}`,
    cause === undefined ? undefined : { cause },
  );
}

/** The ExecCredential put in KUBERNETES_EXEC_INFO, exactly as client-go encodes it (empty fields omitted). */
export function execInfo(config: ExecConfig, interactive: boolean): string {
  const spec: Record<string, unknown> = {};
  if (config.cluster) spec.cluster = config.cluster;
  spec.interactive = interactive;
  return JSON.stringify({ kind: "ExecCredential", apiVersion: config.apiVersion, spec });
}

/** Whether the plugin gets our stdin, or why it cannot run: client-go's isInteractive. */
function interactivity(config: ExecConfig, stdinIsTerminal: boolean): boolean {
  switch (config.interactiveMode) {
    case "Never":
      return false;
    case "IfAvailable":
      return stdinIsTerminal;
    case "Always":
      if (!stdinIsTerminal) {
        throw failure(config, "exec plugin cannot support interactive mode: standard input is not a terminal");
      }
      return true;
  }
}

/** Checks a plugin's stdout and turns it into credentials. Pure. */
export function parseExecOutput(config: ExecConfig, stdout: string): ExecCredentials {
  let out: unknown;
  try {
    out = JSON.parse(stdout);
  } catch (e) {
    throw failure(config, `exec plugin "${config.command}" printed no ExecCredential JSON: ${(e as Error).message}`);
  }
  if (typeof out !== "object" || out === null || Array.isArray(out)) {
    throw failure(config, `exec plugin "${config.command}" printed JSON that is not an ExecCredential object`);
  }
  const cred = out as Record<string, unknown>;
  if (cred.kind !== undefined && cred.kind !== "ExecCredential") {
    throw failure(config, `exec plugin "${config.command}" returned kind "${cred.kind}", not ExecCredential`);
  }
  if (cred.apiVersion !== config.apiVersion) {
    throw failure(
      config,
      `exec plugin is configured to use API version ${config.apiVersion}, plugin returned version ${
        cred.apiVersion === undefined ? "(none)" : cred.apiVersion
      }`,
    );
  }
  const status = cred.status as Record<string, unknown> | undefined | null;
  if (typeof status !== "object" || status === null) throw failure(config, "exec plugin didn't return a status field");
  const str = (key: string) => {
    const v = status[key];
    if (v !== undefined && v !== null && typeof v !== "string") {
      throw failure(config, `exec plugin returned status.${key} that is not a string`);
    }
    return v ? v : undefined;
  };
  const token = str("token");
  const cert = str("clientCertificateData");
  const key = str("clientKeyData");
  if (!token && !cert && !key) throw failure(config, "exec plugin didn't return a token or cert/key pair");
  if (!cert !== !key) throw failure(config, "exec plugin returned only certificate or key, not both");
  const creds: ExecCredentials = {};
  if (token) creds.token = token;
  if (cert && key) {
    creds.clientCertPem = cert;
    creds.clientKeyPem = key;
  }
  const exp = str("expirationTimestamp");
  if (exp) {
    const at = Date.parse(exp);
    if (Number.isNaN(at)) throw failure(config, `exec plugin returned an invalid expirationTimestamp "${exp}"`);
    creds.expiresAt = at;
  }
  return creds;
}

/**
 * The credentials of one exec entry. Shared by every request of a client, so concurrent requests wait for one
 * run instead of starting several.
 */
export class ExecCredentialSource {
  readonly config: ExecConfig;
  readonly #runner: ExecRunner;
  #cached: ExecCredentials | undefined;
  #running: Promise<ExecCredentials> | undefined;
  /** How many times the plugin ran; tests and `--verbose` read it. */
  runs = 0;

  constructor(config: ExecConfig, runner: ExecRunner) {
    this.config = config;
    this.#runner = runner;
  }

  /** The cached credentials while they have not expired; otherwise runs the plugin (once for all callers). */
  async get(): Promise<ExecCredentials> {
    if (this.#running) return await this.#running;
    const cached = this.#cached;
    // client-go: expired only once now is after the timestamp; no timestamp means until a 401.
    if (cached && (cached.expiresAt === undefined || this.#runner.now() <= cached.expiresAt)) return cached;
    return await this.#refresh();
  }

  /**
   * After the API server answered 401 to a request sent with `used`: runs the plugin again, unless another
   * request has already replaced those credentials.
   */
  async refreshAfterUnauthorized(used: ExecCredentials): Promise<ExecCredentials> {
    if (this.#running) return await this.#running;
    if (this.#cached !== used) return await this.get();
    return await this.#refresh();
  }

  #refresh(): Promise<ExecCredentials> {
    const running = this.#run().finally(() => {
      if (this.#running === running) this.#running = undefined;
    });
    this.#running = running;
    return running;
  }

  async #run(): Promise<ExecCredentials> {
    const config = this.config;
    const interactive = interactivity(config, this.#runner.stdinIsTerminal());
    const env: Record<string, string> = {};
    for (const e of config.env) env[e.name] = e.value;
    env.KUBERNETES_EXEC_INFO = execInfo(config, interactive);
    let result: { code: number; stdout: string };
    this.runs++;
    try {
      result = await this.#runner.run({ command: config.command, args: config.args, env, interactive });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        const hint = config.installHint?.trim().replace(/\s*\n\s*/g, " ");
        throw failure(
          config,
          `exec: executable ${config.command} not found${
            hint ? `; ${hint}` : "; it looks like a client-go credential plugin that is not installed"
          }`,
          e,
        );
      }
      throw failure(config, `exec: cannot run ${config.command}: ${(e as Error).message}`, e);
    }
    if (result.code !== 0) {
      throw failure(config, `exec: executable ${config.command} failed with exit code ${result.code}`);
    }
    const creds = parseExecOutput(config, result.stdout);
    this.#cached = creds;
    return creds;
  }
}
