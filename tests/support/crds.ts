// Installs the seed-compatible CRDs into the sandbox and waits until the apiserver serves them.
import { crdManifests } from "../../lib/crds.ts";
import type { KubeClient } from "../../lib/kube/client.ts";

/** Applies both CRDs and waits for their Established condition. */
export async function installCrds(kube: KubeClient): Promise<void> {
  for (const crd of crdManifests()) {
    const name = (crd.metadata as { name: string }).name;
    const ref = { group: "apiextensions.k8s.io", resource: "customresourcedefinitions", name };
    await kube.apply(ref, crd);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const got = await kube.get<{ status?: { conditions?: { type: string; status: string }[] } }>(ref);
      if (got?.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} was not established in 30s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
