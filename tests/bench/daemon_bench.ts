// The daemon against the seed operator, side by side in one run: N IRSA objects (one managed policy each) on a
// fresh sandbox per program and count, all at once, every AWS call through the fault proxy with a realistic latency (50 ms, 150 ms for
// IAM writes) and counted there, not by either program. Then ours alone at scale: the calls per second of the
// drift checks and how long a full sweep takes. Figures only, never asserted.
import { isWriteOperation } from "../../lib/aws/call_log.ts";
import type { KubeClient } from "../../lib/kube/client.ts";
import { systemNamespace } from "../../lib/names.ts";
import { installCrds } from "../support/crds.ts";
import { startDaemon, warmDaemonModules } from "../support/daemon.ts";
import {
  type FaultProxy,
  isWrite,
  type LatencyRequest,
  startFaultProxy,
  waitProxyQuiet,
} from "../support/fault_proxy.ts";
import { createIrsaObjects, waitAllReady } from "../support/irsa_objects.ts";
import { createSetupAndWait } from "../support/irsa_setup.ts";
import { createNamespace, sandboxClient } from "../support/kube.ts";
import { type Sandbox, sandboxRegion, withSandbox } from "../support/sandbox.ts";
import { startSeedOperator } from "../support/seed_operator.ts";

/** 50 ms for every AWS call, 150 ms for IAM writes: what IAM answers in from outside its home region. */
export function realisticLatency(r: LatencyRequest): number {
  return r.service === "iam" && isWriteOperation(r.action) ? 150 : 50;
}

type Program = "seed" | "ours";
const programs: Program[] = ["seed", "ours"];

interface Running {
  pid: number;
  stop(): Promise<void>;
}

/** What one program did with N objects. */
interface Figures {
  readyS: number;
  quietS: number;
  calls: number;
  writes: number;
  failed: number;
  cpuS: number;
  restartCalls: number;
  restartWrites: number;
  peakRssMiB: number;
}

/** How long no AWS call must arrive for a program to count as quiet. */
const quietMs = 10_000;
const waitQuiet = (proxy: FaultProxy, from: number, timeoutMs: number) =>
  waitProxyQuiet(proxy, from, quietMs, timeoutMs);
/** How long calls are counted after a restart. */
const restartWindowMs = 30_000;

async function procStatus(pid: number, field: string): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"))?.[1] ?? "0") / 1024;
}

/** User plus system CPU seconds of a process (USER_HZ is 100 on Linux). */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function start(program: Program, sandbox: Sandbox, proxy: FaultProxy): Promise<Running> {
  const env = { AWS_ENDPOINT_URL: proxy.endpoint };
  if (program === "seed") {
    const seed = await startSeedOperator(sandbox, env);
    return { pid: seed.process.pid, stop: () => seed.stop() };
  }
  // Our defaults, the webhook included; leader election off like the seed's out-of-cluster run.
  const daemon = await startDaemon(sandbox, ["--namespace", systemNamespace, "--leader-elect=false"], { env });
  return { pid: daemon.process.pid, stop: () => daemon.stop() };
}

async function setUp(kube: KubeClient, proxy: FaultProxy): Promise<void> {
  await installCrds(kube);
  await createNamespace(kube, systemNamespace);
  proxy.setLatency(realisticLatency);
}

