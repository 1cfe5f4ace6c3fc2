// Installs the seed-compatible CRDs into the sandbox and waits until the apiserver serves them.
import { crdManifests } from "../../lib/crds.ts";
import type { KubeClient } from "../../lib/kube/client.ts";

/** Applies both CRDs and waits until they are served. */
export async function installCrds(kube: KubeClient): Promise<void> {
  for (const crd of crdManifests()) {
    const name = (crd.metadata as { name: string }).name;
    await kube.apply({ group: "apiextensions.k8s.io", resource: "customresourcedefinitions", name }, crd);
  }
  await waitForCrds(kube);
}

/** Waits until both CRDs are Established and their collections answer (not 404 or 429). */
export async function waitForCrds(kube: KubeClient): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (const crd of crdManifests()) {
    const name = (crd.metadata as { name: string }).name;
    const ref = { group: "apiextensions.k8s.io", resource: "customresourcedefinitions", name };
    const spec = crd.spec as { group: string; names: { plural: string }; versions: { name: string }[] };
    const collection = `/apis/${spec.group}/${spec.versions[0]!.name}/${spec.names.plural}`;
    for (;;) {
      const got = await kube.get<{ status?: { conditions?: { type: string; status: string }[] } }>(ref);
      const established = got?.status?.conditions?.some((c) => c.type === "Established" && c.status === "True");
      // Right after Established the apiserver may still answer 404 or 429 ("storage is (re)initializing").
      const res = established ? await kube.raw("GET", collection) : undefined;
      await res?.body?.cancel();
      if (res?.ok) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} is not served after 30s (last: ${res?.status})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
