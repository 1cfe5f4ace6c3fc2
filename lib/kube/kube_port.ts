// The Kubernetes side of `init` (and of the IRSASetup reconciler): the apiserver's own keys and issuer, cluster
// facts for the distribution, and the key Secret and setup record.
import { decodeJwt } from "jose";
import type { DistroFacts } from "../apiserver_change.ts";
import { IrsaError } from "../errors.ts";
import type { Jwks } from "../keys.ts";
import { parseJwks } from "../discovery.ts";
import { keySecret, label, managedByValue, setupRecord } from "../names.ts";
import type { KeyPair } from "../init_plan.ts";
import type { KubeClient } from "./client.ts";
import { anyServiceAccount, mintServiceAccountToken } from "./tokens.ts";

/** Thin port over the Kubernetes API for cluster-level setup. */
export interface ClusterPort {
  /** The apiserver's verification keys (`/openid/v1/jwks`); undefined when it does not serve them. */
  apiserverJwks(): Promise<Jwks | undefined>;
  /** The issuer the apiserver signs with now, or undefined when it cannot be found. */
  apiserverIssuer(): Promise<string | undefined>;
  distroFacts(): Promise<DistroFacts>;
  getKeySecret(): Promise<KeyPair | undefined>;
  applyKeySecret(key: KeyPair): Promise<void>;
  /** The raw setup record text, or undefined when `init` never ran. */
  getSetupRecord(): Promise<string | undefined>;
  applySetupRecord(manifest: Record<string, unknown>): Promise<void>;
}

/** The implementation over KubeClient. */
export function clusterPort(kube: KubeClient): ClusterPort {
  return {
    async apiserverJwks() {
      const res = await kube.raw("GET", "/openid/v1/jwks");
      const text = await res.text();
      if (res.status === 404) return undefined;
      if (!res.ok) {
        throw new IrsaError(
          res.status === 403 ? "denied" : "unavailable",
          "JwksUnreadable",
          `GET /openid/v1/jwks: HTTP ${res.status}`,
        );
      }
      return parseJwks(text);
    },
    async apiserverIssuer() {
      const discovery = await kube.get<{ issuer?: string }>("/.well-known/openid-configuration");
      if (discovery?.issuer) return discovery.issuer;
      // Without an https issuer the apiserver serves no discovery document; a token still names it. In a pod the
      // daemon's own token does (it may mint none); elsewhere a freshly minted one.
      // (Only in a pod: a kubeconfig token may come from an unrelated OIDC provider.)
      const own = kube.connection.contextName === "in-cluster" ? await kube.connection.token?.() : undefined;
      if (own && own.split(".").length === 3) {
        const iss = decodeJwt(own).iss;
        if (iss) return iss;
      }
      const sa = await anyServiceAccount(kube);
      return sa ? decodeJwt(await mintServiceAccountToken(kube, sa)).iss : undefined;
    },
    async distroFacts() {
      const version = await kube.request<{ gitVersion: string }>("GET", "/version");
      const kubeadm = await kube.get({ resource: "configmaps", namespace: "kube-system", name: "kubeadm-config" })
        .catch(() => undefined);
      const nodes = await kube.list<{ spec?: { providerID?: string } }>({ resource: "nodes" }).catch(() => []);
      const pods = await kube.list<{ metadata: { labels?: Record<string, string> } }>(
        { resource: "pods", namespace: "kube-system" },
        { labelSelector: "component=kube-apiserver" },
      ).catch(() => []);
      const facts: DistroFacts = {
        gitVersion: version.gitVersion,
        hasKubeadmConfig: kubeadm !== undefined,
        nodeProviderIds: nodes.map((n) => n.spec?.providerID ?? ""),
      };
      const labels = pods[0]?.metadata.labels;
      if (labels) facts.apiserverPodLabels = labels;
      return facts;
    },
    async getKeySecret() {
      const secret = await kube.get<{ data?: Record<string, string> }>({
        resource: "secrets",
        namespace: keySecret.namespace,
        name: keySecret.name,
      });
      const data = secret?.data;
      if (!data?.[keySecret.privateKey] || !data[keySecret.publicKey]) return undefined;
      return { privatePem: atobUtf8(data[keySecret.privateKey]!), publicPem: atobUtf8(data[keySecret.publicKey]!) };
    },
    async applyKeySecret(key) {
      await kube.apply({ resource: "secrets", namespace: keySecret.namespace, name: keySecret.name }, {
        apiVersion: "v1",
        kind: "Secret",
        metadata: {
          name: keySecret.name,
          namespace: keySecret.namespace,
          labels: { [label.managedBy]: managedByValue },
        },
        type: keySecret.type,
        data: { [keySecret.privateKey]: btoa(key.privatePem), [keySecret.publicKey]: btoa(key.publicPem) },
      });
    },
    async getSetupRecord() {
      const cm = await kube.get<{ data?: Record<string, string> }>({
        resource: "configmaps",
        namespace: setupRecord.namespace,
        name: setupRecord.name,
      });
      return cm?.data?.[setupRecord.key];
    },
    async applySetupRecord(manifest) {
      await kube.apply({ resource: "configmaps", namespace: setupRecord.namespace, name: setupRecord.name }, manifest);
    },
  };
}

function atobUtf8(b64: string): string {
  return new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
}
