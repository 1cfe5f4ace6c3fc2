// CloudFront hosting end to end against moto (its CloudFront with tests/support/moto_patches, which makes it keep
// what real CloudFront returns): with account-level Block Public Access on, `init --hosting cloudfront` makes a
// private bucket, an origin access control and a distribution, and a bucket policy that lets only that
// distribution read the two documents. moto cannot serve through a distribution, so a local TLS endpoint stands in
// for it at the issuer URL: it reads the objects from S3 with signed requests, as CloudFront's OAC does, and tokens
// are verified against what it serves. AWS writes are counted at a proxy in front of moto.
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { createLocalJWKSet, jwtVerify } from "jose";
import {
  GetDistributionConfigCommand,
  ListDistributionsCommand,
  ListOriginAccessControlsCommand,
  ListTagsForResourceCommand,
} from "@aws-sdk/client-cloudfront";
import {
  GetBucketPolicyCommand,
  GetObjectCommand,
  GetPublicAccessBlockCommand,
  PutBucketPolicyCommand,
} from "@aws-sdk/client-s3";
import {
  DeletePublicAccessBlockCommand,
  PutPublicAccessBlockCommand as PutAccountBlock,
} from "@aws-sdk/client-s3-control";
import { AssumeRoleWithWebIdentityCommand } from "@aws-sdk/client-sts";
import { issueCertificate } from "../../lib/pki.ts";
import { flagsFromInit } from "../support/apiserver_flags.ts";
import { sandboxAws } from "../support/aws.ts";
import { runPlugin } from "../support/cli.ts";
import { startFaultProxy } from "../support/fault_proxy.ts";
import { createServiceAccount, freshNamespace, requestToken, sandboxClient } from "../support/kube.ts";
import { motoAccount, withSandbox } from "../support/sandbox.ts";
import { installCrds } from "../support/crds.ts";
import { createSetupAndWait } from "../support/irsa_setup.ts";
import { startDaemon, unboundedDrift } from "../support/daemon.ts";
import { createNamespace } from "../support/kube.ts";
import { crdGroup, crdVersion, systemNamespace } from "../../lib/names.ts";
import { freePort } from "../support/server_process.ts";

const bucket = "cf-oidc";
const daemonBucket = "cf-daemon-oidc";
const api = `/apis/${crdGroup}/${crdVersion}/namespaces/${systemNamespace}`;

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}
// Query APIs (IAM, STS) send reads as POST too, so they are told apart by their Action.
const writes = (requests: { method: string; path: string; action: string }[]) =>
  requests.filter((r) =>
    !r.path.startsWith("/moto-api") &&
    (r.action ? !/^(Get|List|Describe)/.test(r.action) : !["GET", "HEAD"].includes(r.method))
  );

