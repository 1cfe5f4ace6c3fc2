// Runs the plugin as users do (a separate process) and collects its output and the AWS calls it made.
import type { AwsCall } from "../../lib/aws/call_log.ts";

const modPath = new URL("../../mod.ts", import.meta.url).pathname;
const configPath = new URL("../../deno.json", import.meta.url).pathname;

/** The outcome of one plugin run. */
export interface PluginRun {
  code: number;
  stdout: string;
  stderr: string;
  /** AWS calls the run made, from KUBECTL_IRSA_CALL_LOG. */
  calls: AwsCall[];
  writes: AwsCall[];
}

/** Runs `kubectl irsa <args>` with `env` added to (or, with `replaceEnv`, instead of) this process's environment. */
export async function runPlugin(
  args: string[],
  options: { env?: Record<string, string | undefined>; replaceEnv?: boolean; cwd?: string } = {},
): Promise<PluginRun> {
  const callLog = await Deno.makeTempFile({ prefix: "irsa-calls-" });
  const env: Record<string, string> = {};
  const base = options.replaceEnv ? { PATH: Deno.env.get("PATH"), HOME: Deno.env.get("HOME") } : Deno.env.toObject();
  for (const [k, v] of Object.entries({ ...base, ...options.env })) if (v !== undefined) env[k] = v;
  env.KUBECTL_IRSA_CALL_LOG = callLog;
  env.NO_COLOR = "1";
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      "--config",
      configPath,
      "--allow-env",
      "--allow-read",
      "--allow-write",
      "--allow-net",
      "--allow-sys",
      "--allow-run",
      modPath,
      ...args,
    ],
    env,
    clearEnv: true,
    ...(options.cwd ? { cwd: options.cwd } : {}),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const calls = (await Deno.readTextFile(callLog)).split("\n").filter(Boolean).map((l) => JSON.parse(l) as AwsCall);
  await Deno.remove(callLog);
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return {
    code: out.code,
    stdout: decode(out.stdout),
    stderr: decode(out.stderr),
    calls,
    writes: calls.filter((c) => c.write),
  };
}