/** One program, N objects, on its own sandbox. */
async function measure(program: Program, count: number): Promise<Figures> {
  return await withSandbox(async (sandbox) => {
    const kube = await sandboxClient(sandbox);
    const proxy = await startFaultProxy(sandbox, { faultRate: 0, holdMs: 0 });
    try {
      await setUp(kube, proxy);
      let running = await start(program, sandbox, proxy);
      try {
        await createSetupAndWait(kube, "bench", {
          cleanup: false,
          discovery: { s3: { region: sandboxRegion, bucketName: "bench-oidc" } },
        }, 300_000);
        await waitQuiet(proxy, 0, 120_000);
        const mark = proxy.requests.length;
        const cpu0 = await cpuSeconds(running.pid);
        const t0 = Date.now();
        await createIrsaObjects(kube, {
          namespace: systemNamespace,
          target: "default",
          prefix: "b",
          count,
          policy: "AmazonS3ReadOnlyAccess",
        });
        await waitAllReady(kube, systemNamespace, count, 3_600_000);
        const readyS = (Date.now() - t0) / 1000;
        const quietAt = await waitQuiet(proxy, mark, 3_600_000);
        const cpuS = await cpuSeconds(running.pid) - cpu0;
        const pass = proxy.requests.slice(mark);
        const peakRssMiB = await procStatus(running.pid, "VmHWM");
        await running.stop();
        const restartMark = proxy.requests.length;
        running = await start(program, sandbox, proxy);
        await new Promise((r) => setTimeout(r, restartWindowMs));
        const restart = proxy.requests.slice(restartMark);
        return {
          readyS,
          quietS: (quietAt - t0) / 1000,
          calls: pass.length,
          writes: pass.filter(isWrite).length,
          failed: pass.filter((r) => r.status >= 400).length,
          cpuS,
          restartCalls: restart.length,
          restartWrites: restart.filter(isWrite).length,
          peakRssMiB,
        };
      } finally {
        await running.stop();
      }
    } finally {
      await proxy.close();
      kube.close();
    }
  });
}

/** Ours with `count` objects: calls per second of the drift checks after a restart, a full sweep's length. */
async function measureSteadyState(count: number): Promise<string[]> {
  return await withSandbox(async (sandbox) => {
    const kube = await sandboxClient(sandbox);
    const proxy = await startFaultProxy(sandbox, { faultRate: 0, holdMs: 0 });
    try {
      await setUp(kube, proxy);
      // Filling: no latency and more workers, only to get there sooner.
      proxy.setLatency(0);
      let running = await start("ours", sandbox, proxy);
      try {
        await createSetupAndWait(kube, "bench", {
          cleanup: false,
          discovery: { s3: { region: sandboxRegion, bucketName: "bench-oidc" } },
        }, 300_000);
        await createIrsaObjects(kube, {
          namespace: systemNamespace,
          target: "default",
          prefix: "s",
          count,
          policy: "AmazonS3ReadOnlyAccess",
        });
        await waitAllReady(kube, systemNamespace, count, 3_600_000);
        await waitQuiet(proxy, 0, 3_600_000);
        await running.stop();
        proxy.setLatency(realisticLatency);
        const mark = proxy.requests.length;
        const t0 = Date.now();
        running = await start("ours", sandbox, proxy);
        const windowMs = 120_000;
        await new Promise((r) => setTimeout(r, windowMs / 2));
        // A new object in the middle of the sweep: user work is served before background checks.
        const t1 = Date.now();
        await createIrsaObjects(kube, {
          namespace: systemNamespace,
          target: "default",
          prefix: "new",
          count: 1,
          policy: "AmazonS3ReadOnlyAccess",
        });
        await waitAllReady(kube, systemNamespace, count + 1, 60_000);
        const newReadyS = (Date.now() - t1) / 1000;
        await new Promise((r) => setTimeout(r, Math.max(0, windowMs - (Date.now() - t0))));
        const window = proxy.requests.slice(mark);
        const seconds = (Date.now() - t0) / 1000;
        const checked = new Set(
          window.filter((r) => r.action === "GetRole").map((r) => r.form?.get("RoleName") ?? ""),
        );
        const perCheck = window.length / Math.max(1, checked.size);
        const rate = window.length / seconds;
        const sweepS = (count * perCheck) / rate;
        return [
          `ours, ${count} objects, restarted with nothing drifted (default --drift-budget 4):`,
          `  AWS calls/s over ${seconds.toFixed(0)} s: ${rate.toFixed(2)} (${
            window.filter(isWrite).length
          } writes; ${checked.size} objects checked, ${perCheck.toFixed(1)} calls each)`,
          `  a full drift sweep at that rate: ${(sweepS / 60).toFixed(0)} min`,
          `  a new object created during the sweep was Ready in ${newReadyS.toFixed(1)} s`,
        ];
      } finally {
        await running.stop();
      }
    } finally {
      await proxy.close();
      kube.close();
    }
  });
}

