// Finds the real kubectl for the plugin tests. CI installs it (or builds it from Go modules), so a missing kubectl
// fails the test instead of skipping it.
import assert from "node:assert/strict";

/** $KUBECTL, else the first executable `kubectl` on `path` (default: $PATH). */
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
  return assert.fail(
    `kubectl is not installed (looked for ${explicit ? `$KUBECTL=${explicit}` : "kubectl on PATH"}); ` +
      "install kubectl (CI does) or set KUBECTL to its path",
  );
}
