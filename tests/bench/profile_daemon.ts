// Where the daemon's CPU and memory go: the daemon (webhook on) reconciles N IRSA objects through the latency
// proxy under the inspector's CPU profiler and sampling heap profiler; prints self time and live heap by module,
// and the RSS of Deno alone and of Deno with the modules the daemon loads, for the baseline.
// `deno run -A tests/bench/profile_daemon.ts [N]`.
import { systemNamespace } from "../../lib/names.ts";
import { startDaemon } from "../support/daemon.ts";
import { startFaultProxy } from "../support/fault_proxy.ts";
import { createIrsaObjects, waitAllReady } from "../support/irsa_objects.ts";
import { createSetupAndWait } from "../support/irsa_setup.ts";
import { installCrds } from "../support/crds.ts";
import { createNamespace, sandboxClient } from "../support/kube.ts";
import { sandboxRegion, withSandbox } from "../support/sandbox.ts";
import { compileRuntimeFlags } from "../support/node_images.ts";
import { freePort } from "../support/server_process.ts";
import { realisticLatency } from "./daemon_bench.ts";
import { connectInspector, cpuByModule, heapByModule } from "./inspector.ts";

const root = new URL("../../", import.meta.url).pathname;
const mib = (kb: number) => (kb / 1024).toFixed(0);

async function status(pid: number, field: string): Promise<number> {
  const text = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(text.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"))?.[1] ?? "0");
}

/** RSS of `deno run` of a script that loads `imports` and then idles. */
async function baselineRss(label: string, imports: string[]): Promise<string> {
  const file = await Deno.makeTempFile({ suffix: ".ts", dir: root });
  await Deno.writeTextFile(
    file,
    `${imports.map((m) => `await import(${JSON.stringify(m)});`).join("\n")}\nsetInterval(() => {}, 1000);\n`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      "--config",
      `${root}deno.json`,
      ...(await compileRuntimeFlags()).filter((f) => f.startsWith("--v8-flags=")),
      file,
    ],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  await new Promise((r) => setTimeout(r, 4000));
  const rss = await status(child.pid, "VmRSS");
  child.kill("SIGKILL");
  await child.status;
  await Deno.remove(file);
  return `${label.padEnd(56)} ${mib(rss)} MiB`;
}

const count = Number(Deno.args[0] ?? "300");
console.log("RSS baselines (idle after loading):");
console.log(await baselineRss("deno, nothing loaded", []));
console.log(await baselineRss("deno + @aws-sdk/client-iam", ["@aws-sdk/client-iam"]));
console.log(
  await baselineRss("deno + iam, sts, s3, s3-control clients", [
    "@aws-sdk/client-iam",
    "@aws-sdk/client-sts",
    "@aws-sdk/client-s3",
    "@aws-sdk/client-s3-control",
  ]),
);
console.log(await baselineRss("deno + mod.ts (the daemon's own module graph)", [`${root}daemon/main.ts`]));

await withSandbox(async (sandbox) => {
  const kube = await sandboxClient(sandbox);
  const proxy = await startFaultProxy(sandbox, { faultRate: 0, holdMs: 0 });
  proxy.setLatency(realisticLatency);
  await installCrds(kube);
  await createNamespace(kube, systemNamespace);
  const port = freePort();
  // --inspect-wait: the heap sampler starts before the first module loads, so what loading costs is in the profile.
  const attached = connectInspector(port).then(async (inspector) => {
    await inspector.send("HeapProfiler.enable");
    await inspector.send("HeapProfiler.startSampling", { samplingInterval: 8192 });
    await inspector.send("Runtime.runIfWaitingForDebugger");
    return inspector;
  });
  const daemon = await startDaemon(sandbox, ["--namespace", systemNamespace, "--leader-elect=false"], {
    env: { AWS_ENDPOINT_URL: proxy.endpoint },
    denoFlags: [`--inspect-wait=127.0.0.1:${port}`],
  });
  const inspector = await attached;
  try {
    await createSetupAndWait(kube, "bench", {
      cleanup: false,
      discovery: { s3: { region: sandboxRegion, bucketName: "bench-oidc" } },
    }, 120_000);
    console.log(`\nafter setup: RSS ${mib(await status(daemon.process.pid, "VmRSS"))} MiB`);
    await inspector.send("Profiler.enable");
    await inspector.send("Profiler.setSamplingInterval", { interval: 500 });
    await inspector.send("Profiler.start");
    const t0 = Date.now();
    await createIrsaObjects(kube, {
      namespace: systemNamespace,
      target: "default",
      prefix: "p",
      count,
      policy: "AmazonS3ReadOnlyAccess",
    });
    await waitAllReady(kube, systemNamespace, count, 1_800_000);
    console.log(`${count} objects Ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await new Promise((r) => setTimeout(r, 5000));
    const { profile } = await inspector.send<{ profile: Parameters<typeof cpuByModule>[0] }>("Profiler.stop");
    await inspector.send("HeapProfiler.collectGarbage");
    const heap = await inspector.send<{ profile: Parameters<typeof heapByModule>[0] }>(
      "HeapProfiler.getSamplingProfile",
    );
    const usage = await inspector.send<{ usedSize: number; totalSize: number }>("Runtime.getHeapUsage");
    console.log(
      `RSS ${mib(await status(daemon.process.pid, "VmRSS"))} MiB, peak ${
        mib(await status(daemon.process.pid, "VmHWM"))
      } MiB; V8 heap used ${(usage.usedSize / 2 ** 20).toFixed(0)} of ${(usage.totalSize / 2 ** 20).toFixed(0)} MiB`,
    );
    // Anonymous memory less the V8 heap is native (Deno's Rust side, V8's own malloc); file pages are mostly the
    // executable's.
    console.log(
      `anonymous ${mib(await status(daemon.process.pid, "RssAnon"))} MiB, file-backed ${
        mib(await status(daemon.process.pid, "RssFile"))
      } MiB`,
    );
    console.log("\nCPU self time by module (top 25):");
    for (const [m, share] of cpuByModule(profile).slice(0, 25)) {
      console.log(`  ${(share * 100).toFixed(1).padStart(5)} %  ${m}`);
    }
    console.log("\nlive V8 heap by allocating module since before the first import, after a GC (top 25):");
    for (const [m, bytes] of heapByModule(heap.profile).slice(0, 25)) {
      console.log(`  ${(bytes / 2 ** 20).toFixed(1).padStart(6)} MiB  ${m}`);
    }
  } finally {
    inspector.close();
    await daemon.stop();
    await proxy.close();
    kube.close();
  }
});
