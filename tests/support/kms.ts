// KMS signing keys for the signer tests, made in moto, and their kids computed without kubectl-irsa's code.
import type { KMSClient } from "@aws-sdk/client-kms";
import { CreateKeyCommand, GetPublicKeyCommand } from "@aws-sdk/client-kms";

/** The kid Kubernetes gives an RSA key: base64url(SHA-256(DER SPKI)). */
export async function kubernetesKid(spki: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", spki.slice().buffer));
  return btoa(String.fromCharCode(...digest)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Creates an RSA_2048 SIGN_VERIFY key; returns its ID and the kid of its public key. */
export async function createSigningKey(kms: KMSClient): Promise<{ keyId: string; kid: string }> {
  const keyId = (await kms.send(new CreateKeyCommand({ KeySpec: "RSA_2048", KeyUsage: "SIGN_VERIFY" }))).KeyMetadata!
    .KeyId!;
  const kid = await kubernetesKid((await kms.send(new GetPublicKeyCommand({ KeyId: keyId }))).PublicKey!);
  return { keyId, kid };
}
