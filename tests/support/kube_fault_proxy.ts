// A TLS-terminating HTTP proxy in front of kube-apiserver, for in-cluster clients pointed at it through
// KUBERNETES_SERVICE_HOST/PORT: its certificate comes from the cluster CA (the ca.crt every pod mounts), and it
// forwards each request with the client's own bearer token, so the apiserver authenticates and authorizes the
// client as usual. It records every request with the caller's address (which pod), answers chosen requests with
// an error status for as long as a test says, and stalls chosen response streams (watches): it stops forwarding
// their bytes without closing them, as a connection that died silently looks from the client.
import { issueCertificate } from "../../lib/pki.ts";
import type { Sandbox } from "./sandbox.ts";
import { freePort } from "./server_process.ts";

/** One request the proxy received. */
export interface KubeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  /** The client's IP address: which pod sent it. */
  remote: string;
  /** `Date.now()` when it arrived. */
  startedMs: number;
  /** The status sent back; 0 until the response head is out. */
  status: number;
  /** Answered by a fault rule instead of the apiserver. */
  faulted: boolean;
}

/** Answers matching requests with `status` instead of forwarding them. */
export interface KubeFault {
  match: (r: KubeRequest) => boolean;
  status: number;
}

/** A response stream the proxy is forwarding. */
interface OpenStream {
  request: KubeRequest;
  stalled: boolean;
  /** Ends the stream towards the client and stops reading the apiserver. */
  cut(): void;
}

/** A running proxy. */
export interface KubeFaultProxy {
  /** Its address, for KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT. */
  host: string;
  port: number;
  requests: KubeRequest[];
  /** Active fault rules, checked in order; edit freely. */
  faults: KubeFault[];
  /** Stalls every open response stream that matches (new ones are not affected); returns the stalled requests. */
  stall(match: (r: KubeRequest) => boolean): KubeRequest[];
  /** Ends every stalled stream. */
  cutStalled(): number;
  /** Cuts every open stream and stops listening. */
  close(): Promise<void>;
}

/** Whether `r` is a watch (`?watch=true` or `?watch=1`). */
export function isWatch(r: KubeRequest): boolean {
  const w = r.query.get("watch");
  return w === "true" || w === "1";
}

/** Starts the proxy on the sandbox's address (the node IP, which pods reach). */
export async function startKubeFaultProxy(sandbox: Sandbox, options: { port?: number } = {}): Promise<KubeFaultProxy> {
  const cert = await issueCertificate(sandbox.ca, "kube-fault-proxy", {
    usage: {
      kind: "server",
      ipAddresses: [sandbox.host],
      dnsNames: ["kubernetes", "kubernetes.default", "kubernetes.default.svc"],
    },
  });
  // No client certificate: the apiserver must see the caller's own token, never the harness's identity.
  const client = Deno.createHttpClient({ caCerts: [sandbox.caPem] });
  const upstream = sandbox.apiserver.url;
  const requests: KubeRequest[] = [];
  const faults: KubeFault[] = [];
  const open = new Set<OpenStream>();
  const abort = new AbortController();
  const port = options.port ?? freePort();
  const server = Deno.serve({
    hostname: sandbox.host,
    port,
    cert: cert.certPem,
    key: cert.keyPem,
    signal: abort.signal,
    onListen: () => {},
  }, async (req, info) => {
    const url = new URL(req.url);
    const record: KubeRequest = {
      method: req.method,
      path: url.pathname,
      query: url.searchParams,
      remote: (info.remoteAddr as Deno.NetAddr).hostname,
      startedMs: Date.now(),
      status: 0,
      faulted: false,
    };
    requests.push(record);
    const fault = faults.find((f) => f.match(record));
    if (fault) {
      await req.body?.cancel();
      record.status = fault.status;
      record.faulted = true;
      const status = { kind: "Status", apiVersion: "v1", status: "Failure", message: "injected", code: fault.status };
      return new Response(JSON.stringify(status), {
        status: fault.status,
        headers: { "content-type": "application/json" },
      });
    }
    const headers = new Headers(req.headers);
    headers.delete("host");
    // fetch would decompress a gzip body but keep its content-encoding header; ask for none instead.
    headers.set("accept-encoding", "identity");
    const body = req.body ? new Uint8Array(await req.arrayBuffer()) : null;
    const upstreamAbort = new AbortController();
    let res: Response;
    try {
      res = await fetch(`${upstream}${url.pathname}${url.search}`, {
        method: req.method,
        headers,
        body,
        client,
        redirect: "manual",
        signal: upstreamAbort.signal,
      });
    } catch (e) {
      record.status = 502;
      return new Response(`kube-fault-proxy: ${(e as Error).message}`, { status: 502 });
    }
    record.status = res.status;
    const out = new Headers(res.headers);
    out.delete("content-length");
    out.delete("content-encoding");
    out.delete("transfer-encoding");
    if (!res.body) return new Response(null, { status: res.status, headers: out });
    let release: () => void = () => {};
    const released = new Promise<void>((r) => release = r);
    let controller: TransformStreamDefaultController<Uint8Array> | undefined;
    const stream: OpenStream = {
      request: record,
      stalled: false,
      cut() {
        // The client sees its stream end, as when the apiserver closes a watch.
        try {
          controller?.terminate();
        } catch { /* already closed */ }
        upstreamAbort.abort();
        release();
      },
    };
    open.add(stream);
    const relay = new TransformStream<Uint8Array, Uint8Array>({
      start(c) {
        controller = c;
      },
      async transform(chunk, c) {
        // A stalled stream holds this chunk (and so every later one) until it is cut: nothing more reaches the
        // client and nothing is closed.
        if (stream.stalled) {
          await released;
          return;
        }
        c.enqueue(chunk);
      },
      flush() {
        open.delete(stream);
      },
    });
    res.body.pipeTo(relay.writable).catch(() => open.delete(stream));
    return new Response(relay.readable, { status: res.status, headers: out });
  });
  return {
    host: sandbox.host,
    port,
    requests,
    faults,
    stall(match) {
      const hit: KubeRequest[] = [];
      for (const s of open) {
        if (!s.stalled && match(s.request)) {
          s.stalled = true;
          hit.push(s.request);
        }
      }
      return hit;
    },
    cutStalled() {
      let n = 0;
      for (const s of [...open]) {
        if (s.stalled) {
          s.cut();
          open.delete(s);
          n++;
        }
      }
      return n;
    },
    async close() {
      for (const s of [...open]) s.cut();
      open.clear();
      abort.abort();
      await server.finished;
      client.close();
    },
  };
}
