// A fault-injecting HTTPS proxy in front of moto: for a share of requests it answers with throttling, a 5xx, or
// holds the request past the client's timeout, so tests see how the daemon behaves when AWS misbehaves.
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

/** A running proxy. */
export interface FaultProxy {
  endpoint: string;
  counts: FaultCounts;
  close(): Promise<void>;
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

/** Starts the proxy; `faultRate` of requests fail, split between throttling, 5xx and timeouts. */
export async function startFaultProxy(
  sandbox: Sandbox,
  options: { faultRate: number; holdMs: number; seed?: number },
): Promise<FaultProxy> {
  const cert = await issueCertificate(sandbox.ca, "fault-proxy", {
    usage: { kind: "server", ipAddresses: ["127.0.0.1"] },
  });
  const upstream = sandbox.moto!.endpoint;
  const client = Deno.createHttpClient({ caCerts: [sandbox.caPem] });
  const random = prng(options.seed ?? 42);
  const counts: FaultCounts = { forwarded: 0, throttled: 0, failed: 0, delayed: 0 };
  const abort = new AbortController();
  const port = freePort();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port,
    cert: cert.certPem,
    key: cert.keyPem,
    signal: abort.signal,
    onListen: () => {},
  }, async (req) => {
    const url = new URL(req.url);
    const isControl = url.pathname.startsWith("/moto-api");
    const roll = random();
    if (!isControl && roll < options.faultRate) {
      const kind = Math.floor((roll / options.faultRate) * 3);
      if (kind === 0) {
        counts.throttled++;
        const body =
          `<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>fault</RequestId></ErrorResponse>`;
        return new Response(body, { status: 400, headers: { "content-type": "text/xml" } });
      }
      if (kind === 1) {
        counts.failed++;
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
    const res = await fetch(`${upstream}${url.pathname}${url.search}`, {
      method: req.method,
      headers,
      body: req.body ? await req.arrayBuffer() : null,
      client,
      redirect: "manual",
    });
    return new Response(res.body, { status: res.status, headers: res.headers });
  });
  return {
    endpoint: `https://127.0.0.1:${port}`,
    counts,
    async close() {
      abort.abort();
      await server.finished;
      client.close();
    },
  };
}
