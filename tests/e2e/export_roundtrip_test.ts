// The GitOps export is the binding: `bind --dry-run -o yaml` for a binding with every option set, applied with
// kubectl and reconciled by the daemon, leaves exactly the AWS and Kubernetes state that `bind` itself leaves.
import { deepStrictEqual, equal, notEqual, ok } from "node:assert/strict";
import {
  CreatePolicyCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
} from "@aws-sdk/client-iam";
import { parse as parseYaml } from "yaml";
import type { TestAws } from "../support/aws.ts";
import type { IrsaManifest } from "../../lib/irsa_spec.ts";
import type { KubeClient } from "../../lib/kube/client.ts";
import { crdGroup, crdVersion, systemNamespace } from "../../lib/names.ts";
import { parsePolicyDocument } from "../../lib/trust_policy.ts";
import { sandboxAws } from "../support/aws.ts";
import { runPlugin } from "../support/cli.ts";
import { installCrds } from "../support/crds.ts";
import { startDaemon, unboundedDrift } from "../support/daemon.ts";
import { initAndRestart } from "../support/irsa_setup.ts";
import { createNamespace, freshNamespace, sandboxClient } from "../support/kube.ts";
import { findKubectl } from "../support/kubectl.ts";
import { type Sandbox, withSandbox } from "../support/sandbox.ts";

const irsas = { group: crdGroup, version: crdVersion, resource: "irsas", namespace: systemNamespace };

interface ServiceAccount {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion: string;
    creationTimestamp: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    managedFields?: { time?: string }[];
  };
}

/**
 * What a binding left in AWS and in the cluster, normalised only where a re-created object legitimately differs:
 * the role's RoleId and CreateDate (and RoleLastUsed), the ServiceAccounts' uid, resourceVersion,
 * creationTimestamp and managedFields[].time. Policy documents are parsed (IAM returns them URL-encoded) and
 * lists that IAM returns in no defined order (tags, attached and inline policies) are sorted.
 */
async function snapshot(aws: TestAws, kube: KubeClient, roleName: string, namespaces: string[]) {
  const { Role: role } = await aws.iam.send(new GetRoleCommand({ RoleName: roleName }));
  const { RoleId: _id, CreateDate: _created, RoleLastUsed: _used, AssumeRolePolicyDocument, Tags, ...rest } = role!;
  const attached = await aws.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: roleName }));
  const inlineNames = (await aws.iam.send(new ListRolePoliciesCommand({ RoleName: roleName }))).PolicyNames ?? [];
  const inline: Record<string, unknown> = {};
  for (const name of [...inlineNames].sort()) {
    const got = await aws.iam.send(new GetRolePolicyCommand({ RoleName: roleName, PolicyName: name }));
    inline[name] = parsePolicyDocument(got.PolicyDocument!);
  }
  const serviceAccounts = [];
  for (const namespace of namespaces) {
    const sa = await kube.get<ServiceAccount>({ resource: "serviceaccounts", namespace, name: "app" });
    ok(sa, `ServiceAccount ${namespace}/app exists`);
    const { uid: _uid, resourceVersion: _rv, creationTimestamp: _ct, managedFields, ...meta } = sa.metadata;
    serviceAccounts.push({ ...meta, managedFields: (managedFields ?? []).map(({ time: _t, ...f }) => f) });
  }
  return {
    role: {
      ...rest,
      trustPolicy: parsePolicyDocument(AssumeRolePolicyDocument!),
      tags: [...(Tags ?? [])].sort((a, b) => a.Key!.localeCompare(b.Key!)),
    },
    attachedPolicies: [...(attached.AttachedPolicies ?? [])].sort((a, b) => a.PolicyArn!.localeCompare(b.PolicyArn!)),
    inlinePolicies: inline,
    serviceAccounts,
  };
}

/** True when IAM has no role of that name. */
async function roleGone(aws: TestAws, roleName: string): Promise<boolean> {
  try {
    await aws.iam.send(new GetRoleCommand({ RoleName: roleName }));
    return false;
  } catch (e) {
    if ((e as Error).name === "NoSuchEntityException") return true;
    throw e;
  }
}

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

type Ready = { type: string; status: string; reason: string; message: string };

async function waitReady(kube: KubeClient, name: string): Promise<void> {
  let last: Ready | undefined;
  await eventually(async () => {
    const o = await kube.get<{ status?: { conditions?: Ready[] } }>({ ...irsas, name });
    last = o?.status?.conditions?.find((c) => c.type === "Ready");
    return last?.status === "True";
  }, `IRSA ${name} to be Ready (last: ${JSON.stringify(last)})`);
}

