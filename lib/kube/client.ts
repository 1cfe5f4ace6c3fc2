// A thin Kubernetes REST client over fetch. It speaks JSON, server-side apply with the fixed field manager, and
// watch streams, and turns API failures into IrsaErrors with the API server's own message.
import { IrsaError, type IrsaErrorKind } from "../errors.ts";
import { fieldManager } from "../names.ts";
import type { ExecCredentials } from "./exec_credential.ts";
import {
  type Impersonation,
  type KubeconfigOptions,
  type KubeConnection,
  loadKubeConnection,
  processKubeconfigSources,
} from "./kubeconfig.ts";
import { goDuration } from "./request_timeout.ts";
import { openTransport, type Transport, type TransportSettings } from "./transport.ts";

/** Identifies a resource collection or object. Core resources have group "". */
export interface ResourceRef {
  group?: string;
  version?: string;
  resource: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}

/** The API path of a resource. */
export function resourcePath(ref: ResourceRef): string {
  const group = ref.group ?? "";
  const base = group === "" ? `/api/${ref.version ?? "v1"}` : `/apis/${group}/${ref.version ?? "v1"}`;
  const ns = ref.namespace ? `/namespaces/${encodeURIComponent(ref.namespace)}` : "";
  const name = ref.name ? `/${encodeURIComponent(ref.name)}` : "";
  const sub = ref.subresource ? `/${ref.subresource}` : "";
  return `${base}${ns}/${ref.resource}${name}${sub}`;
}

/** One event of a watch stream. */
export interface WatchEvent<T> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

/** Options of a watch. */
export interface WatchOptions {
  /** Where the stream starts; events after it are sent. */
  resourceVersion?: string;
  signal?: AbortSignal;
  /** The server ends the stream after this long (default 300). */
  timeoutSeconds?: number;
}

/** Options of one request. */
export interface RequestOptions {
  query?: Record<string, string | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
}

function kindOfStatus(status: number): IrsaErrorKind {
  if (status === 401 || status === 403) return "denied";
  if (status === 404) return "not-found";
  if (status === 409) return "conflict";
  if (status === 400 || status === 422) return "invalid";
  return "unavailable";
}

/** client-go's limit on resending one request the server asked to be resent (rest.Request's maxRetries). */
export const maxRetryAfterRetries = 10;

/**
 * client-go's checkWait with its retry budget: the milliseconds to wait before sending a request again, or
 * undefined to take the answer as it is. Only a 429 or a 5xx with a Retry-After of whole seconds qualifies (an
 * HTTP date does not, as in client-go), for any method: the server asks for the request again, and API Priority
 * and Fairness rejects before doing any work. `retries` is how many times this request has been resent. Pure.
 */
export function retryAfterDelayMs(status: number, retryAfter: string | null, retries: number): number | undefined {
  if (status !== 429 && status < 500) return undefined;
  if (retries >= maxRetryAfterRetries || retryAfter === null) return undefined;
  // Go's strconv.Atoi; header values arrive trimmed.
  if (!/^[+-]?\d+$/.test(retryAfter)) return undefined;
  // A negative wait is no wait in Go; beyond 2^31-1 ms a JavaScript timer would fire at once instead of late.
  return Math.min(Math.max(0, Number(retryAfter)) * 1000, 2 ** 31 - 1);
}

