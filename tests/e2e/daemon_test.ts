// `kubectl irsa daemon` reconciling the seed's IRSASetup and IRSA objects against the real apiserver and moto:
// the seed README manifests applied verbatim reach Ready, drift made behind the daemon's back is repaired within
// one resync, edits converge and remove what is no longer bound, deletion honours cleanup, a second IRSASetup is
// refused, and deleting everything at once leaves no role behind.
import { seedIrsaYaml, seedSetupYaml } from "../../lib/testdata/seed_manifests.ts";
import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import {
  CreateRoleCommand,
  DetachRolePolicyCommand,
  GetOpenIDConnectProviderCommand,
  GetRoleCommand,
  ListAttachedRolePoliciesCommand,
  ListOpenIDConnectProvidersCommand,
  ListRolesCommand,
  ListRoleTagsCommand,
  UpdateAssumeRolePolicyCommand,
} from "@aws-sdk/client-iam";
import { DeleteObjectCommand, HeadBucketCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { crdGroup, crdVersion, keySecret, systemNamespace } from "../../lib/names.ts";
import { parsePolicyDocument } from "../../lib/trust_policy.ts";
import type { KubeClient } from "../../lib/kube/client.ts";
import { sandboxAws } from "../support/aws.ts";
import { installCrds } from "../support/crds.ts";
import { startDaemon, unboundedDrift } from "../support/daemon.ts";
import { createNamespace, sandboxClient } from "../support/kube.ts";
import { motoAccount, withSandbox } from "../support/sandbox.ts";
import { findKubectl } from "../support/kubectl.ts";
import { IrsaError, isRetryable } from "../../lib/errors.ts";
import { addFinalizer, removeFinalizer } from "../../daemon/object_ops.ts";
import type { ObjectMetadata } from "../../daemon/resources.ts";

// The seed README's manifests, verbatim but for the placeholders.
const seedSetup = seedSetupYaml({ region: "eu-west-1", bucket: "seed-oidc-bucket" });
const seedIrsa = seedIrsaYaml;

type Ready = { status: string; reason: string; message: string };
const api = `/apis/${crdGroup}/${crdVersion}/namespaces/${systemNamespace}`;

async function waitReady(
  kube: KubeClient,
  plural: string,
  name: string,
  want: string,
  timeoutMs = 30_000,
): Promise<Ready & { object: Record<string, unknown> }> {
  const deadline = Date.now() + timeoutMs;
  let last: Ready | undefined;
  while (Date.now() < deadline) {
    const o = await kube.get<{ status?: { conditions?: (Ready & { type: string })[] } }>(`${api}/${plural}/${name}`);
    last = o?.status?.conditions?.find((c) => c.type === "Ready");
    if (last && last.status === want) return { ...last, object: o as Record<string, unknown> };
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${plural}/${name} did not reach Ready=${want}; last: ${JSON.stringify(last)}`);
}

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function writeCalls(metrics: string): number {
  return [...metrics.matchAll(/^kubectl_irsa_aws_calls_total\{operation="[^:]+:(\w+)",outcome="ok"\} (\d+)/gm)]
    .filter((m) => !/^(Get|List|Head|Describe)/.test(m[1]!))
    .reduce((n, m) => n + Number(m[2]), 0);
}

Deno.test({
  name: "daemon e2e",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: (t) =>
    withSandbox(async (sandbox) => {
      const kube = await sandboxClient(sandbox);
      const aws = await sandboxAws(sandbox);
      try {
        await installCrds(kube);
        await createNamespace(kube, systemNamespace);
        // The seed's credentials Secret; every key is optional, the region here is the one that matters.
        await kube.create({ resource: "secrets", namespace: systemNamespace }, {
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: "aws-secret" },
          stringData: {
            "aws-access-key-id": sandbox.env.AWS_ACCESS_KEY_ID!,
            "aws-secret-access-key": sandbox.env.AWS_SECRET_ACCESS_KEY!,
            "aws-region": "eu-west-1",
          },
        });
        const daemon = await startDaemon(sandbox, [
          "--namespace",
          systemNamespace,
          "--no-webhook",
          "--resync-period",
          "2s",
          ...unboundedDrift,
        ], {
          env: { AWS_REGION: "" },
        });
        try {
          await t.step(
            "the seed's IRSASetup reaches Ready: issuer published, provider registered, key Secret stored",
            async () => {
              await kube.create({
                group: crdGroup,
                version: crdVersion,
                resource: "irsasetups",
                namespace: systemNamespace,
              }, parseYaml(seedSetup));
              const ready = await waitReady(kube, "irsasetups", "irsa-init", "True");
              equal(ready.reason, "SelfHostedSetupReady");
              const status = ready.object.status as { issuer: string; providerArn: string; apiserverFlags: string[] };
              equal(status.issuer, `${sandbox.moto!.endpoint}/seed-oidc-bucket`);
              ok(status.apiserverFlags.includes(`--service-account-issuer=${status.issuer}`));
              await aws.s3.send(new HeadBucketCommand({ Bucket: "seed-oidc-bucket" }));
              const provider = await aws.iam.send(
                new GetOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: status.providerArn }),
              );
              deepStrictEqual(provider.ClientIDList, ["sts.amazonaws.com"]);
              const secret = await kube.get<{ type: string; data: Record<string, string> }>({
                resource: "secrets",
                namespace: keySecret.namespace,
                name: keySecret.name,
              });
              equal(secret?.type, "kubernetes.io/ssh-auth");
              const setupObject = await kube.get<{ metadata: { finalizers: string[] } }>(`${api}/irsasetups/irsa-init`);
              deepStrictEqual(setupObject?.metadata.finalizers, ["irsa-manager.kkb0318.github.io/finalizers"]);
            },
          );

          await t.step("the seed's IRSA reaches Ready with the role, the policy and both ServiceAccounts", async () => {
            await kube.create(
              { group: crdGroup, version: crdVersion, resource: "irsas", namespace: systemNamespace },
              parseYaml(seedIrsa),
            );
            const ready = await waitReady(kube, "irsas", "irsa-sample", "True");
            equal(ready.reason, "IRSAReady");
            const status = ready.object.status as {
              roleArn: string;
              serviceAccounts: { name: string; namespace: string }[];
            };
            equal(status.roleArn, `arn:aws:iam::${motoAccount}:role/irsa1-role`);
            deepStrictEqual(status.serviceAccounts, [{ name: "irsa1-sa", namespace: "kube-system" }, {
              name: "irsa1-sa",
              namespace: "default",
            }]);
            const role = await aws.iam.send(new GetRoleCommand({ RoleName: "irsa1-role" }));
            const sub = Object.entries(
              parsePolicyDocument(role.Role!.AssumeRolePolicyDocument!).Statement as unknown as [
                { Condition: { StringEquals: Record<string, unknown> } },
              ],
            )
              .flatMap(([, st]) => Object.entries(st.Condition.StringEquals)).find(([k]) => k.endsWith(":sub"))?.[1];
            deepStrictEqual(sub, [
              "system:serviceaccount:default:irsa1-sa",
              "system:serviceaccount:kube-system:irsa1-sa",
            ]);
            for (const ns of ["kube-system", "default"]) {
              const sa = await kube.get<{ metadata: { annotations: Record<string, string> } }>({
                resource: "serviceaccounts",
                namespace: ns,
                name: "irsa1-sa",
              });
              equal(sa?.metadata.annotations["eks.amazonaws.com/role-arn"], status.roleArn);
            }
          });

          await t.step("resyncs with no drift make no AWS write", async () => {
            const before = writeCalls(await daemon.metrics());
            await new Promise((r) => setTimeout(r, 5000)); // two resync periods
            const after = writeCalls(await daemon.metrics());
            equal(after, before, "no writes while nothing drifted");
            ok(
              /kubectl_irsa_reconciles_total\{kind="IRSA",result="success"\} ([3-9]|\d\d+)/.test(
                await daemon.metrics(),
              ),
            );
          });

          await t.step("drift made behind the daemon's back is repaired within one resync", async () => {
            await aws.iam.send(
              new UpdateAssumeRolePolicyCommand({
                RoleName: "irsa1-role",
                PolicyDocument: JSON.stringify({
                  Version: "2012-10-17",
                  Statement: [{ Effect: "Deny", Principal: { AWS: "*" }, Action: "sts:AssumeRole" }],
                }),
              }),
            );
            await aws.iam.send(
              new DetachRolePolicyCommand({
                RoleName: "irsa1-role",
                PolicyArn: "arn:aws:iam::aws:policy/AmazonS3FullAccess",
              }),
            );
            await kube.patch({ resource: "serviceaccounts", namespace: "default", name: "irsa1-sa" }, {
              metadata: { annotations: { "eks.amazonaws.com/role-arn": null } },
            });
            await eventually(async () => {
              const attached = await aws.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: "irsa1-role" }));
              const role = await aws.iam.send(new GetRoleCommand({ RoleName: "irsa1-role" }));
              const sa = await kube.get<{ metadata: { annotations?: Record<string, string> } }>({
                resource: "serviceaccounts",
                namespace: "default",
                name: "irsa1-sa",
              });
              return attached.AttachedPolicies?.length === 1 &&
                JSON.stringify(parsePolicyDocument(role.Role!.AssumeRolePolicyDocument!)).includes("irsa1-sa") &&
                sa?.metadata.annotations?.["eks.amazonaws.com/role-arn"] !== undefined;
            }, "drift repair");
          });

          await t.step(
            "a discovery object deleted or changed behind the daemon's back is restored within one resync",
            async () => {
              const setupObject = await kube.get<{ status: { issuer: string } }>(`${api}/irsasetups/irsa-init`);
              const keysUrl = `/seed-oidc-bucket/keys.json`;
              const original = await (await sandbox.moto!.fetch(keysUrl)).text();
              await aws.s3.send(new DeleteObjectCommand({ Bucket: "seed-oidc-bucket", Key: "keys.json" }));
              await aws.s3.send(
                new PutObjectCommand({
                  Bucket: "seed-oidc-bucket",
                  Key: ".well-known/openid-configuration",
                  Body: JSON.stringify({ issuer: `${setupObject!.status.issuer}/` }),
                }),
              );
              await eventually(async () => {
                const keys = await (await sandbox.moto!.fetch(keysUrl)).text();
                const discovery =
                  await (await sandbox.moto!.fetch("/seed-oidc-bucket/.well-known/openid-configuration")).json();
                return keys === original && discovery.issuer === setupObject!.status.issuer;
              }, "keys.json and the discovery document to be restored");
            },
          );

          await t.step("editing the spec converges", async () => {
            await kube.patch({
              group: crdGroup,
              version: crdVersion,
              resource: "irsas",
              namespace: systemNamespace,
              name: "irsa-sample",
            }, {
              spec: { iamPolicies: ["AmazonS3FullAccess", "AmazonSQSReadOnlyAccess"] },
            });
            await eventually(async () => {
              const attached = await aws.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: "irsa1-role" }));
              return attached.AttachedPolicies?.length === 2;
            }, "the second policy");
          });

          await t.step(
            "bad specs are refused by the schema, or Ready=False with a reason and no AWS write",
            async () => {
              const irsa = (name: string, policies: string[]) => ({
                apiVersion: `${crdGroup}/${crdVersion}`,
                kind: "IRSA",
                metadata: { name },
                spec: {
                  cleanup: true,
                  serviceAccount: { name: "bad", namespaces: ["default"] },
                  iamRole: { name: `${name}-role` },
                  iamPolicies: policies,
                },
              });
              const collection = {
                group: crdGroup,
                version: crdVersion,
                resource: "irsas",
                namespace: systemNamespace,
              };
              const refused = await kube.create(collection, irsa("bad-arn", ["arn:aws:s3:::not-a-policy"])).then(
                () => "created",
                (e) => e.message,
              );
              ok(refused.includes("HTTP 422") && refused.includes("iamPolicies"), refused);
              const before = writeCalls(await daemon.metrics());
              await kube.create(collection, irsa("unknown-policy", ["NoSuchPolicyAnywhere"]));
              const ready = await waitReady(kube, "irsas", "unknown-policy", "False");
              equal(ready.reason, "PolicyNotFound");
              ok(ready.message.includes("NoSuchPolicyAnywhere"), ready.message);
              equal(writeCalls(await daemon.metrics()), before);
              await kube.delete({ ...collection, name: "unknown-policy" });
            },
          );

          await t.step("a second IRSASetup is refused with a clear reason", async () => {
            const second = parseYaml(seedSetup) as { metadata: { name: string } };
            second.metadata.name = "second";
            await kube.create({
              group: crdGroup,
              version: crdVersion,
              resource: "irsasetups",
              namespace: systemNamespace,
            }, second);
            const ready = await waitReady(kube, "irsasetups", "second", "False");
            equal(ready.reason, "DuplicateSetup");
          });

          await t.step(
            "deleting an IRSA with cleanup: true removes its role and the ServiceAccounts it created",
            async () => {
              await kube.delete({
                group: crdGroup,
                version: crdVersion,
                resource: "irsas",
                namespace: systemNamespace,
                name: "irsa-sample",
              });
              await eventually(
                async () => (await kube.get(`${api}/irsas/irsa-sample`)) === undefined,
                "the IRSA object to go",
              );
              const role = await aws.iam.send(new GetRoleCommand({ RoleName: "irsa1-role" })).then(
                () => "exists",
                (e) => e.name,
              );
              equal(role, "NoSuchEntityException");
              equal(await kube.get({ resource: "serviceaccounts", namespace: "default", name: "irsa1-sa" }), undefined);
            },
          );

          await t.step("deleting an IRSA with cleanup: false leaves AWS as it is", async () => {
            const kept = parseYaml(seedIrsa) as {
              metadata: { name: string };
              spec: { cleanup: boolean; iamRole: { name: string } };
            };
            kept.metadata.name = "kept";
            kept.spec.cleanup = false;
            kept.spec.iamRole.name = "kept-role";
            await kube.create(
              { group: crdGroup, version: crdVersion, resource: "irsas", namespace: systemNamespace },
              kept,
            );
            await waitReady(kube, "irsas", "kept", "True");
            await kube.delete({
              group: crdGroup,
              version: crdVersion,
              resource: "irsas",
              namespace: systemNamespace,
              name: "kept",
            });
            await eventually(async () => (await kube.get(`${api}/irsas/kept`)) === undefined, "the IRSA object to go");
            await aws.iam.send(new GetRoleCommand({ RoleName: "kept-role" }));
          });

          await t.step(
            "the apiserver refuses a finalizer patch on a stale resourceVersion (HTTP 422): a retryable conflict",
            async () => {
              await createNamespace(kube, "rv-probe");
              const ref = { resource: "configmaps", namespace: "rv-probe", name: "probe" };
              const read = async () => (await kube.get<{ metadata: ObjectMetadata }>(ref))!.metadata as ObjectMetadata;
              await kube.create({ resource: "configmaps", namespace: "rv-probe" }, { metadata: { name: "probe" } });
              const collection = { resource: "configmaps" };
              for (const op of [addFinalizer, removeFinalizer]) {
                const stale = await read();
                await kube.patch(ref, { metadata: { labels: { touched: String(Date.now()) } } });
                await rejects(op(kube, collection, stale), (e: unknown) => {
                  ok(e instanceof IrsaError && e.kind === "conflict" && isRetryable(e), String(e));
                  ok(String((e as Error).cause).includes("HTTP 422"), String((e as Error).cause));
                  return true;
                });
                await op(kube, collection, await read());
              }
              deepStrictEqual((await read()).finalizers ?? [], []);
            },
          );

          await t.step(
            "dropping namespaces and renaming the role remove what is no longer bound; foreign things stay",
            async () => {
              for (const ns of ["edit-a", "edit-b", "edit-c"]) await createNamespace(kube, ns);
              // Someone else's ServiceAccount in edit-b (another field manager): bind annotates it, never owns it.
              const made = await sandbox.adminFetch(
                "/api/v1/namespaces/edit-b/serviceaccounts?fieldManager=kubectl-annotate",
                {
                  method: "POST",
                  headers: { "content-type": "application/json" },
                  body: JSON.stringify({
                    metadata: { name: "edit-sa", annotations: { "example.com/owner": "team-b" } },
                  }),
                },
              );
              equal(made.status, 201, await made.text());
              const irsas = { group: crdGroup, version: crdVersion, resource: "irsas", namespace: systemNamespace };
              await kube.create(irsas, {
                apiVersion: `${crdGroup}/${crdVersion}`,
                kind: "IRSA",
                metadata: { name: "edit" },
                spec: {
                  cleanup: true,
                  serviceAccount: { name: "edit-sa", namespaces: ["edit-a", "edit-b", "edit-c"] },
                  iamRole: { name: "edit-role" },
                  iamPolicies: ["AmazonS3FullAccess"],
                },
              });
              await waitReady(kube, "irsas", "edit", "True");
              const sa = (ns: string) =>
                kube.get<{ metadata: { annotations?: Record<string, string> } }>({
                  resource: "serviceaccounts",
                  namespace: ns,
                  name: "edit-sa",
                });
              ok((await sa("edit-b"))?.metadata.annotations?.["eks.amazonaws.com/role-arn"]);

              await kube.patch({ ...irsas, name: "edit" }, {
                spec: { serviceAccount: { name: "edit-sa", namespaces: ["edit-a"] }, iamRole: { name: "edit-role-2" } },
              });
              const newArn = `arn:aws:iam::${motoAccount}:role/edit-role-2`;
              await eventually(async () => {
                const gone = await aws.iam.send(new GetRoleCommand({ RoleName: "edit-role" })).then(
                  () => false,
                  (e) => e.name === "NoSuchEntityException",
                );
                const status = (await kube.get<{ status: { roleArn: string } }>(`${api}/irsas/edit`))?.status;
                return gone && status?.roleArn === newArn;
              }, "the old role to go and the new one to be recorded");
              const role = await aws.iam.send(new GetRoleCommand({ RoleName: "edit-role-2" }));
              ok(
                JSON.stringify(parsePolicyDocument(role.Role!.AssumeRolePolicyDocument!)).includes(
                  '"system:serviceaccount:edit-a:edit-sa"',
                ),
              );
              ok(
                !JSON.stringify(parsePolicyDocument(role.Role!.AssumeRolePolicyDocument!)).includes("edit-b"),
                "the trust policy no longer names the dropped namespaces",
              );
              equal((await sa("edit-a"))?.metadata.annotations?.["eks.amazonaws.com/role-arn"], newArn);
              // Our annotations left the foreign ServiceAccount; its own stayed, and it was not deleted.
              deepStrictEqual((await sa("edit-b"))?.metadata.annotations, { "example.com/owner": "team-b" });
              equal(await sa("edit-c"), undefined, "the ServiceAccount the daemon created is deleted");
              const status = (await kube.get<{ status: { serviceAccounts: unknown[] } }>(`${api}/irsas/edit`))
                ?.status;
              deepStrictEqual(status?.serviceAccounts, [{ name: "edit-sa", namespace: "edit-a" }]);

              // An inventory naming a role that is not ours (edited by hand) never gets it deleted.
              await aws.iam.send(
                new CreateRoleCommand({
                  RoleName: "foreign-role",
                  AssumeRolePolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [] }),
                }),
              );
              await kube.patch({ ...irsas, name: "edit", subresource: "status" }, {
                status: { roleArn: `arn:aws:iam::${motoAccount}:role/foreign-role` },
              });
              await kube.patch({ ...irsas, name: "edit" }, {
                spec: { iamPolicies: ["AmazonS3FullAccess", "AmazonSQSReadOnlyAccess"] },
              });
              await eventually(async () => {
                const o = await kube.get<{ status: { roleArn: string } }>(`${api}/irsas/edit`);
                const attached = await aws.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: "edit-role-2" }));
                return o?.status.roleArn === newArn && attached.AttachedPolicies?.length === 2;
              }, "the edit to converge");
              await aws.iam.send(new GetRoleCommand({ RoleName: "foreign-role" }));
            },
          );

          await t.step(
            "deleting the IRSASetups and every IRSA object in one kubectl delete leaves no role of ours",
            async () => {
              await createNamespace(kube, "teardown");
              const irsas = { group: crdGroup, version: crdVersion, resource: "irsas", namespace: systemNamespace };
              for (const [name, namespaces] of [["td-1", ["teardown"]], ["td-2", ["teardown", "edit-a"]]] as const) {
                await kube.create(irsas, {
                  apiVersion: `${crdGroup}/${crdVersion}`,
                  kind: "IRSA",
                  metadata: { name },
                  spec: {
                    cleanup: true,
                    serviceAccount: { name: `${name}-sa`, namespaces },
                    iamRole: { name: `${name}-role` },
                    iamPolicies: ["AmazonS3FullAccess"],
                  },
                });
                await waitReady(kube, "irsas", name, "True");
              }
              // The seed's IRSASetup keeps its setup on deletion; this one is to be torn down.
              await kube.patch({
                group: crdGroup,
                version: crdVersion,
                resource: "irsasetups",
                namespace: systemNamespace,
                name: "irsa-init",
              }, { spec: { cleanup: true } });
              // The setups first: the worst order for the roles, whose cleanup needs the setup record.
              const out = await new Deno.Command(await findKubectl(), {
                args: [
                  "delete",
                  "-n",
                  systemNamespace,
                  "--wait=false",
                  "irsasetup/irsa-init",
                  "irsasetup/second",
                  "irsa/edit",
                  "irsa/td-1",
                  "irsa/td-2",
                ],
                env: { KUBECONFIG: sandbox.kubeconfigPath },
              }).output();
              equal(out.code, 0, new TextDecoder().decode(out.stderr));
              await eventually(
                async () => {
                  const left = await kube.list({ group: crdGroup, version: crdVersion, resource: "irsas" });
                  const setups = await kube.list({ group: crdGroup, version: crdVersion, resource: "irsasetups" });
                  return left.length === 0 && setups.length === 0;
                },
                "every IRSA and IRSASetup object to go (no finalizer stuck)",
                60_000,
              );
              const roles = (await aws.iam.send(new ListRolesCommand({}))).Roles ?? [];
              const ours: string[] = [];
              for (const r of roles) {
                const tags = (await aws.iam.send(new ListRoleTagsCommand({ RoleName: r.RoleName! }))).Tags ?? [];
                if (tags.some((t) => t.Key === "kubectl-irsa/managed-by")) ours.push(r.RoleName!);
              }
              // kept-role belongs to the IRSA deleted with cleanup: false, which promised to leave it.
              deepStrictEqual(ours, ["kept-role"]);
              await aws.iam.send(new GetRoleCommand({ RoleName: "foreign-role" }));
              deepStrictEqual(
                (await aws.iam.send(new ListOpenIDConnectProvidersCommand({}))).OpenIDConnectProviderList,
                [],
              );
              const bucket = await aws.s3.send(new HeadBucketCommand({ Bucket: "seed-oidc-bucket" })).then(
                () => "exists",
                () => "gone",
              );
              equal(bucket, "gone");
              equal(
                await kube.get({ resource: "serviceaccounts", namespace: "teardown", name: "td-1-sa" }),
                undefined,
              );
            },
          );
        } finally {
          await daemon.stop();
        }
      } finally {
        aws.destroy();
        kube.close();
      }
    }),
});
