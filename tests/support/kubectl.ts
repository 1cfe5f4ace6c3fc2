// Finds the real kubectl for the plugin tests: $KUBECTL, an installed one, or else the one the harness builds
// from Go modules with the other Kubernetes binaries, so a missing kubectl never skips a test.
import { ensureBinary } from "./go_build.ts";

/** $KUBECTL, else the first executable `kubectl` on `path` (default: $PATH), else the harness-built one. */
export async function findKubectl(path: string = Deno.env.get("PATH") ?? ""): Promise<string> {
  const explicit = Deno.env.get("KUBECTL");
  const candidates = explicit ? [explicit] : path.split(":").filter((d) => d !== "").map((d) => `${d}/kubectl`);
  for (const candidate of candidates) {
    try {
      const info = await Deno.stat(candidate);
      if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) return candidate;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied)) throw e;
    }
  }
  if (explicit) throw new Error(`$KUBECTL=${explicit} is not an executable file`);
  return await ensureBinary("kubectl");
}
