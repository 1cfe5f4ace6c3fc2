// ServiceAccount tokens minted through the TokenRequest API: the doctor, rotate-key and init read the apiserver's
// current issuer and signing key from a fresh token.
import type { KubeClient } from "./client.ts";

/** A ServiceAccount reference. */
export interface ServiceAccountRef {
  namespace: string;
  name: string;
}

/** Mints a short-lived token for `sa`; without an audience the apiserver's default audiences apply. */
export async function mintServiceAccountToken(
  kube: KubeClient,
  sa: ServiceAccountRef,
  options: { audience?: string; expirationSeconds?: number } = {},
): Promise<string> {
  const out = await kube.create<{ status: { token: string } }>(
    { resource: "serviceaccounts", namespace: sa.namespace, name: sa.name, subresource: "token" },
    {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: {
        ...(options.audience !== undefined ? { audiences: [options.audience] } : {}),
        expirationSeconds: options.expirationSeconds ?? 600,
      },
    },
  );
  return out.status.token;
}

/** Some ServiceAccount to mint a token for: kube-system/default, else any in kube-system, else any at all. */
export async function anyServiceAccount(kube: KubeClient): Promise<ServiceAccountRef | undefined> {
  if (await kube.get({ resource: "serviceaccounts", namespace: "kube-system", name: "default" })) {
    return { namespace: "kube-system", name: "default" };
  }
  for (const namespace of ["kube-system", undefined]) {
    const items = await kube.list<{ metadata: { name: string; namespace: string } }>({
      resource: "serviceaccounts",
      ...(namespace ? { namespace } : {}),
    });
    const first = items[0];
    if (first) return { namespace: first.metadata.namespace, name: first.metadata.name };
  }
  return undefined;
}
