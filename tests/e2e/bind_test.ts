// `kubectl irsa bind/unbind/list` end to end after `init` (cluster mode) on the real apiserver and moto,
// including the seed's s3-echoer proof with moto's IAM enforcement on.
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { CreateBucketCommand, GetObjectCommand } from "@aws-sdk/client-s3";
import {
  AttachRolePolicyCommand,
  CreateRoleCommand,
  DeleteRoleCommand,
  DetachRolePolicyCommand,
  GetRoleCommand,
  ListAttachedRolePoliciesCommand,
  PutRolePermissionsBoundaryCommand,
  UntagRoleCommand,
  UpdateAssumeRolePolicyCommand,
} from "@aws-sdk/client-iam";
import { roleArn as buildRoleArn } from "../../lib/arn.ts";
import { defaultRoleName } from "../../lib/role_name.ts";
import { parseSetupRecord } from "../../lib/setup_record.ts";
import { buildTrustPolicy, parsePolicyDocument } from "../../lib/trust_policy.ts";
import { setupRecord } from "../../lib/names.ts";
import { sandboxAws } from "../support/aws.ts";
import { runPlugin } from "../support/cli.ts";
import { findKubectl } from "../support/kubectl.ts";
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
        const kubectlPath = await findKubectl();
        /** The real kubectl, as an admin annotating by hand would run it (its own field manager). */
        const kubectl = async (...args: string[]) => {
          const out = await new Deno.Command(kubectlPath, {
            args: ["--kubeconfig", sandbox.kubeconfigPath, ...args],
            stdout: "piped",
            stderr: "piped",
          }).output();
          equal(out.code, 0, new TextDecoder().decode(out.stderr));
        };
        type ListRow = { namespace: string; serviceAccount: string; state: string; detail?: string; drift?: string[] };
        const listRows = async (...args: string[]) => {
          const run = await runPlugin(["list", ...args, "-o", "json"], { env });
          equal(run.code, 0, run.stderr);
          deepStrictEqual(run.writes, [], "list writes nothing");
          return (JSON.parse(run.stdout) as { items: ListRow[] }).items;
        };
        type Sa = { metadata: { resourceVersion: string; annotations?: Record<string, string> } };
        const getSa = (namespace: string, name: string) =>
          kube.get<Sa>({ resource: "serviceaccounts", namespace, name });
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

        await t.step("a second namespace updates the trust policy and the ownership tag of a named role", async () => {
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

        await t.step("list shows ok and drifted, and bind repairs the drift", async () => {
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

        await t.step("list reports a role deleted behind our back as missing", async () => {
          const bound = await runPlugin([
            "bind",
            "sa",
            "ghost",
            "-n",
            ns,
            "--policy",
            "AmazonS3ReadOnlyAccess",
            "--role-name",
            "ghost-role",
          ], { env });
          equal(bound.code, 0, bound.stderr);
          await aws.iam.send(
            new DetachRolePolicyCommand({
              RoleName: "ghost-role",
              PolicyArn: "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
            }),
          );
          await aws.iam.send(new DeleteRoleCommand({ RoleName: "ghost-role" }));
          const run = await runPlugin(["list", "-n", ns, "-o", "json"], { env });
          const rows = (JSON.parse(run.stdout) as { items: { serviceAccount: string; state: string }[] }).items;
          equal(rows.find((r) => r.serviceAccount === "ghost")?.state, "missing role");
          const unbound = await runPlugin(["unbind", "sa", "ghost", "-n", ns], { env });
          equal(unbound.code, 0, unbound.stderr);
        });

        await t.step(
          "list says drifted for a detached policy, a removed tag and a changed boundary; bind fixes exactly that",
          async () => {
            const args = [
              "bind",
              "sa",
              "drift",
              "-n",
              ns,
              "--policy",
              "AmazonS3ReadOnlyAccess",
              "--role-name",
              "drift-role",
              "--tag",
              "team=payments",
              "--permissions-boundary",
              "arn:aws:iam::aws:policy/PowerUserAccess",
            ];
            const bound = await runPlugin(args, { env });
            equal(bound.code, 0, bound.stderr);
            const row = async () => (await listRows("-n", ns)).find((r) => r.serviceAccount === "drift");
            equal((await row())?.state, "ok", "a fresh binding is ok");

            // Behind the CLI's back, with the AWS SDK.
            await aws.iam.send(
              new DetachRolePolicyCommand({
                RoleName: "drift-role",
                PolicyArn: "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
              }),
            );
            await aws.iam.send(new UntagRoleCommand({ RoleName: "drift-role", TagKeys: ["team"] }));
            await aws.iam.send(
              new PutRolePermissionsBoundaryCommand({
                RoleName: "drift-role",
                PermissionsBoundary: "arn:aws:iam::aws:policy/ReadOnlyAccess",
              }),
            );
            const drifted = await row();
            equal(drifted?.state, "drifted", JSON.stringify(drifted));
            deepStrictEqual(drifted?.drift, [
              "permissions boundary is arn:aws:iam::aws:policy/ReadOnlyAccess, not arn:aws:iam::aws:policy/PowerUserAccess",
              "tag team=payments missing or changed",
              "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess is not attached",
            ]);
            equal(drifted?.detail, drifted?.drift?.join("; "));
            const wide = await runPlugin(["list", "-n", ns, "-o", "wide"], { env });
            ok(
              wide.stdout.split("\n").some((l) =>
                l.startsWith("drift ") && l.includes("drifted") && l.includes("is not attached")
              ),
              wide.stdout,
            );

            // Drift is what bind changes: the rerun makes exactly these writes, and then list says ok.
            const repair = await runPlugin(args, { env });
            equal(repair.code, 0, repair.stderr);
            deepStrictEqual(repair.writes.map((w) => w.operation), [
              "PutRolePermissionsBoundary",
              "TagRole",
              "AttachRolePolicy",
            ]);
            equal((await row())?.state, "ok");
          },
        );

        await t.step("bad input gets one clear line, the right exit code and no AWS write", async (t) => {
          const inlineDir = await Deno.makeTempDir({ dir: sandbox.dir });
          await Deno.writeTextFile(`${inlineDir}/not-json.json`, "{ not json");
          await Deno.writeTextFile(
            `${inlineDir}/huge.json`,
            JSON.stringify({
              Version: "2012-10-17",
              Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "x".repeat(11000) }],
            }),
          );
          const manyTags = Array.from({ length: 51 }, (_, i) => ["--tag", `k${i}=v`]).flat();
          const base = ["bind", "sa", "bad", "-n", ns];
          const cases: { name: string; args: string[]; code: number; says: string }[] = [
            {
              name: "invalid ServiceAccount name",
              args: ["bind", "sa", "Bad_Name", "-n", ns, "--policy", "ReadOnlyAccess"],
              code: 2,
              says: "Bad_Name",
            },
            {
              name: "invalid namespace",
              args: ["bind", "sa", "bad", "-n", "Bad.NS", "--policy", "ReadOnlyAccess"],
              code: 2,
              says: "Bad.NS",
            },
            { name: "no policy at all", args: base, code: 2, says: "--policy" },
            {
              name: "role name too long",
              args: [...base, "--policy", "ReadOnlyAccess", "--role-name", "r".repeat(65)],
              code: 2,
              says: "r".repeat(65),
            },
            {
              name: "role name with a slash",
              args: [...base, "--policy", "ReadOnlyAccess", "--role-name", "a/b"],
              code: 2,
              says: "a/b",
            },
            {
              name: "role path without slashes",
              args: [...base, "--policy", "ReadOnlyAccess", "--role-path", "irsa"],
              code: 2,
              says: "irsa",
            },
            {
              name: "tag without a value",
              args: [...base, "--policy", "ReadOnlyAccess", "--tag", "team"],
              code: 2,
              says: "team",
            },
            { name: "51 tags", args: [...base, "--policy", "ReadOnlyAccess", ...manyTags], code: 2, says: "51" },
            {
              name: "tag value too long",
              args: [...base, "--policy", "ReadOnlyAccess", "--tag", `k=${"v".repeat(257)}`],
              code: 2,
              says: "k",
            },
            {
              name: "reserved tag key",
              args: [...base, "--policy", "ReadOnlyAccess", "--tag", "kubectl-irsa/cluster=x"],
              code: 2,
              says: "kubectl-irsa/cluster",
            },
            {
              name: "policy ARN of another service",
              args: [...base, "--policy", "arn:aws:s3:::bucket"],
              code: 2,
              says: "arn:aws:s3:::bucket",
            },
            {
              name: "policy ARN of another partition",
              args: [...base, "--policy", "arn:aws-cn:iam::aws:policy/ReadOnlyAccess"],
              code: 2,
              says: "aws-cn",
            },
            {
              name: "boundary that is a role ARN",
              args: [
                ...base,
                "--policy",
                "ReadOnlyAccess",
                "--permissions-boundary",
                "arn:aws:iam::123456789012:role/x",
              ],
              code: 2,
              says: "role/x",
            },
            {
              name: "inline policy file missing",
              args: [...base, "--inline-policy", `${inlineDir}/absent.json`],
              code: 2,
              says: "absent.json",
            },
            {
              name: "inline policy not JSON",
              args: [...base, "--inline-policy", `${inlineDir}/not-json.json`],
              code: 2,
              says: "not json",
            },
            {
              name: "inline policy too large",
              args: [...base, "--inline-policy", `${inlineDir}/huge.json`],
              code: 2,
              says: "10240",
            },
            {
              name: "max session duration too short",
              args: [...base, "--policy", "ReadOnlyAccess", "--max-session-duration", "100"],
              code: 2,
              says: "100",
            },
            {
              name: "token expiration below 600",
              args: [...base, "--policy", "ReadOnlyAccess", "--token-expiration", "10"],
              code: 2,
              says: "10",
            },
            {
              name: "regional endpoints not a boolean",
              args: [...base, "--policy", "ReadOnlyAccess", "--sts-regional-endpoints", "maybe"],
              code: 2,
              says: "maybe",
            },
            {
              name: "wildcard audience",
              args: [...base, "--policy", "ReadOnlyAccess", "--audience", "*"],
              code: 2,
              says: "*",
            },
            {
              name: "wrong output format",
              args: [...base, "--policy", "ReadOnlyAccess", "-o", "wide"],
              code: 2,
              says: "-o",
            },
            {
              name: "-A on bind",
              args: ["bind", "sa", "bad", "-A", "--policy", "ReadOnlyAccess"],
              code: 2,
              says: "-A",
            },
            {
              name: "unknown policy",
              args: [...base, "--policy", "NoSuchPolicyAnywhere"],
              code: 1,
              says: "NoSuchPolicyAnywhere",
            },
            {
              name: "namespace absent",
              args: ["bind", "sa", "bad", "-n", "no-such-namespace", "--policy", "ReadOnlyAccess"],
              code: 1,
              says: "no-such-namespace",
            },
          ];
          for (const c of cases) {
            await t.step(c.name, async () => {
              const run = await runPlugin(c.args, { env });
              equal(run.code, c.code, `${run.stdout}\n${run.stderr}`);
              equal(run.stdout, "");
              const lines = run.stderr.trim().split("\n");
              equal(lines.length, c.code === 2 ? 2 : 1, run.stderr);
              ok(lines[0]!.startsWith("error: ") && lines[0]!.includes(c.says), run.stderr);
              deepStrictEqual(run.writes, []);
            });
          }
          await t.step("init never run", async () => {
            const record = { resource: "configmaps", namespace: setupRecord.namespace, name: setupRecord.name };
            const saved = await kube.get<{ data: Record<string, string> }>(record);
            await kube.delete(record);
            try {
              const run = await runPlugin([...base, "--policy", "ReadOnlyAccess"], { env });
              equal(run.code, 1, run.stderr);
              ok(run.stderr.startsWith("error: ") && run.stderr.includes("run 'kubectl irsa init' first"), run.stderr);
              deepStrictEqual(run.calls, []);
            } finally {
              await kube.create({ resource: "configmaps", namespace: setupRecord.namespace }, {
                apiVersion: "v1",
                kind: "ConfigMap",
                metadata: { name: setupRecord.name, namespace: setupRecord.namespace },
                data: saved!.data,
              });
            }
          });
          const role = await aws.iam.send(new GetRoleCommand({ RoleName: `irsa-bind-oidc-${ns}_bad` })).then(
            () => "exists",
            (e) => e.name,
          );
          equal(role, "NoSuchEntityException");
        });

        await t.step("pods already running as the ServiceAccount are named on stderr", async () => {
          await kube.create({ resource: "serviceaccounts", namespace: ns }, {
            apiVersion: "v1",
            kind: "ServiceAccount",
            metadata: { name: "busy" },
          });
          await kube.create({ resource: "pods", namespace: ns }, {
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name: "busy-pod" },
            spec: { serviceAccountName: "busy", containers: [{ name: "c", image: "busybox" }] },
          });
          const run = await runPlugin(["bind", "sa", "busy", "-n", ns, "--policy", "AmazonS3ReadOnlyAccess"], { env });
          equal(run.code, 0, run.stderr);
          ok(
            /warning: pods running as .*\/busy get credentials only after a restart: busy-pod/.test(run.stderr),
            run.stderr,
          );
          equal(run.stdout.includes("busy-pod"), false, "the warning goes to stderr only");
        });

        await t.step(
          "a role annotation kubectl-irsa did not set is refused unless --adopt, also in --dry-run",
          async () => {
            const theirs = "arn:aws:iam::123456789012:role/someone-elses-role";
            await kubectl("create", "serviceaccount", "handmade", "-n", ns);
            await kubectl("annotate", "serviceaccount", "handmade", "-n", ns, `eks.amazonaws.com/role-arn=${theirs}`);
            const before = await getSa(ns, "handmade");
            const ourRole = defaultRoleName({
              clusterName: setup.clusterName,
              namespace: ns,
              serviceAccount: "handmade",
            });
            const ourArn = buildRoleArn(setup.partition, setup.account, ourRole);
            const refusal = `error: ServiceAccount ${ns}/handmade has eks.amazonaws.com/role-arn: ${theirs}, which ` +
              `kubectl-irsa did not set; pass --adopt to replace it with ${ourArn}, or bind another ServiceAccount\n`;
            const args = ["bind", "sa", "handmade", "-n", ns, "--policy", "AmazonS3FullAccess"];
            for (const extra of [[], ["--dry-run"]]) {
              const run = await runPlugin([...args, ...extra], { env });
              equal(run.code, 1, `${extra.join(" ")}: ${run.stdout}${run.stderr}`);
              equal(run.stdout, "", "no plan is shown");
              equal(run.stderr, refusal);
              deepStrictEqual(run.writes, [], "no AWS write");
              ok(!run.calls.some((c) => c.operation === "CreateRole"));
            }
            const gone = await aws.iam.send(new GetRoleCommand({ RoleName: ourRole })).then(
              () => "exists",
              (e) => e.name,
            );
            equal(gone, "NoSuchEntityException");
            const after = await getSa(ns, "handmade");
            equal(after?.metadata.resourceVersion, before?.metadata.resourceVersion, "the ServiceAccount is unchanged");
            equal(after?.metadata.annotations?.["eks.amazonaws.com/role-arn"], theirs);
            const row = (await listRows("-n", ns)).find((r) => r.serviceAccount === "handmade");
            equal(row?.state, "unmanaged", JSON.stringify(row));

            // An annotation set by hand to the very ARN bind would set is no conflict.
            const sameRole = defaultRoleName({ clusterName: setup.clusterName, namespace: ns, serviceAccount: "same" });
            await kubectl("create", "serviceaccount", "same", "-n", ns);
            await kubectl(
              "annotate",
              "serviceaccount",
              "same",
              "-n",
              ns,
              `eks.amazonaws.com/role-arn=${buildRoleArn(setup.partition, setup.account, sameRole)}`,
            );
            const same = await runPlugin(["bind", "sa", "same", "-n", ns, "--policy", "AmazonS3ReadOnlyAccess"], {
              env,
            });
            equal(same.code, 0, same.stderr);

            // --adopt takes it over: the role is created and the annotation now points at it.
            const adopted = await runPlugin([...args, "--adopt"], { env });
            equal(adopted.code, 0, adopted.stderr);
            ok(adopted.writes.some((w) => w.operation === "CreateRole"));
            equal((await getSa(ns, "handmade"))?.metadata.annotations?.["eks.amazonaws.com/role-arn"], ourArn);
            equal((await listRows("-n", ns)).find((r) => r.serviceAccount === "handmade")?.state, "ok");
          },
        );

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
            // What remains of the two-namespace binding is a whole binding again, not drift.
            const rest = (await listRows("-n", ns)).find((r) => r.serviceAccount === "multi");
            equal(rest?.state, "ok", JSON.stringify(rest));
          },
        );
      } finally {
        aws.destroy();
        kube.close();
      }
    }),
});
