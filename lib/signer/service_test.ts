import { deepStrictEqual, equal, match, ok, rejects } from "node:assert/strict";
import { decodeProtectedHeader, importJWK, jwtVerify } from "jose";
import { isIrsaError } from "../errors.ts";
import { base64Url, jwkFromSpki, keyIdFromSpki } from "../keys.ts";
import { fakeAwsError, fakeKeyPair, FakeKms } from "./_fake_kms.ts";
import { grpcUnary } from "./grpc_client.ts";
import { serveGrpc } from "./grpc_server.ts";
import { GrpcError, grpcStatus } from "./grpc_status.ts";
import {
  decodeFetchKeysResponse,
  decodeMetadataResponse,
  decodeSignJwtResponse,
  encodeEmpty,
  encodeSignJwtRequest,
} from "./protobuf.ts";
import { signerHandlers, type SignerKeys, signerMethods, type SignerOptions, type SignEvent } from "./service.ts";
import { loadSignerKeys } from "./service.ts";

// Generating RSA keys is slow: every test shares these two pairs.
const pairA = await fakeKeyPair();
const pairB = await fakeKeyPair();
const loadedAt = new Date("2026-01-02T03:04:05.678Z");
const claims = { iss: "https://issuer.example", sub: "system:serviceaccount:default:app", aud: ["sts.amazonaws.com"] };
const claimsB64 = base64Url(new TextEncoder().encode(JSON.stringify(claims)));

async function setup(options: Partial<SignerOptions> = {}, extraKeys = 0) {
  const kms = new FakeKms();
  const arns = [await kms.addKey("alias/signer", { pair: pairA })];
  if (extraKeys > 0) arns.push(await kms.addKey("alias/previous", { pair: pairB }));
  const keys = await loadSignerKeys(kms, ["alias/signer", ...(extraKeys > 0 ? ["alias/previous"] : [])], {
    now: () => loadedAt,
  });
  const events: SignEvent[] = [];
  const handlers = signerHandlers(keys, kms, {
    maxTokenExpirationSeconds: 86400,
    refreshHintSeconds: 300,
    now: () => new Date(),
    onSign: (e) => events.push(e),
    ...options,
  });
  const call = (method: string, body: Uint8Array, signal = new AbortController().signal) =>
    handlers[method]!(body, signal);
  const sign = async (c = claimsB64) =>
    decodeSignJwtResponse(await call(signerMethods.sign, encodeSignJwtRequest({ claims: c })));
  return { kms, arns, keys, events, call, sign };
}

const grpcCode = (code: number, pattern?: RegExp) => (e: unknown) =>
  e instanceof GrpcError && e.code === code && (pattern === undefined || pattern.test(e.message));

async function spkiOf(pair: CryptoKeyPair): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
}

Deno.test("loadSignerKeys() reads each key's ARN and computes the kid the apiserver would", async () => {
  const { keys, arns } = await setup({}, 1);
  equal(keys.keys.length, 2);
  equal(keys.keys[0].kmsKeyId, arns[0]);
  equal(keys.keys[1]!.kmsKeyId, arns[1]);
  equal(keys.keys[0].kid, (await jwkFromSpki(await spkiOf(pairA))).kid);
  equal(keys.keys[0].kid, await keyIdFromSpki(await spkiOf(pairA)));
  equal(keys.loadedAt, loadedAt);
});

Deno.test("Sign answers a header and signature that make a token jose verifies", async () => {
  const { sign, keys, events, kms, arns } = await setup();
  const { header, signature } = await sign();
  const token = `${header}.${claimsB64}.${signature}`;
  deepStrictEqual(JSON.parse(atob(header.replace(/-/g, "+").replace(/_/g, "/"))), {
    alg: "RS256",
    kid: keys.keys[0].kid,
    typ: "JWT",
  });
  const jwk = await jwkFromSpki(await spkiOf(pairA));
  equal(decodeProtectedHeader(token).kid, jwk.kid);
  const { payload } = await jwtVerify(token, await importJWK(jwk, "RS256"), { issuer: claims.iss });
  equal(payload.sub, claims.sub);
  equal(kms.signCalls[0]!.keyId, arns[0]);
  equal(new TextDecoder().decode(kms.signCalls[0]!.message), `${header}.${claimsB64}`);
  equal(events.length, 1);
  equal(events[0]!.ok, true);
  equal(events[0]!.kid, keys.keys[0].kid);
});

