import { IrsaError } from "../lib/errors.ts";
import { UsageError } from "./usage_error.ts";
import { cliMessage } from "./remedy.ts";

/** Maps any error to the one line the user sees and the exit code. */
export function describeError(e: unknown, options: { verbose: boolean }): { message: string; exitCode: number } {
  if (e instanceof UsageError) {
    const help = e.command ? `kubectl irsa ${e.command} --help` : "kubectl irsa --help";
    return { message: `error: ${e.message}\nSee '${help}'`, exitCode: 2 };
  }
  const lines = [`error: ${cliMessage(e)}`];
  if (options.verbose) {
    let cause = e instanceof Error ? e.cause : undefined;
    while (cause !== undefined) {
      lines.push(`  caused by: ${cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)}`);
      cause = cause instanceof Error ? cause.cause : undefined;
    }
  }
  const exitCode = e instanceof IrsaError && e.kind === "invalid" && e.reason.startsWith("Usage") ? 2 : 1;
  return { message: lines.join("\n"), exitCode };
}
