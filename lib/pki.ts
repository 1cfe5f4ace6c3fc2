// A small X.509 toolkit over Web Crypto and our own DER (lib/der.ts): a CA, certificates it signs, PEM, and the
// fields chain decisions read. The daemon uses it for the webhook's serving certificate and the test harness for
// its servers, so both get the same code. Certificates are ECDSA P-256 with SHA-256, as kubeadm's are.
import {
  bitString,
  boolean,
  type Bytes,
  children,
  contextConstructed,
  contextPrimitive,
  type DerElement,
  integer,
  integerBytes,
  namedBits,
  objectIdentifier,
  octetString,
  readElement,
  readObjectIdentifier,
  readTime,
  sequence,
  set,
  time,
  unsignedInteger,
  utf8String,
} from "./der.ts";
import { pemBlocks, pemEncode } from "./keys.ts";

const ecdsa = { name: "ECDSA", namedCurve: "P-256" } as const;
const dayMs = 86_400_000;

const oid = {
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  ecdsaWithSha384: "1.2.840.10045.4.3.3",
  ecPublicKey: "1.2.840.10045.2.1",
  p256: "1.2.840.10045.3.1.7",
  p384: "1.3.132.0.34",
  rsaEncryption: "1.2.840.113549.1.1.1",
  sha256WithRsa: "1.2.840.113549.1.1.11",
  sha384WithRsa: "1.2.840.113549.1.1.12",
  sha512WithRsa: "1.2.840.113549.1.1.13",
  commonName: "2.5.4.3",
  organization: "2.5.4.10",
  subjectKeyId: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  authorityKeyId: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
} as const;

// Short names for distinguished-name text, as OpenSSL and @peculiar/x509 print them.
const attributeNames: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.5": "serialNumber",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "0.9.2342.19200300.100.1.25": "DC",
  "1.2.840.113549.1.9.1": "E",
};

/** A certificate with its private key, both as PEM. */
export interface CertifiedKey {
  certPem: string;
  keyPem: string;
  /** Kept to sign further certificates without re-importing the key. */
  privateKey: CryptoKey;
  /** The certificate's parsed fields. */
  info: CertificateInfo;
}

/** Options shared by every certificate this module issues. */
export interface CertOptions {
  /** Start of validity; defaults to now minus five minutes, which tolerates small clock skew. */
  notBefore?: Date;
  /** Lifetime in days. */
  days?: number;
}

/** What a certificate is for. */
export type CertUsage =
  | { kind: "ca" }
  | { kind: "server"; dnsNames?: string[]; ipAddresses?: string[] }
  | { kind: "client"; organizations?: string[] };

/** The parts of a certificate that chain decisions need. */
export interface CertificateInfo {
  /** Subject DN as text, for messages. */
  subject: string;
  /** Issuer DN as text, for messages. */
  issuer: string;
  /** DER of the subject Name; compare bytes, since text forms of equal DNs can differ. */
  subjectDer: Bytes;
  /** DER of the issuer Name. */
  issuerDer: Bytes;
  /** True when basicConstraints marks the certificate as a CA. */
  isCa: boolean;
  notBefore: Date;
  notAfter: Date;
  /** DNS names and IP addresses. */
  sans: string[];
  /** The subjectKeyIdentifier extension, when present. */
  subjectKeyId?: Bytes;
}

function validity(options: CertOptions, defaultDays: number): Bytes {
  // Whole seconds: DER times carry no fractions.
  const start = Math.floor((options.notBefore?.getTime() ?? Date.now() - 5 * 60_000) / 1000) * 1000;
  return sequence(time(new Date(start)), time(new Date(start + (options.days ?? defaultDays) * dayMs)));
}

function serialNumber(): Bytes {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01; // positive, and 16 bytes long
  return unsignedInteger(bytes);
}

function name(commonName: string, organizations: string[] = []): Bytes {
  const rdn = (type: string, value: string) => set(sequence(objectIdentifier(type), utf8String(value)));
  return sequence(rdn(oid.commonName, commonName), ...organizations.map((o) => rdn(oid.organization, o)));
}

function extension(id: string, critical: boolean, value: Bytes): Bytes {
  return sequence(objectIdentifier(id), ...(critical ? [boolean(true)] : []), octetString(value));
}

