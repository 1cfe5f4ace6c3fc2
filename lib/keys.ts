// Key helpers for the service-account signing keys. Everything here uses WebCrypto and a few lines of DER, so
// key IDs and JWKS entries come out byte-identical to what kube-apiserver publishes at /openid/v1/jwks.

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

type Tlv = { tag: number; start: number; end: number };

const tag = { integer: 0x02, bitString: 0x03, octetString: 0x04, null: 0x05, oid: 0x06, sequence: 0x30 } as const;

// OIDs as their DER content bytes; comparing bytes avoids a general OID decoder.
const oid = {
  rsaEncryption: [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01],
  ecPublicKey: [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01],
  prime256v1: [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
} as const;

function readTlv(der: Uint8Array, offset: number, what: string): Tlv {
  const fail = () => invalid("InvalidKey", `Malformed DER in ${what}`);
  const t = der[offset];
  let lenByte = der[offset + 1];
  if (t === undefined || lenByte === undefined) throw fail();
  let start = offset + 2;
  let len = lenByte;
  if (lenByte & 0x80) {
    const n = lenByte & 0x7f;
    if (n === 0 || n > 4) throw fail();
    len = 0;
    for (let i = 0; i < n; i++) {
      lenByte = der[start + i];
      if (lenByte === undefined) throw fail();
      len = len * 256 + lenByte;
    }
    start += n;
  }
  const end = start + len;
  if (end > der.length) throw fail();
  return { tag: t, start, end };
}

function children(der: Uint8Array, parent: Tlv, what: string): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.start; at < parent.end;) {
    const c = readTlv(der, at, what);
    out.push(c);
    at = c.end;
  }
  return out;
}

function encodeTlv(t: number, content: Uint8Array | readonly number[]): Uint8Array<ArrayBuffer> {
  const len = content.length;
  const lenBytes: number[] = [];
  if (len < 0x80) lenBytes.push(len);
  else {
    for (let l = len; l > 0; l = Math.floor(l / 256)) lenBytes.unshift(l % 256);
    lenBytes.unshift(0x80 | lenBytes.length);
  }
  const out = new Uint8Array(1 + lenBytes.length + len);
  out[0] = t;
  out.set(lenBytes, 1);
  out.set(content, 1 + lenBytes.length);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function sameBytes(der: Uint8Array, t: Tlv | undefined, want: readonly number[]): boolean {
  if (t === undefined || t.tag !== tag.oid || t.end - t.start !== want.length) return false;
  return want.every((b, i) => der[t.start + i] === b);
}

const rsaAlgorithmId = () =>
  encodeTlv(tag.sequence, concat(encodeTlv(tag.oid, oid.rsaEncryption), encodeTlv(tag.null, [])));
const ecAlgorithmId = () =>
  encodeTlv(tag.sequence, concat(encodeTlv(tag.oid, oid.ecPublicKey), encodeTlv(tag.oid, oid.prime256v1)));

/** Which key algorithm an AlgorithmIdentifier names, or a one-line reason it is unsupported. */
function algorithmOf(der: Uint8Array, algId: Tlv | undefined, what: string): SigningAlgorithm {
  if (algId === undefined || algId.tag !== tag.sequence) throw invalid("InvalidKey", `Malformed DER in ${what}`);
  const [algOid, params] = children(der, algId, what);
  if (sameBytes(der, algOid, oid.rsaEncryption)) return "RS256";
  if (sameBytes(der, algOid, oid.ecPublicKey)) {
    if (sameBytes(der, params, oid.prime256v1)) return "ES256";
    throw invalid("UnsupportedKey", `Unsupported EC curve in ${what}; only P-256 (ES256) keys are supported`);
  }
  throw invalid("UnsupportedKey", `Unsupported key type in ${what}; use an RSA or EC P-256 key`);
}

/** Wraps a PKCS#1 RSAPublicKey into a PKIX SubjectPublicKeyInfo, since apiserver key files may be PKCS#1. */
export function spkiFromPkcs1(pkcs1Der: Uint8Array): Uint8Array<ArrayBuffer> {
  // A BIT STRING starts with the count of unused bits, always zero for a whole DER structure.
  return encodeTlv(
    tag.sequence,
    concat(rsaAlgorithmId(), encodeTlv(tag.bitString, concat(new Uint8Array([0]), pkcs1Der))),
  );
}

/** Wraps a PKCS#1 RSAPrivateKey (`RSA PRIVATE KEY`, the seed's format) into PKCS#8, which WebCrypto imports. */
export function pkcs8FromPkcs1(pkcs1Der: Uint8Array): Uint8Array<ArrayBuffer> {
  return encodeTlv(
    tag.sequence,
    concat(encodeTlv(tag.integer, [0]), rsaAlgorithmId(), encodeTlv(tag.octetString, pkcs1Der)),
  );
}

/** Wraps a SEC 1 ECPrivateKey (`EC PRIVATE KEY`, OpenSSL's default) for P-256 into PKCS#8. */
export function pkcs8FromSec1(sec1Der: Uint8Array): Uint8Array<ArrayBuffer> {
  return encodeTlv(
    tag.sequence,
    concat(encodeTlv(tag.integer, [0]), ecAlgorithmId(), encodeTlv(tag.octetString, sec1Der)),
  );
}

// ---- WebCrypto -----------------------------------------------------------------------------------------------

function importParams(alg: SigningAlgorithm): RsaHashedImportParams | EcKeyImportParams {
  return alg === "RS256" ? { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } : { name: "ECDSA", namedCurve: "P-256" };
}

/** The signature algorithm of a DER SubjectPublicKeyInfo; throws for key types kube-apiserver cannot use here. */
export function spkiAlgorithm(spkiDer: Uint8Array): SigningAlgorithm {
  const what = "public key";
  const root = readTlv(spkiDer, 0, what);
  if (root.tag !== tag.sequence) throw invalid("InvalidKey", `Malformed DER in ${what}`);
  return algorithmOf(spkiDer, children(spkiDer, root, what)[0], what);
}

/** The signature algorithm of a DER PKCS#8 PrivateKeyInfo. */
export function pkcs8Algorithm(pkcs8Der: Uint8Array): SigningAlgorithm {
  const what = "private key";
  const root = readTlv(pkcs8Der, 0, what);
  if (root.tag !== tag.sequence) throw invalid("InvalidKey", `Malformed DER in ${what}`);
  return algorithmOf(pkcs8Der, children(pkcs8Der, root, what)[1], what);
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