/** `kubectl apply -f FILE`, as a GitOps tool would apply the export. */
async function kubectlApply(sandbox: Sandbox, file: string): Promise<string> {
  const out = await new Deno.Command(await findKubectl(), {
    args: ["--kubeconfig", sandbox.kubeconfigPath, "apply", "-f", file],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  equal(out.code, 0, text);
  return text;
}

Deno.test({
  name: "export round trip e2e",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: (t) =>
    withSandbox(async (sandbox) => {
      const kube = await sandboxClient(sandbox);
      const aws = await sandboxAws(sandbox);
      const env = sandbox.env;
      try {
        await installCrds(kube);
        await createNamespace(kube, systemNamespace);
        await initAndRestart(sandbox, "export-oidc");
        const nsA = await freshNamespace(kube, "team-a");
        const nsB = await freshNamespace(kube, "team-b");
        const nsC = await freshNamespace(kube, "team-c");
        const boundary = await aws.iam.send(
          new CreatePolicyCommand({
            PolicyName: "k8s-boundary",
            Path: "/k8s/",
            PolicyDocument: JSON.stringify({
              Version: "2012-10-17",
              Statement: [{ Effect: "Allow", Action: ["s3:*", "sqs:*"], Resource: "*" }],
            }),
          }),
        );
        const boundaryArn = boundary.Policy!.Arn!;
        // Pretty-printed, as a file in a repository would be: the export must carry the same document.
        const inlineText = JSON.stringify(
          {
            Version: "2012-10-17",
            Statement: [{ Effect: "Allow", Action: ["sqs:SendMessage"], Resource: "arn:aws:sqs:eu-west-1:*:jobs" }],
          },
          null,
          2,
        ) + "\n";
        const inlinePath = await sandbox.writeFile("inline-policy.json", inlineText);
        // -n order B, A (not sorted): the export keeps it, so the trust policy's subjects come out alike.
        const bindArgs = [
          "bind",
          "sa",
          "app",
          "-n",
          nsB,
          "-n",
          nsA,
          "--policy",
          "AmazonS3ReadOnlyAccess",
          "--inline-policy",
          inlinePath,
          "--permissions-boundary",
          boundaryArn,
          "--tag",
          "team=payments",
          "--tag",
          "cost-center=42",
          "--role-path",
          "/k8s/apps/",
          "--max-session-duration",
          "7200",
          "--audience",
          "irsa.example.com",
          "--sts-regional-endpoints",
          "true",
          "--token-expiration",
          "3600",
          "--adopt",
        ];

        let manifest: IrsaManifest;
        let exportPath: string;
        await t.step("the export carries every bind option, makes no AWS call and changes nothing", async () => {
          const yaml = await runPlugin([...bindArgs, "--dry-run", "-o", "yaml"], { env });
          equal(yaml.code, 0, yaml.stderr);
          deepStrictEqual(yaml.calls, [], "the export makes no AWS call");
          manifest = parseYaml(yaml.stdout) as IrsaManifest;
          const json = await runPlugin([...bindArgs, "--dry-run", "-o", "json"], { env });
          equal(json.code, 0, json.stderr);
          deepStrictEqual(JSON.parse(json.stdout), manifest, "-o json prints the same object");
          equal(manifest.apiVersion, `${crdGroup}/${crdVersion}`);
          equal(manifest.kind, "IRSA");
          equal(manifest.metadata.namespace, systemNamespace);
          ok(/^[a-z0-9.-]+-[0-9a-f]{10}$/.test(manifest.metadata.name), manifest.metadata.name);
          ok(manifest.metadata.name.startsWith(`${nsA}.${nsB}.app-`), manifest.metadata.name);
          const roleName = manifest.spec.iamRole!.name!;
          ok(roleName.startsWith("irsa-export-oidc-"), `the default role name is pinned: ${roleName}`);
          deepStrictEqual(manifest.spec, {
            cleanup: true,
            serviceAccount: { name: "app", namespaces: [nsB, nsA] },
            iamRole: { name: roleName, path: "/k8s/apps/", maxSessionDuration: 7200 },
            iamPolicies: ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"],
            inlinePolicy: inlineText,
            permissionsBoundary: boundaryArn,
            tags: { team: "payments", "cost-center": "42" },
            audience: "irsa.example.com",
            stsRegionalEndpoints: true,
            tokenExpiration: 3600,
            adopt: true,
          });
          for (const ns of [nsA, nsB]) {
            equal(await kube.get({ resource: "serviceaccounts", namespace: ns, name: "app" }), undefined);
          }
          exportPath = await sandbox.writeFile("irsa-app.yaml", yaml.stdout);
        });

        let viaBind: Awaited<ReturnType<typeof snapshot>>;
        await t.step("bind with the same flags, then unbind both namespaces back to nothing", async () => {
          const roleName = manifest.spec.iamRole!.name!;
          const bind = await runPlugin(bindArgs, { env });
          equal(bind.code, 0, bind.stderr);
          viaBind = await snapshot(aws, kube, roleName, [nsA, nsB]);
          // The options really took effect, so the comparison below compares something.
          equal(viaBind.role.Path, "/k8s/apps/");
          equal(viaBind.role.MaxSessionDuration, 7200);
          equal(viaBind.role.PermissionsBoundary?.PermissionsBoundaryArn, boundaryArn);
          deepStrictEqual(Object.keys(viaBind.inlinePolicies), ["kubectl-irsa-inline"]);
          equal(viaBind.serviceAccounts[0]!.annotations?.["eks.amazonaws.com/token-expiration"], "3600");
          equal(viaBind.serviceAccounts[0]!.annotations?.["eks.amazonaws.com/audience"], "irsa.example.com");
          equal(viaBind.serviceAccounts[0]!.annotations?.["eks.amazonaws.com/sts-regional-endpoints"], "true");

          for (const ns of [nsA, nsB]) {
            const unbind = await runPlugin(["unbind", "sa", "app", "-n", ns], { env });
            equal(unbind.code, 0, unbind.stderr);
          }
          ok(await roleGone(aws, roleName), "unbind deleted the role");
          for (const ns of [nsA, nsB]) {
            equal(await kube.get({ resource: "serviceaccounts", namespace: ns, name: "app" }), undefined);
          }
        });

        const daemon = await startDaemon(sandbox, [
          "--namespace",
          systemNamespace,
          "--no-webhook",
          "--leader-elect=false",
          "--resync-period",
          "3s",
          ...unboundedDrift,
        ]);
        try {
          await t.step("the applied export, reconciled by the daemon, leaves exactly what bind left", async () => {
            const applied = await kubectlApply(sandbox, exportPath);
            ok(applied.includes(`irsa.${crdGroup}/${manifest.metadata.name} created`), applied);
            await waitReady(kube, manifest.metadata.name);
            const viaDaemon = await snapshot(aws, kube, manifest.spec.iamRole!.name!, [nsA, nsB]);
            deepStrictEqual(viaDaemon, viaBind);
          });

          await t.step("bind with the same flags finds nothing to change in what the daemon made", async () => {
            const rerun = await runPlugin(bindArgs, { env });
            equal(rerun.code, 0, rerun.stderr);
            deepStrictEqual(rerun.writes, [], "no AWS write");
            ok(rerun.stderr.includes("Everything is up to date"), rerun.stderr);
          });

          await t.step("app in another namespace set exports under another name, and both objects live", async () => {
            const other = await runPlugin(
              ["bind", "sa", "app", "-n", nsC, "--policy", "AmazonS3ReadOnlyAccess", "--dry-run", "-o", "yaml"],
              { env },
            );
            equal(other.code, 0, other.stderr);
            const otherManifest = parseYaml(other.stdout) as IrsaManifest;
            notEqual(otherManifest.metadata.name, manifest.metadata.name);
            ok(otherManifest.metadata.name.startsWith(`${nsC}.app-`), otherManifest.metadata.name);
            await kubectlApply(sandbox, await sandbox.writeFile("irsa-app-c.yaml", other.stdout));
            await waitReady(kube, otherManifest.metadata.name);
            const names = (await kube.list<{ metadata: { name: string } }>(irsas)).map((o) => o.metadata.name).sort();
            deepStrictEqual(names, [manifest.metadata.name, otherManifest.metadata.name].sort());
            await waitReady(kube, manifest.metadata.name);
            const sa = await kube.get<ServiceAccount>({ resource: "serviceaccounts", namespace: nsC, name: "app" });
            equal(
              sa?.metadata.annotations?.["eks.amazonaws.com/role-arn"],
              (await aws.iam.send(new GetRoleCommand({ RoleName: otherManifest.spec.iamRole!.name! }))).Role!.Arn,
            );
            notEqual(otherManifest.spec.iamRole!.name, manifest.spec.iamRole!.name);
          });

          await t.step("deleting the exported object (cleanup: true) undoes it as unbind did", async () => {
            await kube.delete({ ...irsas, name: manifest.metadata.name });
            await eventually(
              async () => (await kube.get({ ...irsas, name: manifest.metadata.name })) === undefined,
              "the IRSA object to go",
            );
            ok(await roleGone(aws, manifest.spec.iamRole!.name!), "the role is deleted");
            for (const ns of [nsA, nsB]) {
              equal(await kube.get({ resource: "serviceaccounts", namespace: ns, name: "app" }), undefined);
            }
          });
        } finally {
          await daemon.stop();
        }
      } finally {
        aws.destroy();
        kube.close();
      }
    }),
});
