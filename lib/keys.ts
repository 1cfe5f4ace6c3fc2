// Key helpers for the service-account signing keys. Everything here uses WebCrypto and the DER of der.ts, so
// key IDs and JWKS entries come out byte-identical to what kube-apiserver publishes at /openid/v1/jwks.

import {
  bitString,
  type Bytes,
  children,
  type DerElement,
  integer,
  objectIdentifier,
  octetString,
  readElement,
  readObjectIdentifier,
  sequence,
  tlv,
} from "./der.ts";
import { invalid, IrsaError } from "./errors.ts";

/** A JWKS entry for an RSA key, fields in the order kube-apiserver writes them. */
export type RsaJwk = { use: "sig"; kty: "RSA"; kid: string; alg: "RS256"; n: string; e: string };

/** A JWKS entry for an EC P-256 key, fields in the order kube-apiserver writes them. */
export type EcJwk = { use: "sig"; kty: "EC"; kid: string; crv: "P-256"; alg: "ES256"; x: string; y: string };

/** A public signing key as published in the issuer's JWKS. */
export type Jwk = RsaJwk | EcJwk;

/** A JSON Web Key Set, the content of `keys.json`. */
export type Jwks = { keys: Jwk[] };

/** The signature algorithms a service-account key can have here. */
export type SigningAlgorithm = Jwk["alg"];

/** One PEM block: its label (for example `PUBLIC KEY`) and the DER bytes it carries. */
export type PemBlock = { label: string; der: Uint8Array<ArrayBuffer> };

/** A freshly generated key pair in PEM form. */
export type KeyPairPem = {
  /** PKCS#8 (`PRIVATE KEY`). */
  privatePem: string;
  /** PKIX SubjectPublicKeyInfo (`PUBLIC KEY`). */
  publicPem: string;
};

// ---- base64 --------------------------------------------------------------------------------------------------

