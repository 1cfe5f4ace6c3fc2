// Multi-tenant clusters on the real apiserver and moto: a namespace admin (impersonated, with the aggregated RBAC
// the real clusterrole-aggregation controller builds) self-serves IRSA within the cluster's binding policy, and
// every escalation path is refused twice: at admission by the ValidatingAdmissionPolicies `install` renders, and,
// with those removed, by the reconciler with a False condition and zero AWS writes counted at a proxy before moto.
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { CreatePolicyCommand, GetRoleCommand } from "@aws-sdk/client-iam";
import { crdGroup, crdVersion, setupRecord, systemNamespace } from "../../lib/names.ts";
import { installManifests, toYamlStream } from "../../lib/install_manifests.ts";
import { sandboxAws } from "../support/aws.ts";
import { installCrds } from "../support/crds.ts";
import { startDaemon } from "../support/daemon.ts";
import { startFaultProxy } from "../support/fault_proxy.ts";
import { ensureBinary } from "../support/go_build.ts";
import { createNamespace, createServiceAccount, sandboxClient } from "../support/kube.ts";
import { findKubectl } from "../support/kubectl.ts";
import { runPlugin } from "../support/cli.ts";
import { motoAccount, type Sandbox, withSandbox } from "../support/sandbox.ts";
import { ServerProcess } from "../support/server_process.ts";

const tenant = "team-a";
const other = "team-b";
const boundary = `arn:aws:iam::${motoAccount}:policy/irsa-boundary`;
const teamPolicy = `arn:aws:iam::${motoAccount}:policy/team-a-s3`;
const bindingPolicy = {
  allowedPolicies: [`arn:aws:iam::${motoAccount}:policy/team-*`, "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"],
  inlinePolicies: "Deny",
  rolePath: "/irsa/",
  permissionsBoundary: boundary,
};
const irsaPath = (ns: string) => `/apis/${crdGroup}/${crdVersion}/namespaces/${ns}/irsas`;

type Spec = Record<string, unknown>;
const spec = (over: Spec = {}): Spec => ({
  cleanup: true,
  serviceAccount: { name: "app", namespaces: [tenant] },
  iamPolicies: ["AmazonS3ReadOnlyAccess"],
  ...over,
});

/** Every way a tenant could reach beyond its namespace or the policy, with the reason and the words of the refusal. */
const escalations: { name: string; spec: Spec; reason: string; says: string }[] = [
  {
    name: "bind a ServiceAccount of kube-system",
    spec: spec({ serviceAccount: { name: "cluster-autoscaler", namespaces: [tenant, "kube-system"] } }),
    reason: "NamespaceNotAllowed",
    says: `an IRSA object in namespace ${tenant} may only bind ServiceAccounts in ${tenant}, not in kube-system`,
  },
  {
    name: "attach AdministratorAccess",
    spec: spec({ iamPolicies: ["AdministratorAccess"] }),
    reason: "PolicyRefused",
    says: "policy arn:aws:iam::aws:policy/AdministratorAccess is refused for tenant namespaces",
  },
  {
    name: "attach IAMFullAccess by ARN, in other letter case",
    spec: spec({ iamPolicies: ["arn:aws:iam::aws:policy/iamfullaccess"] }),
    reason: "PolicyRefused",
    says: "policy arn:aws:iam::aws:policy/iamfullaccess is refused",
  },
  {
    name: "attach a policy outside the allowed ones",
    spec: spec({ iamPolicies: [`arn:aws:iam::${motoAccount}:policy/platform-admin`] }),
    reason: "PolicyNotAllowed",
    says: `policy arn:aws:iam::${motoAccount}:policy/platform-admin is not among the policies`,
  },
  {
    name: "an inline policy",
    spec: spec({
      inlinePolicy: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}',
    }),
    reason: "InlinePolicyNotAllowed",
    says: "inline policies are not allowed for tenant namespaces",
  },
  {
    name: "a role path outside the policy's",
    spec: spec({ iamRole: { path: "/admin/" } }),
    reason: "RolePathNotAllowed",
    says: "role path /admin/ is not under /irsa/",
  },
  {
    name: "a wider permissions boundary",
    spec: spec({ permissionsBoundary: `arn:aws:iam::${motoAccount}:policy/wide-boundary` }),
    reason: "BoundaryNotAllowed",
    says: `permissions boundary arn:aws:iam::${motoAccount}:policy/wide-boundary differs from ${boundary}`,
  },
  {
    name: "adopt a role kubectl-irsa did not create",
    spec: spec({ adopt: true, iamRole: { name: "OrganizationAccountAccessRole" } }),
    reason: "AdoptNotAllowed",
    says: `adopt is not allowed in namespace ${tenant}`,
  },
];

