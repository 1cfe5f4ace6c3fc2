// Reads of the objects that decide which pods our webhook sees: its MutatingWebhookConfiguration and namespace
// labels. Shared by doctor and the daemon.
import type { LabelSelector } from "../label_selector.ts";
import { webhookObjects } from "../names.ts";
import type { KubeClient } from "./client.ts";

/** The parts of a MutatingWebhookConfiguration that kubectl-irsa reads. */
export interface WebhookConfiguration {
  metadata: { name: string };
  webhooks?: {
    name: string;
    failurePolicy?: string;
    namespaceSelector?: LabelSelector;
    clientConfig: {
      url?: string;
      caBundle?: string;
      service?: { namespace: string; name: string; path?: string; port?: number };
    };
  }[];
}

/** Our MutatingWebhookConfiguration as an object reference. */
export const webhookConfigurationRef = {
  group: "admissionregistration.k8s.io",
  resource: "mutatingwebhookconfigurations",
  name: webhookObjects.configuration,
} as const;

/** Our MutatingWebhookConfiguration; undefined when it does not exist. */
export async function readWebhookConfiguration(kube: KubeClient): Promise<WebhookConfiguration | undefined> {
  return await kube.get<WebhookConfiguration>(webhookConfigurationRef);
}

/** A namespace's labels; undefined when it does not exist. */
export async function readNamespaceLabels(
  kube: KubeClient,
  namespace: string,
): Promise<Record<string, string> | undefined> {
  const ns = await kube.get<{ metadata: { labels?: Record<string, string> } }>({
    resource: "namespaces",
    name: namespace,
  });
  return ns === undefined ? undefined : ns.metadata.labels ?? {};
}
