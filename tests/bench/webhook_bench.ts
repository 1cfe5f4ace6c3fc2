// Webhook throughput and latency: our daemon against the upstream amazon-eks-pod-identity-webhook on the same
// machine, in one run, with the same request corpus and the same closed-loop load generator. Both read real
// ServiceAccounts from the sandbox apiserver. Prints figures and ratios only; never asserts on time.
import { systemNamespace, webhookObjects } from "../../lib/names.ts";
import type { KubeClient } from "../../lib/kube/client.ts";
import { serverVersions } from "../support/go_build.ts";
import { createNamespace, createServiceAccount, sandboxClient } from "../support/kube.ts";
import { startDaemon } from "../support/daemon.ts";
import { piwDefaultRegion, startPiw } from "../support/piw.ts";
import { startSandbox } from "../support/sandbox.ts";
import { corpusCases, corpusServiceAccounts } from "../support/webhook_corpus.ts";

const concurrency = 16;
const warmUpMs = 2_000;
const measureMs = 10_000;
const rounds = 5;
const namespace = "webhook-bench";

/** One server under load. */
export interface Target {
  label: string;
  url: string;
  caPem: string;
  /** Request bodies, already serialised. */
  bodies: string[];
}

/** What a measured run saw. */
export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  latenciesMs: number[];
  /** CPU seconds the server and the load generator used while measured (undefined without /proc). */
  serverCpu?: number;
  clientCpu?: number;
}

/** utime + stime of a process in seconds, from /proc (Linux, USER_HZ 100). */
async function cpuSeconds(pid: number | "self"): Promise<number | undefined> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    // The command name may hold spaces and parentheses; the fields after its closing parenthesis are fixed.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * A closed-loop load generator for one server: `concurrency` workers each send one request, read the whole answer
 * and send the next, cycling through the bodies. HTTP/1.1 keep-alive, because Go would otherwise negotiate HTTP/2
 * and ours speaks HTTP/1.1 only (the apiserver then uses HTTP/1.1 too); the connections stay open between windows.
 */
export class ClosedLoop {
  readonly #target: Target;
  readonly #serverPid: number | undefined;
  readonly #client: Deno.HttpClient;
  #next = 0;
  readonly result: LoadResult = { requests: 0, errors: 0, seconds: 0, latenciesMs: [] };

  constructor(target: Target, serverPid?: number) {
    this.#target = target;
    this.#serverPid = serverPid;
    this.#client = Deno.createHttpClient({ caCerts: [target.caPem], http2: false, http1: true });
  }

  /** Runs the load for `ms`; adds what it saw to `result` unless `record` is false (warm-up). */
  async window(ms: number, record = true): Promise<void> {
    const { bodies, url } = this.#target;
    const deadline = performance.now() + ms;
    const latencies: number[] = [];
    let errors = 0;
    const worker = async () => {
      while (performance.now() < deadline) {
        const body = bodies[this.#next++ % bodies.length]!;
        const t0 = performance.now();
        try {
          const res = await fetch(url, {
            method: "POST",
            body,
            headers: { "content-type": "application/json" },
            client: this.#client,
          });
          await res.arrayBuffer();
          if (res.ok) latencies.push(performance.now() - t0);
          else errors++;
        } catch {
          errors++;
        }
      }
    };
    const before = await this.#cpu();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: concurrency }, worker));
    const seconds = (performance.now() - t0) / 1000;
    const after = await this.#cpu();
    if (!record) return;
    const r = this.result;
    r.requests += latencies.length;
    r.errors += errors;
    r.seconds += seconds;
    r.latenciesMs = [...r.latenciesMs, ...latencies].sort((a, b) => a - b);
    if (before.server !== undefined && after.server !== undefined) {
      r.serverCpu = (r.serverCpu ?? 0) + after.server - before.server;
    }
    if (before.client !== undefined && after.client !== undefined) {
      r.clientCpu = (r.clientCpu ?? 0) + after.client - before.client;
    }
  }

  close(): void {
    this.#client.close();
  }

  async #cpu(): Promise<{ server: number | undefined; client: number | undefined }> {
    return {
      server: this.#serverPid === undefined ? undefined : await cpuSeconds(this.#serverPid),
      client: await cpuSeconds("self"),
    };
  }
}

/**
 * Warms both servers up, then measures them in alternating windows, so that whatever else the machine does at
 * the time is shared out evenly between them.
 */