/** A request to the apiserver as the tenant's namespace admin. */
function asTenant(sandbox: Sandbox, path: string, init: RequestInit = {}): Promise<Response> {
  return sandbox.adminFetch(path, {
    ...init,
    headers: { "content-type": "application/json", "Impersonate-User": "alice", ...init.headers },
  });
}

async function createIrsa(sandbox: Sandbox, name: string, body: Spec): Promise<Response> {
  return await asTenant(sandbox, irsaPath(tenant), {
    method: "POST",
    body: JSON.stringify({ apiVersion: `${crdGroup}/${crdVersion}`, kind: "IRSA", metadata: { name }, spec: body }),
  });
}

async function kubectlApply(sandbox: Sandbox, yaml: string, verb = "apply"): Promise<void> {
  const file = await sandbox.writeFile(`tenancy-${crypto.randomUUID()}.yaml`, yaml);
  const out = await new Deno.Command(await findKubectl(), {
    args: ["--kubeconfig", sandbox.kubeconfigPath, verb, "-f", file],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`kubectl ${verb}: ${new TextDecoder().decode(out.stderr)}`);
}

type Ready = { type: string; status: string; reason: string; message: string };
async function waitCondition(sandbox: Sandbox, ns: string, name: string, status: string): Promise<Ready> {
  const deadline = Date.now() + 30_000;
  let last: Ready | undefined;
  while (Date.now() < deadline) {
    const res = await sandbox.adminFetch(`${irsaPath(ns)}/${name}`);
    const o = await res.json() as { status?: { conditions?: Ready[] } };
    last = o.status?.conditions?.find((c) => c.type === "Ready");
    if (last?.status === status) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${ns}/${name} did not reach Ready=${status}; last ${JSON.stringify(last)}`);
}

/** IAM and S3 requests that change something, as the proxy saw them. */
function writesSeen(requests: { service: string; action: string; method: string }[]): string[] {
  return requests
    .filter((r) =>
      r.service === "iam" || r.service === "sts"
        ? !/^(Get|List)/.test(r.action) && r.action !== ""
        : r.method !== "GET" &&
          r.method !== "HEAD"
    )
    .filter((r) => r.action !== "GetCallerIdentity")
    .map((r) => `${r.service}:${r.action || r.method}`);
}

Deno.test({
  name: "tenancy e2e: a namespace admin self-serves IRSA within the binding policy; escalations are refused twice",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: (t) =>
    withSandbox(async (sandbox) => {
      const kube = await sandboxClient(sandbox);
      const aws = await sandboxAws(sandbox);
      const proxy = await startFaultProxy(sandbox, { faultRate: 0, holdMs: 0 });
      // The real aggregation controller, so `admin` gets the aggregated IRSA rules as on a real cluster.
      const kcm = ServerProcess.start("kube-controller-manager", [
        await ensureBinary("kube-controller-manager"),
        `--kubeconfig=${sandbox.kubeconfigPath}`,
        "--secure-port=0",
        "--leader-elect=false",
        "--controllers=clusterrole-aggregation",
      ], { logPath: `${sandbox.dir}/kube-controller-manager.log` });
      let daemon: Awaited<ReturnType<typeof startDaemon>> | undefined;
      try {
        await installCrds(kube);
        for (const ns of [systemNamespace, tenant, other]) await createNamespace(kube, ns);
        for (const ns of [tenant, other]) await createServiceAccount(kube, ns, "app");
        for (const name of ["irsa-boundary", "wide-boundary", "team-a-s3", "platform-admin"]) {
          await aws.iam.send(
            new CreatePolicyCommand({
              PolicyName: name,
              PolicyDocument: JSON.stringify({
                Version: "2012-10-17",
                Statement: [{ Effect: "Allow", Action: "s3:*", Resource: "*" }],
              }),
            }),
          );
        }
        // What `install` renders for tenancy: the admission policies and the aggregated ClusterRoles.
        const rendered = installManifests({ image: "unused" }).filter((m) =>
          m.kind === "ValidatingAdmissionPolicy" || m.kind === "ValidatingAdmissionPolicyBinding" ||
          (m.kind === "ClusterRole" &&
            Object.keys((m.metadata as { labels?: Record<string, string> }).labels ?? {}).some((l) =>
              l.startsWith("rbac.authorization.k8s.io/aggregate-to-")
            ))
        );
        equal(rendered.filter((m) => m.kind === "ValidatingAdmissionPolicy").length, 2);
        await kubectlApply(sandbox, toYamlStream(rendered));
        await kubectlApply(
          sandbox,
          JSON.stringify({
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "RoleBinding",
            metadata: { name: "alice-admin", namespace: tenant },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "admin" },
            subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: "alice" }],
          }),
        );
        // The admin ClusterRole itself comes from the apiserver's bootstrap policy; wait for the aggregation.
        const deadline = Date.now() + 30_000;
        while ((await asTenant(sandbox, irsaPath(tenant))).status !== 200) {
          if (Date.now() > deadline) throw new Error("alice never got the aggregated IRSA rules");
          await new Promise((r) => setTimeout(r, 250));
        }

        const policyFile = await sandbox.writeFile("binding-policy.yaml", JSON.stringify(bindingPolicy));
        const bucket = "tenancy-oidc";
        const init = await runPlugin(
          [
            "init",
            "--bucket",
            bucket,
            "--issuer-url",
            `${sandbox.moto!.endpoint}/${bucket}`,
            "--binding-policy",
            policyFile,
          ],
          { env: sandbox.env },
        );
        equal(init.code, 0, init.stderr);
        daemon = await startDaemon(sandbox, ["--namespace", systemNamespace, "--no-webhook", "--leader-elect=false"], {
          env: { AWS_ENDPOINT_URL: proxy.endpoint },
        });

        await t.step(
          "the tenant's own binding within the policy becomes Ready, under the path and boundary",
          async () => {
            const res = await createIrsa(
              sandbox,
              "good",
              spec({ iamPolicies: ["AmazonS3ReadOnlyAccess", teamPolicy] }),
            );
            equal(res.status, 201, await res.text());
            await waitCondition(sandbox, tenant, "good", "True");
            const status = await (await sandbox.adminFetch(`${irsaPath(tenant)}/good`)).json() as {
              status: { roleArn: string };
            };
            const roleName = status.status.roleArn.split("/").pop()!;
            const role = (await aws.iam.send(new GetRoleCommand({ RoleName: roleName }))).Role!;
            deepStrictEqual([role.Path, role.PermissionsBoundary?.PermissionsBoundaryArn], ["/irsa/", boundary]);
          },
        );

        await t.step("the tenant may not write status nor create an IRSASetup", async () => {
          const status = await asTenant(sandbox, `${irsaPath(tenant)}/good/status`, {
            method: "PATCH",
            headers: { "content-type": "application/merge-patch+json" },
            body: JSON.stringify({ status: { roleArn: "arn:aws:iam::123456789012:role/victim" } }),
          });
          equal(status.status, 403, await status.text());
          const setup = await asTenant(sandbox, `/apis/${crdGroup}/${crdVersion}/namespaces/${tenant}/irsasetups`, {
            method: "POST",
            body: JSON.stringify({
              apiVersion: `${crdGroup}/${crdVersion}`,
              kind: "IRSASetup",
              metadata: { name: "mine" },
              spec: { cleanup: true, discovery: { s3: { region: "eu-west-1", bucketName: "mine-oidc" } } },
            }),
          });
          equal(setup.status, 403, await setup.text());
          const elsewhere = await asTenant(sandbox, irsaPath(other), {
            method: "POST",
            body: JSON.stringify({
              apiVersion: `${crdGroup}/${crdVersion}`,
              kind: "IRSA",
              metadata: { name: "x" },
              spec: spec({ serviceAccount: { name: "app", namespaces: [other] } }),
            }),
          });
          equal(elsewhere.status, 403, await elsewhere.text());
        });

        await t.step("admission refuses each escalation with the reconciler's words", async (t) => {
          for (const [i, c] of escalations.entries()) {
            await t.step(c.name, async () => {
              const res = await createIrsa(sandbox, `admission-${i}`, c.spec);
              const text = await res.text();
              // reason Forbidden: the apiserver answers 403.
              equal(res.status, 403, text);
              ok(text.includes(c.says), `${text} does not say ${c.says}`);
            });
          }
          // An edit into an escalation is refused too; a metadata-only update of the object is not.
          const edit = await asTenant(sandbox, `${irsaPath(tenant)}/good`, {
            method: "PATCH",
            headers: { "content-type": "application/merge-patch+json" },
            body: JSON.stringify({ spec: { iamPolicies: ["AdministratorAccess"] } }),
          });
          equal(edit.status, 403, await edit.text());
          const label = await asTenant(sandbox, `${irsaPath(tenant)}/good`, {
            method: "PATCH",
            headers: { "content-type": "application/merge-patch+json" },
            body: JSON.stringify({ metadata: { labels: { team: "a" } } }),
          });
          equal(label.status, 200, await label.text());
        });

        await t.step("an IRSASetup's bindingPolicy is the cluster's, for admission and the reconciler", async () => {
          const setInline = async (inlinePolicies: string) => {
            await kubectlApply(
              sandbox,
              JSON.stringify({
                apiVersion: `${crdGroup}/${crdVersion}`,
                kind: "IRSASetup",
                metadata: { name: "setup", namespace: systemNamespace },
                spec: {
                  cleanup: false,
                  keySource: "cluster",
                  issuerUrl: `${sandbox.moto!.endpoint}/${bucket}`,
                  discovery: { s3: { region: "eu-west-1", bucketName: bucket } },
                  bindingPolicy: { ...bindingPolicy, inlinePolicies },
                },
              }),
            );
            const deadline = Date.now() + 30_000;
            for (;;) {
              const cm = await kube.get<{ data?: Record<string, string> }>({
                resource: "configmaps",
                namespace: setupRecord.namespace,
                name: setupRecord.name,
              });
              if (cm?.data?.["policy.inlinePolicies"] === inlinePolicies) return;
              if (Date.now() > deadline) throw new Error(`the setup record kept ${JSON.stringify(cm?.data)}`);
              await new Promise((r) => setTimeout(r, 250));
            }
          };
          const inline = escalations.find((c) => c.reason === "InlinePolicyNotAllowed")!;
          /** Creates `name` until admission answers `status` (its ConfigMap informer follows within moments). */
          const admitted = async (name: string, status: number) => {
            const deadline = Date.now() + 30_000;
            for (;;) {
              const res = await createIrsa(sandbox, name, inline.spec);
              const text = await res.text();
              if (res.status === status) return;
              if (Date.now() > deadline) throw new Error(`admission kept answering ${res.status}: ${text}`);
              await new Promise((r) => setTimeout(r, 250));
            }
          };
          await setInline("Allow");
          await admitted("inline-allowed", 201);
          await waitCondition(sandbox, tenant, "inline-allowed", "True");
          // The rest of the policy still holds.
          const refused = await createIrsa(sandbox, "still-refused", escalations[1]!.spec);
          equal(refused.status, 403, await refused.text());
          await setInline("Deny");
          await admitted("inline-denied", 403);
        });

        await t.step("without the admission policies the reconciler refuses each one, with no AWS write", async (t) => {
          await kubectlApply(
            sandbox,
            toYamlStream(rendered.filter((m) => m.kind === "ValidatingAdmissionPolicyBinding")),
            "delete",
          );
          // The apiserver's policy cache follows the deletion within a second or so.
          const deadline = Date.now() + 30_000;
          for (;;) {
            const probe = await createIrsa(sandbox, "probe", escalations[1]!.spec);
            if (probe.status === 201) break;
            if (Date.now() > deadline) throw new Error(`the admission policies stayed in force: ${await probe.text()}`);
            await new Promise((r) => setTimeout(r, 250));
          }
          await waitCondition(sandbox, tenant, "probe", "False");
          const from = proxy.requests.length;
          for (const [i, c] of escalations.entries()) {
            await t.step(c.name, async () => {
              const res = await createIrsa(sandbox, `reconciler-${i}`, c.spec);
              equal(res.status, 201, await res.text());
              const ready = await waitCondition(sandbox, tenant, `reconciler-${i}`, "False");
              equal(ready.reason, c.reason, ready.message);
              ok(ready.message.includes(c.says), `${ready.message} does not say ${c.says}`);
            });
          }
          deepStrictEqual(writesSeen(proxy.requests.slice(from)), [], "no AWS write for a refused binding");
        });

        await t.step("another namespace's role is neither taken over nor deleted by a tenant", async () => {
          // The admin binds team-b's ServiceAccount from the daemon's namespace (the seed's cross-namespace way).
          await kubectlApply(
            sandbox,
            JSON.stringify({
              apiVersion: `${crdGroup}/${crdVersion}`,
              kind: "IRSA",
              metadata: { name: "team-b-app", namespace: systemNamespace },
              spec: {
                cleanup: true,
                serviceAccount: { name: "app", namespaces: [other] },
                iamRole: { name: "team-b-app" },
                iamPolicies: ["AmazonS3ReadOnlyAccess"],
              },
            }),
          );
          await waitCondition(sandbox, systemNamespace, "team-b-app", "True");
          const before = (await aws.iam.send(new GetRoleCommand({ RoleName: "team-b-app" }))).Role!;
          const from = proxy.requests.length;
          const res = await createIrsa(sandbox, "hijack", spec({ iamRole: { name: "team-b-app" } }));
          equal(res.status, 201, await res.text());
          const ready = await waitCondition(sandbox, tenant, "hijack", "False");
          equal(ready.reason, "RoleNotAllowed", ready.message);
          const gone = await asTenant(sandbox, `${irsaPath(tenant)}/hijack`, { method: "DELETE" });
          equal(gone.status, 200, await gone.text());
          const deadline = Date.now() + 30_000;
          while ((await sandbox.adminFetch(`${irsaPath(tenant)}/hijack`)).status !== 404) {
            if (Date.now() > deadline) throw new Error("the hijack object was never deleted");
            await new Promise((r) => setTimeout(r, 200));
          }
          deepStrictEqual(writesSeen(proxy.requests.slice(from)), [], "no AWS write for the hijack or its cleanup");
          const after = (await aws.iam.send(new GetRoleCommand({ RoleName: "team-b-app" }))).Role!;
          equal(after.AssumeRolePolicyDocument, before.AssumeRolePolicyDocument);
          equal(after.PermissionsBoundary?.PermissionsBoundaryArn, boundary, "admin roles get the boundary too");
        });

        await t.step("the NetworkPolicy is accepted by the apiserver and admits only the given sources", async () => {
          // No NetworkPolicy engine runs here (the CNI is the bridge plugin): what holds is the object as rendered and
          // as the apiserver validates and stores it.
          const [policy] = installManifests({
            image: "unused",
            networkPolicy: { webhookSources: ["10.0.0.10/32"], metricsNamespaces: ["monitoring"] },
          }).filter((m) => m.kind === "NetworkPolicy");
          ok(policy, "install renders a NetworkPolicy");
          await kubectlApply(sandbox, JSON.stringify(policy));
          const stored = await kube.get<{ spec: { ingress: { from: unknown[]; ports: { port: number }[] }[] } }>({
            group: "networking.k8s.io",
            version: "v1",
            resource: "networkpolicies",
            namespace: systemNamespace,
            name: (policy.metadata as { name: string }).name,
          });
          deepStrictEqual(stored?.spec.ingress.map((r) => [r.ports.map((p) => p.port), r.from]), [
            [[9443], [{ ipBlock: { cidr: "10.0.0.10/32" } }]],
            [[8080], [{
              namespaceSelector: {
                matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "In", values: ["monitoring"] }],
              },
            }]],
          ]);
        });

        await t.step("bind follows the same policy, with the same words and no AWS write", async () => {
          const env = { ...sandbox.env, AWS_ENDPOINT_URL: proxy.endpoint };
          const from = proxy.requests.length;
          const refused = await runPlugin(
            ["bind", "sa", "cli-app", "-n", tenant, "--policy", "AmazonS3ReadOnlyAccess", "--role-path", "/other/"],
            { env },
          );
          equal(refused.code, 1, refused.stderr);
          ok(refused.stderr.includes("role path /other/ is not under /irsa/"), refused.stderr);
          deepStrictEqual(writesSeen(proxy.requests.slice(from)), []);
          const bound = await runPlugin(["bind", "sa", "cli-app", "-n", tenant, "--policy", "AmazonS3ReadOnlyAccess"], {
            env,
          });
          equal(bound.code, 0, bound.stderr);
          ok(
            writesSeen(proxy.requests.slice(from)).includes("iam:CreateRole"),
            "the bind's writes went through the proxy",
          );
          const roleArn = bound.stdout.trim().split(/\s+/).find((w) => w.startsWith("arn:aws:iam::"));
          ok(roleArn, bound.stdout);
          const role = (await aws.iam.send(new GetRoleCommand({ RoleName: roleArn.split("/").pop()! }))).Role!;
          deepStrictEqual([role.Path, role.PermissionsBoundary?.PermissionsBoundaryArn], ["/irsa/", boundary]);
        });
      } finally {
        await daemon?.stop();
        await kcm.stop();
        await proxy.close();
        aws.destroy();
        kube.close();
      }
    }),
});
