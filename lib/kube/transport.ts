// How requests reach the API server. Deno's fetch client serves almost every kubeconfig, but it cannot skip
// certificate verification, cannot verify against a name other than the URL's host (tls-server-name), merges
// repeated headers into one (several Impersonate-Group values would become one group "a, b"), and proxies
// loopback addresses that Go never proxies. Those connections go through node:https instead, which can do all of it,
// so what kubectl would send is what is sent.
import type { HttpsProxyAgent as ProxyAgent } from "https-proxy-agent";

/** Everything the transport needs about TLS and routing. */
export interface TransportSettings {
  /** PEM bundle trusted for the server; undefined means the system roots. */
  caPem?: string | undefined;
  insecureSkipTlsVerify?: boolean | undefined;
  /** Name to verify the server certificate against (and send as SNI) instead of the URL's host. */
  tlsServerName?: string | undefined;
  clientCertPem?: string | undefined;
  clientKeyPem?: string | undefined;
  /** The proxy to use (kubeconfig proxy-url, or the environment's by Go's rules); undefined means direct. */
  proxyUrl?: string | undefined;
  /** Deno's fetch would apply an environment proxy here on its own, where Go's rules connect directly. */
  fetchWouldProxy?: boolean | undefined;
  /** Some header is sent more than once (impersonated groups, extra values). */
  repeatedHeaders?: boolean | undefined;
}

/** One request; headers are pairs so a name can repeat. */
export interface TransportRequest {
  method: string;
  headers: [string, string][];
  body?: string;
  signal?: AbortSignal;
}

/** Sends requests over one pool of connections. */
export interface Transport {
  readonly kind: "fetch" | "node";
  fetch(url: URL, request: TransportRequest): Promise<Response>;
  close(): void;
}

/** Why a connection needs node:https, or undefined when Deno's fetch sends exactly what kubectl would. Pure. */
export function nodeTransportReason(s: TransportSettings): string | undefined {
  if (s.insecureSkipTlsVerify) return "insecure-skip-tls-verify";
  if (s.tlsServerName) return "tls-server-name";
  if (s.repeatedHeaders) return "repeated impersonation headers";
  // Go decided "direct" (NO_PROXY, or a loopback server); Deno's fetch would still go through the proxy.
  if (!s.proxyUrl && s.fetchWouldProxy) return "a proxy environment variable that does not apply to this server";
  return undefined;
}

/** Deno's `proxy` option for a proxy URL: credentials moved to basicAuth, socks5 resolving names at the proxy. */
export function denoProxy(proxyUrl: string): Deno.Proxy {
  const url = new URL(proxyUrl);
  const basicAuth = url.username || url.password
    ? { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) }
    : undefined;
  url.username = "";
  url.password = "";
  // Go's SOCKS5 dialer hands the host name to the proxy, which is socks5h in Deno's terms.
  const scheme = url.protocol === "socks5:" ? "socks5h:" : url.protocol;
  const text = `${scheme}//${url.host}${url.pathname === "/" ? "" : url.pathname}`;
  const transport = url.protocol === "https:" ? "https" : url.protocol === "socks5:" ? "socks5" : "http";
  return { transport, url: text, ...(basicAuth ? { basicAuth } : {}) };
}

/** Opens the transport the settings need. */
export async function openTransport(s: TransportSettings): Promise<Transport> {
  return nodeTransportReason(s) ? await nodeTransport(s) : fetchTransport(s);
}

function fetchTransport(s: TransportSettings): Transport {
  const options: Deno.CreateHttpClientOptions & { cert?: string; key?: string } = {};
  if (s.caPem) options.caCerts = [s.caPem];
  if (s.clientCertPem && s.clientKeyPem) {
    options.cert = s.clientCertPem;
    options.key = s.clientKeyPem;
  }
  if (s.proxyUrl) options.proxy = denoProxy(s.proxyUrl);
  const client = Deno.createHttpClient(options);
  return {
    kind: "fetch",
    fetch: (url, r) =>
      fetch(url, {
        method: r.method,
        headers: r.headers,
        client,
        ...(r.body !== undefined ? { body: r.body } : {}),
        ...(r.signal ? { signal: r.signal } : {}),
      }),
    close: () => client.close(),
  };
}

