// Finds pods that run as a role-annotated ServiceAccount but lack the injected credentials (the webhook was
// down, skipped by failurePolicy Ignore, or the pod predates the annotation). Without this the AWS SDK silently
// falls back to node credentials; here every miss becomes a Warning Event on the pod's owner and a metric.
import { type LabelSelector, matchesLabelSelector } from "../lib/label_selector.ts";
import { webhookObjects } from "../lib/names.ts";
import { type ListedPod, missesCredentials, type WebhookConfig } from "../lib/pod_mutation.ts";
import type { KubeClient } from "../lib/kube/client.ts";
import { readNamespaceLabels, readWebhookConfiguration } from "../lib/kube/webhook_reads.ts";

export type { ListedPod };

/** The Event text for a missed pod: a restart helps only if the webhook selects the pod's namespace. */
export function missedMutationMessage(pod: ListedPod, namespaceSelected: boolean): string {
  const who = `Pod ${pod.metadata.name} runs as ServiceAccount ${pod.spec.serviceAccountName}, which has an IAM role ` +
    "annotation, but";
  return namespaceSelected
    ? `${who} was not mutated by the pod identity webhook; restart it to get credentials`
    : `${who} namespace ${pod.metadata.namespace} is outside the pod identity webhook's namespaceSelector, so it ` +
      "never gets credentials; run it in another namespace or reinstall with --webhook-skip-namespaces";
}

/** Whether our webhook's namespaceSelector selects a namespace; reads each object once per scan. */
function namespaceSelection(kube: KubeClient): (namespace: string) => Promise<boolean> {
  let selector: Promise<LabelSelector | undefined> | undefined;
  const labels = new Map<string, Promise<Record<string, string> | undefined>>();
  return async (namespace) => {
    selector ??= readWebhookConfiguration(kube)
      .then((c) => c?.webhooks?.find((w) => w.name === webhookObjects.webhookName)?.namespaceSelector);
    if (!labels.has(namespace)) labels.set(namespace, readNamespaceLabels(kube, namespace));
    return matchesLabelSelector(await selector, (await labels.get(namespace)) ?? {});
  };
}

/** Scans all pods once; reports each missed pod once (by UID). Returns the number of new misses. */
export async function scanMissedMutations(
  kube: KubeClient,
  options: {
    lookup: (namespace: string, name: string) => Record<string, string> | undefined;
    config: WebhookConfig;
    reported: Set<string>;
    onMiss: (pod: ListedPod) => void;
  },
): Promise<number> {
  const pods = await kube.list<ListedPod>({ resource: "pods" });
  const selected = namespaceSelection(kube);
  const seen = new Set<string>();
  let found = 0;
  for (const pod of pods) {
    seen.add(pod.metadata.uid);
    if (options.reported.has(pod.metadata.uid)) continue;
    if (!pod.spec.serviceAccountName) continue; // the webhook leaves such pods alone by design
    const sa = options.lookup(pod.metadata.namespace, pod.spec.serviceAccountName);
    if (!missesCredentials(pod, sa, options.config)) continue;
    options.reported.add(pod.metadata.uid);
    found++;
    options.onMiss(pod);
    const owner = pod.metadata.ownerReferences?.find((o) => o.controller) ?? pod.metadata.ownerReferences?.[0];
    const now = new Date().toISOString();
    await kube.create({ resource: "events", namespace: pod.metadata.namespace }, {
      apiVersion: "v1",
      kind: "Event",
      metadata: { generateName: `${owner?.name ?? pod.metadata.name}.`, namespace: pod.metadata.namespace },
      involvedObject: owner
        ? {
          apiVersion: owner.apiVersion,
          kind: owner.kind,
          name: owner.name,
          uid: owner.uid,
          namespace: pod.metadata.namespace,
        }
        : {
          apiVersion: "v1",
          kind: "Pod",
          name: pod.metadata.name,
          uid: pod.metadata.uid,
          namespace: pod.metadata.namespace,
        },
      reason: "MissingAwsCredentials",
      message: missedMutationMessage(pod, await selected(pod.metadata.namespace).catch(() => true)),
      type: "Warning",
      source: { component: "kubectl-irsa" },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    });
  }
  for (const uid of options.reported) if (!seen.has(uid)) options.reported.delete(uid);
  return found;
}
