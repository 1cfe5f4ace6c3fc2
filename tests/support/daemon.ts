// Starts `kubectl irsa daemon` as its own process against the sandbox, as the Deployment would run it.
import { parse as parseYaml } from "yaml";
import { compileRuntimeFlags } from "./node_images.ts";
import type { Sandbox } from "./sandbox.ts";
import { runChecked } from "./proc.ts";
import { freePort, ServerProcess } from "./server_process.ts";

const modPath = new URL("../../mod.ts", import.meta.url).pathname;
const configPath = new URL("../../deno.json", import.meta.url).pathname;

/** A running daemon and its ports. */
export interface DaemonProcess {
  process: ServerProcess;
  webhookPort: number;
  metricsPort: number;
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * For tests of the resync itself, with a short --resync-period: a drift budget the few objects of a test never
 * exhaust, so the period alone decides when a check runs (tests/e2e/daemon_calls_test.ts tests the budget).
 */
export const unboundedDrift = ["--drift-budget", "1000"] as const;

let started = 0;

async function releaseV8Flags(): Promise<string> {
  return (await compileRuntimeFlags()).find((f) => f.startsWith("--v8-flags="))!;
}

/**
 * The sandbox's kubeconfig as JSON. The daemon in a pod reads no kubeconfig, so it never loads the YAML parser (a
 * CommonJS package, whose loader costs resident memory); a JSON kubeconfig keeps the test daemon the same.
 */
async function jsonKubeconfig(sandbox: Sandbox): Promise<string> {
  const path = `${sandbox.dir}/kubeconfig.json`;
  const text = JSON.stringify(parseYaml(await Deno.readTextFile(sandbox.kubeconfigPath)));
  await Deno.writeTextFile(path, text, { mode: 0o600 });
  return path;
}

/**
 * Fills Deno's cache with the daemon's transpiled modules. The first run of a checkout transpiles every module as
 * it starts, a one-off peak of resident memory (about 15 MiB here) that a release binary, compiled ahead of time,
 * never has; a benchmark of the daemon's memory calls this first.
 */
export async function warmDaemonModules(): Promise<void> {
  const main = new URL("../../daemon/main.ts", import.meta.url).href;
  await runChecked([Deno.execPath(), "eval", "--config", configPath, `await import(${JSON.stringify(main)});`]);
}

/** Starts the daemon with `args` added; waits for /readyz. */
export async function startDaemon(
  sandbox: Sandbox,
  args: string[] = [],
  options: {
    env?: Record<string, string>;
    kubeconfig?: string;
    webhookPort?: number;
    v8Flags?: string;
    /** More `deno run` flags, e.g. `--inspect=127.0.0.1:PORT` for a profiler. */
    denoFlags?: string[];
  } = {},
): Promise<DaemonProcess> {
  const webhookPort = options.webhookPort ?? freePort();
  const metricsPort = freePort();
  const process = ServerProcess.start("kubectl-irsa daemon", [
    Deno.execPath(),
    "run",
    "--quiet",
    "--config",
    configPath,
    "--allow-all",
    // The V8 flags the image's compiled binary carries (deno task compile, which the Dockerfile repeats).
    options.v8Flags ? `--v8-flags=${options.v8Flags}` : await releaseV8Flags(),
    ...(options.denoFlags ?? []),
    modPath,
    "daemon",
    "--kubeconfig",
    options.kubeconfig ?? await jsonKubeconfig(sandbox),
    "--webhook-bind-address",
    `127.0.0.1:${webhookPort}`,
    "--webhook-ip-address",
    "127.0.0.1",
    "--metrics-bind-address",
    `127.0.0.1:${metricsPort}`,
    // No endpoints point at a test daemon: nothing to drain, and stop() would wait out the grace (a test passes its
    // own --shutdown-drain to see the drain).
    "--shutdown-drain=0s",
    ...args,
  ], {
    logPath: `${sandbox.dir}/daemon-${started++}.log`,
    env: { ...Deno.env.toObject(), ...sandbox.env, ...options.env },
  });
  const metricsUrl = `http://127.0.0.1:${metricsPort}`;
  await process.waitReady(async () => {
    const r = await fetch(`${metricsUrl}/readyz`);
    await r.body?.cancel();
    return r.ok;
  }, 60_000);
  return {
    process,
    webhookPort,
    metricsPort,
    metrics: async () => await (await fetch(`${metricsUrl}/metrics`)).text(),
    stop: () => process.stop(),
  };
}