Deno.test("during a rotation Sign uses the first key and FetchKeys lists both", async () => {
  const { sign, call, keys } = await setup({}, 1);
  const { header, signature } = await sign();
  const token = `${header}.${claimsB64}.${signature}`;
  const [jwkA, jwkB] = [await jwkFromSpki(await spkiOf(pairA)), await jwkFromSpki(await spkiOf(pairB))];
  equal(decodeProtectedHeader(token).kid, jwkA.kid);
  await jwtVerify(token, await importJWK(jwkA, "RS256"));
  await rejects(jwtVerify(token, await importJWK(jwkB, "RS256")));

  const fetched = decodeFetchKeysResponse(await call(signerMethods.fetchKeys, encodeEmpty()));
  deepStrictEqual(fetched.keys.map((k) => k.keyId), [jwkA.kid, jwkB.kid]);
  deepStrictEqual(fetched.keys.map((k) => k.excludeFromOidcDiscovery), [false, false]);
  deepStrictEqual(fetched.keys[1]!.key, keys.keys[1]!.spkiDer);
  equal((await jwkFromSpki(fetched.keys[0]!.key)).kid, jwkA.kid);
  deepStrictEqual(fetched.dataTimestamp, { seconds: 1767323045n, nanos: 678_000_000 });
  equal(fetched.refreshHintSeconds, 300n);
});

Deno.test("Metadata answers the longest token lifetime", async () => {
  const { call } = await setup({ maxTokenExpirationSeconds: 7200 });
  equal(decodeMetadataResponse(await call(signerMethods.metadata, encodeEmpty())).maxTokenExpirationSeconds, 7200n);
});

Deno.test("Sign answers UNAVAILABLE naming the key and the AWS error code when KMS fails", async () => {
  const { sign, kms, arns, events } = await setup();
  kms.failWith = fakeAwsError("AccessDeniedException", 400, "kms:Sign", arns[0]!);
  await rejects(
    sign(),
    grpcCode(grpcStatus.unavailable, new RegExp(`^KMS key ${arns[0]} could not sign: AccessDeniedException$`)),
  );
  equal(events[0]!.ok, false);
  match(events[0]!.error!, /kms:Sign on .* failed: AccessDeniedException/);
});