async function compare(loads: ClosedLoop[]): Promise<void> {
  for (const l of loads) await l.window(warmUpMs, false);
  for (let i = 0; i < rounds; i++) {
    for (const l of loads) await l.window(measureMs / rounds);
  }
}

/** The AdmissionReview the apiserver would send for `pod`, in `apiVersion` (v1 or v1beta1; same content). */
function admissionReview(apiVersion: string, uid: string, pod: { metadata: { name: string } }): string {
  const gvk = { group: "", version: "v1", kind: "Pod" };
  const gvr = { group: "", version: "v1", resource: "pods" };
  return JSON.stringify({
    apiVersion,
    kind: "AdmissionReview",
    request: {
      uid,
      kind: gvk,
      resource: gvr,
      requestKind: gvk,
      requestResource: gvr,
      name: pod.metadata.name,
      namespace,
      operation: "CREATE",
      userInfo: { username: "kubectl-irsa-admin", groups: ["system:masters", "system:authenticated"] },
      object: pod,
      oldObject: null,
      dryRun: false,
      options: { kind: "CreateOptions", apiVersion: "meta.k8s.io/v1" },
    },
  });
}

/** The corpus pods as the apiserver hands them to webhooks: defaulted, with the namespace set. */
async function corpusPods(kube: KubeClient): Promise<{ metadata: { name: string } }[]> {
  const pods: { metadata: { name: string } }[] = [];
  for (const [i, c] of corpusCases.entries()) {
    // The objectSelector keeps opted-out pods away from both webhooks, so the apiserver never sends them.
    if (c.pod.metadata?.labels?.["eks.amazonaws.com/skip-pod-identity-webhook"] !== undefined) continue;
    // A pod without serviceAccountName is refused by the apiserver once ours mutates it (see webhook_diff_test.ts).
    if (c.pod.spec.serviceAccountName === undefined && c.pod.spec.serviceAccount === undefined) continue;
    pods.push(
      await kube.request("POST", `/api/v1/namespaces/${namespace}/pods`, {
        query: { dryRun: "All" },
        body: { apiVersion: "v1", kind: "Pod", metadata: { ...c.pod.metadata, name: `bench-${i}` }, spec: c.pod.spec },
      }),
    );
  }
  return pods;
}

/** Posts the "app" pod until the server's ServiceAccount cache has it, i.e. the answer carries a patch. */
async function waitForPatch(target: Target, body: string): Promise<void> {
  const client = Deno.createHttpClient({ caCerts: [target.caPem] });
  try {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      try {
        const res = await fetch(target.url, {
          method: "POST",
          body,
          headers: { "content-type": "application/json" },
          client,
        });
        const review = await res.json() as { response?: { patch?: string } };
        if (review.response?.patch) return;
      } catch { /* not yet */ }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`${target.label} never returned a patch`);
  } finally {
    client.close();
  }
}

/** Checks every body once: HTTP 200, allowed, and the uid echoed. Returns how many answers carry a patch. */
async function checkAnswers(target: Target): Promise<number> {
  const client = Deno.createHttpClient({ caCerts: [target.caPem] });
  let patched = 0;
  try {
    for (const body of target.bodies) {
      const res = await fetch(target.url, {
        method: "POST",
        body,
        headers: { "content-type": "application/json" },
        client,
      });
      const review = await res.json() as { response?: { uid?: string; allowed?: boolean; patch?: string } };
      const uid = (JSON.parse(body) as { request: { uid: string } }).request.uid;
      if (res.status !== 200 || review.response?.allowed !== true || review.response.uid !== uid) {
        throw new Error(`${target.label} answered ${res.status} ${JSON.stringify(review).slice(0, 300)}`);
      }
      if (review.response.patch) patched++;
    }
  } finally {
    client.close();
  }
  return patched;
}

async function rssMb(pid: number): Promise<string> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const kb = Number(status.match(/^VmRSS:\s+(\d+) kB/m)?.[1]);
    return Number.isFinite(kb) ? `${(kb / 1024).toFixed(0)} MB` : "unknown";
  } catch {
    return "unknown";
  }
}

const figure = (name: string, value: string) => `${name.padEnd(48)} ${value}`;

