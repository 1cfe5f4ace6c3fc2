// kubectl-irsa: the kubectl plugin (`kubectl irsa <command>`) and, with `daemon`, the in-cluster reconciler.
// This is the only module that exits the process.
import { runCli } from "./cli/main.ts";

export { runCli };

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args));
}
