// Starts the seed operator (irsa-manager, ../shared/peers/irsa-manager) out of the cluster against the sandbox, as
// the peer of the daemon benchmark: its own flags for the kubeconfig and ports, and the AWS SDK's environment
// (endpoint, CA bundle, region, keys) for moto or a proxy in front of it.
import { ensureBinary } from "./go_build.ts";
import type { Sandbox } from "./sandbox.ts";
import { freePort, ServerProcess } from "./server_process.ts";

/** A running seed operator. */
export interface SeedOperator {
  process: ServerProcess;
  stop(): Promise<void>;
}

let started = 0;

/** Starts the seed operator with `env` added to the sandbox's and waits for its /readyz. */
export async function startSeedOperator(sandbox: Sandbox, env: Record<string, string> = {}): Promise<SeedOperator> {
  const bin = await ensureBinary("irsa-manager");
  const probePort = freePort();
  const process = ServerProcess.start("irsa-manager", [
    bin,
    `--kubeconfig=${sandbox.kubeconfigPath}`,
    "--leader-elect=false",
    `--metrics-bind-address=127.0.0.1:${freePort()}`,
    `--health-probe-bind-address=127.0.0.1:${probePort}`,
  ], {
    logPath: `${sandbox.dir}/irsa-manager-${started++}.log`,
    env: { ...Deno.env.toObject(), ...sandbox.env, ...env },
  });
  await process.waitReady(async () => {
    const r = await fetch(`http://127.0.0.1:${probePort}/readyz`);
    await r.body?.cancel();
    return r.ok;
  }, 60_000);
  return { process, stop: () => process.stop() };
}
