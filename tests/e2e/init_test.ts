// `kubectl irsa init` end to end against the real kube-apiserver and moto: cluster and generate key sources,
// the apiserver restarted with the printed flags, tokens verified the way STS does, idempotency and bad input.
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { decodeProtectedHeader } from "jose";
import {
  CreateBucketCommand,
  GetBucketPolicyCommand,
  GetBucketTaggingCommand,
  GetPublicAccessBlockCommand,
  HeadBucketCommand,
} from "@aws-sdk/client-s3";
import { CreateOpenIDConnectProviderCommand, GetOpenIDConnectProviderCommand } from "@aws-sdk/client-iam";
import {
  DeletePublicAccessBlockCommand,
  PutPublicAccessBlockCommand as PutAccountBlock,
} from "@aws-sdk/client-s3-control";
import { discoveryBucketPolicy } from "../../lib/bucket_policy.ts";
import { jwksEqual, parseJwks } from "../../lib/discovery.ts";
import { jwkFromPublicPem, type Jwks } from "../../lib/keys.ts";
import { keySecret, setupRecord } from "../../lib/names.ts";
import { policiesEqual } from "../../lib/trust_policy.ts";
import { verifyLikeSts } from "../../lib/web_identity.ts";
import type { KubeClient } from "../../lib/kube/client.ts";
import { flagsFromInit } from "../support/apiserver_flags.ts";
import { anonymousFetcher, sandboxAws } from "../support/aws.ts";
import { runPlugin } from "../support/cli.ts";
import { createServiceAccount, freshNamespace, requestToken, sandboxClient } from "../support/kube.ts";
import { motoAccount, type Sandbox, withSandbox } from "../support/sandbox.ts";

interface InitJson {
  issuer: string;
  jwksUri: string;
  providerArn: string;
  keyIds: string[];
  actions: { kind: string }[];
  apiserver: { flags: string[]; snippet: string; notes: string[] };
}

async function tokenReview(kube: KubeClient, token: string): Promise<boolean> {
  const out = await kube.create<{ status: { authenticated?: boolean } }>(
    { group: "authentication.k8s.io", resource: "tokenreviews" },
    { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token } },
  );
  return out.status.authenticated === true;
}

async function objectText(sandbox: Sandbox, bucket: string, key: string): Promise<string> {
  const res = await sandbox.moto!.fetch(`/${bucket}/${key}`);
  return await res.text();
}

