// `kubectl irsa doctor` on the real apiserver and moto: a healthy cluster passes every check, and breaking exactly
// one link of the chain makes exactly that check fail (exit 1) until the link is repaired.
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import {
  AttachRolePolicyCommand,
  CreateOpenIDConnectProviderCommand,
  CreatePolicyCommand,
  DeleteOpenIDConnectProviderCommand,
  DeleteRoleCommand,
  DeleteRolePermissionsBoundaryCommand,
  DetachRolePolicyCommand,
  GetOpenIDConnectProviderCommand,
  GetRoleCommand,
  UpdateAssumeRolePolicyCommand,
} from "@aws-sdk/client-iam";
import type { CheckResult } from "../../lib/doctor.ts";
import { saAnnotation, setupRecord, systemNamespace } from "../../lib/names.ts";
import { parseSetupRecord, setupConfigMap } from "../../lib/setup_record.ts";
import { buildTrustPolicy } from "../../lib/trust_policy.ts";
import { sandboxAws } from "../support/aws.ts";
import { runPlugin } from "../support/cli.ts";
import { startDaemon } from "../support/daemon.ts";
import { initAndRestart } from "../support/irsa_setup.ts";
import { createNamespace, freshNamespace, sandboxClient } from "../support/kube.ts";
import { withSandbox } from "../support/sandbox.ts";
import { freePort } from "../support/server_process.ts";
import { registerWebhook, waitForWebhook } from "../support/webhook.ts";
import { webhookConfigurationRef } from "../../lib/kube/webhook_reads.ts";

interface DoctorRun {
  code: number;
  checks: CheckResult[];
  ok: boolean;
  stderr: string;
}

const failedIds = (run: DoctorRun) => run.checks.filter((c) => !c.ok && !c.warning).map((c) => c.id);

