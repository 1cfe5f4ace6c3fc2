// The webhook's TLS: a CA and serving certificate kept in a Secret, renewed before expiry (the CA with overlap),
// and the CA bundle kept current in the MutatingWebhookConfiguration the daemon owns. Every replica runs this;
// writes use resourceVersion preconditions, so two replicas never end up with different certificates.
import {
  certificatesFromPem,
  certificateSignedBy,
  createRootCa,
  issueCertificate,
  loadCertifiedKey,
  parseCertificate,
} from "../lib/pki.ts";
import { IrsaError } from "../lib/errors.ts";
import type { KubeClient } from "../lib/kube/client.ts";
import { fieldManager, webhookObjects } from "../lib/names.ts";
import { type CertPolicy, decideCerts, defaultCertPolicy } from "./cert_rotation.ts";

/** What the HTTPS server needs, and the bundle clients must trust. */
export interface ServingMaterial {
  certPem: string;
  keyPem: string;
  caBundlePem: string;
  nextCheck: Date;
}

/** Options of the certificate manager. */
export interface WebhookTlsOptions {
  namespace: string;
  dnsNames: string[];
  ipAddresses: string[];
  policy?: CertPolicy;
}

interface TlsSecret {
  metadata: { resourceVersion?: string };
  data?: Record<string, string>;
}

const b64 = (s: string) => btoa(s);
const unb64 = (s: string | undefined) => (s ? atob(s) : undefined);

/** Loads, renews and publishes the webhook's certificates. */
export async function reconcileWebhookTls(
  kube: KubeClient,
  options: WebhookTlsOptions & { now?: Date },
): Promise<ServingMaterial> {
  const now = options.now ?? new Date();
  const policy = options.policy ?? defaultCertPolicy;
  const secretRef = { resource: "secrets", namespace: options.namespace, name: webhookObjects.tlsSecret };
  for (let attempt = 0; attempt < 5; attempt++) {
    const secret = await kube.get<TlsSecret>(secretRef);
    const data = secret?.data ?? {};
    const bundle = unb64(data["ca.crt"]) ?? "";
    const caKey = unb64(data["ca.key"]);
    const leafPem = unb64(data["tls.crt"]);
    const leafKey = unb64(data["tls.key"]);
    const caCerts = certificatesFromPem(bundle).map((der) => ({ der, info: parseCertificate(der) }));
    const current = caCerts[0];
    const leafInfo = leafPem ? parseCertificate(certificatesFromPem(leafPem)[0]!) : undefined;
    let ca = current && caKey ? await loadCertifiedKey(pemOf(current.der), caKey) : undefined;
    const leafSigned = ca && leafPem ? await certificateSignedBy(leafPem, ca.certPem) : false;
    const wantSans = [...options.dnsNames, ...options.ipAddresses];
    const decision = decideCerts(
      {
        ...(ca && current ? { ca: { notBefore: current.info.notBefore, notAfter: current.info.notAfter } } : {}),
        ...(leafInfo
          ? {
            leaf: {
              notBefore: leafInfo.notBefore,
              notAfter: leafInfo.notAfter,
              sans: leafInfo.sans,
              signedByCurrentCa: leafSigned,
            },
          }
          : {}),
        retiredCas: caCerts.slice(1).map((c) => ({ notAfter: c.info.notAfter })),
      },
      wantSans,
      now,
      policy,
    );

    if (!decision.newCa && !decision.newLeaf && decision.dropRetired.length === 0) {
      return { certPem: leafPem!, keyPem: leafKey!, caBundlePem: bundle, nextCheck: decision.nextCheck };
    }
    if (decision.newCa) {
      ca = await createRootCa("kubectl-irsa webhook CA", { days: policy.caDays });
    }
    // An old CA stays in the bundle until it expires, so clients holding the old bundle keep working.
    const keptRetired = caCerts.slice(decision.newCa ? 0 : 1).filter((c) => c.info.notAfter > now);
    const caBundle = ca!.certPem + keptRetired.map((c) => pemOf(c.der)).join("");
    let certPem = leafPem!;
    let keyPem = leafKey!;
    if (decision.newLeaf) {
      const leaf = await issueCertificate(ca!, options.dnsNames[0] ?? "kubectl-irsa-webhook", {
        days: policy.leafDays,
        usage: { kind: "server", dnsNames: options.dnsNames, ipAddresses: options.ipAddresses },
      });
      certPem = leaf.certPem;
      keyPem = leaf.keyPem;
    }
    const body = {
      apiVersion: "v1",
      kind: "Secret",
      type: "kubernetes.io/tls",
      metadata: {
        name: webhookObjects.tlsSecret,
        namespace: options.namespace,
        ...(secret?.metadata.resourceVersion ? { resourceVersion: secret.metadata.resourceVersion } : {}),
      },
      data: { "ca.crt": b64(caBundle), "ca.key": b64(ca!.keyPem), "tls.crt": b64(certPem), "tls.key": b64(keyPem) },
    };
    try {
      if (secret) {
        await kube.request("PUT", `/api/v1/namespaces/${options.namespace}/secrets/${webhookObjects.tlsSecret}`, {
          body,
          query: { fieldManager },
        });
      } else await kube.create({ resource: "secrets", namespace: options.namespace }, body);
    } catch (e) {
      // Another replica renewed first: read what it wrote.
      if (e instanceof IrsaError && (e.kind === "conflict" || e.reason === "Http409")) continue;
      throw e;
    }
    return { certPem, keyPem, caBundlePem: caBundle, nextCheck: decision.nextCheck };
  }
  throw new IrsaError(
    "conflict",
    "TlsSecretContended",
    `could not update Secret ${options.namespace}/${webhookObjects.tlsSecret} after 5 attempts`,
  );
}

function pemOf(der: Uint8Array): string {
  const b = btoa(String.fromCharCode(...der));
  return `-----BEGIN CERTIFICATE-----\n${b.match(/.{1,64}/g)!.join("\n")}\n-----END CERTIFICATE-----\n`;
}

/** Writes `caBundlePem` into every webhook of our MutatingWebhookConfiguration whose bundle differs. */
export async function publishCaBundle(kube: KubeClient, caBundlePem: string): Promise<boolean> {
  const ref = {
    group: "admissionregistration.k8s.io",
    resource: "mutatingwebhookconfigurations",
    name: webhookObjects.configuration,
  };
  const mwc = await kube.get<{ webhooks?: { name: string; clientConfig: { caBundle?: string } }[] }>(ref);
  if (!mwc) return false;
  const want = b64(caBundlePem);
  const ops = (mwc.webhooks ?? []).flatMap((w, i) =>
    w.clientConfig.caBundle === want ? [] : [
      { op: "test", path: `/webhooks/${i}/name`, value: w.name },
      { op: "add", path: `/webhooks/${i}/clientConfig/caBundle`, value: want },
    ]
  );
  if (ops.length === 0) return false;
  await kube.patch(ref, ops, "json");
  return true;
}
