// Proves the harness: a real kube-apiserver signs ServiceAccount tokens that verify against its own JWKS, and a
// real moto serves S3 over TLS to the product's own AWS client configuration.
import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from "jose";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { awsConfigFromEnv } from "../../lib/aws/clients.ts";
import { testAws } from "../support/aws.ts";
import { jwkFromPublicPem } from "../../lib/keys.ts";
import { createServiceAccount, freshNamespace, requestToken, sandboxClient } from "../support/kube.ts";
import { inClusterIssuer, motoAccount, withSandbox } from "../support/sandbox.ts";

Deno.test({
  name: "harness: apiserver tokens verify against its JWKS, and moto serves S3 over TLS",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withSandbox(async (sandbox) => {
      const kube = await sandboxClient(sandbox);
      try {
        const version = await kube.request<{ gitVersion: string }>("GET", "/version");
        equal(version.gitVersion, sandbox.apiserver.version);

        const ns = await freshNamespace(kube);
        await createServiceAccount(kube, ns, "app");
        const token = await requestToken(kube, { namespace: ns, serviceAccount: "app" });
        const jwks = await kube.request<JSONWebKeySet>("GET", "/openid/v1/jwks");
        equal(jwks.keys.length, 1);
        // The kid our lib computes from the signing key file is the one the apiserver publishes.
        const ourJwk = await jwkFromPublicPem(await Deno.readTextFile(sandbox.apiserver.flags.keyFiles[0]!));
        equal(ourJwk.kid, jwks.keys[0]!.kid);
        equal(decodeProtectedHeader(token).kid, ourJwk.kid);

        const keySet = createLocalJWKSet(jwks);
        const { payload } = await jwtVerify(token, keySet, {
          issuer: inClusterIssuer,
          audience: "sts.amazonaws.com",
          algorithms: ["RS256"],
        });
        equal(payload.sub, `system:serviceaccount:${ns}:app`);

        // The same verification fails for a wrong issuer, a wrong audience and a tampered signature.
        await rejects(jwtVerify(token, keySet, { issuer: `${inClusterIssuer}/`, audience: "sts.amazonaws.com" }));
        await rejects(jwtVerify(token, keySet, { issuer: inClusterIssuer, audience: "kubernetes" }));
        const [h, p, s] = token.split(".");
        const flipped = `${h}.${p}.${s!.startsWith("A") ? "B" : "A"}${s!.slice(1)}`;
        await rejects(jwtVerify(flipped, keySet, { issuer: inClusterIssuer, audience: "sts.amazonaws.com" }));

        const discovery = await kube.request<{ issuer: string; jwks_uri: string }>(
          "GET",
          "/.well-known/openid-configuration",
        );
        equal(discovery.issuer, inClusterIssuer);
      } finally {
        kube.close();
      }

      // S3 over TLS with the harness CA, through the product's own client configuration.
      const env = new Map(Object.entries(sandbox.env));
      const config = awsConfigFromEnv({ get: (k) => env.get(k) });
      config.caBundlePem = await Deno.readTextFile(sandbox.caPath);
      const aws = await testAws(config);
      try {
        const s3 = aws.product.s3;
        await s3.send("CreateBucket", {
          method: "PUT",
          bucket: "harness-proof",
          body:
            "<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>",
        });
        await s3.send("PutObject", {
          method: "PUT",
          bucket: "harness-proof",
          key: "hello.txt",
          body: "hi",
          headers: { "x-amz-expected-bucket-owner": motoAccount },
        });
        equal((await s3.send("GetObject", { method: "GET", bucket: "harness-proof", key: "hello.txt" })).text, "hi");
        // The SDK's client, the oracle, reads what ours wrote.
        const got = await aws.s3.send(new GetObjectCommand({ Bucket: "harness-proof", Key: "hello.txt" }));
        equal(await got.Body?.transformToString(), "hi");
        deepStrictEqual(aws.calls.summary(), ["s3:CreateBucket x1", "s3:PutObject x1", "s3:GetObject x1"]);
        ok(aws.calls.writes === 2 && aws.calls.reads === 1);
      } finally {
        aws.destroy();
      }
      await sandbox.moto!.reset();
    }),
});
