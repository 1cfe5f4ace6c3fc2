// `kubectl irsa bind/unbind/list` end to end after `init` (cluster mode) on the real apiserver and moto,
// including the seed's s3-echoer proof with moto's IAM enforcement on.
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { CreateBucketCommand, GetObjectCommand } from "@aws-sdk/client-s3";
import {
  AttachRolePolicyCommand,
  CreateRoleCommand,
  GetRoleCommand,
  ListAttachedRolePoliciesCommand,
  UpdateAssumeRolePolicyCommand,
} from "@aws-sdk/client-iam";
import { parseSetupRecord } from "../../lib/setup_record.ts";
import { buildTrustPolicy, parsePolicyDocument } from "../../lib/trust_policy.ts";
import { setupRecord } from "../../lib/names.ts";
import { sandboxAws } from "../support/aws.ts";
import { runPlugin } from "../support/cli.ts";
import { s3Echoer } from "../support/echoer.ts";
import { initAndRestart } from "../support/irsa_setup.ts";
import { freshNamespace, sandboxClient } from "../support/kube.ts";
import { withSandbox } from "../support/sandbox.ts";

Deno.test({
  name: "bind e2e",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: (t) =>
    withSandbox(async (sandbox) => {
      const kube = await sandboxClient(sandbox);
      const aws = await sandboxAws(sandbox);
      const env = sandbox.env;
      try {
        const init = await initAndRestart(sandbox, "bind-oidc");
        const cm = await kube.get<{ data: Record<string, string> }>({
          resource: "configmaps",
          namespace: setupRecord.namespace,
          name: setupRecord.name,
        });
        const setup = parseSetupRecord(cm!.data);
        const hostPath = init.issuer.slice("https://".length);
        const ns = await freshNamespace(kube, "demo");
        const ns2 = await freshNamespace(kube, "other");
        await aws.s3.send(
          new CreateBucketCommand({
            Bucket: "echo-target",
            CreateBucketConfiguration: { LocationConstraint: "eu-west-1" },
          }),
        );

        await t.step(
          "bind creates the role with the exact trust policy, attaches the policy and annotates the SA",
          async () => {
            const run = await runPlugin(
              ["bind", "sa", "app", "-n", ns, "--policy", "AmazonS3FullAccess", "-o", "json"],
              { env },
            );
            equal(run.code, 0, run.stderr);
            const result = JSON.parse(run.stdout) as { roleName: string; roleArn: string };
            ok(run.calls.length <= 8, `a new binding takes ${run.calls.length} AWS calls`);
            const role = await aws.iam.send(new GetRoleCommand({ RoleName: result.roleName }));
            deepStrictEqual(parsePolicyDocument(role.Role!.AssumeRolePolicyDocument!), {
              Version: "2012-10-17",
              Statement: [{
                Effect: "Allow",
                Principal: { Federated: setup.providerArn },
                Action: "sts:AssumeRoleWithWebIdentity",
                Condition: {
                  StringEquals: {
                    [`${hostPath}:sub`]: [`system:serviceaccount:${ns}:app`],
                    [`${hostPath}:aud`]: "sts.amazonaws.com",
                  },
                },
              }],
            });
            const tags = Object.fromEntries((role.Role!.Tags ?? []).map((t) => [t.Key, t.Value]));
            equal(tags["kubectl-irsa/managed-by"], "kubectl-irsa");
            equal(tags["kubectl-irsa/service-account"], `${ns}/app`);
            const attached = await aws.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: result.roleName }));
            deepStrictEqual(attached.AttachedPolicies?.map((p) => p.PolicyArn), [
              "arn:aws:iam::aws:policy/AmazonS3FullAccess",
            ]);
            const sa = await kube.get<{ metadata: { annotations: Record<string, string> } }>({
              resource: "serviceaccounts",
              namespace: ns,
              name: "app",
            });
            equal(sa!.metadata.annotations["eks.amazonaws.com/role-arn"], result.roleArn);
            equal(result.roleArn, role.Role!.Arn);

            const rerun = await runPlugin(["bind", "sa", "app", "-n", ns, "--policy", "AmazonS3FullAccess"], { env });
            equal(rerun.code, 0, rerun.stderr);
            deepStrictEqual(rerun.writes, [], "a rerun makes no AWS write");
            ok(rerun.stderr.includes("Everything is up to date"));
          },
        );

        await t.step(
          "the s3-echoer proof: token -> STS -> S3 write, and a role without the S3 policy is denied",
          async () => {
            const denied = await runPlugin([
              "bind",
              "sa",
              "reader",
              "-n",
              ns,
              "--policy",
              "AmazonSQSReadOnlyAccess",
            ], { env });
            equal(denied.code, 0, denied.stderr);
            {
              const proof = await s3Echoer(sandbox, kube, {
                namespace: ns,
                serviceAccount: "app",
                setup,
                bucket: "echo-target",
                key: "echo.txt",
              });
              ok(proof.written, `the bound role must write: ${proof.denial}`);
              equal(proof.links.length, 5);
              const refused = await s3Echoer(sandbox, kube, {
                namespace: ns,
                serviceAccount: "reader",
                setup,
                bucket: "echo-target",
                key: "nope.txt",
              });
              ok(!refused.written, "a role without S3 permissions must be denied");
              ok(/AccessDenied/.test(refused.denial ?? ""), refused.denial);
            }
            const got = await aws.s3.send(new GetObjectCommand({ Bucket: "echo-target", Key: "echo.txt" }));
            equal(await got.Body!.transformToString(), "hello from IRSA\n");
          },
        );

        await t.step("a second namespace updates only the trust policy of an explicitly named role", async () => {
          const common = ["--policy", "AmazonS3ReadOnlyAccess", "--role-name", "multi-ns-role"];
          const first = await runPlugin(["bind", "sa", "multi", "-n", ns, ...common], { env });
          equal(first.code, 0, first.stderr);
          const second = await runPlugin(["bind", "sa", "multi", "-n", ns, "-n", ns2, ...common], { env });
          equal(second.code, 0, second.stderr);
          // The trust policy gains the namespace and the ownership tag names both namespaces.
          deepStrictEqual(second.writes.map((w) => w.operation), ["UpdateAssumeRolePolicy", "TagRole"]);
          const role = await aws.iam.send(new GetRoleCommand({ RoleName: "multi-ns-role" }));
          const want = buildTrustPolicy({
            providerArn: setup.providerArn,
            issuerHostPath: hostPath,
            subjects: [{ namespace: ns, serviceAccount: "multi" }, { namespace: ns2, serviceAccount: "multi" }],
          });
          deepStrictEqual(parsePolicyDocument(role.Role!.AssumeRolePolicyDocument!), want);
          // The SA in the second namespace did not exist, so bind created it and says so.
          const sa = await kube.get<{ metadata: { annotations: Record<string, string> } }>({
            resource: "serviceaccounts",
            namespace: ns2,
            name: "multi",
          });
          equal(sa!.metadata.annotations["irsa.kubectl.io/created-by"], "kubectl-irsa");
        });

        await t.step("list shows ok, drifted and missing role", async () => {
          await aws.iam.send(
            new UpdateAssumeRolePolicyCommand({
              RoleName: "multi-ns-role",
              PolicyDocument: JSON.stringify(
                buildTrustPolicy({
                  providerArn: setup.providerArn,
                  issuerHostPath: hostPath,
                  subjects: [{ namespace: "elsewhere", serviceAccount: "multi" }],
                }),
              ),
            }),
          );
          const run = await runPlugin(["list", "-A", "-o", "json"], { env });
          equal(run.code, 0, run.stderr);
          deepStrictEqual(run.writes, []);
          const rows =
            (JSON.parse(run.stdout) as { items: { namespace: string; serviceAccount: string; state: string }[] }).items;
          const state = (n: string, s: string) => rows.find((r) => r.namespace === n && r.serviceAccount === s)?.state;
          equal(state(ns, "app"), "ok");
          equal(state(ns, "multi"), "drifted");
          equal(state(ns2, "multi"), "drifted");
          const table = await runPlugin(["list", "-n", ns], { env });
          ok(table.stdout.startsWith("SERVICEACCOUNT"), table.stdout);
          // Repair by rebinding: bind restores the trust policy.
          const repair = await runPlugin([
            "bind",
            "sa",
            "multi",
            "-n",
            ns,
            "-n",
            ns2,
            "--policy",
            "AmazonS3ReadOnlyAccess",
            "--role-name",
            "multi-ns-role",
          ], { env });
          deepStrictEqual(repair.writes.map((w) => w.operation), ["UpdateAssumeRolePolicy"]);
        });

        await t.step("a foreign role is refused and never changed", async () => {
          await aws.iam.send(
            new CreateRoleCommand({
              RoleName: "foreign-role",
              AssumeRolePolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [] }),
            }),
          );
          await aws.iam.send(
            new AttachRolePolicyCommand({
              RoleName: "foreign-role",
              PolicyArn: "arn:aws:iam::aws:policy/ReadOnlyAccess",
            }),
          );
          const run = await runPlugin([
            "bind",
            "sa",
            "app2",
            "-n",
            ns,
            "--policy",
            "AmazonS3FullAccess",
            "--role-name",
            "foreign-role",
          ], { env });
          equal(run.code, 1);
          ok(run.stderr.includes("was not created by kubectl-irsa") && run.stderr.includes("--adopt"), run.stderr);
          deepStrictEqual(run.writes, []);
          const attached = await aws.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: "foreign-role" }));
          deepStrictEqual(attached.AttachedPolicies?.map((p) => p.PolicyArn), [
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
          ]);
        });

        await t.step(
          "unbind removes our role and annotations, deletes only SAs we created, and leaves foreign roles",
          async () => {
            const app = await runPlugin(["unbind", "sa", "app", "-n", ns], { env });
            equal(app.code, 0, app.stderr);
            const gone = await aws.iam.send(new GetRoleCommand({ RoleName: "irsa-bind-oidc-" + ns + "_app" })).then(
              () => "exists",
              (e) => e.name,
            );
            equal(gone, "NoSuchEntityException");
            // bind created demo/app, so unbind deletes it.
            equal(await kube.get({ resource: "serviceaccounts", namespace: ns, name: "app" }), undefined);
            // multi in ns2 was created by bind: unbinding it deletes it and keeps the role for ns.
            const multi = await runPlugin(["unbind", "sa", "multi", "-n", ns2], { env });
            equal(multi.code, 0, multi.stderr);
            equal(await kube.get({ resource: "serviceaccounts", namespace: ns2, name: "multi" }), undefined);
            const role = await aws.iam.send(new GetRoleCommand({ RoleName: "multi-ns-role" }));
            deepStrictEqual(
              parsePolicyDocument(role.Role!.AssumeRolePolicyDocument!),
              buildTrustPolicy({
                providerArn: setup.providerArn,
                issuerHostPath: hostPath,
                subjects: [{ namespace: ns, serviceAccount: "multi" }],
              }),
            );
            const foreign = await aws.iam.send(new GetRoleCommand({ RoleName: "foreign-role" }));
            ok(foreign.Role);
          },
        );
      } finally {
        aws.destroy();
        kube.close();
      }
    }),
});
