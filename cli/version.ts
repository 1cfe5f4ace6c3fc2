import denoConfig from "../deno.json" with { type: "json" };
import type { GlobalFlags } from "./args.ts";

/** The plugin version, taken from deno.json so there is one source. */
export const version: string = denoConfig.version;

/** Renders `kubectl irsa version`. */
export function versionText(flags: GlobalFlags, runtime: { deno: string }): string {
  const info = { version, deno: runtime.deno };
  if (flags.output === "json") return JSON.stringify(info, null, 2) + "\n";
  if (flags.output === "yaml") return `version: ${info.version}\ndeno: ${info.deno}\n`;
  return `kubectl-irsa ${version} (deno ${runtime.deno})\n`;
}
