// The webhook's TLS: a CA and serving certificate kept in a Secret and renewed before expiry, and the CA bundle
// kept current in the MutatingWebhookConfiguration the daemon owns. A new CA enters the bundle before it signs
// anything, and old CAs stay until they expire. Every replica runs this; writes use resourceVersion
// preconditions, so two replicas never end up with different certificates.
import {
  certificatePem,
  certificatesFromPem,
  certificateSignedBy,
  createRootCa,
  issueCertificate,
  loadCertifiedKey,
  parseCertificate,
} from "../lib/pki.ts";
import { IrsaError } from "../lib/errors.ts";
import type { KubeClient } from "../lib/kube/client.ts";
import { readWebhookConfiguration, webhookConfigurationRef } from "../lib/kube/webhook_reads.ts";
import { fieldManager, irsaAnnotation, webhookObjects, webhookTlsKeys } from "../lib/names.ts";
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
  metadata: { resourceVersion?: string; annotations?: Record<string, string> };
  data?: Record<string, string>;
}

const b64 = (s: string) => btoa(s);
const unb64 = (s: string | undefined) => (s ? atob(s) : undefined);

interface BundleCert {
  pem: string;
  info: ReturnType<typeof parseCertificate>;
}

function bundleCerts(pem: string | undefined): BundleCert[] {
  return certificatesFromPem(pem ?? "").map((der) => ({ pem: certificatePem(der), info: parseCertificate(der) }));
}

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
    const bundle = unb64(data[webhookTlsKeys.caBundle]) ?? "";
    const caKey = unb64(data[webhookTlsKeys.caKey]);
    const leafPem = unb64(data[webhookTlsKeys.cert]);
    const leafKey = unb64(data[webhookTlsKeys.key]);
    const inBundle = bundleCerts(bundle);
    const current = inBundle[0];
    let ca = current && caKey ? await loadCertifiedKey(current.pem, caKey) : undefined;
    const stagedCert = bundleCerts(unb64(data[webhookTlsKeys.stagedCa]))[0];
    const stagedKey = unb64(data[webhookTlsKeys.stagedCaKey]);
    const stagedAt = new Date(secret?.metadata.annotations?.[irsaAnnotation.caStagedAt] ?? NaN);
    // A staged CA counts only if it is whole and in the bundle; otherwise a new one is staged when due.
    const staged = stagedCert && stagedKey && !Number.isNaN(stagedAt.getTime()) &&
        inBundle.some((c) => c.pem === stagedCert.pem)
      ? { cert: stagedCert, key: stagedKey, stagedAt }
      : undefined;
    const retired = inBundle.slice(1).filter((c) => c.pem !== staged?.cert.pem);
    const leafInfo = leafPem ? parseCertificate(certificatesFromPem(leafPem)[0]!) : undefined;
    const leafSigned = ca && leafPem ? await certificateSignedBy(leafPem, ca.certPem) : false;
    const validity = (c: BundleCert) => ({ notBefore: c.info.notBefore, notAfter: c.info.notAfter });
    const decision = decideCerts(
      {
        ...(ca && current ? { ca: validity(current) } : {}),
        ...(staged ? { stagedCa: { ...validity(staged.cert), stagedAt: staged.stagedAt } } : {}),
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
        retiredCas: retired.map((c) => ({ notAfter: c.info.notAfter })),
      },
      [...options.dnsNames, ...options.ipAddresses],
      now,
      policy,
    );

    if (decision.ca === "keep" && !decision.newLeaf && decision.dropRetired.length === 0) {
      return { certPem: leafPem!, keyPem: leafKey!, caBundlePem: bundle, nextCheck: decision.nextCheck };
    }
    let next: { cert: BundleCert; key: string; stagedAt: Date } | undefined = staged;
    let stillTrusted = retired;
    if (decision.ca === "create") {
      ca = await createRootCa("kubectl-irsa webhook CA", { days: policy.caDays });
      next = undefined;
      stillTrusted = inBundle.filter((c) => c.pem !== staged?.cert.pem);
    } else if (decision.ca === "stage") {
      const successor = await createRootCa("kubectl-irsa webhook CA", { days: policy.caDays });
      next = { cert: bundleCerts(successor.certPem)[0]!, key: successor.keyPem, stagedAt: now };
    } else if (decision.ca === "promote") {
      ca = await loadCertifiedKey(staged!.cert.pem, staged!.key);
      next = undefined;
      stillTrusted = [...(current ? [current] : []), ...retired];
    }
    // Old CAs stay in the bundle until they expire, so clients holding an older bundle keep working.
    // Every PEM here has certificatePem's layout, so equal certificates compare equal as text.
    const signingPem = ca!.certPem;
    const caBundle = [
      signingPem,
      ...(next ? [next.cert.pem] : []),
      ...stillTrusted.filter((c) => c.info.notAfter > now && c.pem !== signingPem).map((c) => c.pem),
    ].join("");
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
        ...(next ? { annotations: { [irsaAnnotation.caStagedAt]: next.stagedAt.toISOString() } } : {}),
      },
      data: {
        [webhookTlsKeys.caBundle]: b64(caBundle),
        [webhookTlsKeys.caKey]: b64(ca!.keyPem),
        [webhookTlsKeys.cert]: b64(certPem),
        [webhookTlsKeys.key]: b64(keyPem),
        ...(next ? { [webhookTlsKeys.stagedCa]: b64(next.cert.pem), [webhookTlsKeys.stagedCaKey]: b64(next.key) } : {}),
      },
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

/** Writes `caBundlePem` into every webhook of our MutatingWebhookConfiguration whose bundle differs. */
export async function publishCaBundle(kube: KubeClient, caBundlePem: string): Promise<boolean> {
  const mwc = await readWebhookConfiguration(kube);
  if (!mwc) return false;
  const want = b64(caBundlePem);
  const ops = (mwc.webhooks ?? []).flatMap((w, i) =>
    w.clientConfig.caBundle === want ? [] : [
      { op: "test", path: `/webhooks/${i}/name`, value: w.name },
      { op: "add", path: `/webhooks/${i}/clientConfig/caBundle`, value: want },
    ]
  );
  if (ops.length === 0) return false;
  await kube.patch(webhookConfigurationRef, ops, "json");
  return true;
}
