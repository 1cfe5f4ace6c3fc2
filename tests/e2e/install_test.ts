// `kubectl irsa install` and `uninstall` against the real apiserver: the printed manifests pass a server-side
// dry-run apply, the real install creates every object, the seed README's manifests are accepted verbatim, bad
// objects are refused by the schema and its CEL rules, the daemon's RBAC grants exactly what it needs (asked of
// the apiserver's own authorizer), and uninstall removes everything, refusing to drop CRDs that still hold objects.
import { seedEksYaml, seedIrsaYaml, seedSetupYaml } from "../../lib/testdata/seed_manifests.ts";
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { waitForCrds } from "../support/crds.ts";
import { defaultImage, installManifests, type Manifest, resourceRefOf } from "../../lib/install_manifests.ts";
import { type KubeClient, resourcePath } from "../../lib/kube/client.ts";
import { crdGroup, crdVersion, systemNamespace } from "../../lib/names.ts";
import { version } from "../../cli/version.ts";
import { runPlugin } from "../support/cli.ts";
import { sandboxClient } from "../support/kube.ts";
import { type Sandbox, withSandbox } from "../support/sandbox.ts";

const seedSetup = seedSetupYaml({ region: "eu-west-1", bucket: "seed-oidc-bucket" });
const seedIrsa = seedIrsaYaml;
// A name of its own, so it can sit next to the self-hosted IRSASetup.
const seedEks = seedEksYaml({ provider: "oidc.eks.eu-west-1.amazonaws.com/id/0123456789ABCDEF" })
  .replace("name: irsa-init", "name: irsa-eks");

const crApi = (namespace: string, plural: string) =>
  `/apis/${crdGroup}/${crdVersion}/namespaces/${namespace}/${plural}`;
const objects = installManifests({ image: defaultImage(version) });

async function send(
  sandbox: Sandbox,
  method: string,
  path: string,
  body: string,
  contentType: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await sandbox.adminFetch(path, { method, body, headers: { "content-type": contentType } });
  return { status: res.status, json: await res.json() };
}

async function exists(kube: KubeClient, m: Manifest): Promise<boolean> {
  const got = await kube.get<{ metadata: { deletionTimestamp?: string } }>(resourceRefOf(m));
  return got !== undefined && got.metadata.deletionTimestamp === undefined;
}