function describe(r: LoadResult): string {
  const rps = r.requests / r.seconds;
  const cpu = r.serverCpu === undefined
    ? ""
    : `; server CPU ${(r.serverCpu / r.seconds).toFixed(2)} cores, ${
      (r.serverCpu * 1e6 / r.requests).toFixed(0)
    } us/request; load generator ${((r.clientCpu ?? NaN) / r.seconds).toFixed(2)} cores`;
  return `${rps.toFixed(0)} req/s, p50 ${percentile(r.latenciesMs, 50).toFixed(2)} ms, p99 ${
    percentile(r.latenciesMs, 99).toFixed(2)
  } ms (${r.requests} requests, ${r.errors} errors${cpu})`;
}

/** Runs the webhook benchmark against a fresh sandbox and returns the lines to print. */
export async function benchWebhooks(): Promise<string[]> {
  const sandbox = await startSandbox({ moto: false });
  let failed = true;
  try {
    const kube = await sandboxClient(sandbox);
    try {
      for (const name of [systemNamespace, namespace]) {
        await createNamespace(kube, name);
      }
      for (const sa of corpusServiceAccounts) await createServiceAccount(kube, namespace, sa.name, sa.annotations);
      const pods = await corpusPods(kube);

      const piw = await startPiw(sandbox);
      try {
        const daemon = await startDaemon(sandbox, [
          "--namespace",
          systemNamespace,
          "--aws-default-region",
          piwDefaultRegion,
        ]);
        try {
          const secret = await kube.get<{ data: Record<string, string> }>({
            resource: "secrets",
            namespace: systemNamespace,
            name: webhookObjects.tlsSecret,
          });
          const ours: Target = {
            label: "kubectl-irsa daemon",
            url: `https://127.0.0.1:${daemon.webhookPort}${webhookObjects.path}`,
            caPem: atob(secret!.data["ca.crt"]!),
            bodies: pods.map((p, i) => admissionReview("admission.k8s.io/v1", `bench-uid-${i}`, p)),
          };
          const upstream: Target = {
            label: `pod-identity-webhook ${serverVersions.podIdentityWebhook}`,
            url: `https://127.0.0.1:${piw.port}/mutate`,
            caPem: piw.caPem,
            bodies: pods.map((p, i) => admissionReview("admission.k8s.io/v1beta1", `bench-uid-${i}`, p)),
          };
          const appIndex = corpusCases.findIndex((c) => c.name === "ServiceAccount with a role annotation only");
          const appBody = pods.findIndex((p) => p.metadata.name === `bench-${appIndex}`);
          await waitForPatch(ours, ours.bodies[appBody]!);
          await waitForPatch(upstream, upstream.bodies[appBody]!);
          const patched = { ours: await checkAnswers(ours), upstream: await checkAnswers(upstream) };

          const loads = [new ClosedLoop(ours, daemon.process.pid), new ClosedLoop(upstream, piw.process.pid)];
          try {
            await compare(loads);
          } finally {
            for (const l of loads) l.close();
          }
          const [oursResult, upstreamResult] = loads.map((l) => l.result) as [LoadResult, LoadResult];
          const rps = (r: LoadResult) => r.requests / r.seconds;
          const p99 = (r: LoadResult) => percentile(r.latenciesMs, 99);
          const lines = [
            `webhook: ${pods.length} AdmissionReview bodies from the corpus (with a patch: ours ${patched.ours}, ` +
            `upstream ${patched.upstream}), closed loop, concurrency ${concurrency}, HTTP/1.1 keep-alive, ` +
            `${warmUpMs / 1000} s warm-up, then ${measureMs / 1000} s per server in ${rounds} alternating windows, ` +
            `${navigator.hardwareConcurrency} CPUs`,
            figure("webhook ours (Deno, node:https)", describe(oursResult)),
            figure(`webhook upstream (PIW ${serverVersions.podIdentityWebhook}, Go)`, describe(upstreamResult)),
            figure("webhook throughput ours/upstream", `${(rps(oursResult) / rps(upstreamResult)).toFixed(2)}x`),
            figure("webhook p99 latency ours/upstream", `${(p99(oursResult) / p99(upstreamResult)).toFixed(2)}x`),
            figure("webhook RSS after load ours", await rssMb(daemon.process.pid)),
            figure("webhook RSS after load upstream", await rssMb(piw.process.pid)),
          ];
          failed = false;
          return lines;
        } finally {
          await daemon.stop();
        }
      } finally {
        await piw.stop();
      }
    } finally {
      kube.close();
    }
  } finally {
    await sandbox.stop({ keepLogs: failed });
  }
}

if (import.meta.main) {
  for (const line of await benchWebhooks()) console.log(line);
}
