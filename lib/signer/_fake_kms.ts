// An in-memory KmsPort over WebCrypto RSA keys, for unit tests of the signer. Switches make it fail like AWS,
// hang like a stuck connection, or sign with the wrong key like a misconfigured alias.
import type { KmsPort, KmsPublicKey } from "../aws/kms_port.ts";
import { kmsRs256 } from "../aws/kms_port.ts";
import { awsError } from "../aws/sdk_errors.ts";

/** How a fake key describes itself; the defaults make a usable RSA_2048 signing key. */
export interface FakeKeyOptions {
  keySpec?: string;
  keyUsage?: string;
  signingAlgorithms?: string[];
  /** Reuse a key pair (generating RSA keys is slow); a new 2048-bit pair otherwise. */
  pair?: CryptoKeyPair;
}

interface FakeKey {
  arn: string;
  pair: CryptoKeyPair;
  description: Omit<KmsPublicKey, "spkiDer" | "keyId">;
}

/** A new RSA key pair that can sign and be exported, as KMS's RSA_2048 keys are. */
export function fakeKeyPair(modulusLength = 2048): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["sign", "verify"],
  );
}

/** The IrsaError kmsPort throws for an AWS error `code` with HTTP `status`. */
export function fakeAwsError(code: string, status = 400, operation = "kms:Sign", target = "the key"): Error {
  const sdk = Object.assign(new Error(`${code} from the fake`), { name: code, $metadata: { httpStatusCode: status } });
  return awsError(sdk, operation, target);
}

export class FakeKms implements KmsPort {
  /** Every call fails with this error while set. */
  failWith: Error | undefined;
  /** sign() never answers while set, and ignores its signal. */
  hang = false;
  /** sign() signs with this key (an alias or ARN) instead of the one asked for, while set. */
  signWithKeyOf: string | undefined;
  /** The sign() calls, in order. */
  readonly signCalls: { keyId: string; message: Uint8Array; signal: AbortSignal | undefined }[] = [];
  private readonly keys = new Map<string, FakeKey>();
  private serial = 0;

  /** Adds a key found by `alias` and by its ARN, which it returns. */
  async addKey(alias: string, options: FakeKeyOptions = {}): Promise<string> {
    const id = `0000000${++this.serial}-1111-2222-3333-444444444444`.slice(-36);
    const key: FakeKey = {
      arn: `arn:aws:kms:us-east-1:111122223333:key/${id}`,
      pair: options.pair ?? await fakeKeyPair(),
      description: {
        keySpec: options.keySpec ?? "RSA_2048",
        keyUsage: options.keyUsage ?? "SIGN_VERIFY",
        signingAlgorithms: options.signingAlgorithms ?? ["RSASSA_PSS_SHA_256", kmsRs256],
      },
    };
    this.keys.set(alias, key);
    this.keys.set(key.arn, key);
    return key.arn;
  }

  private key(keyId: string, operation: string): FakeKey {
    if (this.failWith) throw this.failWith;
    const key = this.keys.get(keyId);
    if (!key) throw fakeAwsError("NotFoundException", 400, operation, keyId);
    return key;
  }

  async publicKey(keyId: string): Promise<KmsPublicKey> {
    const key = this.key(keyId, "kms:GetPublicKey");
    const spkiDer = new Uint8Array(await crypto.subtle.exportKey("spki", key.pair.publicKey));
    return { keyId: key.arn, spkiDer, ...key.description, signingAlgorithms: [...key.description.signingAlgorithms] };
  }

  async sign(keyId: string, message: Uint8Array, options: { signal?: AbortSignal }): Promise<Uint8Array> {
    this.signCalls.push({ keyId, message, signal: options.signal });
    if (this.hang) return new Promise<never>(() => {});
    let key = this.key(keyId, "kms:Sign");
    if (this.signWithKeyOf !== undefined) key = this.key(this.signWithKeyOf, "kms:Sign");
    const data = new Uint8Array(message);
    return new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", key.pair.privateKey, data));
  }
}
