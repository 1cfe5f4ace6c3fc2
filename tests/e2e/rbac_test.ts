// RBAC proof: the daemon runs authenticated as its own ServiceAccount (a TokenRequest token), bound only to the
// ClusterRole and Roles that `kubectl irsa install` renders. The seed's manifests still reach Ready and the webhook
// still mutates pods; actions outside its needs are denied by the apiserver.
import { seedIrsaYaml, seedSetupYaml } from "../../lib/testdata/seed_manifests.ts";
import { equal, ok } from "node:assert/strict";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { installManifests, resourceRefOf } from "../../lib/install_manifests.ts";
import { crdGroup, crdVersion, systemNamespace } from "../../lib/names.ts";
import { KubeClient } from "../../lib/kube/client.ts";
import { loadKubeConnection, processKubeconfigSources } from "../../lib/kube/kubeconfig.ts";
import { waitForCrds } from "../support/crds.ts";
import { startDaemon, unboundedDrift } from "../support/daemon.ts";
import { sandboxClient } from "../support/kube.ts";
import { withSandbox } from "../support/sandbox.ts";
import { freePort } from "../support/server_process.ts";
import { registerWebhook, waitForWebhook } from "../support/webhook.ts";

const setupYaml = seedSetupYaml({ region: "eu-west-1", bucket: "rbac-oidc-bucket" });
// The seed's IRSA, bound in default only: the webhook excludes kube-system.
const irsaYaml = seedIrsaYaml.replace("      - kube-system\n", "");

async function waitReady(kube: KubeClient, plural: string, name: string): Promise<void> {
  const deadline = Date.now() + 45_000;
  let last = "";
  while (Date.now() < deadline) {
    const o = await kube.get<
      { status?: { conditions?: { type: string; status: string; reason: string; message: string }[] } }
    >(
      `/apis/${crdGroup}/${crdVersion}/namespaces/${systemNamespace}/${plural}/${name}`,
    );
    const ready = o?.status?.conditions?.find((c) => c.type === "Ready");
    last = JSON.stringify(ready);
    if (ready?.status === "True") return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${plural}/${name} not Ready: ${last}`);
}

Deno.test({
  name: "rbac e2e: the daemon works with exactly the RBAC that install renders",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: (t) =>
    withSandbox(async (sandbox) => {
      const admin = await sandboxClient(sandbox);
      try {
        // Everything install applies except the workload objects (no kubelet here) and the service-based webhook
        // configuration, which the test registers by URL under the same name.
        const skipped = new Set(["Deployment", "PodDisruptionBudget", "Service", "MutatingWebhookConfiguration"]);
        for (const m of installManifests({ image: "kubectl-irsa:test" })) {
          if (skipped.has(m.kind)) continue;
          await admin.apply(resourceRefOf(m), m);
        }
        await waitForCrds(admin);
        const webhookPort = freePort();
        await registerWebhook(admin, { port: webhookPort });

        const token = (await admin.create<{ status: { token: string } }>(
          { resource: "serviceaccounts", namespace: systemNamespace, name: "kubectl-irsa", subresource: "token" },
          { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 3600 } },
        )).status.token;
        const kubeconfig = parseYaml(await Deno.readTextFile(sandbox.kubeconfigPath)) as {
          users: { name: string; user: Record<string, string> }[];
        };
        kubeconfig.users = [{ name: "sandbox-admin", user: { token } }];
        const daemonKubeconfig = await sandbox.writeFile("daemon.kubeconfig", toYaml(kubeconfig));
        const asDaemon = new KubeClient(
          await loadKubeConnection(processKubeconfigSources, { kubeconfig: daemonKubeconfig }),
        );

        const daemon = await startDaemon(sandbox, [
          "--namespace",
          systemNamespace,
          "--resync-period",
          "5s",
          ...unboundedDrift,
        ], {
          kubeconfig: daemonKubeconfig,
          webhookPort,
        });
        try {
          await t.step("the seed's IRSASetup and IRSA reach Ready", async () => {
            for (const [plural, yaml] of [["irsasetups", setupYaml], ["irsas", irsaYaml]] as const) {
              await admin.create(
                { group: crdGroup, version: crdVersion, resource: plural, namespace: systemNamespace },
                parseYaml(yaml),
              );
            }
            await waitReady(admin, "irsasetups", "irsa-init");
            await waitReady(admin, "irsas", "irsa-sample");
          });

          await t.step("the webhook mutates pods with the daemon's own credentials", async () => {
            await waitForWebhook(admin, "default", "irsa1-sa");
          });

          await t.step("the daemon's log shows no permission error", async () => {
            const log = await Deno.readTextFile(daemon.process.logPath);
            ok(!/HTTP 403|forbidden/i.test(log), log.split("\n").filter((l) => /403|forbidden/i.test(l)).join("\n"));
          });

          await t.step("actions outside its needs are denied", async (t) => {
            const denied: [string, () => Promise<unknown>][] = [
              ["list Secrets in kube-system", () => asDaemon.list({ resource: "secrets", namespace: "kube-system" })],
              ["read another Secret in its namespace", () =>
                asDaemon.request("GET", `/api/v1/namespaces/${systemNamespace}/secrets/other`)],
              ["delete a namespace", () =>
                asDaemon.delete({ resource: "namespaces", name: "default" })],
              [
                "bind itself cluster-admin",
                () =>
                  asDaemon.create({ group: "rbac.authorization.k8s.io", resource: "clusterrolebindings" }, {
                    apiVersion: "rbac.authorization.k8s.io/v1",
                    kind: "ClusterRoleBinding",
                    metadata: { name: "escalate" },
                    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
                    subjects: [{ kind: "ServiceAccount", name: "kubectl-irsa", namespace: systemNamespace }],
                  }),
              ],
              ["patch another webhook configuration", () =>
                asDaemon.patch({
                  group: "admissionregistration.k8s.io",
                  resource: "mutatingwebhookconfigurations",
                  name: "other",
                }, { metadata: { labels: { x: "y" } } })],
              ["create pods", () =>
                asDaemon.create({ resource: "pods", namespace: "default" }, {
                  apiVersion: "v1",
                  kind: "Pod",
                  metadata: { name: "x" },
                  spec: { containers: [{ name: "c", image: "busybox" }] },
                })],
              ["mint tokens for other ServiceAccounts", () =>
                asDaemon.create({
                  resource: "serviceaccounts",
                  namespace: "default",
                  name: "irsa1-sa",
                  subresource: "token",
                }, {
                  apiVersion: "authentication.k8s.io/v1",
                  kind: "TokenRequest",
                  spec: {},
                })],
            ];
            for (const [name, action] of denied) {
              await t.step(name, async () => {
                const outcome = await action().then(() => "allowed", (e: Error) => e.message);
                ok(outcome.includes("HTTP 403"), outcome);
              });
            }
          });
          await t.step("the same token is allowed what the daemon needs", async () => {
            const sas = await asDaemon.list({ resource: "serviceaccounts" });
            ok(sas.length > 0);
            equal((await asDaemon.raw("GET", "/openid/v1/jwks")).status, 200);
          });
        } finally {
          asDaemon.close();
          await daemon.stop();
        }
      } finally {
        admin.close();
      }
    }),
});
