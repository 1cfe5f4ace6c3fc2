// The ExternalJWTSigner service (KEP-740) over KMS: kube-apiserver sends the claims, KMS signs, and the apiserver
// assembles the token. Every signature is checked against the cached public key before it is answered, so a KMS
// key swapped behind an alias can never hand out tokens that nobody can verify.
import { type KmsPort, kmsRs256 } from "../aws/kms_port.ts";
import { sdkErrorCode } from "../aws/sdk_errors.ts";
import { invalid, IrsaError } from "../errors.ts";
import { base64Url, jwkFromSpki, keyIdFromSpki } from "../keys.ts";
import type { GrpcHandlers } from "./grpc_server.ts";
import { GrpcError, grpcStatus } from "./grpc_status.ts";
import {
  decodeEmpty,
  decodeSignJwtRequest,
  encodeFetchKeysResponse,
  encodeMetadataResponse,
  encodeSignJwtResponse,
} from "./protobuf.ts";

/** The method paths of service v1.ExternalJWTSigner. */
export const signerMethods = {
  sign: "/v1.ExternalJWTSigner/Sign",
  fetchKeys: "/v1.ExternalJWTSigner/FetchKeys",
  metadata: "/v1.ExternalJWTSigner/Metadata",
} as const;

/** One KMS key as the signer uses it. */
export interface SignerKey {
  /** The key ARN, as KMS names it. */
  kmsKeyId: string;
  /** The token header's kid: the same value kube-apiserver computes for a key file. */
  kid: string;
  /** Canonical DER SPKI, as published by FetchKeys. */
  spkiDer: Uint8Array;
  /** For checking KMS's signatures. */
  verifyKey: CryptoKey;
}

/** A public key that only verifies: the apiserver's key file before the switch to the signer. */
export interface VerifyOnlyKey {
  kid: string;
  spkiDer: Uint8Array;
}

/** The keys of a signer: the first signs, the others are listed so tokens they signed still verify. */
export interface SignerKeys {
  keys: [SignerKey, ...SignerKey[]];
  /** Listed by FetchKeys after the KMS keys; never sign. */
  verifyOnly?: VerifyOnlyKey[];
  /** When the keys were read, FetchKeys' data_timestamp. */
  loadedAt: Date;
}

/** One Sign call, for logs and metrics. */
export interface SignEvent {
  kid: string;
  ms: number;
  ok: boolean;
  /** The first line of the failure. */
  error?: string;
}

export interface SignerOptions {
  /** Metadata's max_token_expiration_seconds; the apiserver wants at least 600. */
  maxTokenExpirationSeconds: number;
  /** How soon the apiserver fetches the keys again. */
  refreshHintSeconds: number;
  /** How long one KMS Sign may take; default 2000 ms. */
  kmsTimeoutMs?: number;
  /** Clock for the duration of Sign calls. */
  now(): Date;
  onSign?(event: SignEvent): void;
}

const usableKeySpecs = ["RSA_2048", "RSA_3072", "RSA_4096"];
const rs256 = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;

/**
 * Reads every key's public key from KMS and checks that it can sign RS256 tokens. Throws IrsaError invalid
 * `KmsKeyNotUsable` naming the key and what is wrong, or the KMS failure (denied, not found, unavailable).
 */
export async function loadSignerKeys(
  kms: KmsPort,
  keyIds: string[],
  options: { now?: () => Date } = {},
): Promise<SignerKeys> {
  if (keyIds.length === 0) throw invalid("NoKmsKey", "No KMS key to sign with");
  const keys = await Promise.all(keyIds.map((id) => loadKey(kms, id)));
  const seen = new Map<string, string>();
  for (const k of keys) {
    const other = seen.get(k.kid);
    if (other !== undefined) {
      throw invalid("DuplicateKmsKey", `KMS keys ${other} and ${k.kmsKeyId} have the same public key; list it once`);
    }
    seen.set(k.kid, k.kmsKeyId);
  }
  return { keys: keys as SignerKeys["keys"], loadedAt: (options.now ?? (() => new Date()))() };
}

/** A verify-only key from its DER SPKI, with the kid kube-apiserver gives the same key in a key file. */
export async function verifyOnlyKey(spki: Uint8Array): Promise<VerifyOnlyKey> {
  return { kid: (await jwkFromSpki(spki)).kid, spkiDer: spki };
}

