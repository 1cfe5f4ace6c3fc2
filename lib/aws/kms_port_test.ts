import { deepStrictEqual, equal, rejects } from "node:assert/strict";
import { isIrsaError } from "../errors.ts";
import type { AwsClients } from "./clients.ts";
import { kmsPort, kmsRawMessageLimit } from "./kms_port.ts";

type Sent = { name: string; input: Record<string, unknown>; options: unknown };

/** AwsClients whose KMS client records each command and answers with `reply`. */
function clientsAnswering(reply: (c: Sent) => unknown): { clients: AwsClients; sent: Sent[] } {
  const sent: Sent[] = [];
  const kms = {
    send(command: { constructor: { name: string }; input: Record<string, unknown> }, options: unknown) {
      const c = { name: command.constructor.name, input: command.input, options };
      sent.push(c);
      return Promise.resolve().then(() => reply(c));
    },
  };
  return { clients: { kms: () => Promise.resolve(kms) } as unknown as AwsClients, sent };
}

Deno.test("kmsPort().publicKey() returns the key ARN, DER and what the key may do", async () => {
  const der = Uint8Array.of(0x30, 0x00);
  const { clients, sent } = clientsAnswering(() => ({
    KeyId: "arn:aws:kms:us-east-1:111122223333:key/k",
    PublicKey: der,
    KeySpec: "RSA_2048",
    KeyUsage: "SIGN_VERIFY",
    SigningAlgorithms: ["RSASSA_PKCS1_V1_5_SHA_256"],
  }));
  deepStrictEqual(await kmsPort(clients).publicKey("alias/signer"), {
    keyId: "arn:aws:kms:us-east-1:111122223333:key/k",
    spkiDer: der,
    keySpec: "RSA_2048",
    keyUsage: "SIGN_VERIFY",
    signingAlgorithms: ["RSASSA_PKCS1_V1_5_SHA_256"],
  });
  equal(sent[0]!.name, "GetPublicKeyCommand");
  deepStrictEqual(sent[0]!.input, { KeyId: "alias/signer" });
});

Deno.test("kmsPort().sign() sends a short message RAW and a long one as its SHA-256 digest", async () => {
  const { clients, sent } = clientsAnswering(() => ({ Signature: Uint8Array.of(9) }));
  const port = kmsPort(clients);
  const signal = new AbortController().signal;
  const short = new Uint8Array(kmsRawMessageLimit).fill(1);
  deepStrictEqual(await port.sign("k", short, { signal }), Uint8Array.of(9));
  deepStrictEqual(sent[0]!.input, {
    KeyId: "k",
    Message: short,
    MessageType: "RAW",
    SigningAlgorithm: "RSASSA_PKCS1_V1_5_SHA_256",
  });
  deepStrictEqual(sent[0]!.options, { abortSignal: signal });
  const long = new Uint8Array(kmsRawMessageLimit + 1).fill(1);
  await port.sign("k", long, {});
  equal(sent[1]!.input.MessageType, "DIGEST");
  deepStrictEqual(sent[1]!.input.Message, new Uint8Array(await crypto.subtle.digest("SHA-256", long)));
});

Deno.test("kmsPort() turns SDK errors into IrsaErrors naming the call and the key", async () => {
  const denied = Object.assign(new Error("not allowed"), {
    name: "AccessDeniedException",
    $metadata: { httpStatusCode: 400 },
  });
  const { clients } = clientsAnswering(() => {
    throw denied;
  });
  await rejects(kmsPort(clients).sign("alias/signer", Uint8Array.of(1), {}), (e) => {
    return isIrsaError(e, "denied") && e.reason === "AccessDeniedException" &&
      e.message.startsWith("kms:Sign on alias/signer failed");
  });
  await rejects(kmsPort(clients).publicKey("alias/signer"), (e) => isIrsaError(e, "denied"));
});
