// The daemon at scale: 1000 IRSA objects to Ready, AWS calls per object, the daemon's peak RSS, and the AWS
// writes of a resync with no drift. Figures only.
import { systemNamespace } from "../../lib/names.ts";
import { installCrds } from "../support/crds.ts";
import { startDaemon } from "../support/daemon.ts";
import { awsCallTotals, createIrsaObjects, waitAllReady } from "../support/irsa_objects.ts";
import { initAndRestart } from "../support/irsa_setup.ts";
import { createNamespace, sandboxClient } from "../support/kube.ts";
import { withSandbox } from "../support/sandbox.ts";

async function peakRssMiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(status.match(/VmHWM:\s+(\d+) kB/)?.[1] ?? "0") / 1024;
}

/** Runs the benchmark and returns its printed lines. */
export async function benchDaemon(count = 1000, v8Flags?: string): Promise<string[]> {
  return await withSandbox(async (sandbox) => {
    const kube = await sandboxClient(sandbox);
    try {
      await installCrds(kube);
      await createNamespace(kube, systemNamespace);
      await initAndRestart(sandbox, "bench-daemon-oidc");
      const resync = 20_000;
      const daemon = await startDaemon(sandbox, [
        "--namespace",
        systemNamespace,
        "--no-webhook",
        "--leader-elect=false",
        "--concurrency",
        "8",
        "--resync-period",
        `${resync / 1000}s`,
      ], v8Flags ? { v8Flags } : {});
      try {
        const started = performance.now();
        await createIrsaObjects(kube, {
          namespace: systemNamespace,
          target: "default",
          prefix: "b",
          count,
          policy: "AmazonS3ReadOnlyAccess",
        });
        await waitAllReady(kube, systemNamespace, count, 900_000);
        const seconds = (performance.now() - started) / 1000;
        const converged = awsCallTotals(await daemon.metrics());
        await new Promise((r) => setTimeout(r, resync + 10_000)); // one full resync with nothing drifted
        const afterResync = awsCallTotals(await daemon.metrics());
        const calls = converged.reads + converged.writes + converged.errors;
        return [
          `daemon: ${count} IRSA objects Ready in ${seconds.toFixed(1)} s (${(count / seconds).toFixed(1)} objects/s)`,
          `daemon: AWS calls per object ${
            (calls / count).toFixed(2)
          } (target <= 5; ${converged.reads} reads, ${converged.writes} writes, ${converged.errors} not-found/errors)`,
          `daemon: resync with no drift made ${afterResync.writes - converged.writes} AWS writes (target 0) and ${
            afterResync.reads - converged.reads
          } reads`,
          `daemon: peak RSS ${(await peakRssMiB(daemon.process.pid)).toFixed(0)} MiB (target <= 250 MiB)`,
        ];
      } finally {
        await daemon.stop();
      }
    } finally {
      kube.close();
    }
  });
}

if (import.meta.main) {
  const count = Number(Deno.args[0] ?? "1000");
  for (const line of await benchDaemon(count, Deno.args[1])) console.log(line);
}