Deno.test({
  name: "CloudFront hosting e2e: a private bucket read only by its distribution",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: (t) =>
    withSandbox(async (sandbox) => {
      const aws = await sandboxAws(sandbox);
      const cf = await aws.cloudfront();
      const proxy = await startFaultProxy(sandbox, { faultRate: 0, holdMs: 0 });
      const env = { ...sandbox.env, AWS_ENDPOINT_URL: proxy.endpoint };
      // The stand-in for the distribution: signed S3 reads of the two documents, nothing else.
      const cert = await issueCertificate(sandbox.ca, "cloudfront-stand-in", {
        usage: { kind: "server", ipAddresses: [sandbox.host] },
      });
      const port = freePort();
      const served: string[] = [];
      const standIn = Deno.serve(
        { hostname: sandbox.host, port, cert: cert.certPem, key: cert.keyPem, onListen() {} },
        async (req) => {
          const key = new URL(req.url).pathname.slice(1);
          served.push(key);
          try {
            const out = await aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
            return new Response(await out.Body!.transformToString(), {
              headers: { "content-type": "application/json" },
            });
          } catch {
            return new Response("AccessDenied", { status: 403 });
          }
        },
      );
      const issuer = `https://${sandbox.host}:${port}`;
      try {
        await aws.s3control.send(
          new PutAccountBlock({
            AccountId: motoAccount,
            PublicAccessBlockConfiguration: {
              BlockPublicAcls: true,
              IgnorePublicAcls: true,
              BlockPublicPolicy: true,
              RestrictPublicBuckets: true,
            },
          }),
        );

        await t.step(
          "with account-level Block Public Access, the default hosting stops and names CloudFront",
          async () => {
            const before = writes(proxy.requests).length;
            const run = await runPlugin(["init", "--bucket", bucket, "--issuer-url", issuer], { env });
            equal(run.code, 1, run.stderr);
            ok(run.stderr.includes("--hosting cloudfront"), run.stderr);
            equal(writes(proxy.requests).length, before, "no AWS write");
          },
        );

        await t.step("a dry run shows the CloudFront plan and writes nothing", async () => {
          const before = writes(proxy.requests).length;
          const run = await runPlugin(["init", "--bucket", bucket, "--hosting", "cloudfront", "--dry-run"], { env });
          equal(run.code, 0, run.stderr);
          ok(run.stdout.includes("create CloudFront origin access control"), run.stdout);
          ok(run.stdout.includes("create CloudFront distribution"), run.stdout);
          ok(run.stdout.includes("all public access blocked"), run.stdout);
          equal(writes(proxy.requests).length, before, "no AWS write");
        });

        let distribution = { id: "", arn: "" };
        let printed: string[] = [];
        await t.step(
          "init --hosting cloudfront: private bucket, OAC, distribution, policy naming only it",
          async () => {
            const run = await runPlugin(
              ["init", "--bucket", bucket, "--hosting", "cloudfront", "--issuer-url", issuer, "-o", "json"],
              { env },
            );
            equal(run.code, 0, run.stderr);
            const out = JSON.parse(run.stdout);
            equal(out.issuer, issuer);
            printed = out.apiserver.flags;
            const list = await cf.send(new ListDistributionsCommand({}));
            const items = list.DistributionList?.Items ?? [];
            equal(items.length, 1);
            distribution = { id: items[0]!.Id!, arn: items[0]!.ARN! };
            const tags = await cf.send(new ListTagsForResourceCommand({ Resource: distribution.arn }));
            deepStrictEqual(
              Object.fromEntries((tags.Tags?.Items ?? []).map((t) => [t.Key, t.Value])),
              { "kubectl-irsa/managed-by": "kubectl-irsa", "kubectl-irsa/bucket": bucket },
            );
            const config = (await cf.send(new GetDistributionConfigCommand({ Id: distribution.id })))
              .DistributionConfig!;
            const oacs = (await cf.send(new ListOriginAccessControlsCommand({}))).OriginAccessControlList?.Items ?? [];
            equal(oacs.length, 1);
            equal(oacs[0]!.SigningProtocol, "sigv4");
            equal(oacs[0]!.SigningBehavior, "always");
            equal(oacs[0]!.OriginAccessControlOriginType, "s3");
            const origin = config.Origins!.Items![0]!;
            equal(origin.DomainName, `${bucket}.s3.eu-west-1.amazonaws.com`);
            equal(origin.OriginAccessControlId, oacs[0]!.Id);
            equal(origin.S3OriginConfig?.OriginAccessIdentity ?? "", "");
            equal(config.DefaultCacheBehavior!.ViewerProtocolPolicy, "https-only");
            equal(config.Enabled, true);

            const pab = (await aws.s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket })))
              .PublicAccessBlockConfiguration!;
            deepStrictEqual(
              [pab.BlockPublicAcls, pab.IgnorePublicAcls, pab.BlockPublicPolicy, pab.RestrictPublicBuckets],
              [true, true, true, true],
            );
            const policy = JSON.parse((await aws.s3.send(new GetBucketPolicyCommand({ Bucket: bucket }))).Policy!);
            deepStrictEqual(policy.Statement, [{
              Sid: "AllowCloudFrontReadOfOidcDiscovery",
              Effect: "Allow",
              Principal: { Service: "cloudfront.amazonaws.com" },
              Action: "s3:GetObject",
              Resource: [
                `arn:aws:s3:::${bucket}/.well-known/openid-configuration`,
                `arn:aws:s3:::${bucket}/keys.json`,
              ],
              Condition: { StringEquals: { "AWS:SourceArn": distribution.arn } },
            }]);
            ok(!JSON.stringify(policy).includes('"Principal":"*"'));
          },
        );

        await t.step("doctor: the hosting check passes, fails on a public statement, and init repairs it", async () => {
          const hosting = async () => {
            const run = await runPlugin(["doctor", "-o", "json"], { env });
            return (JSON.parse(run.stdout) as { checks: { id: string; ok: boolean; detail: string }[] }).checks
              .find((c) => c.id === "hosting")!;
          };
          const healthy = await hosting();
          ok(healthy.ok, healthy.detail);
          const policy = JSON.parse((await aws.s3.send(new GetBucketPolicyCommand({ Bucket: bucket }))).Policy!);
          policy.Statement.push({
            Sid: "AllowPublicReadOfOidcDiscovery",
            Effect: "Allow",
            Principal: "*",
            Action: "s3:GetObject",
            Resource: `arn:aws:s3:::${bucket}/keys.json`,
          });
          // moto does not enforce BlockPublicPolicy, so the drift can be made here.
          await aws.s3.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(policy) }));
          const broken = await hosting();
          equal(broken.ok, false);
          ok(broken.detail.includes("still allows public reads"), broken.detail);
          const repair = await runPlugin([
            "init",
            "--bucket",
            bucket,
            "--hosting",
            "cloudfront",
            "--issuer-url",
            issuer,
          ], {
            env,
          });
          equal(repair.code, 0, repair.stderr);
          ok((await hosting()).ok);
        });

        await t.step("a second run changes nothing", async () => {
          const before = writes(proxy.requests).length;
          const run = await runPlugin(
            ["init", "--bucket", bucket, "--hosting", "cloudfront", "--issuer-url", issuer],
            { env },
          );
          equal(run.code, 0, run.stderr);
          deepStrictEqual(writes(proxy.requests).slice(before), []);
        });

        await t.step("tokens verify against the documents served at the issuer, and STS accepts them", async () => {
          served.length = 0;
          await sandbox.apiserver.restart(flagsFromInit(printed, sandbox.apiserver.flags));
          const kube = await sandboxClient(sandbox);
          const ns = await freshNamespace(kube, "cf");
          await createServiceAccount(kube, ns, "app");
          const token = await requestToken(kube, { namespace: ns, serviceAccount: "app" });
          const client = Deno.createHttpClient({ caCerts: [sandbox.caPem] });
          try {
            const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`, { client })).json();
            equal(discovery.issuer, issuer);
            const jwks = await (await fetch(discovery.jwks_uri, { client })).json();
            await jwtVerify(token, createLocalJWKSet(jwks), { issuer, audience: "sts.amazonaws.com" });
          } finally {
            client.close();
          }
          deepStrictEqual(served, [".well-known/openid-configuration", "keys.json"]);
          const bind = await runPlugin([
            "bind",
            "sa",
            "app",
            "-n",
            ns,
            "--policy",
            "AmazonS3ReadOnlyAccess",
            "-o",
            "json",
          ], {
            env,
          });
          equal(bind.code, 0, bind.stderr);
          const out = await aws.sts.send(
            new AssumeRoleWithWebIdentityCommand({
              RoleArn: JSON.parse(bind.stdout).roleArn,
              RoleSessionName: "cf",
              WebIdentityToken: token,
            }),
          );
          ok(out.Credentials?.AccessKeyId);
        });

        await t.step("the daemon: an IRSASetup with hosting cloudfront, Ready, then deleted with cleanup", async () => {
          const kube = await sandboxClient(sandbox);
          await installCrds(kube);
          await createNamespace(kube, systemNamespace);
          const daemon = await startDaemon(sandbox, [
            "--namespace",
            systemNamespace,
            "--no-webhook",
            "--resync-period",
            "2s",
            ...unboundedDrift,
          ], {
            env: { AWS_ENDPOINT_URL: proxy.endpoint },
          });
          try {
            await createSetupAndWait(kube, "cf", {
              cleanup: true,
              discovery: { s3: { region: "eu-west-1", bucketName: daemonBucket } },
              hosting: "cloudfront",
              keySource: "cluster",
              issuerUrl: `${issuer}/daemon`,
            });
            const ours = async () => {
              const items = (await cf.send(new ListDistributionsCommand({}))).DistributionList?.Items ?? [];
              const found = [];
              for (const d of items) {
                const tags = (await cf.send(new ListTagsForResourceCommand({ Resource: d.ARN! }))).Tags?.Items ?? [];
                found.push({ id: d.Id!, bucket: tags.find((t) => t.Key === "kubectl-irsa/bucket")?.Value });
              }
              return found;
            };
            deepStrictEqual((await ours()).map((d) => d.bucket).sort(), [bucket, daemonBucket].sort());
            // Resyncs every 2 s: passes after Ready read CloudFront and S3 again and write nothing.
            const settled = writes(proxy.requests).length;
            const reads = proxy.requests.length;
            await new Promise((r) => setTimeout(r, 5_000));
            ok(proxy.requests.length > reads, "the daemon reconciled again");
            deepStrictEqual(writes(proxy.requests).slice(settled), [], "a pass without drift writes nothing");
            const policy = JSON.parse(
              (await aws.s3.send(new GetBucketPolicyCommand({ Bucket: daemonBucket }))).Policy!,
            );
            equal(policy.Statement[0].Principal.Service, "cloudfront.amazonaws.com");

            await kube.delete({
              group: crdGroup,
              version: crdVersion,
              resource: "irsasetups",
              namespace: systemNamespace,
              name: "cf",
            });
            await until("the IRSASetup gone", async () => (await kube.get(`${api}/irsasetups/cf`)) ? undefined : true);
            deepStrictEqual((await ours()).map((d) => d.bucket), [bucket], "only the daemon's distribution is gone");
            const oacs = (await cf.send(new ListOriginAccessControlsCommand({}))).OriginAccessControlList?.Items ?? [];
            deepStrictEqual(oacs.map((o) => o.Name), [`kubectl-irsa-${bucket}`]);
            const gone = await aws.s3.send(new GetBucketPolicyCommand({ Bucket: daemonBucket })).then(
              () => false,
              () => true,
            );
            ok(gone, "the daemon's bucket is deleted");
          } finally {
            await daemon.stop();
          }
        });
      } finally {
        await aws.s3control.send(new DeletePublicAccessBlockCommand({ AccountId: motoAccount })).catch(() => {});
        await standIn.shutdown();
        await proxy.close();
        aws.destroy();
      }
    }),
});
