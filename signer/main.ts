// `kubectl irsa signer`: kube-apiserver's external token signer, beside it on each control-plane node. It reads
// the KMS keys' public halves once, then signs every token through KMS; SIGTERM stops accepting and lets calls in
// flight finish. The private key never exists here.
import { readCaBundle } from "../lib/aws/ca_bundle.ts";
import { awsConfigFromEnv, createAwsClients } from "../lib/aws/clients.ts";
import { CallLog } from "../lib/aws/call_log.ts";
import { kmsPort } from "../lib/aws/kms_port.ts";
import { pemBlocks, pemEncode, publicPemFromPrivatePem, spkiFromPem } from "../lib/keys.ts";
import { serveGrpc } from "../lib/signer/grpc_server.ts";
import { loadSignerKeys, signerHandlers, verifyOnlyKey } from "../lib/signer/service.ts";
import { jsonLogger } from "../daemon/log.ts";
import { parseSignerOptions } from "./options.ts";

/** Runs the signer until SIGTERM/SIGINT; returns the exit code. */
export async function runSigner(argv: string[]): Promise<number> {
  let options;
  try {
    options = parseSignerOptions(argv, Deno.env);
  } catch (e) {
    console.error(`error: ${(e as Error).message}\nSee 'kubectl irsa signer --help'`);
    return 2;
  }
  const log = jsonLogger(options.logLevel);
  const config = awsConfigFromEnv(Deno.env);
  // One attempt's deadline is the whole call's: a retry after it could only answer a request already failed.
  config.requestTimeoutMs = options.kmsTimeoutMs;
  let aws;
  try {
    if (options.awsCaBundlePath !== undefined) config.caBundlePem = await readCaBundle(options.awsCaBundlePath);
    aws = await createAwsClients(config, new CallLog({ retain: false }));
  } catch (e) {
    log.error("Cannot set up AWS", { error: e });
    return 1;
  }
  try {
    const kms = kmsPort(aws);
    let keys;
    try {
      keys = await loadSignerKeys(kms, options.kmsKeys);
    } catch (e) {
      log.error("Cannot use the KMS keys", { error: e, keys: options.kmsKeys });
      return 1;
    }
    const verifyOnly = [];
    for (const path of options.verifyKeyFiles) {
      try {
        verifyOnly.push(...await keysOfFile(path));
      } catch (e) {
        log.error("Cannot read a verification key file", { path, error: e });
        return 1;
      }
    }
    const handlers = signerHandlers({ ...keys, verifyOnly }, kms, {
      maxTokenExpirationSeconds: options.maxTokenExpirationSeconds,
      refreshHintSeconds: options.refreshHintSeconds,
      kmsTimeoutMs: options.kmsTimeoutMs,
      now: () => new Date(),
      onSign: (e) =>
        e.ok ? log.debug("Signed", { kid: e.kid, ms: e.ms }) : log.warn("Sign failed", {
          kid: e.kid,
          ms: e.ms,
          error: e.error,
        }),
    });
    const server = await serveGrpc(options.socket, handlers, {
      onError: (method, error) => log.error("Request failed", { method, error }),
    });
    log.info("Serving the external token signer", {
      socket: options.socket,
      signingKid: keys.keys[0].kid,
      signingKey: keys.keys[0].kmsKeyId,
      kids: [...keys.keys.map((k) => k.kid), ...verifyOnly.map((k) => k.kid)],
    });
    const stopped = Promise.withResolvers<string>();
    for (const signal of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(signal, () => stopped.resolve(signal));
    log.info("Shutting down", { signal: await stopped.promise });
    await server.close();
    return 0;
  } finally {
    aws.destroy();
  }
}

/** The public keys of a PEM file, public or private (kube-apiserver's key files may hold either). */
async function keysOfFile(path: string) {
  const text = await Deno.readTextFile(path);
  const out = [];
  for (const block of pemBlocks(text)) {
    const pem = pemEncode(block.label, block.der);
    const publicPem = block.label.includes("PRIVATE") ? await publicPemFromPrivatePem(pem) : pem;
    out.push(await verifyOnlyKey(spkiFromPem(publicPem)));
  }
  if (out.length === 0) throw new Error(`${path} holds no PEM key`);
  return out;
}
