// Registers a MutatingWebhookConfiguration that makes the sandbox apiserver call a webhook on 127.0.0.1.
import type { KubeClient } from "../../lib/kube/client.ts";
import { podAnnotation, webhookObjects } from "../../lib/names.ts";

/** Creates (or replaces) the configuration named `name` pointing at `https://127.0.0.1:<port>/mutate`. */
export async function registerWebhook(
  kube: KubeClient,
  options: {
    port: number;
    name?: string;
    webhookName?: string;
    caBundlePem?: string;
    failurePolicy?: "Ignore" | "Fail";
    namespaceSelector?: Record<string, unknown>;
    /** Defaults to ["v1"]; upstream PIW v0.6.17 needs ["v1beta1"]. */
    admissionReviewVersions?: string[];
  },
): Promise<void> {
  const name = options.name ?? webhookObjects.configuration;
  const ref = { group: "admissionregistration.k8s.io", resource: "mutatingwebhookconfigurations", name };
  await kube.delete(ref);
  await kube.create({ group: "admissionregistration.k8s.io", resource: "mutatingwebhookconfigurations" }, {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "MutatingWebhookConfiguration",
    metadata: { name },
    webhooks: [{
      name: options.webhookName ?? webhookObjects.webhookName,
      admissionReviewVersions: options.admissionReviewVersions ?? ["v1"],
      sideEffects: "None",
      reinvocationPolicy: "IfNeeded",
      failurePolicy: options.failurePolicy ?? "Fail",
      timeoutSeconds: 10,
      clientConfig: {
        url: `https://127.0.0.1:${options.port}${webhookObjects.path}`,
        ...(options.caBundlePem ? { caBundle: btoa(options.caBundlePem) } : {}),
      },
      rules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"] }],
      objectSelector: { matchExpressions: [{ key: podAnnotation.skipLabel, operator: "DoesNotExist" }] },
      ...(options.namespaceSelector ? { namespaceSelector: options.namespaceSelector } : {}),
    }],
  });
}

/** Waits until the apiserver's webhook calls succeed: a dry-run pod in `namespace` comes back mutated. */
export async function waitForWebhook(kube: KubeClient, namespace: string, serviceAccount: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      const pod = await kube.request<{ spec: { volumes?: { name: string }[] } }>(
        "POST",
        `/api/v1/namespaces/${namespace}/pods`,
        {
          query: { dryRun: "All" },
          body: {
            apiVersion: "v1",
            kind: "Pod",
            metadata: { generateName: "probe-" },
            spec: { serviceAccountName: serviceAccount, containers: [{ name: "c", image: "busybox" }] },
          },
        },
      );
      if (pod.spec.volumes?.some((v) => v.name === "aws-iam-token")) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("the webhook never mutated a probe pod");
}
