// kubectl-irsa: the kubectl plugin (`kubectl irsa <command>`), with `daemon` the in-cluster reconciler, and with
// `signer` the KMS-backed token signer beside kube-apiserver.
// This is the only module that exits the process. Each role loads only its own code: the daemon never
// evaluates the CLI's modules (and the YAML and SDK packages they import), which would cost it resident memory.

type Cli = typeof import("./cli/main.ts");

/** Runs the kubectl plugin; resolves to the exit code. */
export async function runCli(...args: Parameters<Cli["runCli"]>): Promise<number> {
  const cli = await import("./cli/main.ts");
  return await cli.runCli(...args);
}

if (import.meta.main) {
  if (Deno.args[0] === "daemon" && !Deno.args.includes("--help") && !Deno.args.includes("-h")) {
    const { runDaemon } = await import("./daemon/main.ts");
    Deno.exit(await runDaemon(Deno.args.slice(1)));
  }
  if (Deno.args[0] === "signer" && !Deno.args.includes("--help") && !Deno.args.includes("-h")) {
    const { runSigner } = await import("./signer/main.ts");
    Deno.exit(await runSigner(Deno.args.slice(1)));
  }
  Deno.exit(await runCli(Deno.args));
}
