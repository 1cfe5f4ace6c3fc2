// A small X.509 toolkit over Web Crypto: a CA, certificates it signs, and PEM output. The daemon uses it for
// the webhook's serving certificate and the test harness for its servers, so both get the same code.
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API installed before
// the library's CommonJS build runs, hence the dynamic import after the polyfill.
import "reflect-metadata";
import type * as X509 from "@peculiar/x509";

const x509: typeof X509 = await import("@peculiar/x509");

x509.cryptoProvider.set(crypto);

const ecdsa = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const dayMs = 86_400_000;

/** A certificate with its private key, both as PEM. */
export interface CertifiedKey {
  certPem: string;
  keyPem: string;
  /** Kept to sign further certificates without re-importing the key. */
  privateKey: CryptoKey;
  cert: X509.X509Certificate;
}

/** Options shared by every certificate this module issues. */
export interface CertOptions {
  /** Start of validity; defaults to now minus five minutes, which tolerates small clock skew. */
  notBefore?: Date;
  /** Lifetime in days. */
  days?: number;
}

function validity(options: CertOptions, defaultDays: number): { notBefore: Date; notAfter: Date } {
  const notBefore = options.notBefore ?? new Date(Date.now() - 5 * 60_000);
  return { notBefore, notAfter: new Date(notBefore.getTime() + (options.days ?? defaultDays) * dayMs) };
}

function serialNumber(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f; // keep the DER integer positive
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function privatePem(key: CryptoKey): Promise<string> {
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", key));
  return x509.PemConverter.encode(der.buffer, "PRIVATE KEY");
}

async function finish(cert: X509.X509Certificate, keys: CryptoKeyPair): Promise<CertifiedKey> {
  return {
    certPem: cert.toString("pem") + "\n",
    keyPem: await privatePem(keys.privateKey),
    privateKey: keys.privateKey,
    cert,
  };
}

/** Creates a self-signed root CA. */
export async function createRootCa(commonName: string, options: CertOptions = {}): Promise<CertifiedKey> {
  const keys = await crypto.subtle.generateKey(ecdsa, true, ["sign", "verify"]) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=${commonName}`,
    ...validity(options, 3650),
    signingAlgorithm: ecdsa,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return await finish(cert, keys);
}

/** What a certificate is for. */
export type CertUsage =
  | { kind: "ca" }
  | { kind: "server"; dnsNames?: string[]; ipAddresses?: string[] }
  | { kind: "client"; organizations?: string[] };

/** Issues a certificate signed by `issuer`. */
export async function issueCertificate(
  issuer: CertifiedKey,
  commonName: string,
  options: CertOptions & { usage: CertUsage },
): Promise<CertifiedKey> {
  const keys = await crypto.subtle.generateKey(ecdsa, true, ["sign", "verify"]) as CryptoKeyPair;
  const usage = options.usage;
  const orgs = usage.kind === "client" ? (usage.organizations ?? []).map((o) => `, O=${o}`).join("") : "";
  const extensions: X509.Extension[] = [
    await x509.AuthorityKeyIdentifierExtension.create(issuer.cert),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  if (usage.kind === "ca") {
    extensions.push(
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    );
  } else {
    extensions.push(
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension(
        [usage.kind === "server" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth],
        false,
      ),
    );
  }
  if (usage.kind === "server") {
    const names = [
      ...(usage.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
      ...(usage.ipAddresses ?? []).map((value) => ({ type: "ip" as const, value })),
    ];
    extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${commonName}${orgs}`,
    issuer: issuer.cert.subject,
    ...validity(options, usage.kind === "ca" ? 1825 : 365),
    signingAlgorithm: ecdsa,
    signingKey: issuer.privateKey,
    publicKey: keys.publicKey,
    extensions,
  });
  return await finish(cert, keys);
}

/** True when the certificate `certPem` was signed by the key of the certificate `issuerPem`. */
export async function certificateSignedBy(certPem: string, issuerPem: string): Promise<boolean> {
  const issuer = new x509.X509Certificate(issuerPem);
  return await new x509.X509Certificate(certPem).verify({ publicKey: issuer.publicKey, signatureOnly: true });
}

/** Restores a CertifiedKey from PEM (for example from a Secret) so it can sign again. */
export async function loadCertifiedKey(certPem: string, keyPem: string): Promise<CertifiedKey> {
  const cert = new x509.X509Certificate(certPem);
  const der = x509.PemConverter.decode(keyPem)[0];
  if (!der) throw new Error("no PEM block in private key");
  const privateKey = await crypto.subtle.importKey("pkcs8", der, ecdsa, true, ["sign"]);
  return { certPem, keyPem, privateKey, cert };
}

/** Splits a PEM bundle into DER certificates, in order. */
export function certificatesFromPem(bundle: string): Uint8Array[] {
  return x509.PemConverter.decode(bundle).map((b) => new Uint8Array(b));
}

/** One DER certificate as PEM, in the same layout as the certificates this module issues. */
export function certificatePem(der: Uint8Array): string {
  return x509.PemConverter.encode(new Uint8Array(der).buffer, "CERTIFICATE") + "\n";
}

/** The DNS names and IP addresses a certificate is valid for, in order. */
export function subjectAltNames(cert: X509.X509Certificate): string[] {
  return cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.items.map((n) => n.value) ?? [];
}

/** The parts of a certificate that chain decisions need. */
export interface CertificateInfo {
  /** Subject DN as text, for messages. */
  subject: string;
  /** Issuer DN as text, for messages. */
  issuer: string;
  /** DER of the subject Name; compare bytes, since text forms of equal DNs can differ. */
  subjectDer: Uint8Array;
  /** DER of the issuer Name. */
  issuerDer: Uint8Array;
  /** True when basicConstraints marks the certificate as a CA. */
  isCa: boolean;
  notBefore: Date;
  notAfter: Date;
  /** DNS names and IP addresses. */
  sans: string[];
}

/** Parses a DER certificate into the fields that chain decisions need; throws on malformed input. */
export function parseCertificate(der: Uint8Array): CertificateInfo {
  const cert = new x509.X509Certificate(new Uint8Array(der));
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    subjectDer: new Uint8Array(cert.subjectName.toArrayBuffer()),
    issuerDer: new Uint8Array(cert.issuerName.toArrayBuffer()),
    isCa: cert.getExtension(x509.BasicConstraintsExtension)?.ca ?? false,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    sans: subjectAltNames(cert),
  };
}