async function loadKey(kms: KmsPort, keyId: string): Promise<SignerKey> {
  const pub = await kms.publicKey(keyId);
  const problems: string[] = [];
  if (!usableKeySpecs.includes(pub.keySpec)) {
    problems.push(`its key spec is ${pub.keySpec || "unknown"}, not one of ${usableKeySpecs.join(", ")}`);
  }
  if (pub.keyUsage !== "SIGN_VERIFY") problems.push(`its key usage is ${pub.keyUsage || "unknown"}, not SIGN_VERIFY`);
  if (!pub.signingAlgorithms.includes(kmsRs256)) problems.push(`it does not allow ${kmsRs256}`);
  const unusable = (what: string) =>
    invalid("KmsKeyNotUsable", `KMS key ${pub.keyId} cannot sign service-account tokens: ${what}`);
  if (problems.length > 0) throw unusable(problems.join("; "));
  let verifyKey: CryptoKey;
  let spkiDer: Uint8Array;
  try {
    const key = await crypto.subtle.importKey("spki", new Uint8Array(pub.spkiDer), rs256, true, ["verify"]);
    // Re-exported so the kid is hashed over the same canonical DER as kube-apiserver's for a file key.
    spkiDer = new Uint8Array(await crypto.subtle.exportKey("spki", key));
    verifyKey = key;
  } catch {
    throw unusable("its public key is not an RSA key");
  }
  return { kmsKeyId: pub.keyId, kid: await keyIdFromSpki(spkiDer), spkiDer, verifyKey };
}

/** The three gRPC handlers of the signer, by method path. Throws IrsaError invalid for unusable options. */
export function signerHandlers(keys: SignerKeys, kms: KmsPort, options: SignerOptions): GrpcHandlers {
  const { maxTokenExpirationSeconds: maxExpiry, refreshHintSeconds: refreshHint } = options;
  if (!Number.isSafeInteger(maxExpiry) || maxExpiry < 600) {
    throw invalid("InvalidSignerOption", `The longest token lifetime must be at least 600 seconds, not ${maxExpiry}`);
  }
  if (!Number.isSafeInteger(refreshHint) || refreshHint <= 0) {
    throw invalid(
      "InvalidSignerOption",
      `The key refresh interval must be a positive number of seconds, not ${refreshHint}`,
    );
  }
  const listed = [...keys.keys, ...(keys.verifyOnly ?? [])].filter((k, i, all) =>
    all.findIndex((o) => o.kid === k.kid) === i
  );
  const fetchKeys = encodeFetchKeysResponse({
    keys: listed.map((k) => ({ keyId: k.kid, key: k.spkiDer, excludeFromOidcDiscovery: false })),
    dataTimestamp: timestampOf(keys.loadedAt),
    refreshHintSeconds: BigInt(refreshHint),
  });
  const metadata = encodeMetadataResponse({ maxTokenExpirationSeconds: BigInt(maxExpiry) });
  const signer = keys.keys[0];
  const header = base64Url(new TextEncoder().encode(JSON.stringify({ alg: "RS256", kid: signer.kid, typ: "JWT" })));
  const timeoutMs = options.kmsTimeoutMs ?? 2000;

  return {
    [signerMethods.sign]: async (request, signal) => {
      const { claims } = decodeRequest(() => decodeSignJwtRequest(request), "SignJWTRequest");
      checkClaims(claims);
      const input = new TextEncoder().encode(`${header}.${claims}`);
      const started = options.now().getTime();
      const report = (ok: boolean, error?: string) =>
        options.onSign?.({
          kid: signer.kid,
          ms: options.now().getTime() - started,
          ok,
          ...(error === undefined ? {} : { error }),
        });
      try {
        const signature = await signWithin(kms, signer, input, { signal, timeoutMs });
        report(true);
        return encodeSignJwtResponse({ header, signature: base64Url(signature) });
      } catch (e) {
        const failure = e instanceof SignFailure ? e : new SignFailure(codeOf(e), e);
        report(false, failure.detail);
        if (signal.aborted) throw new GrpcError(grpcStatus.cancelled, "The request was cancelled");
        // UNAVAILABLE: the apiserver fails this token request and the next one may succeed.
        throw new GrpcError(grpcStatus.unavailable, `KMS key ${signer.kmsKeyId} could not sign: ${failure.code}`);
      }
    },
    // A throw inside the executor becomes a rejection, as the handler contract wants.
    [signerMethods.fetchKeys]: (request) =>
      new Promise((resolve) => {
        decodeRequest(() => decodeEmpty(request), "FetchKeysRequest");
        resolve(fetchKeys);
      }),
    [signerMethods.metadata]: (request) =>
      new Promise((resolve) => {
        decodeRequest(() => decodeEmpty(request), "MetadataRequest");
        resolve(metadata);
      }),
  };
}