Deno.test({
  name: "doctor e2e",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: (t) =>
    withSandbox(async (sandbox) => {
      const kube = await sandboxClient(sandbox);
      const aws = await sandboxAws(sandbox);
      const env = sandbox.env;
      const bucket = "doctor-oidc";
      try {
        await initAndRestart(sandbox, bucket);
        const cm = await kube.get<{ data: Record<string, string> }>({
          resource: "configmaps",
          namespace: setupRecord.namespace,
          name: setupRecord.name,
        });
        const setup = parseSetupRecord(cm!.data);
        const hostPath = setup.issuer.slice("https://".length);
        const ns = await freshNamespace(kube, "demo");
        const bind = await runPlugin(["bind", "sa", "app", "-n", ns, "--policy", "AmazonS3FullAccess", "-o", "json"], {
          env,
        });
        equal(bind.code, 0, bind.stderr);
        const { roleName } = JSON.parse(bind.stdout) as { roleName: string; roleArn: string };

        const doctor = async (...extra: string[]): Promise<DoctorRun> => {
          const run = await runPlugin(["doctor", "sa", "app", "-n", ns, "-o", "json", ...extra], { env });
          let parsed: { checks: CheckResult[]; ok: boolean };
          try {
            parsed = JSON.parse(run.stdout);
          } catch {
            throw new Error(`doctor printed no JSON (exit ${run.code}): ${run.stdout}\n${run.stderr}`);
          }
          return { code: run.code, ...parsed, stderr: run.stderr };
        };
        const describe = (run: DoctorRun) =>
          run.checks.map((c) => `${c.ok ? "ok" : c.warning ? "warn" : "FAIL"} ${c.id}: ${c.detail}`).join("\n");
        /** Breaks one link, asserts the doctor fails exactly that check, repairs it and asserts it passes again. */
        const breaks = async (id: string, brk: () => Promise<void>, repair: () => Promise<void>) => {
          await brk();
          let run: DoctorRun;
          try {
            run = await doctor();
          } finally {
            await repair();
          }
          equal(run.code, 1, describe(run));
          equal(run.ok, false);
          deepStrictEqual(failedIds(run), [id], describe(run));
          const failed = run.checks.find((c) => c.id === id)!;
          ok(failed.fix && failed.fix.length > 0, `check ${id} names a fix`);
          const again = await doctor();
          deepStrictEqual(failedIds(again), [], describe(again));
        };

        const s3Get = async (key: string) =>
          await (await aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString();
        const s3Put = async (key: string, body: string) => {
          await aws.s3.send(
            new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: "application/json" }),
          );
        };
        const discoveryKey = ".well-known/openid-configuration";
        const discoveryText = await s3Get(discoveryKey);
        const jwksText = await s3Get("keys.json");
        const provider = await aws.iam.send(
          new GetOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: setup.providerArn }),
        );
        const recreateProvider = async (clientIds: string[]) => {
          await aws.iam.send(new DeleteOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: setup.providerArn }));
          await aws.iam.send(
            new CreateOpenIDConnectProviderCommand({
              Url: setup.issuer,
              ClientIDList: clientIds,
              ThumbprintList: provider.ThumbprintList,
              Tags: provider.Tags,
            }),
          );
        };
        const policyArn = "arn:aws:iam::aws:policy/AmazonS3FullAccess";

        await t.step("a healthy chain passes every cluster and binding check", async () => {
          const run = await doctor("--sts");
          equal(run.code, 0, describe(run));
          equal(run.ok, true);
          deepStrictEqual(failedIds(run), []);
          deepStrictEqual(run.checks.map((c) => c.id), [
            "setup",
            "discovery",
            "issuer",
            "jwks",
            "kid",
            "provider",
            "client-id",
            "thumbprint",
            "api-audiences",
            "annotation",
            "role",
            "trust",
            "policies",
            "pods",
            "webhook",
            "sts",
          ]);
          // Without any webhook installed, only that check warns.
          deepStrictEqual(run.checks.filter((c) => c.warning).map((c) => c.id), ["webhook"]);
          const cluster = await runPlugin(["doctor"], { env });
          equal(cluster.code, 0, cluster.stdout + cluster.stderr);
          ok(cluster.stdout.includes("✓ Setup recorded by 'kubectl irsa init'\n"), cluster.stdout);
          ok(cluster.stdout.includes("✓ Apiserver's signing key is published\n"), cluster.stdout);
          ok(/^9 checks: 9 passed, 0 failed, 0 warnings$/m.test(cluster.stdout), cluster.stdout);
        });

        await t.step("deleting keys.json fails the jwks check", async () => {
          let text = "";
          await breaks(
            "jwks",
            async () => {
              await aws.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "keys.json" }));
              const run = await runPlugin(["doctor", "sa", "app", "-n", ns], { env });
              equal(run.code, 1, run.stdout + run.stderr);
              text = run.stdout;
            },
            () => s3Put("keys.json", jwksText),
          );
          ok(text.includes(`✗ jwks_uri resolves to a JWKS: GET ${setup.issuer}/keys.json answered HTTP`), text);
          ok(/^ {2}fix: run 'kubectl irsa init' again/m.test(text), text);
          ok(text.includes("! Apiserver's signing key is published: not checked: no published JWKS\n"), text);
          ok(/^15 checks: 12 passed, 1 failed, 2 warnings$/m.test(text), text);
        });

        await t.step("a trailing slash on the published issuer fails the issuer check", async () => {
          const doc = JSON.parse(discoveryText) as { issuer: string };
          await breaks(
            "issuer",
            () => s3Put(discoveryKey, JSON.stringify({ ...doc, issuer: `${doc.issuer}/` })),
            () => s3Put(discoveryKey, discoveryText),
          );
        });

        await t.step("a JWKS without the apiserver's kid fails the kid check", async () => {
          const jwks = JSON.parse(jwksText) as { keys: { kid: string }[] };
          await breaks(
            "kid",
            () => s3Put("keys.json", JSON.stringify({ keys: jwks.keys.map((k) => ({ ...k, kid: "not-the-kid" })) })),
            () => s3Put("keys.json", jwksText),
          );
        });

        await t.step("a deleted OIDC provider fails the provider check", async () => {
          await breaks(
            "provider",
            async () =>
              void await aws.iam.send(
                new DeleteOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: setup.providerArn }),
              ),
            async () => {
              await aws.iam.send(
                new CreateOpenIDConnectProviderCommand({
                  Url: setup.issuer,
                  ClientIDList: provider.ClientIDList,
                  ThumbprintList: provider.ThumbprintList,
                  Tags: provider.Tags,
                }),
              );
            },
          );
        });

        await t.step("a provider without the sts.amazonaws.com client ID fails the client-id check", async () => {
          // moto cannot remove a client ID, so the provider is recreated with another one.
          await breaks(
            "client-id",
            () => recreateProvider(["other.example.com"]),
            () => recreateProvider(provider.ClientIDList ?? []),
          );
        });

        await t.step("a trust policy for another sub fails the trust check", async () => {
          const role = await aws.iam.send(new GetRoleCommand({ RoleName: roleName }));
          const original = decodeURIComponent(role.Role!.AssumeRolePolicyDocument!);
          const other = buildTrustPolicy({
            providerArn: setup.providerArn,
            issuerHostPath: hostPath,
            subjects: [{ namespace: ns, serviceAccount: "someone-else" }],
          });
          await breaks(
            "trust",
            async () =>
              void await aws.iam.send(
                new UpdateAssumeRolePolicyCommand({ RoleName: roleName, PolicyDocument: JSON.stringify(other) }),
              ),
            async () =>
              void await aws.iam.send(
                new UpdateAssumeRolePolicyCommand({ RoleName: roleName, PolicyDocument: original }),
              ),
          );
        });

        await t.step("removing the role-arn annotation fails the annotation check", async () => {
          const ref = { resource: "serviceaccounts", namespace: ns, name: "app" };
          const sa = await kube.get<{ metadata: { annotations: Record<string, string> } }>(ref);
          const arn = sa!.metadata.annotations[saAnnotation.roleArn]!;
          await breaks(
            "annotation",
            async () => void await kube.patch(ref, { metadata: { annotations: { [saAnnotation.roleArn]: null } } }),
            async () => void await kube.patch(ref, { metadata: { annotations: { [saAnnotation.roleArn]: arn } } }),
          );
        });

        await t.step("a detached policy fails the policies check", async () => {
          await breaks(
            "policies",
            async () =>
              void await aws.iam.send(new DetachRolePolicyCommand({ RoleName: roleName, PolicyArn: policyArn })),
            async () =>
              void await aws.iam.send(new AttachRolePolicyCommand({ RoleName: roleName, PolicyArn: policyArn })),
          );
        });

        await t.step("a binding policy's boundary or path the role lacks fails the boundary check", async () => {
          const created = await aws.iam.send(
            new CreatePolicyCommand({
              PolicyName: "doctor-boundary",
              PolicyDocument: JSON.stringify({
                Version: "2012-10-17",
                Statement: [{ Effect: "Allow", Action: "s3:*", Resource: "*" }],
              }),
            }),
          );
          const boundaryArn = created.Policy!.Arn!;
          const cmRef = { resource: "configmaps", namespace: setupRecord.namespace, name: setupRecord.name };
          const withPolicy = (bindingPolicy: { permissionsBoundary?: string; rolePath?: string }) =>
            kube.patch(cmRef, [{
              op: "replace",
              path: "/data",
              value: setupConfigMap({ ...setup, bindingPolicy }).data as Record<string, string>,
            }], "json");
          try {
            await withPolicy({ rolePath: "/tenants/" });
            const outside = await doctor();
            deepStrictEqual(failedIds(outside), ["boundary"], describe(outside));
            equal(
              outside.checks.find((c) => c.id === "boundary")!.detail,
              `role ${roleName} has path /, outside /tenants/, the binding policy's role path`,
            );

            await withPolicy({ permissionsBoundary: boundaryArn });
            const missing = await doctor();
            equal(missing.code, 1, describe(missing));
            deepStrictEqual(failedIds(missing), ["boundary"], describe(missing));
            const check = missing.checks.find((c) => c.id === "boundary")!;
            equal(
              check.detail,
              `role ${roleName} has no permissions boundary; the binding policy requires ${boundaryArn}`,
            );
            ok(check.fix?.startsWith("bind it again"), check.fix);
            // The remedy the check names: bind again, which puts the policy's boundary on the role.
            const rebind = await runPlugin(["bind", "sa", "app", "-n", ns, "--policy", "AmazonS3FullAccess"], { env });
            equal(rebind.code, 0, rebind.stderr);
            const fixed = await doctor();
            equal(fixed.code, 0, describe(fixed));
            equal(fixed.checks.find((c) => c.id === "boundary")!.ok, true, describe(fixed));
          } finally {
            await kube.patch(cmRef, [{ op: "replace", path: "/data", value: cm!.data }], "json");
            await aws.iam.send(new DeleteRolePermissionsBoundaryCommand({ RoleName: roleName }));
          }
          const without = await doctor();
          equal(without.checks.some((c) => c.id === "boundary"), false, describe(without));
        });

        await t.step("a deleted role fails the role check", async () => {
          await breaks(
            "role",
            async () => {
              await aws.iam.send(new DetachRolePolicyCommand({ RoleName: roleName, PolicyArn: policyArn }));
              await aws.iam.send(new DeleteRoleCommand({ RoleName: roleName }));
            },
            async () => {
              const rebind = await runPlugin(["bind", "sa", "app", "-n", ns, "--policy", "AmazonS3FullAccess"], {
                env,
              });
              equal(rebind.code, 0, rebind.stderr);
            },
          );
        });

        const createPod = async (name: string) =>
          await kube.create<{ spec: { volumes?: { name: string }[] } }>({ resource: "pods", namespace: ns }, {
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name },
            spec: { serviceAccountName: "app", containers: [{ name: "app", image: "busybox" }] },
          });

        await t.step("a pod created without a webhook is reported unmutated", async () => {
          await createPod("before-webhook");
          const run = await doctor();
          equal(run.code, 1, describe(run));
          deepStrictEqual(failedIds(run), ["pods"], describe(run));
          ok(run.checks.find((c) => c.id === "pods")!.detail.includes("before-webhook"));
          await kube.delete({ resource: "pods", namespace: ns, name: "before-webhook" });
        });

        await createNamespace(kube, systemNamespace);
        const port = freePort();
        await registerWebhook(kube, { port });
        const daemon = await startDaemon(sandbox, ["--namespace", systemNamespace], { webhookPort: port });
        try {
          await waitForWebhook(kube, ns, "app");

          await t.step("with our webhook serving, a new pod is mutated and every check passes", async () => {
            const pod = await createPod("after-webhook");
            ok(pod.spec.volumes?.some((v) => v.name === "aws-iam-token"), "the webhook mutated the pod");
            const run = await doctor("--sts");
            equal(run.code, 0, describe(run));
            deepStrictEqual(run.checks.filter((c) => !c.ok).map((c) => c.id), [], describe(run));
            ok(run.checks.find((c) => c.id === "pods")!.detail.includes("1 pod mutated"));
          });

          await t.step("a stale caBundle fails the webhook check", async () => {
            const mwc = await kube.get<{ webhooks: { clientConfig: { caBundle: string } }[] }>(webhookConfigurationRef);
            const current = mwc!.webhooks[0]!.clientConfig.caBundle;
            const patch = (caBundle: string) =>
              kube.patch(webhookConfigurationRef, [{
                op: "replace",
                path: "/webhooks/0/clientConfig/caBundle",
                value: caBundle,
              }], "json");
            await breaks(
              "webhook",
              async () => void await patch(btoa(sandbox.caPem)),
              async () => void await patch(current),
            );
          });

          await t.step(
            "a namespaceSelector that leaves out the ServiceAccount's namespace fails the webhook check",
            async () => {
              const select = (selector: Record<string, unknown>) =>
                kube.patch(webhookConfigurationRef, [{
                  op: "replace",
                  path: "/webhooks/0/namespaceSelector",
                  value: selector,
                }], "json");
              const skipping = {
                matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "NotIn", values: [ns] }],
              };
              await select(skipping);
              try {
                const run = await doctor();
                ok(
                  run.checks.find((c) => c.id === "webhook")!.detail.includes(
                    `namespace ${ns} is outside the namespaceSelector`,
                  ),
                  describe(run),
                );
              } finally {
                await select({});
              }
              await breaks("webhook", async () => void await select(skipping), async () => void await select({}));
            },
          );
        } finally {
          await daemon.stop();
        }

        await t.step("an apiserver that accepts sts.amazonaws.com as its own audience gets a warning", async () => {
          const flags = sandbox.apiserver.flags;
          const audiences = (flags.extra ?? []).find((f) => f.startsWith("--api-audiences="))?.slice(16) ??
            flags.issuers[0]!;
          await sandbox.apiserver.restart({
            ...flags,
            extra: [
              ...(flags.extra ?? []).filter((f) => !f.startsWith("--api-audiences=")),
              `--api-audiences=${audiences},sts.amazonaws.com`,
            ],
          });
          await kube.delete(webhookConfigurationRef);
          await kube.delete({ resource: "pods", namespace: ns, name: "after-webhook" });
          const run = await doctor();
          equal(run.code, 0, describe(run));
          const check = run.checks.find((c) => c.id === "api-audiences")!;
          equal(check.warning, true, describe(run));
          ok(check.fix?.includes("--api-audiences"));
        });
      } finally {
        aws.destroy();
        kube.close();
      }
    }),
});