/** Resolves after `ms`; rejects with the signal's reason once it aborts. */
function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(id);
      reject(signal?.reason);
    };
    const id = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Characters Go allows in a header name (net/http's isTokenTable), minus "%", which PathUnescape would misread. */
const headerKeyByte = /^[A-Za-z0-9!#$&'*+\-.^_`|~]$/;

/** client-go's headerKeyEscape: an Impersonate-Extra-<key> header name with the key percent-encoded where needed. */
export function impersonateExtraHeader(key: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(key)) {
    const c = String.fromCharCode(byte);
    out += byte < 0x80 && headerKeyByte.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return `Impersonate-Extra-${out}`;
}

/** The impersonation headers client-go sends, one header per group and per extra value. */
export function impersonationHeaders(i: Impersonation): [string, string][] {
  const headers: [string, string][] = [["Impersonate-User", i.user]];
  if (i.uid) headers.push(["Impersonate-Uid", i.uid]);
  for (const group of i.groups) headers.push(["Impersonate-Group", group]);
  for (const [key, values] of Object.entries(i.extra)) {
    for (const value of values) headers.push([impersonateExtraHeader(key), value]);
  }
  return headers;
}

/** Options of a client beyond the connection. */
export interface KubeClientOptions {
  /**
   * kubectl's --request-timeout in milliseconds: bounds each request, its Retry-After resends and body included,
   * and a watch until its response head; 0 or absent means none.
   */
  requestTimeoutMs?: number;
}

/** A connection to one API server. */
export class KubeClient {
  readonly connection: KubeConnection;
  readonly #requestTimeoutMs: number;
  /** One transport per client certificate: an exec plugin may rotate it. */
  readonly #transports = new Map<string, Promise<Transport>>();
  readonly #open = new Set<Transport>();

  constructor(connection: KubeConnection, options: KubeClientOptions = {}) {
    this.connection = connection;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 0;
  }

  /** Connects with the kubeconfig rules of kubectl (--kubeconfig, KUBECONFIG, ~/.kube/config, in-cluster). */
  static async connect(options: KubeconfigOptions & KubeClientOptions = {}): Promise<KubeClient> {
    const { requestTimeoutMs, ...kubeconfig } = options;
    return new KubeClient(
      await loadKubeConnection(processKubeconfigSources, kubeconfig),
      requestTimeoutMs ? { requestTimeoutMs } : {},
    );
  }

  /** The transport for the client certificate in use (the kubeconfig's, or the one an exec plugin returned). */
  #transport(creds: ExecCredentials | undefined): Promise<Transport> {
    const c = this.connection;
    const cert = creds?.clientCertPem ?? c.clientCertPem;
    const key = creds?.clientKeyPem ?? c.clientKeyPem;
    const id = `${cert ?? ""}\0${key ?? ""}`;
    let transport = this.#transports.get(id);
    if (!transport) {
      const settings: TransportSettings = {
        caPem: c.caPem,
        insecureSkipTlsVerify: c.insecureSkipTlsVerify,
        tlsServerName: c.tlsServerName,
        clientCertPem: cert,
        clientKeyPem: key,
        proxyUrl: c.proxyUrl,
        fetchWouldProxy: c.fetchWouldProxy,
        repeatedHeaders: (c.impersonate?.groups.length ?? 0) > 1 ||
          Object.values(c.impersonate?.extra ?? {}).some((v) => v.length > 1),
      };
      transport = openTransport(settings).then((t) => {
        this.#open.add(t);
        return t;
      });
      this.#transports.set(id, transport);
    }
    return transport;
  }

  /** The transport kind requests use ("fetch" or "node"); opens it if needed. */
  async transportKind(): Promise<Transport["kind"]> {
    return (await this.#transport(undefined)).kind;
  }

  /** The context's namespace. */
  get namespace(): string {
    return this.connection.namespace;
  }

  /**
   * Sends a request and returns the raw response; network failures become IrsaError("unavailable"). With an exec
   * plugin, a 401 re-runs it (once for all concurrent requests) and the request is sent again with the new
   * credentials. A 429 or 5xx with Retry-After is sent again after that many seconds, like client-go.
   */
  async raw(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    return (await this.#exchange(method, path, options)).res;
  }

  async #exchange(
    method: string,
    path: string,
    options: RequestOptions,
  ): Promise<{ res: Response; timeout: AbortSignal | undefined }> {
    const url = new URL(this.connection.server + path);
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const timeoutMs = this.#requestTimeoutMs;
    const watch = options.query?.watch === "true";
    // client-go also tells the server, so it stops working on a request the client has given up on.
    if (timeoutMs > 0 && !watch) url.searchParams.set("timeout", goDuration(timeoutMs));
    // The timeout covers every attempt and the body. A watch's covers only the wait for its response head: the
    // stream lasts minutes by design, and the informer bounds it with an inactivity deadline instead.
    let timeout: AbortSignal | undefined;
    let headTimer: ReturnType<typeof setTimeout> | undefined;
    if (timeoutMs > 0 && !watch) timeout = AbortSignal.timeout(timeoutMs);
    else if (timeoutMs > 0) {
      const head = new AbortController();
      headTimer = setTimeout(() => head.abort(new DOMException("The operation timed out", "TimeoutError")), timeoutMs);
      timeout = head.signal;
    }
    const deadline = timeoutMs > 0 ? performance.now() + timeoutMs : undefined;
    const signal = timeout && options.signal ? AbortSignal.any([options.signal, timeout]) : timeout ?? options.signal;
    let body: string | undefined;
    if (options.body !== undefined) {
      body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
    }
    const send = async (creds: ExecCredentials | undefined) => {
      const transport = await this.#transport(creds);
      return await transport.fetch(url, {
        method,
        headers: await this.#headers(creds, body !== undefined ? options.contentType ?? "application/json" : undefined),
        ...(body !== undefined ? { body } : {}),
        ...(signal ? { signal } : {}),
      });
    };
    const sendAuthorized = async () => {
      const exec = this.connection.exec;
      let creds = exec ? await exec.get() : undefined;
      let res = await send(creds);
      if (res.status === 401 && exec && creds) {
        await res.body?.cancel();
        creds = await exec.refreshAfterUnauthorized(creds);
        res = await send(creds);
      }
      return res;
    };
    try {
      let res = await sendAuthorized();
      for (let retries = 0;; retries++) {
        const waitMs = retryAfterDelayMs(res.status, res.headers.get("retry-after"), retries);
        if (waitMs === undefined) return { res, timeout };
        // client-go would sleep into its expired deadline and then fail; the server's answer says more.
        if (deadline !== undefined && performance.now() + waitMs >= deadline) return { res, timeout };
        await res.body?.cancel();
        await abortableSleep(waitMs, signal);
        res = await sendAuthorized();
      }
    } catch (e) {
      if (e instanceof IrsaError || options.signal?.aborted) throw e;
      if (timeout?.aborted) throw this.#timedOut(method, path, e);
      throw new IrsaError(
        "unavailable",
        "ApiServerUnreachable",
        `cannot reach the Kubernetes API at ${this.connection.server}: ${(e as Error).message}`,
        { cause: e },
      );
    } finally {
      clearTimeout(headTimer);
    }
  }

  async #headers(creds: ExecCredentials | undefined, contentType: string | undefined): Promise<[string, string][]> {
    const c = this.connection;
    // JWKS is served as application/jwk-set+json; everything else as JSON.
    const headers: [string, string][] = [["accept", "application/json, application/jwk-set+json;q=0.9"]];
    const token = c.token ? await c.token() : creds?.token;
    if (token) headers.push(["authorization", `Bearer ${token}`]);
    if (c.impersonate) headers.push(...impersonationHeaders(c.impersonate));
    if (c.disableCompression) headers.push(["accept-encoding", "identity"]);
    if (contentType) headers.push(["content-type", contentType]);
    return headers;
  }

  #timedOut(method: string, path: string, cause: unknown): IrsaError {
    return new IrsaError(
      "unavailable",
      "RequestTimeout",
      `${method} ${path}: no complete answer from the Kubernetes API at ${this.connection.server} within ${
        goDuration(this.#requestTimeoutMs)
      }`,
      { cause },
    );
  }

  /** Sends a request, parses JSON, and throws an IrsaError for any non-2xx status. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const { res, timeout } = await this.#exchange(method, path, options);
    let text: string;
    try {
      text = await res.text();
    } catch (e) {
      if (options.signal?.aborted) throw e;
      if (timeout?.aborted) throw this.#timedOut(method, path, e);
      throw new IrsaError(
        "unavailable",
        "ApiServerUnreachable",
        `${method} ${path}: the Kubernetes API at ${this.connection.server} broke off the answer: ${
          (e as Error).message
        }`,
        { cause: e },
      );
    }
    if (!res.ok) {
      let message = text.trim().split("\n")[0] ?? "";
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? message;
      } catch { /* not a Status object */ }
      throw new IrsaError(
        kindOfStatus(res.status),
        `Http${res.status}`,
        `${method} ${path}: ${message} (HTTP ${res.status})`,
      );
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** GETs an object; undefined when it does not exist. */
  async get<T>(ref: ResourceRef | string): Promise<T | undefined> {
    try {
      return await this.request<T>("GET", typeof ref === "string" ? ref : resourcePath(ref));
    } catch (e) {
      if (e instanceof IrsaError && e.kind === "not-found") return undefined;
      throw e;
    }
  }

  /** Lists a collection, following continue tokens. */
  async list<T>(ref: ResourceRef, options: { labelSelector?: string; fieldSelector?: string } = {}): Promise<T[]> {
    const items: T[] = [];
    let cont: string | undefined;
    do {
      const page = await this.request<{ items: T[]; metadata: { continue?: string } }>("GET", resourcePath(ref), {
        query: {
          labelSelector: options.labelSelector,
          fieldSelector: options.fieldSelector,
          limit: "500",
          continue: cont,
        },
      });
      items.push(...page.items);
      cont = page.metadata.continue || undefined;
    } while (cont);
    return items;
  }

  /** Server-side apply with the kubectl-irsa field manager. */
  async apply<T>(ref: ResourceRef, object: unknown, options: { force?: boolean; dryRun?: boolean } = {}): Promise<T> {
    return await this.request<T>("PATCH", resourcePath(ref), {
      query: {
        fieldManager,
        force: options.force === false ? undefined : "true",
        dryRun: options.dryRun ? "All" : undefined,
      },
      body: object,
      contentType: "application/apply-patch+yaml",
    });
  }

  /** Creates an object in a collection. */
  async create<T>(ref: ResourceRef, object: unknown): Promise<T> {
    return await this.request<T>("POST", resourcePath(ref), { body: object, query: { fieldManager } });
  }

  /** Sends a JSON merge patch or a JSON patch. */
  async patch<T>(ref: ResourceRef, patch: unknown, kind: "merge" | "json" = "merge"): Promise<T> {
    return await this.request<T>("PATCH", resourcePath(ref), {
      body: patch,
      query: { fieldManager },
      contentType: kind === "merge" ? "application/merge-patch+json" : "application/json-patch+json",
    });
  }

  /** Deletes an object; a missing object counts as deleted. */
  async delete(ref: ResourceRef): Promise<void> {
    try {
      await this.request("DELETE", resourcePath(ref));
    } catch (e) {
      if (!(e instanceof IrsaError && e.kind === "not-found")) throw e;
    }
  }

  /** Streams watch events until the server closes the stream or `signal` aborts. */
  async *watch<T>(ref: ResourceRef, options: WatchOptions = {}): AsyncGenerator<WatchEvent<T>> {
    const res = await this.raw("GET", resourcePath(ref), {
      query: {
        watch: "true",
        allowWatchBookmarks: "true",
        resourceVersion: options.resourceVersion,
        timeoutSeconds: String(options.timeoutSeconds ?? 300),
      },
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (!res.ok || !res.body) {
      const text = await res.text();
      throw new IrsaError(
        kindOfStatus(res.status),
        `Http${res.status}`,
        `watch ${resourcePath(ref)}: ${text.slice(0, 200)}`,
      );
    }
    let buffered = "";
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body) {
        buffered += decoder.decode(chunk, { stream: true });
        let newline;
        while ((newline = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (line) yield JSON.parse(line) as WatchEvent<T>;
        }
      }
    } catch (e) {
      if (!options.signal?.aborted) throw e;
    }
  }

  /** Releases the connection pools. */
  close(): void {
    for (const transport of this.#open) transport.close();
    this.#open.clear();
    this.#transports.clear();
  }
}