/** A failed signature: `code` for the answer (an AWS error code or our own word), `detail` for logs. */
class SignFailure extends Error {
  readonly code: string;
  readonly detail: string;
  constructor(code: string, cause?: unknown) {
    const detail = cause instanceof Error ? cause.message.split("\n")[0]! : code;
    super(detail, cause === undefined ? undefined : { cause });
    this.code = code;
    this.detail = detail;
  }
}

async function signWithin(
  kms: KmsPort,
  key: SignerKey,
  input: Uint8Array,
  options: { signal: AbortSignal; timeoutMs: number },
): Promise<Uint8Array> {
  const controller = new AbortController();
  const abort = () => controller.abort(options.signal.reason);
  options.signal.addEventListener("abort", abort, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  // Raced as well as passed on: a port that ignores its signal must not hold the apiserver's request.
  const deadline = new Promise<never>((_, reject) => {
    const stop = () => reject(new SignFailure(`Timeout after ${options.timeoutMs} ms`));
    timer = setTimeout(() => {
      stop();
      controller.abort();
    }, options.timeoutMs);
    controller.signal.addEventListener("abort", () => reject(new SignFailure("Cancelled")), { once: true });
  });
  try {
    const signature = await Promise.race([kms.sign(key.kmsKeyId, input, { signal: controller.signal }), deadline]);
    if (!await verifies(key.verifyKey, signature, input)) {
      throw new SignFailure(
        "InvalidSignature (it does not verify with the key's public key)",
        new Error("KMS returned a signature that does not verify with the key's public key"),
      );
    }
    return signature;
  } finally {
    clearTimeout(timer);
    options.signal.removeEventListener("abort", abort);
  }
}

async function verifies(key: CryptoKey, signature: Uint8Array, data: Uint8Array): Promise<boolean> {
  try {
    return await crypto.subtle.verify(rs256, key, new Uint8Array(signature), new Uint8Array(data));
  } catch {
    return false;
  }
}

function codeOf(e: unknown): string {
  const code = e instanceof IrsaError ? e.reason : sdkErrorCode(e).code;
  // A network failure has no service code, only Node's errno (ECONNREFUSED, ...), which says more than "Error".
  const errno = ((e instanceof IrsaError ? e.cause : e) as { code?: unknown } | undefined)?.code;
  return code === "Error" && typeof errno === "string" ? errno : code;
}

function decodeRequest<T>(decode: () => T, name: string): T {
  try {
    return decode();
  } catch (e) {
    // grpc-go answers a request it cannot unmarshal with INTERNAL too.
    throw new GrpcError(grpcStatus.internal, `Cannot decode ${name}: ${(e as Error).message}`);
  }
}

/** The claims must be unpadded base64url of a JSON object: the signer signs tokens, not arbitrary bytes. */
function checkClaims(claims: string): void {
  const bad = (why: string) => new GrpcError(grpcStatus.invalidArgument, `The claims ${why}`);
  if (claims === "") throw bad("are empty");
  if (!/^[A-Za-z0-9_-]+$/.test(claims) || claims.length % 4 === 1) throw bad("are not unpadded base64url");
  let parsed: unknown;
  try {
    const binary = atob(claims.replace(/-/g, "+").replace(/_/g, "/"));
    parsed = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))),
    );
  } catch {
    throw bad("are not base64url-encoded JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw bad("are not a JSON object");
}

function timestampOf(date: Date): { seconds: bigint; nanos: number } {
  const ms = date.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds: BigInt(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}