Deno.test({
  name: "init e2e",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: (t) =>
    withSandbox(async (sandbox) => {
      const kube = await sandboxClient(sandbox);
      const aws = await sandboxAws(sandbox);
      const anon = anonymousFetcher(sandbox);
      const moto = sandbox.moto!;
      const originalFlags = structuredClone(sandbox.apiserver.flags);
      const env = sandbox.env;
      try {
        await t.step(
          "cluster mode publishes the apiserver's keys and a token verifies like STS after the restart",
          async () => {
            const bucket = "cluster-oidc";
            const issuer = `${moto.endpoint}/${bucket}`;
            const ns = await freshNamespace(kube);
            await createServiceAccount(kube, ns, "app");
            const oldToken = (await kube.create<{ status: { token: string } }>(
              { resource: "serviceaccounts", namespace: ns, name: "app", subresource: "token" },
              { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 3600 } },
            )).status.token;

            const run = await runPlugin(["init", "--bucket", bucket, "--issuer-url", issuer, "-o", "json"], { env });
            equal(run.code, 0, run.stderr);
            const result = JSON.parse(run.stdout) as InitJson;
            equal(result.issuer, issuer);
            equal(result.providerArn, `arn:aws:iam::${motoAccount}:oidc-provider/${issuer.slice(8)}`);

            // S3: private bucket, policy granting only the two objects, ACLs blocked, tagged.
            const policy = await aws.s3.send(new GetBucketPolicyCommand({ Bucket: bucket }));
            ok(policiesEqual(policy.Policy!, discoveryBucketPolicy({ partition: "aws", bucket })));
            const pab = await aws.s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket }));
            deepStrictEqual(pab.PublicAccessBlockConfiguration, {
              BlockPublicAcls: true,
              IgnorePublicAcls: true,
              BlockPublicPolicy: false,
              RestrictPublicBuckets: false,
            });
            const tags = await aws.s3.send(new GetBucketTaggingCommand({ Bucket: bucket }));
            ok(tags.TagSet?.some((t) => t.Key === "kubectl-irsa/managed-by" && t.Value === "kubectl-irsa"));

            // The published JWKS is exactly the apiserver's key set.
            const published = parseJwks(await objectText(sandbox, bucket, "keys.json"));
            const apiserverJwks = await kube.request<Jwks>("GET", "/openid/v1/jwks");
            ok(jwksEqual(published, apiserverJwks));

            // IAM: the provider has the issuer, the STS audience and the thumbprint of moto's intermediate CA.
            const provider = await aws.iam.send(
              new GetOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: result.providerArn }),
            );
            equal(provider.Url?.replace(/^https:\/\//, ""), issuer.slice(8));
            deepStrictEqual(provider.ClientIDList, ["sts.amazonaws.com"]);
            const intermediateDer = new X509Certificate(moto.intermediatePem).raw;
            deepStrictEqual(provider.ThumbprintList, [createHash("sha1").update(intermediateDer).digest("hex")]);

            // The setup is recorded for bind, doctor and the daemon.
            const cm = await kube.get<{ data: Record<string, string> }>({
              resource: "configmaps",
              namespace: setupRecord.namespace,
              name: setupRecord.name,
            });
            equal(JSON.parse(cm!.data[setupRecord.key]!).issuer, issuer);

            // Apply the printed flags the way an admin would, then prove the chain.
            ok(result.apiserver.flags[0] === `--service-account-issuer=${issuer}`);
            ok(!result.apiserver.flags.some((f) => f.startsWith("--api-audiences") && f.includes("sts.amazonaws.com")));
            await sandbox.apiserver.restart(flagsFromInit(result.apiserver.flags, sandbox.apiserver.flags));
            const token = await requestToken(kube, { namespace: ns, serviceAccount: "app" });
            const chain = await verifyLikeSts(token, { fetcher: anon.fetcher });
            equal(chain.issuer, issuer);
            equal(chain.claims.sub, `system:serviceaccount:${ns}:app`);
            ok(result.keyIds.includes(chain.kid));
            ok(await tokenReview(kube, oldToken), "a token of the old issuer must still authenticate");

            const rerun = await runPlugin(["init", "--bucket", bucket, "--issuer-url", issuer], { env });
            equal(rerun.code, 0, rerun.stderr);
            deepStrictEqual(rerun.writes, []);
            ok(rerun.stderr.includes("Everything is up to date"), rerun.stderr);
          },
        );

        await t.step("dry run prints the plan with diffs and writes nothing", async () => {
          const before = await kube.get({
            resource: "configmaps",
            namespace: setupRecord.namespace,
            name: setupRecord.name,
          });
          const run = await runPlugin([
            "init",
            "--bucket",
            "dry-oidc",
            "--issuer-url",
            `${moto.endpoint}/dry-oidc`,
            "--dry-run",
          ], { env });
          equal(run.code, 0, run.stderr);
          deepStrictEqual(run.writes, []);
          ok(run.stdout.startsWith("Plan: 8 changes (dry run, nothing was changed)"), run.stdout);
          ok(run.stdout.includes('+   "issuer": "' + `${moto.endpoint}/dry-oidc"`), run.stdout);
          const head = await aws.s3.send(new HeadBucketCommand({ Bucket: "dry-oidc" })).then(() => "exists", () =>
            "absent");
          equal(head, "absent");
          deepStrictEqual(
            await kube.get({ resource: "configmaps", namespace: setupRecord.namespace, name: setupRecord.name }),
            before,
          );
        });

        await t.step("generate mode stores the seed's Secret, writes key files, and its tokens verify", async () => {
          await moto.reset();
          await sandbox.apiserver.restart(structuredClone(originalFlags));
          const bucket = "generated-oidc";
          const issuer = `${moto.endpoint}/${bucket}`;
          const outDir = await Deno.makeTempDir({ dir: sandbox.dir, prefix: "keys-" });
          const args = [
            "init",
            "--bucket",
            bucket,
            "--issuer-url",
            issuer,
            "--key-source",
            "generate",
            "--out-dir",
            outDir,
            "-o",
            "json",
          ];
          const run = await runPlugin(args, { env });
          equal(run.code, 0, run.stderr);
          ok(
            !run.stdout.includes("PRIVATE KEY") && !run.stderr.includes("PRIVATE KEY"),
            "the private key is never printed",
          );
          const result = JSON.parse(run.stdout) as InitJson;

          const secret = await kube.get<{ type: string; data: Record<string, string> }>({
            resource: "secrets",
            namespace: keySecret.namespace,
            name: keySecret.name,
          });
          equal(secret!.type, "kubernetes.io/ssh-auth");
          deepStrictEqual(Object.keys(secret!.data).sort(), ["ssh-privatekey", "ssh-publickey"]);
          const publicPem = atob(secret!.data["ssh-publickey"]!);
          ok(publicPem.startsWith("-----BEGIN PUBLIC KEY-----"));
          ok(atob(secret!.data["ssh-privatekey"]!).includes("PRIVATE KEY-----"));
          equal((await Deno.stat(`${outDir}/irsa-manager.key`)).mode! & 0o777, 0o600);
          equal(await Deno.readTextFile(`${outDir}/irsa-manager.pub`), publicPem);
          const kid = (await jwkFromPublicPem(publicPem)).kid;
          deepStrictEqual(result.keyIds, [kid]);
          ok(result.apiserver.flags.includes(`--service-account-signing-key-file=${outDir}/irsa-manager.key`));

          await sandbox.apiserver.restart(flagsFromInit(result.apiserver.flags, sandbox.apiserver.flags));
          const ns = await freshNamespace(kube);
          await createServiceAccount(kube, ns, "app");
          const token = await requestToken(kube, { namespace: ns, serviceAccount: "app" });
          equal(decodeProtectedHeader(token).kid, kid);
          const chain = await verifyLikeSts(token, { fetcher: anon.fetcher });
          equal(chain.issuer, issuer);

          const rerun = await runPlugin(args, { env });
          equal(rerun.code, 0, rerun.stderr);
          deepStrictEqual(rerun.writes, []);

          // A key file that differs is never overwritten without --force.
          await Deno.writeTextFile(`${outDir}/irsa-manager.pub`, "something else\n");
          const refused = await runPlugin(args, { env });
          equal(refused.code, 1);
          ok(refused.stderr.includes("already exists") && refused.stderr.includes("--force"), refused.stderr);
          deepStrictEqual(refused.writes, []);
          await sandbox.apiserver.restart(structuredClone(originalFlags));
        });

        await t.step("bad input gets one clear line, the right exit code and no AWS write", async (t) => {
          await moto.reset();
          await (await aws.s3For("us-west-2")).send(
            new CreateBucketCommand({
              Bucket: "in-west-2",
              CreateBucketConfiguration: { LocationConstraint: "us-west-2" },
            }),
          );
          const unreachable = await sandbox.writeFile(
            "unreachable.kubeconfig",
            (await Deno.readTextFile(sandbox.kubeconfigPath)).replace(/server: .*/, "server: https://127.0.0.1:1"),
          );
          const noCredentials = {
            AWS_ACCESS_KEY_ID: undefined,
            AWS_SECRET_ACCESS_KEY: undefined,
            AWS_SHARED_CREDENTIALS_FILE: "/nonexistent",
            AWS_CONFIG_FILE: "/nonexistent",
            AWS_EC2_METADATA_DISABLED: "true",
          };
          const cases: {
            name: string;
            args: string[];
            env?: Record<string, string | undefined>;
            code: number;
            says: string;
            setup?: () => Promise<void>;
            teardown?: () => Promise<void>;
          }[] = [
            { name: "invalid bucket name", args: ["--bucket", "Bad_Bucket"], code: 2, says: "Bad_Bucket" },
            {
              name: "issuer with a trailing slash",
              args: ["--bucket", "ok-bucket", "--issuer-url", `${moto.endpoint}/ok-bucket/`],
              code: 2,
              says: "must not end with",
            },
            {
              name: "issuer over http",
              args: ["--bucket", "ok-bucket", "--issuer-url", "http://example.com/x"],
              code: 2,
              says: "https",
            },
            {
              name: "no region anywhere",
              args: ["--bucket", "ok-bucket"],
              env: { AWS_REGION: undefined, AWS_CONFIG_FILE: "/nonexistent" },
              code: 2,
              says: "--region",
            },
            { name: "invalid region", args: ["--bucket", "ok-bucket", "--region", "mars"], code: 2, says: "mars" },
            {
              name: "--out-dir without generate",
              args: ["--bucket", "ok-bucket", "--out-dir", "/tmp/x"],
              code: 2,
              says: "--key-source generate",
            },
            {
              name: "bucket in another region",
              args: ["--bucket", "in-west-2", "--issuer-url", `${moto.endpoint}/in-west-2`],
              code: 1,
              says: "is in us-west-2",
            },
            {
              name: "missing credentials",
              args: ["--bucket", "ok-bucket"],
              env: noCredentials,
              code: 1,
              says: "credentials",
            },
            {
              name: "apiserver unreachable",
              args: ["--bucket", "ok-bucket", "--issuer-url", `${moto.endpoint}/ok-bucket`],
              env: { KUBECONFIG: unreachable },
              code: 1,
              says: "cannot reach the Kubernetes API",
            },
            {
              name: "account-level Block Public Access",
              args: ["--bucket", "ok-bucket", "--issuer-url", `${moto.endpoint}/ok-bucket`],
              code: 1,
              says: "put-public-access-block",
              setup: async () => {
                await aws.s3control.send(
                  new PutAccountBlock({
                    AccountId: motoAccount,
                    PublicAccessBlockConfiguration: {
                      BlockPublicPolicy: true,
                      RestrictPublicBuckets: true,
                      BlockPublicAcls: true,
                      IgnorePublicAcls: true,
                    },
                  }),
                );
              },
              teardown: async () => {
                await aws.s3control.send(new DeletePublicAccessBlockCommand({ AccountId: motoAccount }));
              },
            },
            {
              name: "foreign provider without the STS audience",
              args: ["--bucket", "ok-bucket", "--issuer-url", `${moto.endpoint}/ok-bucket`],
              code: 1,
              says: "does not list client ID",
              setup: async () => {
                await aws.iam.send(
                  new CreateOpenIDConnectProviderCommand({
                    Url: `${moto.endpoint}/ok-bucket`,
                    ClientIDList: ["something-else"],
                    ThumbprintList: ["0".repeat(40)],
                  }),
                );
              },
              teardown: () =>
                moto.reset(),
            },
          ];
          for (const c of cases) {
            await t.step(c.name, async () => {
              await c.setup?.();
              try {
                const run = await runPlugin(["init", ...c.args], { env: { ...env, ...c.env } });
                equal(run.code, c.code, `${run.stdout}\n${run.stderr}`);
                equal(run.stdout, "");
                const lines = run.stderr.trim().split("\n").filter((l) => !l.startsWith("warning:"));
                equal(lines.length, c.code === 2 ? 2 : 1, run.stderr);
                ok(lines[0]!.startsWith("error: ") && lines[0]!.includes(c.says), run.stderr);
                deepStrictEqual(run.writes, []);
                const head = await aws.s3.send(new HeadBucketCommand({ Bucket: "ok-bucket" })).then(() =>
                  "exists", () =>
                  "absent");
                equal(head, "absent");
              } finally {
                await c.teardown?.();
              }
            });
          }
        });
      } finally {
        anon.close();
        aws.destroy();
        kube.close();
      }
    }),
});
