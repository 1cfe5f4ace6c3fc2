// The Kubernetes side of `rotate-key` beyond what `init` uses: the rotation state beside the setup record, the
// previous key Secret, and freshly minted tokens that show which key the apiserver signs with right now.
import { IrsaError } from "../errors.ts";
import type { KeyPair } from "../init_plan.ts";
import { keySecret, label, managedByValue, previousKeySecret, rotationStateKey, setupRecord } from "../names.ts";
import type { KubeClient } from "./client.ts";
import { anyServiceAccount, mintServiceAccountToken } from "./tokens.ts";

/** Thin port over the Kubernetes API for `rotate-key`. */
export interface RotationKubePort {
  /** The raw rotation state, or undefined when no rotation ever ran. */
  getRotationState(): Promise<string | undefined>;
  /** Writes the state beside the setup record (merge patch, so `init`'s server-side apply keeps it). */
  putRotationState(text: string): Promise<void>;
  getPreviousKeySecret(): Promise<KeyPair | undefined>;
  applyPreviousKeySecret(key: KeyPair): Promise<void>;
  deletePreviousKeySecret(): Promise<void>;
  /** A TokenRequest token for `audience`, valid 10 minutes, for some ServiceAccount of the cluster. */
  mintToken(audience: string): Promise<string>;
}

/** The implementation over KubeClient. */
export function rotationKubePort(kube: KubeClient): RotationKubePort {
  const configMap = { resource: "configmaps", namespace: setupRecord.namespace, name: setupRecord.name };
  const previousRef = { resource: "secrets", namespace: previousKeySecret.namespace, name: previousKeySecret.name };
  return {
    async getRotationState() {
      const cm = await kube.get<{ data?: Record<string, string> }>(configMap);
      return cm?.data?.[rotationStateKey];
    },
    async putRotationState(text) {
      await kube.patch(configMap, { data: { [rotationStateKey]: text } });
    },
    async getPreviousKeySecret() {
      const data = (await kube.get<{ data?: Record<string, string> }>(previousRef))?.data;
      if (!data?.[keySecret.privateKey] || !data[keySecret.publicKey]) return undefined;
      return { privatePem: atobUtf8(data[keySecret.privateKey]!), publicPem: atobUtf8(data[keySecret.publicKey]!) };
    },
    async applyPreviousKeySecret(key) {
      await kube.apply(previousRef, {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { ...previousKeySecret, labels: { [label.managedBy]: managedByValue } },
        type: keySecret.type,
        data: { [keySecret.privateKey]: btoa(key.privatePem), [keySecret.publicKey]: btoa(key.publicPem) },
      });
    },
    async deletePreviousKeySecret() {
      await kube.delete(previousRef);
    },
    async mintToken(audience) {
      const sa = await anyServiceAccount(kube);
      if (!sa) {
        throw new IrsaError(
          "precondition",
          "NoServiceAccount",
          "no ServiceAccount exists to mint a token for, so the apiserver's signing key cannot be checked",
        );
      }
      return await mintServiceAccountToken(kube, sa, { audience });
    },
  };
}

function atobUtf8(b64: string): string {
  return new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
}
