// Starts `kubectl irsa signer` as its own process, as the static pod or systemd unit would run it.
import type { Sandbox } from "./sandbox.ts";
import { ServerProcess } from "./server_process.ts";

const modPath = new URL("../../mod.ts", import.meta.url).pathname;
const configPath = new URL("../../deno.json", import.meta.url).pathname;

let started = 0;

/** Starts the signer on `socket` with `args` added; waits until the socket accepts connections. */
export async function startSigner(
  sandbox: Sandbox,
  socket: string,
  args: string[],
  options: { env?: Record<string, string> } = {},
): Promise<ServerProcess> {
  const process = ServerProcess.start("kubectl-irsa signer", [
    Deno.execPath(),
    "run",
    "--quiet",
    "--config",
    configPath,
    "--allow-all",
    modPath,
    "signer",
    `--socket=${socket}`,
    ...args,
  ], {
    logPath: `${sandbox.dir}/signer-${started++}.log`,
    env: { ...Deno.env.toObject(), ...sandbox.env, ...options.env },
  });
  await process.waitReady(async () => {
    const conn = await Deno.connect({ transport: "unix", path: socket });
    conn.close();
    return true;
  }, 60_000);
  return process;
}