async function waitGone(kube: KubeClient, m: Manifest): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (await kube.get(resourceRefOf(m)) !== undefined) {
    if (Date.now() > deadline) throw new Error(`${m.kind}/${m.metadata.name} still exists after 30 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

Deno.test({
  name: "install e2e",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: (t) =>
    withSandbox(async (sandbox) => {
      const kube = await sandboxClient(sandbox);
      const env = sandbox.env;
      try {
        await t.step(
          "install --dry-run on an empty cluster reports every object as created and creates none",
          async () => {
            const run = await runPlugin(["install", "--dry-run"], { env });
            equal(run.code, 0, run.stderr);
            const lines = run.stdout.trim().split("\n");
            equal(lines.length, objects.length, run.stdout);
            for (const [i, o] of objects.entries()) {
              match(lines[i]!, new RegExp(`^${o.kind}/${o.metadata.name} created`));
            }
            match(run.stdout, /ServiceAccount\/kubectl-irsa created \(server dry run; not checked: namespace/);
            for (const o of objects) {
              ok(!(await exists(kube, o)), `${o.kind}/${o.metadata.name} was created`);
            }
          },
        );

        await t.step("install --dry-run -o yaml prints manifests that pass a server-side dry-run apply", async () => {
          const run = await runPlugin(["install", "--dry-run", "-o", "yaml"], { env });
          equal(run.code, 0, run.stderr);
          const docs = parseAllDocuments(run.stdout);
          equal(docs.length, objects.length);
          for (const o of objects) ok(!(await exists(kube, o)), "-o yaml must touch nothing");
          const json = await runPlugin(["install", "--dry-run", "-o", "json"], { env });
          deepStrictEqual(JSON.parse(json.stdout).items, docs.map((d) => d.toJS()));
          for (const doc of docs) {
            const m = doc.toJS() as Manifest;
            // Namespaced objects can only be dry-run in a namespace that exists, so the Namespace is real.
            const dryRun = m.kind === "Namespace" ? "" : "&dryRun=All";
            const res = await send(
              sandbox,
              "PATCH",
              `${resourcePath(resourceRefOf(m))}?fieldManager=kubectl-irsa&force=true${dryRun}`,
              doc.toString(),
              "application/apply-patch+yaml",
            );
            ok(res.status < 300, `${m.kind}/${m.metadata.name}: ${JSON.stringify(res.json)}`);
          }
          for (const o of objects.slice(1)) ok(!(await exists(kube, o)), `${o.kind} created by a dry run`);
        });

        await t.step("install applies every object with server-side apply and reports each one", async () => {
          const run = await runPlugin(["install"], { env });
          equal(run.code, 0, run.stderr);
          for (const o of objects) {
            ok(run.stderr.includes(`applied ${o.kind}/${o.metadata.name}\n`), run.stderr);
            ok(await exists(kube, o), `${o.kind}/${o.metadata.name} missing`);
          }
          match(run.stderr, /note: Secret irsa-manager-system\/aws-secret was not found/);
          const d = await kube.get<{ metadata: { managedFields: { manager: string; operation: string }[] } }>(
            resourceRefOf(objects.find((o) => o.kind === "Deployment")!),
          );
          ok(d!.metadata.managedFields.some((f) => f.manager === "kubectl-irsa" && f.operation === "Apply"));
          await waitForCrds(kube);
        });

        await t.step("a second install --dry-run finds nothing to change, and install is idempotent", async () => {
          const dry = await runPlugin(["install", "--dry-run"], { env });
          equal(dry.code, 0, dry.stderr);
          for (const line of dry.stdout.trim().split("\n")) match(line, / unchanged \(server dry run\)$/);
          const again = await runPlugin(["install", "--replicas", "3"], { env });
          equal(again.code, 0, again.stderr);
          const back = await runPlugin(["install", "--dry-run"], { env });
          match(back.stdout, /Deployment\/kubectl-irsa configured \(server dry run\)\n {4}spec\.replicas: 3 -> 2\n/);
          equal((await runPlugin(["install"], { env })).code, 0);
        });

        await t.step("the seed README manifests and the seed's eks example are accepted verbatim", async () => {
          const setup = await send(
            sandbox,
            "POST",
            crApi(systemNamespace, "irsasetups"),
            seedSetup,
            "application/yaml",
          );
          equal(setup.status, 201, JSON.stringify(setup.json));
          const spec = setup.json.spec as Record<string, unknown>;
          // Defaults: the seed's mode, and generated keys as the seed had them.
          equal(spec.mode, "selfhosted");
          equal(spec.keySource, "generate");
          const irsa = await send(sandbox, "POST", crApi(systemNamespace, "irsas"), seedIrsa, "application/yaml");
          equal(irsa.status, 201, JSON.stringify(irsa.json));
          const eks = await send(sandbox, "POST", crApi(systemNamespace, "irsasetups"), seedEks, "application/yaml");
          equal(eks.status, 201, JSON.stringify(eks.json));
          equal(
            (eks.json.spec as Record<string, unknown>).iamOIDCProvider,
            "oidc.eks.eu-west-1.amazonaws.com/id/0123456789ABCDEF",
          );
        });

        await t.step("kubectl get shows the Ready, Issuer or Role ARN and Age columns", async () => {
          for (const [plural, column] of [["irsasetups", "Issuer"], ["irsas", "Role ARN"]]) {
            const res = await sandbox.adminFetch(crApi(systemNamespace, plural!), {
              headers: { accept: "application/json;as=Table;v=v1;g=meta.k8s.io" },
            });
            const table = await res.json() as { columnDefinitions: { name: string }[] };
            deepStrictEqual(table.columnDefinitions.map((c) => c.name), ["Name", "Ready", column, "Age"]);
          }
        });

        await t.step("the API server refuses bad objects with 422", async (t) => {
          const setup = (spec: Record<string, unknown>) => ({
            apiVersion: `${crdGroup}/${crdVersion}`,
            kind: "IRSASetup",
            metadata: { name: "bad", namespace: systemNamespace },
            spec: { cleanup: false, discovery: { s3: { region: "eu-west-1", bucketName: "b-b-b" } }, ...spec },
          });
          const irsa = (spec: Record<string, unknown>) => ({
            apiVersion: `${crdGroup}/${crdVersion}`,
            kind: "IRSA",
            metadata: { name: "bad", namespace: systemNamespace },
            spec: { cleanup: true, serviceAccount: { name: "app", namespaces: ["default"] }, ...spec },
          });
          const cases: { name: string; object: Record<string, unknown>; error: RegExp }[] = [
            { name: 'mode "foo"', object: setup({ mode: "foo" }), error: /spec\.mode: Unsupported value: "foo"/ },
            {
              name: "a missing discovery.s3.region",
              object: setup({ discovery: { s3: { bucketName: "b-b-b" } } }),
              error: /spec\.discovery\.s3\.region: Required value/,
            },
            {
              name: "selfhosted mode without discovery",
              object: { ...setup({}), spec: { cleanup: false } },
              error: /spec\.discovery is required in selfhosted mode/,
            },
            {
              name: "a missing cleanup",
              object: { ...setup({}), spec: { mode: "eks" } },
              error: /spec\.cleanup: Required/,
            },
            {
              name: "a bucket name with capitals",
              object: setup({ discovery: { s3: { region: "eu-west-1", bucketName: "My_Bucket" } } }),
              error: /spec\.discovery\.s3\.bucketName/,
            },
            {
              name: "a region that is not a region code",
              object: setup({ discovery: { s3: { region: "europe", bucketName: "b-b-b" } } }),
              error: /spec\.discovery\.s3\.region/,
            },
            {
              name: "an issuer URL with a trailing slash",
              object: setup({ issuerUrl: "https://s3-eu-west-1.amazonaws.com/b/" }),
              error: /spec\.issuerUrl/,
            },
            { name: 'keySource "file"', object: setup({ keySource: "file" }), error: /spec\.keySource: Unsupported/ },
            {
              name: 'iamRole.name with "/"',
              object: irsa({ iamRole: { name: "team/app" } }),
              error: /spec\.iamRole\.name/,
            },
            {
              name: "an iamRole.path without slashes",
              object: irsa({ iamRole: { name: "r", path: "k8s" } }),
              error: /spec\.iamRole\.path/,
            },
            {
              name: "tokenExpiration 10",
              object: irsa({ tokenExpiration: 10 }),
              error:
                /spec\.tokenExpiration: Invalid value: 10: spec\.tokenExpiration in body should be greater than or equal to 600/,
            },
            {
              name: "an upper-case namespace",
              object: irsa({ serviceAccount: { name: "app", namespaces: ["Shop"] } }),
              error: /spec\.serviceAccount\.namespaces\[0\]/,
            },
            {
              name: "51 tags",
              object: irsa({ tags: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, "v"])) }),
              error: /spec\.tags: Too many/,
            },
            {
              name: 'a tag key with the reserved "aws:" prefix',
              object: irsa({ tags: { "aws:owner": "me" } }),
              error: /tag keys must be 1-128 characters and must not start with "aws:"/,
            },
            {
              name: "a permissions boundary that is not an ARN",
              object: irsa({ permissionsBoundary: "boundary" }),
              error: /spec\.permissionsBoundary/,
            },
            {
              name: "a policy ARN of another service",
              object: irsa({ iamPolicies: ["arn:aws:s3:::bucket"] }),
              error: /spec\.iamPolicies\[0\]/,
            },
          ];
          for (const c of cases) {
            await t.step(`refuses ${c.name}`, async () => {
              const kind = c.object.kind === "IRSA" ? "irsas" : "irsasetups";
              const res = await send(
                sandbox,
                "POST",
                `${crApi(systemNamespace, kind)}?dryRun=All`,
                JSON.stringify(c.object),
                "application/json",
              );
              equal(res.status, 422, JSON.stringify(res.json));
              match(String(res.json.message), c.error);
            });
          }
          await t.step("refuses a change of mode (the seed's immutability rule)", async () => {
            const res = await send(
              sandbox,
              "PATCH",
              `${crApi(systemNamespace, "irsasetups")}/irsa-init`,
              JSON.stringify({ spec: { mode: "eks" } }),
              "application/merge-patch+json",
            );
            equal(res.status, 422, JSON.stringify(res.json));
            match(String(res.json.message), /spec\.mode: Invalid value: "eks": Value is immutable/);
            const edit = await send(
              sandbox,
              "PATCH",
              `${crApi(systemNamespace, "irsasetups")}/irsa-init`,
              JSON.stringify({ spec: { cleanup: true, clusterName: "prod" } }),
              "application/merge-patch+json",
            );
            equal(edit.status, 200, JSON.stringify(edit.json));
          });
        });

        await t.step("the daemon's RBAC allows what it needs and nothing near it", async () => {
          const user = `system:serviceaccount:${systemNamespace}:kubectl-irsa`;
          const groups = [
            "system:serviceaccounts",
            `system:serviceaccounts:${systemNamespace}`,
            "system:authenticated",
          ];
          const allowed = async (attrs: Record<string, string>) => {
            const spec = attrs.path
              ? { user, groups, nonResourceAttributes: attrs }
              : { user, groups, resourceAttributes: attrs };
            const res = await send(
              sandbox,
              "POST",
              "/apis/authorization.k8s.io/v1/subjectaccessreviews",
              JSON.stringify({ apiVersion: "authorization.k8s.io/v1", kind: "SubjectAccessReview", spec }),
              "application/json",
            );
            return (res.json.status as { allowed: boolean }).allowed;
          };
          const ns = systemNamespace;
          const want: [boolean, Record<string, string>][] = [
            [true, { verb: "watch", group: crdGroup, resource: "irsas" }],
            [true, { verb: "patch", group: crdGroup, resource: "irsasetups", subresource: "status", namespace: "x" }],
            [true, { verb: "update", group: crdGroup, resource: "irsas", subresource: "finalizers", namespace: "x" }],
            [false, { verb: "delete", group: crdGroup, resource: "irsas", namespace: "x" }],
            [true, { verb: "list", resource: "serviceaccounts" }],
            [true, { verb: "create", resource: "serviceaccounts", namespace: "shop" }],
            [true, { verb: "delete", resource: "serviceaccounts", namespace: "shop", name: "app" }],
            [false, { verb: "create", resource: "serviceaccounts", subresource: "token", namespace: "kube-system" }],
            [false, { verb: "create", group: "authentication.k8s.io", resource: "tokenreviews" }],
            [true, { verb: "get", resource: "namespaces", name: "shop" }],
            [true, { verb: "list", resource: "pods" }],
            [true, { verb: "create", resource: "events", namespace: "shop" }],
            [true, { verb: "get", resource: "configmaps", namespace: "kube-system", name: "kubectl-irsa-setup" }],
            [true, { verb: "patch", resource: "configmaps", namespace: "kube-system", name: "kubectl-irsa-setup" }],
            [false, { verb: "get", resource: "configmaps", namespace: "kube-system", name: "kubeadm-config" }],
            [true, { verb: "get", resource: "secrets", namespace: "kube-system", name: "irsa-manager-key" }],
            [true, { verb: "create", resource: "secrets", namespace: "kube-system" }],
            [false, { verb: "get", resource: "secrets", namespace: "kube-system", name: "bootstrap-token-abc" }],
            [false, { verb: "list", resource: "secrets", namespace: "kube-system" }],
            [false, { verb: "delete", resource: "secrets", namespace: "kube-system", name: "irsa-manager-key" }],
            [false, { verb: "get", resource: "secrets", namespace: "default", name: "x" }],
            [true, { verb: "update", resource: "secrets", namespace: ns, name: "kubectl-irsa-webhook-tls" }],
            [true, { verb: "get", resource: "secrets", namespace: ns, name: "aws-secret" }],
            [false, { verb: "update", resource: "secrets", namespace: ns, name: "aws-secret" }],
            [true, {
              verb: "update",
              group: "coordination.k8s.io",
              resource: "leases",
              namespace: ns,
              name: "kubectl-irsa-leader",
            }],
            [false, { verb: "update", group: "coordination.k8s.io", resource: "leases", namespace: ns, name: "other" }],
            [true, {
              verb: "patch",
              group: "admissionregistration.k8s.io",
              resource: "mutatingwebhookconfigurations",
              name: "kubectl-irsa",
            }],
            [false, {
              verb: "patch",
              group: "admissionregistration.k8s.io",
              resource: "mutatingwebhookconfigurations",
              name: "other",
            }],
            [true, { verb: "get", path: "/openid/v1/jwks" }],
            [true, { verb: "get", path: "/.well-known/openid-configuration" }],
          ];
          const wrong = [];
          for (const [expected, attrs] of want) {
            if (await allowed(attrs) !== expected) {
              wrong.push(`${expected ? "denied" : "allowed"}: ${JSON.stringify(attrs)}`);
            }
          }
          deepStrictEqual(wrong, []);
        });

        await t.step("uninstall refuses to delete CRDs that still hold objects, and changes nothing", async () => {
          const run = await runPlugin(["uninstall"], { env });
          equal(run.code, 1, run.stderr);
          match(run.stderr, /2 IRSASetup and 1 IRSA objects still exist/);
          match(run.stderr, /cleanup: true/);
          for (const o of objects) ok(await exists(kube, o), `${o.kind}/${o.metadata.name} was deleted`);
        });

        await t.step("uninstall --keep-crds removes the daemon and keeps the CRDs and their objects", async () => {
          const run = await runPlugin(["uninstall", "--keep-crds"], { env });
          equal(run.code, 0, run.stderr);
          match(run.stderr, /warning: 2 IRSASetup and 1 IRSA objects stay without a daemon/);
          for (const o of objects) {
            const kept = o.kind === "CustomResourceDefinition";
            equal(await exists(kube, o), kept, `${o.kind}/${o.metadata.name}`);
          }
          const irsas = await kube.list({ group: crdGroup, version: crdVersion, resource: "irsas" });
          equal(irsas.length, 1);
        });

        // Without kube-controller-manager the old namespace never finishes terminating; install into another.
        const other = installManifests({ image: defaultImage(version), namespace: "irsa-two" });
        await t.step(
          "install into another namespace, then uninstall --dry-run lists and keeps everything",
          async () => {
            const run = await runPlugin(["install", "-n", "irsa-two"], { env });
            equal(run.code, 0, run.stderr);
            for (const plural of ["irsas", "irsasetups"]) {
              for (
                const item of await kube.list<{ metadata: { name: string } }>({
                  group: crdGroup,
                  version: crdVersion,
                  resource: plural,
                })
              ) {
                await kube.delete({
                  group: crdGroup,
                  version: crdVersion,
                  resource: plural,
                  namespace: systemNamespace,
                  name: item.metadata.name,
                });
              }
            }
            const dry = await runPlugin(["uninstall", "-n", "irsa-two", "--dry-run"], { env });
            equal(dry.code, 0, dry.stderr);
            deepStrictEqual(
              dry.stdout.trim().split("\n"),
              [
                "MutatingWebhookConfiguration/kubectl-irsa",
                "Service/kubectl-irsa",
                "PodDisruptionBudget/kubectl-irsa",
                "Deployment/kubectl-irsa",
                "RoleBinding/kubectl-irsa",
                "Role/kubectl-irsa",
                "RoleBinding/kubectl-irsa",
                "Role/kubectl-irsa",
                "ClusterRole/kubectl-irsa-view",
                "ClusterRole/kubectl-irsa-edit",
                "ClusterRoleBinding/kubectl-irsa-issuer-discovery",
                "ClusterRoleBinding/kubectl-irsa",
                "ClusterRole/kubectl-irsa",
                "ServiceAccount/kubectl-irsa",
                "ValidatingAdmissionPolicyBinding/kubectl-irsa-binding-policy",
                "ValidatingAdmissionPolicy/kubectl-irsa-binding-policy",
                "ValidatingAdmissionPolicyBinding/kubectl-irsa-namespace-scope",
                "ValidatingAdmissionPolicy/kubectl-irsa-namespace-scope",
                "CustomResourceDefinition/irsas.irsa-manager.kkb0318.github.io",
                "CustomResourceDefinition/irsasetups.irsa-manager.kkb0318.github.io",
                "Namespace/irsa-two",
              ].map((l) => `${l} deleted (server dry run)`),
            );
            for (const o of other) ok(await exists(kube, o), `${o.kind}/${o.metadata.name} deleted by a dry run`);
          },
        );

        await t.step("uninstall removes everything, CRDs included, and a second run finds nothing", async () => {
          const run = await runPlugin(["uninstall", "-n", "irsa-two"], { env });
          equal(run.code, 0, run.stderr);
          for (const o of other) {
            ok(run.stderr.includes(`deleted ${o.kind}/${o.metadata.name}\n`), run.stderr);
            // The namespace only starts terminating here: no kube-controller-manager empties it.
            if (o.kind === "Namespace") ok(!(await exists(kube, o)));
            else await waitGone(kube, o);
          }
          const again = await runPlugin(["uninstall", "-n", "irsa-two", "--keep-crds"], { env });
          equal(again.code, 0, again.stderr);
          match(again.stderr, /MutatingWebhookConfiguration\/kubectl-irsa not found/);
        });

        await t.step("install and uninstall refuse a namespace that uninstall must never delete", async () => {
          for (const command of ["install", "uninstall"]) {
            const run = await runPlugin([command, "-n", "kube-system"], { env });
            equal(run.code, 2, run.stderr);
            match(run.stderr, /"kube-system" cannot hold the daemon/);
          }
        });
      } finally {
        kube.close();
      }
    }, { moto: false }),
});
