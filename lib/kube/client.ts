// A thin Kubernetes REST client over fetch. It speaks JSON, server-side apply with the fixed field manager, and
// watch streams, and turns API failures into IrsaErrors with the API server's own message.
import { IrsaError, type IrsaErrorKind } from "../errors.ts";
import { fieldManager } from "../names.ts";
import { type KubeConnection, loadKubeConnection, processKubeconfigSources } from "./kubeconfig.ts";

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

/** A connection to one API server. */
export class KubeClient {
  readonly connection: KubeConnection;
  readonly #http: Deno.HttpClient;

  constructor(connection: KubeConnection) {
    this.connection = connection;
    const tls: Deno.CreateHttpClientOptions & { cert?: string; key?: string } = {};
    if (connection.caPem) tls.caCerts = [connection.caPem];
    if (connection.clientCertPem && connection.clientKeyPem) {
      tls.cert = connection.clientCertPem;
      tls.key = connection.clientKeyPem;
    }
    this.#http = Deno.createHttpClient(tls);
  }

  /** Connects with the kubeconfig rules of kubectl (--kubeconfig, KUBECONFIG, ~/.kube/config, in-cluster). */
  static async connect(options: { kubeconfig?: string; context?: string } = {}): Promise<KubeClient> {
    return new KubeClient(await loadKubeConnection(processKubeconfigSources, options));
  }

  /** The context's namespace. */
  get namespace(): string {
    return this.connection.namespace;
  }

  /** Sends a request and returns the raw response; network failures become IrsaError("unavailable"). */
  async raw(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const url = new URL(this.connection.server + path);
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    // JWKS is served as application/jwk-set+json; everything else as JSON.
    const headers: Record<string, string> = { accept: "application/json, application/jwk-set+json;q=0.9" };
    if (this.connection.token) headers.authorization = `Bearer ${await this.connection.token()}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers["content-type"] = options.contentType ?? "application/json";
      body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
    }
    try {
      return await fetch(url, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
        client: this.#http,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (e) {
      if (options.signal?.aborted) throw e;
      throw new IrsaError(
        "unavailable",
        "ApiServerUnreachable",
        `cannot reach the Kubernetes API at ${this.connection.server}: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }

  /** Sends a request, parses JSON, and throws an IrsaError for any non-2xx status. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const res = await this.raw(method, path, options);
    const text = await res.text();
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
  async *watch<T>(
    ref: ResourceRef,
    options: { resourceVersion?: string; signal?: AbortSignal; timeoutSeconds?: number } = {},
  ): AsyncGenerator<WatchEvent<T>> {
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

  /** Releases the connection pool. */
  close(): void {
    this.#http.close();
  }
}