async function nodeTransport(s: TransportSettings): Promise<Transport> {
  const [https, http] = await Promise.all([import("node:https"), import("node:http")]);
  const tls = {
    ...(s.caPem ? { ca: s.caPem } : {}),
    ...(s.clientCertPem && s.clientKeyPem ? { cert: s.clientCertPem, key: s.clientKeyPem } : {}),
    ...(s.tlsServerName ? { servername: s.tlsServerName } : {}),
    rejectUnauthorized: !s.insecureSkipTlsVerify,
  };
  let agent: InstanceType<typeof https.Agent>;
  if (s.proxyUrl) {
    const { HttpsProxyAgent } = await import("https-proxy-agent");
    // The agent passes only per-request options to the tunnelled TLS connection; add ours.
    class TlsProxyAgent extends HttpsProxyAgent<string> {
      override connect(
        req: Parameters<ProxyAgent<string>["connect"]>[0],
        opts: Parameters<ProxyAgent<string>["connect"]>[1],
      ) {
        return super.connect(req, { ...opts, ...tls });
      }
    }
    agent = new TlsProxyAgent(s.proxyUrl, { keepAlive: true }) as unknown as InstanceType<typeof https.Agent>;
  } else {
    agent = new https.Agent({ keepAlive: true, ...tls });
  }
  const plainAgent = new http.Agent({ keepAlive: true });
  return {
    kind: "node",
    fetch(url, r) {
      if (url.protocol === "http:" && s.proxyUrl) {
        return Promise.reject(new Error(`cannot send this request to ${url.origin} through a proxy without TLS`));
      }
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of r.headers) {
        const key = name.toLowerCase();
        const prev = headers[key];
        headers[key] = prev === undefined ? value : [...(Array.isArray(prev) ? prev : [prev]), value];
      }
      if (r.body !== undefined) headers["content-length"] = String(new TextEncoder().encode(r.body).length);
      return new Promise<Response>((resolve, reject) => {
        if (r.signal?.aborted) return reject(r.signal.reason);
        const lib = url.protocol === "https:" ? https : http;
        let fail: ((e: unknown) => void) | undefined;
        const onAbort = () => {
          const reason = r.signal?.reason;
          req.destroy(reason instanceof Error ? reason : new Error(String(reason)));
          fail?.(reason);
        };
        const req = lib.request(url, {
          method: r.method,
          headers,
          agent: url.protocol === "https:" ? agent : plainAgent,
        }, (res) => {
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
              responseHeaders.append(name, v);
            }
          }
          const status = res.statusCode ?? 502;
          const empty = status === 204 || status === 304 || r.method === "HEAD";
          let done = false;
          const finish = () => {
            done = true;
            r.signal?.removeEventListener("abort", onAbort);
          };
          const body = empty ? null : new ReadableStream<Uint8Array>({
            start(controller) {
              fail = (e) => {
                if (done) return;
                finish();
                controller.error(e);
              };
              res.on("data", (chunk: Uint8Array) => {
                if (done) return;
                controller.enqueue(new Uint8Array(chunk));
                if ((controller.desiredSize ?? 1) <= 0) res.pause();
              });
              res.on("end", () => {
                if (done) return;
                finish();
                controller.close();
              });
              res.on("error", (e) => fail?.(e));
              res.on("close", () => fail?.(new Error("the connection closed before the response ended")));
            },
            pull() {
              res.resume();
            },
            cancel() {
              finish();
              res.destroy();
            },
          });
          if (empty) {
            finish();
            res.resume();
          }
          resolve(new Response(body, { status, statusText: res.statusMessage ?? "", headers: responseHeaders }));
        });
        r.signal?.addEventListener("abort", onAbort, { once: true });
        req.on("error", (e) => {
          const reason = r.signal?.aborted ? r.signal.reason : e;
          if (fail) fail(reason);
          else {
            r.signal?.removeEventListener("abort", onAbort);
            reject(reason);
          }
        });
        if (r.body !== undefined) req.write(r.body);
        req.end();
      });
    },
    close() {
      agent.destroy();
      plainAgent.destroy();
    },
  };
}