Deno.test("Sign answers UNAVAILABLE within its timeout when KMS hangs", async () => {
  const { sign, kms, arns } = await setup({ kmsTimeoutMs: 100 });
  kms.hang = true;
  const started = Date.now();
  await rejects(
    sign(),
    grpcCode(grpcStatus.unavailable, new RegExp(`${arns[0]} could not sign: Timeout after 100 ms`)),
  );
  ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`);
  ok(kms.signCalls[0]!.signal?.aborted, "the KMS call's signal is aborted");
});

Deno.test("Sign answers UNAVAILABLE when KMS returns a signature by another key", async () => {
  const { sign, kms } = await setup({}, 1);
  kms.signWithKeyOf = "alias/previous";
  await rejects(sign(), grpcCode(grpcStatus.unavailable, /could not sign: InvalidSignature/));
});

Deno.test("Sign answers CANCELLED when the apiserver gives up first", async () => {
  const { call, kms } = await setup();
  kms.hang = true;
  const controller = new AbortController();
  const pending = call(signerMethods.sign, encodeSignJwtRequest({ claims: claimsB64 }), controller.signal);
  controller.abort();
  await rejects(pending, grpcCode(grpcStatus.cancelled));
});

Deno.test("Sign refuses claims that are not base64url JSON with INVALID_ARGUMENT", async (t) => {
  const { sign, kms } = await setup();
  const cases: [string, string][] = [
    ["empty", ""],
    ["padded", `${claimsB64}=`],
    ["standard base64", "a+b/"],
    ["an impossible length", "abcde"],
    ["not JSON", base64Url(new TextEncoder().encode("hello"))],
    ["a JSON array", base64Url(new TextEncoder().encode("[1]"))],
  ];
  for (const [name, c] of cases) {
    await t.step(name, () => rejects(sign(c), grpcCode(grpcStatus.invalidArgument)));
  }
  equal(kms.signCalls.length, 0);
});

Deno.test("the handlers answer INTERNAL for a request they cannot decode", async () => {
  const { call } = await setup();
  await rejects(call(signerMethods.sign, Uint8Array.of(0x0a, 0x05)), grpcCode(grpcStatus.internal, /SignJWTRequest/));
  await rejects(call(signerMethods.fetchKeys, Uint8Array.of(0x0f)), grpcCode(grpcStatus.internal));
});

Deno.test("loadSignerKeys() rejects a KMS key that cannot sign RS256 tokens", async (t) => {
  const cases: { name: string; options: Parameters<FakeKms["addKey"]>[1]; want: RegExp }[] = [
    { name: "an EC key spec", options: { keySpec: "ECC_NIST_P256" }, want: /key spec is ECC_NIST_P256/ },
    { name: "a symmetric key", options: { keySpec: "SYMMETRIC_DEFAULT" }, want: /key spec is SYMMETRIC_DEFAULT/ },
    { name: "an encryption key", options: { keyUsage: "ENCRYPT_DECRYPT" }, want: /key usage is ENCRYPT_DECRYPT/ },
    {
      name: "PSS only",
      options: { signingAlgorithms: ["RSASSA_PSS_SHA_256"] },
      want: /does not allow RSASSA_PKCS1_V1_5_SHA_256/,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const kms = new FakeKms();
      const arn = await kms.addKey("alias/bad", { pair: pairA, ...c.options });
      await rejects(loadSignerKeys(kms, ["alias/bad"]), (e) => {
        ok(isIrsaError(e, "invalid") && e.reason === "KmsKeyNotUsable", String(e));
        ok(e.message.includes(arn), e.message);
        match(e.message, c.want);
        ok(!/--\w/.test(e.message), e.message);
        return true;
      });
    });
  }
  for (const spec of ["RSA_3072", "RSA_4096"]) {
    await t.step(`${spec} is fine`, async () => {
      const kms = new FakeKms();
      await kms.addKey("alias/ok", { pair: pairA, keySpec: spec });
      ok(await loadSignerKeys(kms, ["alias/ok"]));
    });
  }
});

Deno.test("loadSignerKeys() rejects no keys, the same key twice, and passes KMS failures on", async () => {
  const kms = new FakeKms();
  await kms.addKey("alias/a", { pair: pairA });
  await kms.addKey("alias/again", { pair: pairA });
  await rejects(loadSignerKeys(kms, []), (e) => isIrsaError(e, "invalid") && e.reason === "NoKmsKey");
  await rejects(
    loadSignerKeys(kms, ["alias/a", "alias/again"]),
    (e) => isIrsaError(e, "invalid") && e.reason === "DuplicateKmsKey",
  );
  await rejects(loadSignerKeys(kms, ["alias/missing"]), (e) => isIrsaError(e) && e.reason === "NotFoundException");
});

Deno.test("signerHandlers() rejects lifetimes the apiserver would refuse", async () => {
  const { keys, kms } = await setup();
  const base = { maxTokenExpirationSeconds: 3600, refreshHintSeconds: 60, now: () => new Date() };
  for (const bad of [{ maxTokenExpirationSeconds: 599 }, { refreshHintSeconds: 0 }, { refreshHintSeconds: 1.5 }]) {
    let threw: unknown;
    try {
      signerHandlers(keys as SignerKeys, kms, { ...base, ...bad });
    } catch (e) {
      threw = e;
    }
    ok(isIrsaError(threw, "invalid") && threw.reason === "InvalidSignerOption", JSON.stringify(bad));
  }
});

Deno.test("the handlers answer over gRPC on a Unix socket", async () => {
  const { kms, keys } = await setup();
  const handlers = signerHandlers(keys, kms, {
    maxTokenExpirationSeconds: 3600,
    refreshHintSeconds: 60,
    now: () => new Date(),
  });
  const dir = await Deno.makeTempDir({ prefix: "signer_service_test" });
  const path = `${dir}/signer.sock`;
  const server = await serveGrpc(path, handlers);
  try {
    const meta = decodeMetadataResponse(await grpcUnary(path, signerMethods.metadata, encodeEmpty()));
    equal(meta.maxTokenExpirationSeconds, 3600n);
    const fetched = decodeFetchKeysResponse(await grpcUnary(path, signerMethods.fetchKeys, encodeEmpty()));
    const jwk = await jwkFromSpki(fetched.keys[0]!.key);
    const answer = await grpcUnary(path, signerMethods.sign, encodeSignJwtRequest({ claims: claimsB64 }));
    const { header, signature } = decodeSignJwtResponse(answer);
    await jwtVerify(`${header}.${claimsB64}.${signature}`, await importJWK(jwk, "RS256"));
    kms.failWith = fakeAwsError("KMSInvalidStateException", 400);
    await rejects(
      grpcUnary(path, signerMethods.sign, encodeSignJwtRequest({ claims: claimsB64 })),
      grpcCode(grpcStatus.unavailable, /could not sign: KMSInvalidStateException$/),
    );
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