function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Unpadded base64url, the encoding of JWK members and key IDs. */
export function base64Url(bytes: Uint8Array): string {
  return toBase64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// ---- PEM -----------------------------------------------------------------------------------------------------

/** Encodes DER bytes as a PEM block with 64-character lines and a trailing newline, as Go's encoding/pem does. */
export function pemEncode(label: string, der: Uint8Array): string {
  const body = toBase64(der).replace(/.{64}/g, "$&\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

/** Returns every PEM block in `text`, in order; key files may hold several keys (one per rotation step). */
export function pemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  for (const m of text.matchAll(re)) {
    const label = m[1] ?? "";
    const body = (m[2] ?? "").replace(/\s+/g, "");
    // Encrypted PEM (RFC 1421 headers) cannot be used without a passphrase; refuse it clearly.
    if (body.includes(":")) {
      throw invalid("InvalidPem", `PEM block "${label}" is encrypted; provide an unencrypted key`);
    }
    let der: Uint8Array<ArrayBuffer>;
    try {
      der = fromBase64(body);
    } catch (e) {
      throw invalid("InvalidPem", `PEM block "${label}" is not valid base64: ${(e as Error).message}`);
    }
    blocks.push({ label, der });
  }
  return blocks;
}

/** Returns the first PEM block in `pem`, or throws IrsaError invalid `InvalidPem` when there is none. */
export function pemDecode(pem: string): PemBlock {
  const first = pemBlocks(pem)[0];
  if (first === undefined) throw invalid("InvalidPem", "No PEM block found; expected -----BEGIN …----- armour");
  return first;
}

// ---- minimal DER ---------------------------------------------------------------------------------------------

const oid = {
  rsaEncryption: "1.2.840.113549.1.1.1",
  ecPublicKey: "1.2.840.10045.2.1",
  prime256v1: "1.2.840.10045.3.1.7",
};

/** The elements of the SEQUENCE `der` holds, or a one-line InvalidKey error naming `what`. */
function sequenceItems(der: Uint8Array, what: string): DerElement[] {
  try {
    const root = readElement(der as Bytes);
    if (root.tag === 0x30) return children(root.content);
  } catch {
    // falls through to the one-line error below
  }
  throw invalid("InvalidKey", `Malformed DER in ${what}`);
}

const oidOf = (e: DerElement | undefined) => e?.tag === 0x06 ? readObjectIdentifier(e.content) : undefined;

const rsaAlgorithmId = () => sequence(objectIdentifier(oid.rsaEncryption), tlv(0x05));
const ecAlgorithmId = () => sequence(objectIdentifier(oid.ecPublicKey), objectIdentifier(oid.prime256v1));
const version0 = () => integer(0);

/** Which key algorithm an AlgorithmIdentifier names, or a one-line reason it is unsupported. */
function algorithmOf(algId: DerElement | undefined, what: string): SigningAlgorithm {
  if (algId?.tag !== 0x30) throw invalid("InvalidKey", `Malformed DER in ${what}`);
  const [algOid, params] = sequenceItems(algId.raw, what);
  const name = oidOf(algOid);
  if (name === oid.rsaEncryption) return "RS256";
  if (name === oid.ecPublicKey) {
    if (oidOf(params) === oid.prime256v1) return "ES256";
    throw invalid("UnsupportedKey", `Unsupported EC curve in ${what}; only P-256 (ES256) keys are supported`);
  }
  throw invalid("UnsupportedKey", `Unsupported key type in ${what}; use an RSA or EC P-256 key`);
}

/** Wraps a PKCS#1 RSAPublicKey into a PKIX SubjectPublicKeyInfo, since apiserver key files may be PKCS#1. */
export function spkiFromPkcs1(pkcs1Der: Uint8Array): Uint8Array<ArrayBuffer> {
  return sequence(rsaAlgorithmId(), bitString(pkcs1Der as Bytes));
}

/** Wraps a PKCS#1 RSAPrivateKey (`RSA PRIVATE KEY`, the seed's format) into PKCS#8, which WebCrypto imports. */
export function pkcs8FromPkcs1(pkcs1Der: Uint8Array): Uint8Array<ArrayBuffer> {
  return sequence(version0(), rsaAlgorithmId(), octetString(pkcs1Der as Bytes));
}

/** Wraps a SEC 1 ECPrivateKey (`EC PRIVATE KEY`, OpenSSL's default) for P-256 into PKCS#8. */
export function pkcs8FromSec1(sec1Der: Uint8Array): Uint8Array<ArrayBuffer> {
  return sequence(version0(), ecAlgorithmId(), octetString(sec1Der as Bytes));
}

// ---- WebCrypto -----------------------------------------------------------------------------------------------

function importParams(alg: SigningAlgorithm): RsaHashedImportParams | EcKeyImportParams {
  return alg === "RS256" ? { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } : { name: "ECDSA", namedCurve: "P-256" };
}

/** The signature algorithm of a DER SubjectPublicKeyInfo; throws for key types kube-apiserver cannot use here. */
export function spkiAlgorithm(spkiDer: Uint8Array): SigningAlgorithm {
  return algorithmOf(sequenceItems(spkiDer, "public key")[0], "public key");
}

/** The signature algorithm of a DER PKCS#8 PrivateKeyInfo. */
export function pkcs8Algorithm(pkcs8Der: Uint8Array): SigningAlgorithm {
  return algorithmOf(sequenceItems(pkcs8Der, "private key")[1], "private key");
}

/** Generates an extractable RSA-2048 key pair for RS256, the algorithm every STS region accepts. */
export async function generateRsaKeyPair(): Promise<KeyPairPem> {
  const pair = await crypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["sign", "verify"],
  );
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
  return { privatePem: pemEncode("PRIVATE KEY", pkcs8), publicPem: pemEncode("PUBLIC KEY", spki) };
}

/**
 * The key ID kube-apiserver puts in token headers: unpadded base64url of SHA-256 over the DER SPKI
 * (`keyIDFromPublicKey` in k8s pkg/serviceaccount/jwt.go). STS finds the verification key by this value.
 */
export async function keyIdFromSpki(spkiDer: Uint8Array): Promise<string> {
  return base64Url(new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(spkiDer))));
}

/** Returns the DER SPKI of a `PUBLIC KEY` (PKIX) or `RSA PUBLIC KEY` (PKCS#1) PEM block. */
export function spkiFromPem(pem: string): Uint8Array<ArrayBuffer> {
  return spkiFromBlock(pemDecode(pem));
}

function spkiFromBlock(block: PemBlock): Uint8Array<ArrayBuffer> {
  if (block.label === "PUBLIC KEY") return block.der;
  if (block.label === "RSA PUBLIC KEY") return spkiFromPkcs1(block.der);
  throw invalid("InvalidKey", `Expected a PUBLIC KEY or RSA PUBLIC KEY PEM block, got "${block.label}"`);
}