function ipBytes(ip: string): Bytes {
  if (ip.includes(":")) {
    const [head, tail] = ip.includes("::") ? ip.split("::") as [string, string] : [ip, undefined];
    const left = head ? head.split(":") : [];
    const right = tail ? tail.split(":") : [];
    const groups = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
    if (groups.length !== 8 || groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) {
      throw new Error(`not an IP address: ${ip}`);
    }
    return Uint8Array.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
  }
  const parts = ip.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new Error(`not an IP address: ${ip}`);
  }
  return Uint8Array.from(parts.map(Number));
}

function ipText(bytes: Bytes): string {
  if (bytes.length === 4) return Array.from(bytes).join(".");
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16));
  // RFC 5952: the longest run of two or more zero groups becomes "::".
  let best = [-1, 0];
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > best[1]! && j - i > 1) best = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best[0]! < 0) return groups.join(":");
  return `${groups.slice(0, best[0]).join(":")}::${groups.slice(best[0]! + best[1]!).join(":")}`;
}

async function sha1(bytes: Bytes): Promise<Bytes> {
  return new Uint8Array(await crypto.subtle.digest("SHA-1", bytes));
}

/** RFC 5280's key identifier, method 1: SHA-1 of the subjectPublicKey bits. */
async function keyIdentifier(spki: Bytes): Promise<Bytes> {
  const key = children(readElement(spki).content)[1]!;
  return await sha1(key.content.subarray(1));
}

/** Web Crypto's ECDSA signature (r ‖ s) as the DER SEQUENCE X.509 carries. */
function derSignature(raw: Bytes): Bytes {
  const half = raw.length / 2;
  return sequence(unsignedInteger(raw.subarray(0, half)), unsignedInteger(raw.subarray(half)));
}

async function signCertificate(
  issuerName: Bytes,
  subjectName: Bytes,
  publicKey: CryptoKey,
  signingKey: CryptoKey,
  validityDer: Bytes,
  extensions: Bytes[],
): Promise<Bytes> {
  const algorithm = sequence(objectIdentifier(oid.ecdsaWithSha256));
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", publicKey));
  const tbs = sequence(
    contextConstructed(0, integer(2)), // v3
    serialNumber(),
    algorithm,
    issuerName,
    validityDer,
    subjectName,
    spki,
    contextConstructed(3, sequence(...extensions)),
  );
  const signature = new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, signingKey, tbs));
  return sequence(tbs, algorithm, bitString(derSignature(signature)));
}

async function finish(der: Bytes, keys: CryptoKeyPair): Promise<CertifiedKey> {
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  return {
    certPem: certificatePem(der),
    keyPem: pemEncode("PRIVATE KEY", pkcs8),
    privateKey: keys.privateKey,
    info: parseCertificate(der),
  };
}

const caKeyUsage = namedBits([5, 6]); // keyCertSign, cRLSign
const leafKeyUsage = namedBits([0, 2]); // digitalSignature, keyEncipherment

/** Creates a self-signed root CA. */
export async function createRootCa(commonName: string, options: CertOptions = {}): Promise<CertifiedKey> {
  const keys = await crypto.subtle.generateKey(ecdsa, true, ["sign", "verify"]) as CryptoKeyPair;
  const subject = name(commonName);
  const ski = await keyIdentifier(new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey)));
  const der = await signCertificate(subject, subject, keys.publicKey, keys.privateKey, validity(options, 3650), [
    extension(oid.basicConstraints, true, sequence(boolean(true))),
    extension(oid.keyUsage, true, caKeyUsage),
    extension(oid.subjectKeyId, false, octetString(ski)),
  ]);
  return await finish(der, keys);
}

