// `deno task bench`: prints figures and, where there is a peer, the ratio to it. Never asserts on time.
import { cacheDir } from "../support/proc.ts";
import { serverVersions } from "../support/go_build.ts";
import { flagsFromInit } from "../support/apiserver_flags.ts";
import { runPlugin } from "../support/cli.ts";
import { startSandbox } from "../support/sandbox.ts";
import { benchWebhooks } from "./webhook_bench.ts";
import { benchDaemon } from "./daemon_bench.ts";

const root = new URL("../../", import.meta.url).pathname;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function timeCommand(argv: string[], runs: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const out = await new Deno.Command(argv[0]!, { args: argv.slice(1), stdout: "null", stderr: "null" }).output();
    if (!out.success) throw new Error(`${argv.join(" ")} failed`);
    times.push(performance.now() - t0);
  }
  return median(times);
}

const figure = (name: string, value: string) => console.log(`${name.padEnd(48)} ${value}`);

console.log("kubectl-irsa benchmarks (median of runs; figures, not pass/fail)\n");

// 1. CLI start-up against a Deno hello world in the same run.
const hello = await Deno.makeTempFile({ suffix: ".ts" });
await Deno.writeTextFile(hello, 'console.log("hello");\n');
const deno = Deno.execPath();
await timeCommand([deno, "run", "--quiet", hello], 1); // warm the module cache
const helloMs = await timeCommand([deno, "run", "--quiet", hello], 15);
const helpMs = await timeCommand([`${root}krew/kubectl-irsa`, "--help"], 15);
figure("deno hello world", `${helloMs.toFixed(0)} ms`);
figure(
  "kubectl irsa --help (launcher)",
  `${helpMs.toFixed(0)} ms  (${(helpMs / helloMs).toFixed(2)}x hello world; target <= 2.0x)`,
);
await Deno.remove(hello);

// 2. Harness: cold build (recorded when it happened) and warm start-to-ready.
for (const [name, version] of [["etcd", serverVersions.etcd], ["kube-apiserver", serverVersions.kubernetes]]) {
  try {
    const info = JSON.parse(await Deno.readTextFile(`${cacheDir()}/bin/${name}-${version}.build.json`));
    figure(`cold build ${name} ${version}`, `${info.seconds} s (built ${info.builtAt})`);
  } catch {
    figure(`cold build ${name} ${version}`, "not recorded");
  }
}
const starts: number[] = [];
let initFigures = "";
for (let i = 0; i < 3; i++) {
  const t0 = performance.now();
  const sandbox = await startSandbox();
  starts.push(performance.now() - t0);
  if (i === 0) {
    const issuer = `${sandbox.moto!.endpoint}/bench-oidc`;
    const args = ["init", "--bucket", "bench-oidc", "--issuer-url", issuer, "-o", "json"];
    const t1 = performance.now();
    const first = await runPlugin(args, { env: sandbox.env });
    const firstMs = performance.now() - t1;
    const t2 = performance.now();
    const again = await runPlugin(args, { env: sandbox.env });
    const againMs = performance.now() - t2;
    const printed = JSON.parse(first.stdout) as { apiserver: { flags: string[] } };
    await sandbox.apiserver.restart(flagsFromInit(printed.apiserver.flags, sandbox.apiserver.flags));
    const bindArgs = ["bind", "sa", "app", "-n", "default", "--policy", "AmazonS3FullAccess"];
    const t3 = performance.now();
    const bind = await runPlugin(bindArgs, { env: sandbox.env });
    const bindMs = performance.now() - t3;
    const t4 = performance.now();
    const rebind = await runPlugin(bindArgs, { env: sandbox.env });
    const rebindMs = performance.now() - t4;
    initFigures = [
      `init, first run: ${first.calls.length} AWS calls (${first.writes.length} writes), ${firstMs.toFixed(0)} ms`,
      `init, rerun: ${again.calls.length} AWS calls (${again.writes.length} writes), ${againMs.toFixed(0)} ms`,
      `bind, new binding with one managed policy: ${bind.calls.length} AWS calls (${bind.writes.length} writes; target <= 8), ${
        bindMs.toFixed(0)
      } ms`,
      `bind, rerun: ${rebind.calls.length} AWS calls (${rebind.writes.length} writes), ${rebindMs.toFixed(0)} ms`,
    ].join("\n");
  }
  await sandbox.stop();
}
figure("warm start-to-ready etcd + apiserver + moto", `${(median(starts) / 1000).toFixed(1)} s (target < 15 s)`);
console.log(`\n${initFigures}`);

// 3. The pod identity webhook against upstream's, in its own sandbox.
console.log("");
for (const line of await benchWebhooks()) console.log(line);

// 4. The daemon against the seed operator (BENCH_DAEMON_OBJECTS, default 100,1000), then ours alone with
// BENCH_STEADY_OBJECTS (default 5000; 0 skips it).
console.log("");
const daemonCounts = (Deno.env.get("BENCH_DAEMON_OBJECTS") ?? "100,1000").split(",").map(Number);
const steadyObjects = Number(Deno.env.get("BENCH_STEADY_OBJECTS") ?? "5000");
for (const line of await benchDaemon(daemonCounts, steadyObjects)) console.log(line);