/**
 * The JWKS entry of a DER SPKI. The key is re-exported before hashing so the kid is computed over the same
 * canonical DER that Go's x509.MarshalPKIXPublicKey produces in kube-apiserver.
 */
export async function jwkFromSpki(spkiDer: Uint8Array): Promise<Jwk> {
  const alg = spkiAlgorithm(spkiDer);
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey("spki", new Uint8Array(spkiDer), importParams(alg), true, ["verify"]);
  } catch (e) {
    throw new IrsaError("invalid", "InvalidKey", "Cannot read public key", {
      cause: e,
    });
  }
  const canonical = new Uint8Array(await crypto.subtle.exportKey("spki", key));
  const kid = await keyIdFromSpki(canonical);
  const j = await crypto.subtle.exportKey("jwk", key);
  if (alg === "RS256") return { use: "sig", kty: "RSA", kid, alg, n: j.n ?? "", e: j.e ?? "" };
  return { use: "sig", kty: "EC", kid, crv: "P-256", alg, x: j.x ?? "", y: j.y ?? "" };
}

/** The JWKS entry of a `PUBLIC KEY` or `RSA PUBLIC KEY` PEM (the first block). */
export async function jwkFromPublicPem(pem: string): Promise<Jwk> {
  return await jwkFromSpki(spkiFromPem(pem));
}

/**
 * The JWKS of every public key in `text`, in file order. kube-apiserver's --service-account-key-file may hold
 * several keys during a rotation, and all of them must be published.
 */
export async function jwksFromPublicPems(text: string): Promise<Jwks> {
  const blocks = pemBlocks(text);
  if (blocks.length === 0) throw invalid("InvalidPem", "No PEM block found; expected -----BEGIN PUBLIC KEY-----");
  const keys: Jwk[] = [];
  for (const b of blocks) keys.push(await jwkFromSpki(spkiFromBlock(b)));
  return { keys };
}

/** Returns PKCS#8 DER for a `PRIVATE KEY`, `RSA PRIVATE KEY` (PKCS#1) or `EC PRIVATE KEY` (SEC 1) PEM. */
export function pkcs8FromPem(pem: string): Uint8Array<ArrayBuffer> {
  const block = pemDecode(pem);
  switch (block.label) {
    case "PRIVATE KEY":
      return block.der;
    case "RSA PRIVATE KEY":
      return pkcs8FromPkcs1(block.der);
    case "EC PRIVATE KEY":
      return pkcs8FromSec1(block.der);
    default:
      throw invalid(
        "InvalidKey",
        `Expected a PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY PEM block, got "${block.label}"`,
      );
  }
}

/** Imports a private key PEM as an extractable signing CryptoKey, with the JWS algorithm it signs with. */
export async function importPrivatePem(pem: string): Promise<{ key: CryptoKey; alg: SigningAlgorithm }> {
  const pkcs8 = pkcs8FromPem(pem);
  const alg = pkcs8Algorithm(pkcs8);
  try {
    return { key: await crypto.subtle.importKey("pkcs8", pkcs8, importParams(alg), true, ["sign"]), alg };
  } catch (e) {
    throw new IrsaError("invalid", "InvalidKey", "Cannot read private key", {
      cause: e,
    });
  }
}

/** Derives the `PUBLIC KEY` (PKIX) PEM from a private key PEM, so a Secret holding only the private key suffices. */
export async function publicPemFromPrivatePem(pem: string): Promise<string> {
  const { key, alg } = await importPrivatePem(pem);
  const j = await crypto.subtle.exportKey("jwk", key);
  // Only the public members, so the JWK imports as a verify key regardless of the private key's key_ops.
  const pub: JsonWebKey = alg === "RS256"
    ? { kty: "RSA", n: j.n ?? "", e: j.e ?? "" }
    : { kty: "EC", crv: "P-256", x: j.x ?? "", y: j.y ?? "" };
  const publicKey = await crypto.subtle.importKey("jwk", pub, importParams(alg), true, ["verify"]);
  return pemEncode("PUBLIC KEY", new Uint8Array(await crypto.subtle.exportKey("spki", publicKey)));
}
