// kubectl-irsa: the kubectl plugin (`kubectl irsa <command>`), with `daemon` the in-cluster reconciler, and with
// `signer` the KMS-backed token signer beside kube-apiserver.
// This is the only module that exits the process.
import { runCli } from "./cli/main.ts";

export { runCli };

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