const ratio = (ours: number, seed: number) => seed > 0 ? `${(ours / seed).toFixed(2)}x` : "-";

function table(count: number, seed: Figures, ours: Figures): string[] {
  const per = (n: number) => (n / count).toFixed(2);
  const rows: [string, string, string, string][] = [
    ["all Ready", `${seed.readyS.toFixed(1)} s`, `${ours.readyS.toFixed(1)} s`, ratio(ours.readyS, seed.readyS)],
    [
      "quiet (last AWS call)",
      `${seed.quietS.toFixed(1)} s`,
      `${ours.quietS.toFixed(1)} s`,
      ratio(ours.quietS, seed.quietS),
    ],
    [
      "AWS calls per object until quiet (writes, failed)",
      `${per(seed.calls)} (${per(seed.writes)}, ${per(seed.failed)})`,
      `${per(ours.calls)} (${per(ours.writes)}, ${per(ours.failed)})`,
      ratio(ours.calls, seed.calls),
    ],
    [
      `AWS calls in the ${restartWindowMs / 1000} s after a restart, no drift (writes)`,
      `${seed.restartCalls} (${seed.restartWrites})`,
      `${ours.restartCalls} (${ours.restartWrites})`,
      ratio(ours.restartCalls, seed.restartCalls),
    ],
    [
      "CPU per object, until quiet",
      `${(seed.cpuS * 1000 / count).toFixed(1)} ms`,
      `${(ours.cpuS * 1000 / count).toFixed(1)} ms`,
      ratio(ours.cpuS, seed.cpuS),
    ],
    [
      "peak RSS (VmHWM)",
      `${seed.peakRssMiB.toFixed(0)} MiB`,
      `${ours.peakRssMiB.toFixed(0)} MiB`,
      ratio(ours.peakRssMiB, seed.peakRssMiB),
    ],
  ];
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]!.length), 8));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [
    `${count} IRSA objects, latency 50 ms (IAM writes 150 ms):`,
    line(["figure", "seed operator", "kubectl-irsa", "ratio"]),
    line(widths.map((w) => "-".repeat(w))),
    ...rows.map(line),
  ];
}

/** Runs the benchmark and returns its printed lines. */
export async function benchDaemon(counts: number[], steadyObjects: number, only?: Program): Promise<string[]> {
  // Peak RSS is the daemon's own, not that of Deno transpiling a fresh checkout (a release binary never does).
  await warmDaemonModules();
  // Every program and count on its own sandbox at the same time: both programs wait on AWS latency far more than
  // they compute, and a run takes as long as the seed's largest count instead of the sum.
  const runs = counts.flatMap((count) =>
    programs.filter((p) => !only || p === only).map(async (p) => {
      const figures = await measure(p, count);
      console.error(`bench: ${p}, ${count} objects: ${JSON.stringify(figures)}`);
      return { p, count, figures };
    })
  );
  const done = await Promise.all(runs);
  const lines: string[] = [];
  for (const count of counts) {
    const of = (p: Program) => done.find((r) => r.p === p && r.count === count)?.figures;
    const seed = of("seed"), ours = of("ours");
    if (seed && ours) lines.push(...table(count, seed, ours), "");
  }
  if (steadyObjects > 0) lines.push(...await measureSteadyState(steadyObjects));
  return lines;
}

if (import.meta.main) {
  const counts = (Deno.args[0] ?? "100,1000").split(",").map(Number);
  // `deno run -A tests/bench/daemon_bench.ts [COUNTS [STEADY [seed|ours]]]`; one program prints its figures only.
  const only = Deno.args[2] as Program | undefined;
  for (const line of await benchDaemon(counts, Number(Deno.args[1] ?? "5000"), only)) console.log(line);
}
