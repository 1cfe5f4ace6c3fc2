// KMS for the external signer: read an asymmetric key's public half and have KMS sign with the private half,
// which never leaves KMS.
import type { AwsClients } from "./clients.ts";
import { awsError } from "./sdk_errors.ts";

/** What GetPublicKey says about a key. */
export interface KmsPublicKey {
  /** The key ARN, whatever alias or ID was asked for. */
  keyId: string;
  /** DER SubjectPublicKeyInfo. */
  spkiDer: Uint8Array;
  /** RSA_2048, ECC_NIST_P256, ... */
  keySpec: string;
  /** SIGN_VERIFY, ENCRYPT_DECRYPT, ... */
  keyUsage: string;
  signingAlgorithms: string[];
}

/** Thin port over KMS; failures are IrsaErrors from awsError. */
export interface KmsPort {
  publicKey(keyId: string): Promise<KmsPublicKey>;
  /** An RSASSA-PKCS1-v1_5 SHA-256 signature of `message`. */
  sign(keyId: string, message: Uint8Array, options: { signal?: AbortSignal }): Promise<Uint8Array>;
}

/** The signing algorithm of RS256. */
export const kmsRs256 = "RSASSA_PKCS1_V1_5_SHA_256";

/** KMS signs a RAW message of at most this many bytes; a longer one must be sent as its digest. */
export const kmsRawMessageLimit = 4096;

/** The SDK implementation. */
export function kmsPort(clients: AwsClients): KmsPort {
  const sdk = () => import("@aws-sdk/client-kms");
  return {
    async publicKey(keyId) {
      const { GetPublicKeyCommand } = await sdk();
      try {
        const out = await (await clients.kms()).send(new GetPublicKeyCommand({ KeyId: keyId }));
        if (!out.PublicKey) throw new Error("KMS returned no public key");
        return {
          keyId: out.KeyId ?? keyId,
          spkiDer: out.PublicKey,
          keySpec: out.KeySpec ?? out.CustomerMasterKeySpec ?? "",
          keyUsage: out.KeyUsage ?? "",
          signingAlgorithms: out.SigningAlgorithms ?? [],
        };
      } catch (e) {
        throw awsError(e, "kms:GetPublicKey", keyId);
      }
    },

    async sign(keyId, message, { signal }) {
      const { SignCommand } = await sdk();
      // RAW keeps the request readable to emulators (moto implements RAW only); tokens are far below the limit.
      const raw = message.length <= kmsRawMessageLimit;
      const body = raw ? message : new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(message)));
      try {
        const out = await (await clients.kms()).send(
          new SignCommand({
            KeyId: keyId,
            Message: body,
            MessageType: raw ? "RAW" : "DIGEST",
            SigningAlgorithm: kmsRs256,
          }),
          signal === undefined ? {} : { abortSignal: signal },
        );
        if (!out.Signature) throw new Error("KMS returned no signature");
        return out.Signature;
      } catch (e) {
        throw awsError(e, "kms:Sign", keyId);
      }
    },
  };
}
