// What `doctor` reads from Kubernetes: the setup record, a freshly minted token and its review, the
// ServiceAccount and its pods, and the webhook's configuration, Service and CA. Reads only; the one write is a
// dry run, which the apiserver admits (webhooks included) but never persists.
import type { ListedPod, Pod } from "../pod_mutation.ts";
import { fieldManager, webhookObjects, webhookTlsKeys } from "../names.ts";
import { type KubeClient, resourcePath } from "./client.ts";
import { clusterPort } from "./kube_port.ts";
import { anyServiceAccount, mintServiceAccountToken } from "./tokens.ts";
import { readNamespaceLabels, readWebhookConfiguration, type WebhookConfiguration } from "./webhook_reads.ts";

/** A pod as the doctor sees it. */
export type DoctorPod = ListedPod & { status?: { phase?: string } };

export type { WebhookConfiguration };

/** What the apiserver answered to a dry-run pod creation: the pod as admission left it, or the refusal. */
export type DryRunPodOutcome =
  | { admitted: true; pod: ListedPod }
  /** `status` is absent when no HTTP answer came. */
  | { admitted: false; status?: number; message: string };

/** Thin port over the Kubernetes API for `doctor`: reads, plus one dry-run create that persists nothing. */
export interface DoctorKubePort {
  /** The raw setup record text, or undefined when `init` never ran. */
  setupRecord(): Promise<string | undefined>;
  apiserverIssuer(): Promise<string | undefined>;
  /** The ServiceAccount's annotations; undefined when it does not exist. */
  serviceAccount(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  /** Some ServiceAccount to mint a token for: kube-system/default, else any in kube-system, else any at all. */
  anyServiceAccount(): Promise<{ namespace: string; name: string } | undefined>;
  /** A TokenRequest token for `audience`, valid 10 minutes. */
  mintToken(sa: { namespace: string; name: string }, audience: string): Promise<string>;
  /** A TokenReview with the apiserver's default audiences. */
  reviewToken(token: string): Promise<{ authenticated: boolean; error?: string }>;
  podsOf(namespace: string, serviceAccount: string): Promise<DoctorPod[]>;
  webhookConfiguration(): Promise<WebhookConfiguration | undefined>;
  /** The namespace's labels; undefined when it does not exist. */
  namespaceLabels(namespace: string): Promise<Record<string, string> | undefined>;
  serviceEndpoints(namespace: string, name: string): Promise<{ exists: boolean; readyAddresses: number }>;
  /** ca.crt of the webhook's TLS Secret (first one found in any namespace), when readable. */
  webhookCa(): Promise<string | undefined>;
  /** Creates `pod` with dryRun=All; refusals come back as data, not as errors. */
  dryRunCreatePod(namespace: string, pod: Pod): Promise<DryRunPodOutcome>;
}

/** The implementation over KubeClient. */
export function doctorKubePort(kube: KubeClient): DoctorKubePort {
  const cluster = clusterPort(kube);
  return {
    setupRecord: () => cluster.getSetupRecord(),
    apiserverIssuer: () => cluster.apiserverIssuer(),
    async serviceAccount(namespace, name) {
      const sa = await kube.get<{ metadata: { annotations?: Record<string, string> } }>({
        resource: "serviceaccounts",
        namespace,
        name,
      });
      return sa === undefined ? undefined : sa.metadata.annotations ?? {};
    },
    anyServiceAccount: () => anyServiceAccount(kube),
    mintToken: (sa, audience) => mintServiceAccountToken(kube, sa, { audience }),
    async reviewToken(token) {
      const out = await kube.create<{ status?: { authenticated?: boolean; error?: string } }>(
        { group: "authentication.k8s.io", resource: "tokenreviews" },
        { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token } },
      );
      return { authenticated: out.status?.authenticated === true };
    },
    async podsOf(namespace, serviceAccount) {
      return await kube.list<DoctorPod>(
        { resource: "pods", namespace },
        { fieldSelector: `spec.serviceAccountName=${serviceAccount}` },
      );
    },
    webhookConfiguration: () => readWebhookConfiguration(kube),
    namespaceLabels: (namespace) => readNamespaceLabels(kube, namespace),
    async serviceEndpoints(namespace, name) {
      const service = await kube.get({ resource: "services", namespace, name });
      if (!service) return { exists: false, readyAddresses: 0 };
      const endpoints = await kube.get<{ subsets?: { addresses?: unknown[] }[] }>({
        resource: "endpoints",
        namespace,
        name,
      });
      const ready = (endpoints?.subsets ?? []).reduce((n, s) => n + (s.addresses?.length ?? 0), 0);
      return { exists: true, readyAddresses: ready };
    },
    async webhookCa() {
      const secrets = await kube.list<{ data?: Record<string, string> }>(
        { resource: "secrets" },
        { fieldSelector: `metadata.name=${webhookObjects.tlsSecret}` },
      );
      const ca = secrets[0]?.data?.[webhookTlsKeys.caBundle];
      return ca === undefined ? undefined : new TextDecoder().decode(Uint8Array.from(atob(ca), (c) => c.charCodeAt(0)));
    },
    async dryRunCreatePod(namespace, pod) {
      // raw, not create: the decision needs the status code and the apiserver's own message, unprefixed.
      let res: Response;
      try {
        res = await kube.raw("POST", resourcePath({ resource: "pods", namespace }), {
          query: { dryRun: "All", fieldManager },
          body: pod,
        });
      } catch (e) {
        return { admitted: false, message: (e as Error).message };
      }
      const text = await res.text();
      let body: { message?: string } | undefined;
      try {
        body = JSON.parse(text);
      } catch { /* not JSON: keep the text */ }
      if (res.ok && body !== undefined) return { admitted: true, pod: body as ListedPod };
      return { admitted: false, status: res.status, message: body?.message ?? text.trim().split("\n")[0] ?? "" };
    },
  };
}