/** Issues a certificate signed by `issuer`. */
export async function issueCertificate(
  issuer: CertifiedKey,
  commonName: string,
  options: CertOptions & { usage: CertUsage },
): Promise<CertifiedKey> {
  const keys = await crypto.subtle.generateKey(ecdsa, true, ["sign", "verify"]) as CryptoKeyPair;
  const usage = options.usage;
  const ski = await keyIdentifier(new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey)));
  const extensions = [
    ...(issuer.info.subjectKeyId
      ? [extension(oid.authorityKeyId, false, sequence(contextPrimitive(0, issuer.info.subjectKeyId)))]
      : []),
    extension(oid.subjectKeyId, false, octetString(ski)),
  ];
  if (usage.kind === "ca") {
    extensions.push(
      extension(oid.basicConstraints, true, sequence(boolean(true), integer(0))),
      extension(oid.keyUsage, true, caKeyUsage),
    );
  } else {
    extensions.push(
      extension(oid.basicConstraints, true, sequence()),
      extension(oid.keyUsage, true, leafKeyUsage),
      extension(
        oid.extKeyUsage,
        false,
        sequence(objectIdentifier(usage.kind === "server" ? oid.serverAuth : oid.clientAuth)),
      ),
    );
  }
  if (usage.kind === "server") {
    const names = [
      ...(usage.dnsNames ?? []).map((dns) => contextPrimitive(2, new TextEncoder().encode(dns))),
      ...(usage.ipAddresses ?? []).map((ip) => contextPrimitive(7, ipBytes(ip))),
    ];
    extensions.push(extension(oid.subjectAltName, false, sequence(...names)));
  }
  const subject = name(commonName, usage.kind === "client" ? usage.organizations : []);
  const der = await signCertificate(
    issuer.info.subjectDer,
    subject,
    keys.publicKey,
    issuer.privateKey,
    validity(options, usage.kind === "ca" ? 1825 : 365),
    extensions,
  );
  return await finish(der, keys);
}

/** The parts of a certificate signatures are checked over. */
interface Decoded {
  tbs: Bytes;
  signatureAlgorithm: string;
  signature: Bytes;
  spki: Bytes;
  info: CertificateInfo;
}

function nameText(der: DerElement): string {
  return children(der.content).flatMap((rdn) =>
    children(rdn.content).map((attribute) => {
      const [type, value] = children(attribute.content);
      const id = readObjectIdentifier(type!.content);
      return `${attributeNames[id] ?? id}=${new TextDecoder().decode(value!.content)}`;
    })
  ).join(", ");
}

function decode(der: Bytes): Decoded {
  const outer = readElement(der);
  if (outer.tag !== 0x30 || outer.end !== der.length) throw new Error("not a DER certificate");
  const [tbs, algorithm, signature] = children(outer.content);
  if (!tbs || !algorithm || signature?.tag !== 0x03) throw new Error("not a DER certificate");
  const fields = children(tbs.content);
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0; // v1 certificates have no version field
  const [, , issuer, times, subject, spki, ...rest] = fields.slice(offset);
  if (!issuer || !times || !subject || !spki) throw new Error("not a DER certificate");
  const [notBefore, notAfter] = children(times.content);
  const info: CertificateInfo = {
    subject: nameText(subject),
    issuer: nameText(issuer),
    subjectDer: subject.raw,
    issuerDer: issuer.raw,
    isCa: false,
    notBefore: readTime(notBefore!),
    notAfter: readTime(notAfter!),
    sans: [],
  };
  for (
    const ext of children(rest.find((e) => e.tag === 0xa3)?.content ?? new Uint8Array()).flatMap((e) =>
      children(e.content)
    )
  ) {
    const parts = children(ext.content);
    const id = readObjectIdentifier(parts[0]!.content);
    const value = readElement(parts.at(-1)!.content);
    if (id === oid.basicConstraints) {
      const first = children(value.content)[0];
      info.isCa = first?.tag === 0x01 && first.content[0] !== 0;
    } else if (id === oid.subjectAltName) {
      for (const n of children(value.content)) {
        if (n.tag === 0x82) info.sans.push(new TextDecoder().decode(n.content));
        if (n.tag === 0x87) info.sans.push(ipText(n.content));
      }
    } else if (id === oid.subjectKeyId) {
      info.subjectKeyId = value.content.slice();
    }
  }
  return {
    tbs: tbs.raw,
    signatureAlgorithm: readObjectIdentifier(children(algorithm.content)[0]!.content),
    signature: signature.content.subarray(1),
    spki: spki.raw,
    info,
  };
}

