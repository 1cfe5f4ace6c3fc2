// Kubernetes helpers for tests: a client for the sandbox, fresh namespaces, ServiceAccounts and tokens.
import { KubeClient } from "../../lib/kube/client.ts";
import { loadKubeConnection, processKubeconfigSources } from "../../lib/kube/kubeconfig.ts";
import type { Sandbox } from "./sandbox.ts";

/** An admin client for the sandbox's kube-apiserver. */
export async function sandboxClient(sandbox: Sandbox): Promise<KubeClient> {
  return new KubeClient(await loadKubeConnection(processKubeconfigSources, { kubeconfig: sandbox.kubeconfigPath }));
}

let counter = 0;

/** Creates the namespace `name`, with `labels`. */
export async function createNamespace(kube: KubeClient, name: string, labels?: Record<string, string>): Promise<void> {
  await kube.create({ resource: "namespaces" }, {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name, ...(labels ? { labels } : {}) },
  });
}

/** Creates a namespace with a unique name (namespaces never finish deleting without a controller manager). */
export async function freshNamespace(kube: KubeClient, prefix = "t"): Promise<string> {
  const name = `${prefix}-${Date.now().toString(36)}-${(counter++).toString(36)}`;
  await createNamespace(kube, name);
  return name;
}

/** Creates a ServiceAccount. */
export async function createServiceAccount(
  kube: KubeClient,
  namespace: string,
  name: string,
  annotations: Record<string, string> = {},
): Promise<void> {
  await kube.create({ resource: "serviceaccounts", namespace }, {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name, namespace, annotations },
  });
}

/** Mints a ServiceAccount token through the TokenRequest API. */
export async function requestToken(
  kube: KubeClient,
  ref: { namespace: string; serviceAccount: string },
  options: { audience?: string; expirationSeconds?: number } = {},
): Promise<string> {
  const out = await kube.create<{ status: { token: string } }>(
    { resource: "serviceaccounts", namespace: ref.namespace, name: ref.serviceAccount, subresource: "token" },
    {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: {
        audiences: [options.audience ?? "sts.amazonaws.com"],
        expirationSeconds: options.expirationSeconds ?? 3600,
      },
    },
  );
  return out.status.token;
}
