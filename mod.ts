// kubectl-irsa: the kubectl plugin (`kubectl irsa <command>`) and, with `daemon`, the in-cluster reconciler.
// This is the only module that exits the process.
import { runCli } from "./cli/main.ts";

export { runCli };

if (import.meta.main) {
  if (Deno.args[0] === "daemon" && !Deno.args.includes("--help") && !Deno.args.includes("-h")) {
    const { runDaemon } = await import("./daemon/main.ts");
    Deno.exit(await runDaemon(Deno.args.slice(1)));
  }
  Deno.exit(await runCli(Deno.args));
}
