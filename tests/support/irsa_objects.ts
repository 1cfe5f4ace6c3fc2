// Creates many IRSA objects and waits for them, for the fault test and the daemon benchmark.
import type { KubeClient } from "../../lib/kube/client.ts";
import { crdGroup, crdVersion } from "../../lib/names.ts";

const collection = (namespace: string) => ({ group: crdGroup, version: crdVersion, resource: "irsas", namespace });

/** Creates `count` IRSA objects `<prefix>-<i>`, each for ServiceAccount `<prefix>-<i>` in `target` and role `<prefix>-role-<i>`. */
export async function createIrsaObjects(
  kube: KubeClient,
  options: { namespace: string; target: string; prefix: string; count: number; policy: string },
): Promise<void> {
  const batch = 20;
  for (let start = 0; start < options.count; start += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, options.count - start) }, (_, j) => {
      const i = start + j;
      return kube.create(collection(options.namespace), {
        apiVersion: `${crdGroup}/${crdVersion}`,
        kind: "IRSA",
        metadata: { name: `${options.prefix}-${i}` },
        spec: {
          cleanup: true,
          serviceAccount: { name: `${options.prefix}-${i}`, namespaces: [options.target] },
          iamRole: { name: `${options.prefix}-role-${i}` },
          iamPolicies: [options.policy],
        },
      });
    }));
  }
}

/** Waits until every IRSA object in `namespace` is Ready=True; returns the milliseconds it took. */
export async function waitAllReady(
  kube: KubeClient,
  namespace: string,
  count: number,
  timeoutMs: number,
): Promise<number> {
  const started = Date.now();
  let ready = 0;
  while (Date.now() - started < timeoutMs) {
    const items = await kube.list<{ status?: { conditions?: { type: string; status: string }[] } }>(
      collection(namespace),
    );
    ready = items.filter((o) => o.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")).length;
    if (ready >= count) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${ready} of ${count} IRSA objects were Ready after ${timeoutMs} ms`);
}

/** Sums the daemon's AWS calls from its /metrics text, split into reads and writes, successes and errors. */
export function awsCallTotals(metrics: string): { reads: number; writes: number; errors: number } {
  const totals = { reads: 0, writes: 0, errors: 0 };
  for (
    const m of metrics.matchAll(/^kubectl_irsa_aws_calls_total\{operation="[^:]+:(\w+)",outcome="(\w+)"\} (\d+)/gm)
  ) {
    const n = Number(m[3]);
    if (m[2] === "error") totals.errors += n;
    else if (/^(Get|List|Head|Describe)/.test(m[1]!)) totals.reads += n;
    else totals.writes += n;
  }
  return totals;
}
