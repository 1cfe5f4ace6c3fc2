// An HTTPS proxy in front of moto: it records every AWS request it forwards (the oracle for call counts and for
// what a pod's SDK sent to STS, independent of the code under test) and, for a share of requests, answers with
// throttling, a 5xx, or holds the request past the client's timeout, so tests see how the daemon behaves when AWS
// misbehaves. It can also stand at AWS's own host names for pods whose SDK ignores AWS_ENDPOINT_URL (aws-sdk-go v1,
// as in s3-echoer): port 443, a certificate for those names, and virtual-hosted S3 requests
// (`BUCKET.s3.REGION.amazonaws.com`) turned into moto's path style.
import { isWriteOperation } from "../../lib/aws/call_log.ts";
import { issueCertificate } from "../../lib/pki.ts";
import type { Sandbox } from "./sandbox.ts";
import { freePort } from "./server_process.ts";

/** Counts of what the proxy did. */
export interface FaultCounts {
  forwarded: number;
  throttled: number;
  failed: number;
  delayed: number;
}

/** One request the proxy forwarded or answered. */
export interface RecordedRequest {
  method: string;
  host: string;
  path: string;
  /** The SigV4 credential scope's service (`s3`, `sts`, `iam`), or "" for unsigned requests. */
  service: string;
  /** The Query API `Action` (form body or query string), or "" (S3's REST API). */
  action: string;
  /** The form-encoded body of Query API requests. */
  form?: URLSearchParams;
  status: number;
  /** The client's IP address: which pod (or the host) sent it. */
  remote: string;
  /** `Date.now()` when the request arrived and when its answer was ready. */
  startedMs: number;
  endedMs: number;
}

/** A running proxy. */
export interface FaultProxy {
  endpoint: string;
  counts: FaultCounts;
  requests: RecordedRequest[];
  /**
   * Delays every AWS request (not /moto-api) by `ms` from now on, e.g. to slow a reconcile down, or by what a
   * function of the request returns (realistic latency: IAM writes slower than reads); 0 to stop.
   */
  setLatency(ms: number | ((request: LatencyRequest) => number)): void;
  close(): Promise<void>;
}

/** What a latency function sees of a request. */
export interface LatencyRequest {
  method: string;
  service: string;
  action: string;
}

/** A small deterministic PRNG (mulberry32), so a failing run can be replayed with the same seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Starts the proxy on the sandbox's address (`dnsNames` also in its certificate); `faultRate` of requests fail,
 * split between throttling, 5xx and timeouts.
 */
export async function startFaultProxy(
  sandbox: Sandbox,
  options: { faultRate: number; holdMs: number; seed?: number; port?: number; dnsNames?: string[] },
): Promise<FaultProxy> {
  const cert = await issueCertificate(sandbox.ca, "fault-proxy", {
    usage: {
      kind: "server",
      ipAddresses: [sandbox.host],
      dnsNames: options.dnsNames ?? [],
    },
  });
  const upstream = sandbox.moto!.endpoint;
  const client = Deno.createHttpClient({ caCerts: [sandbox.caPem] });
  const random = prng(options.seed ?? 42);
  const counts: FaultCounts = { forwarded: 0, throttled: 0, failed: 0, delayed: 0 };
  const requests: RecordedRequest[] = [];
  let latency: number | ((request: LatencyRequest) => number) = 0;
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
    const startedMs = Date.now();
    const remote = (info.remoteAddr as Deno.NetAddr).hostname;
    const url = new URL(req.url);
    const host = req.headers.get("host") ?? url.host;
    const body = req.body ? new Uint8Array(await req.arrayBuffer()) : null;
    const service = req.headers.get("authorization")?.match(/Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\//)?.[1] ?? "";
    const formType = req.headers.get("content-type")?.startsWith("application/x-www-form-urlencoded") ?? false;
    const form = formType && body ? new URLSearchParams(new TextDecoder().decode(body)) : undefined;
    const action = form?.get("Action") ?? url.searchParams.get("Action") ?? "";
    // BUCKET.s3[.REGION].amazonaws.com -> /BUCKET/…, which moto serves for an IP host.
    const bucket = host.replace(/:\d+$/, "").match(/^(.+)\.s3[.-](?:[a-z0-9-]+\.)?amazonaws\.com$/)?.[1];
    const path = bucket ? `/${bucket}${url.pathname === "/" ? "" : url.pathname}` : url.pathname;
    const record = (status: number) => {
      requests.push({
        method: req.method,
        host,
        path,
        service,
        action,
        ...(form ? { form } : {}),
        status,
        remote,
        startedMs,
        endedMs: Date.now(),
      });
    };
    const isControl = url.pathname.startsWith("/moto-api");
    const delayMs = isControl
      ? 0
      : typeof latency === "number"
      ? latency
      : latency({ method: req.method, service, action });
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    const roll = random();
    if (!isControl && roll < options.faultRate) {
      const kind = Math.floor((roll / options.faultRate) * 3);
      if (kind === 0) {
        counts.throttled++;
        record(400);
        const body =
          `<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>fault</RequestId></ErrorResponse>`;
        return new Response(body, { status: 400, headers: { "content-type": "text/xml" } });
      }
      if (kind === 1) {
        counts.failed++;
        record(503);
        return new Response(`<Error><Code>InternalError</Code><Message>injected</Message></Error>`, {
          status: 503,
          headers: { "content-type": "text/xml" },
        });
      }
      counts.delayed++;
      await new Promise((r) => setTimeout(r, options.holdMs));
    }
    counts.forwarded++;
    const headers = new Headers(req.headers);
    headers.delete("host");
    let res: Response;
    try {
      res = await fetch(`${upstream}${path}${url.search}`, {
        method: req.method,
        headers,
        body,
        client,
        redirect: "manual",
      });
    } catch {
      // moto unreachable, or the proxy closing under a request in flight: a gateway's answer (not counted as one
      // moto gave), not a stack trace.
      return new Response("", { status: 502 });
    }
    record(res.status);
    return new Response(res.body, { status: res.status, headers: res.headers });
  });
  return {
    endpoint: port === 443 ? `https://${sandbox.host}` : `https://${sandbox.host}:${port}`,
    counts,
    requests,
    setLatency(ms) {
      latency = ms;
    },
    async close() {
      abort.abort();
      await server.finished;
      client.close();
    },
  };
}

/** Whether a recorded request wrote: Query API actions by name, REST (S3) by method. */
export function isWrite(r: RecordedRequest): boolean {
  return r.action ? isWriteOperation(r.action) : !["GET", "HEAD"].includes(r.method);
}

/**
 * Waits until the proxy has seen no request for `quietMs`, counting only requests after index `from`; returns when
 * the last of them ended (epoch ms).
 */
export async function waitProxyQuiet(
  proxy: FaultProxy,
  from: number,
  quietMs: number,
  timeoutMs: number,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const last = proxy.requests.length > from ? proxy.requests[proxy.requests.length - 1]!.endedMs : 0;
    if (last > 0 && Date.now() - last >= quietMs) return last;
    if (Date.now() > deadline) throw new Error(`AWS calls did not stop within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, Math.min(500, quietMs / 4)));
  }
}