/** Parses a DER certificate into the fields that chain decisions need; throws on malformed input. */
export function parseCertificate(der: Uint8Array): CertificateInfo {
  return decode(new Uint8Array(der)).info;
}

/** The DNS names and IP addresses a PEM or DER certificate is valid for, in order. */
export function subjectAltNames(cert: string | Uint8Array): string[] {
  const der = typeof cert === "string" ? certificatesFromPem(cert)[0] : cert;
  if (!der) throw new Error("no certificate in PEM");
  return parseCertificate(der).sans;
}

async function verifier(spki: Bytes, signatureAlgorithm: string) {
  const [algorithm] = children(readElement(spki).content);
  const [keyType, curve] = children(algorithm!.content);
  const type = readObjectIdentifier(keyType!.content);
  if (type === oid.ecPublicKey) {
    const namedCurve = readObjectIdentifier(curve!.content) === oid.p384 ? "P-384" : "P-256";
    const hash = signatureAlgorithm === oid.ecdsaWithSha384 ? "SHA-384" : "SHA-256";
    if (signatureAlgorithm !== oid.ecdsaWithSha256 && signatureAlgorithm !== oid.ecdsaWithSha384) return undefined;
    const key = await crypto.subtle.importKey("spki", spki, { name: "ECDSA", namedCurve }, false, ["verify"]);
    const size = namedCurve === "P-384" ? 48 : 32;
    return async (tbs: Bytes, signature: Bytes) => {
      const [r, s] = children(readElement(signature).content);
      const raw = new Uint8Array(2 * size);
      raw.set(integerBytes(r!.content, size), 0);
      raw.set(integerBytes(s!.content, size), size);
      return await crypto.subtle.verify({ name: "ECDSA", hash }, key, raw, tbs);
    };
  }
  if (type === oid.rsaEncryption) {
    const hash = { [oid.sha256WithRsa]: "SHA-256", [oid.sha384WithRsa]: "SHA-384", [oid.sha512WithRsa]: "SHA-512" }[
      signatureAlgorithm
    ];
    if (!hash) return undefined;
    const key = await crypto.subtle.importKey("spki", spki, { name: "RSASSA-PKCS1-v1_5", hash }, false, ["verify"]);
    return (tbs: Bytes, signature: Bytes) => crypto.subtle.verify("RSASSA-PKCS1-v1_5", key, signature, tbs);
  }
  return undefined;
}

/** True when the certificate `certPem` was signed by the key of the certificate `issuerPem`. */
export async function certificateSignedBy(certPem: string, issuerPem: string): Promise<boolean> {
  const [certDer, issuerDer] = [certificatesFromPem(certPem)[0], certificatesFromPem(issuerPem)[0]];
  if (!certDer || !issuerDer) throw new Error("no certificate in PEM");
  const cert = decode(certDer);
  const verify = await verifier(decode(issuerDer).spki, cert.signatureAlgorithm);
  if (!verify) throw new Error(`unsupported signature algorithm ${cert.signatureAlgorithm}`);
  try {
    return await verify(cert.tbs, cert.signature);
  } catch {
    return false; // a signature that is not even well-formed DER
  }
}

/** Restores a CertifiedKey from PEM (for example from a Secret) so it can sign again. */
export async function loadCertifiedKey(certPem: string, keyPem: string): Promise<CertifiedKey> {
  const der = certificatesFromPem(certPem)[0];
  const key = pemBlocks(keyPem)[0];
  if (!der) throw new Error("no certificate in PEM");
  if (!key) throw new Error("no PEM block in private key");
  const privateKey = await crypto.subtle.importKey("pkcs8", key.der, ecdsa, true, ["sign"]);
  return { certPem, keyPem, privateKey, info: parseCertificate(der) };
}

/** Splits a PEM bundle into DER certificates, in order; blocks of other types are skipped. */
export function certificatesFromPem(bundle: string): Bytes[] {
  return pemBlocks(bundle).filter((b) => b.label === "CERTIFICATE").map((b) => b.der);
}

/** One DER certificate as PEM, in the same layout as the certificates this module issues. */
export function certificatePem(der: Uint8Array): string {
  return pemEncode("CERTIFICATE", der);
}
