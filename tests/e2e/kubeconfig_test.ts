// kubeconfig e2e against the real kube-apiserver: impersonation reaches the authorizer (--as a user without RBAC
// is denied where the admin is allowed; each --as-group is its own group), and an exec plugin's client certificate
// authenticates over mTLS, from the library and from the plugin's CLI.
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { KubeClient } from "../../lib/kube/client.ts";
import { runPlugin } from "../support/cli.ts";
import { withSandbox } from "../support/sandbox.ts";

const nobody = "irsa-e2e-nobody";

interface UserInfo {
  username: string;
  groups?: string[];
}

async function whoAmI(kube: KubeClient): Promise<UserInfo> {
  const review = await kube.create<{ status: { userInfo: UserInfo } }>(
    { group: "authentication.k8s.io", resource: "selfsubjectreviews" },
    { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
  );
  return review.status.userInfo;
}

Deno.test({
  name: "kubeconfig e2e: impersonation and exec plugin client certificates against the real apiserver",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: (t) =>
    withSandbox(async (sandbox) => {
      const kubeconfig = sandbox.kubeconfigPath;

      await t.step("--as a user with no RBAC gets 403 where the admin gets 200", async () => {
        const admin = await KubeClient.connect({ kubeconfig });
        const impersonated = await KubeClient.connect({ kubeconfig, impersonate: { user: nobody } });
        try {
          const path = "/api/v1/namespaces/default/serviceaccounts";
          const allowed = await admin.raw("GET", path);
          await allowed.body?.cancel();
          equal(allowed.status, 200);
          const denied = await impersonated.raw("GET", path);
          equal(denied.status, 403);
          match(
            await denied.text(),
            new RegExp(`User \\\\"${nobody}\\\\" cannot list resource \\\\"serviceaccounts\\\\"`),
          );
        } finally {
          admin.close();
          impersonated.close();
        }
      });

      await t.step("the apiserver sees the impersonated user and each --as-group as its own group", async () => {
        const kube = await KubeClient.connect({
          kubeconfig,
          impersonate: { user: nobody, groups: ["irsa-e2e-a", "irsa-e2e-b"] },
        });
        try {
          const who = await whoAmI(kube);
          equal(who.username, nobody);
          ok(who.groups?.includes("irsa-e2e-a") && who.groups.includes("irsa-e2e-b"), JSON.stringify(who.groups));
          ok(!who.groups?.some((g) => g.includes(",")), `no merged group: ${JSON.stringify(who.groups)}`);
        } finally {
          kube.close();
        }
      });

      await t.step(
        "the CLI: --as makes the plugin's reads 403 (exit 1); as the admin the same read is allowed",
        async () => {
          const env = sandbox.env;
          const denied = await runPlugin(["list", "--as", nobody], { env });
          equal(denied.code, 1, denied.stderr);
          match(denied.stderr, new RegExp(`forbidden: User "${nobody}" cannot get resource "configmaps"`));
          equal(denied.stderr.trim().split("\n").length, 1, denied.stderr);
          // The admin's read of the same object succeeds: it is absent, so list asks for init.
          const admin = await runPlugin(["list"], { env });
          equal(admin.code, 1, admin.stderr);
          match(admin.stderr, /run 'kubectl irsa init' first/);
          const usage = await runPlugin(["list", "--request-timeout", "soon"], { env });
          equal(usage.code, 2, usage.stderr);
          match(usage.stderr, /^error: invalid "--request-timeout" value "soon"/);
        },
      );

      await t.step("an exec plugin's client certificate authenticates over mTLS", async () => {
        const admin = parseYaml(await Deno.readTextFile(kubeconfig)) as {
          clusters: { cluster: Record<string, string> }[];
          users: { user: Record<string, string> }[];
        };
        const user = admin.users[0]!.user;
        const dir = await Deno.makeTempDir({ dir: sandbox.dir, prefix: "exec-" });
        await Deno.writeTextFile(
          `${dir}/cred.json`,
          JSON.stringify({
            apiVersion: "client.authentication.k8s.io/v1",
            kind: "ExecCredential",
            status: {
              clientCertificateData: atob(user["client-certificate-data"]!),
              clientKeyData: atob(user["client-key-data"]!),
            },
          }),
        );
        await Deno.writeTextFile(
          `${dir}/plugin.sh`,
          `#!/bin/sh\necho run >> "$(dirname "$0")/runs"\ncat "$(dirname "$0")/cred.json"\n`,
          { mode: 0o755 },
        );
        const execKubeconfig = `${dir}/kubeconfig`;
        await Deno.writeTextFile(
          execKubeconfig,
          toYaml({
            apiVersion: "v1",
            kind: "Config",
            clusters: [{ name: "sandbox", cluster: admin.clusters[0]!.cluster }],
            users: [{
              name: "exec-admin",
              user: {
                exec: {
                  apiVersion: "client.authentication.k8s.io/v1",
                  command: "./plugin.sh",
                  interactiveMode: "Never",
                },
              },
            }],
            contexts: [{ name: "exec", context: { cluster: "sandbox", user: "exec-admin" } }],
            "current-context": "exec",
          }),
        );
        const kube = await KubeClient.connect({ kubeconfig: execKubeconfig });
        try {
          const who = await whoAmI(kube);
          equal(who.username, "kubectl-irsa-admin");
          ok(who.groups?.includes("system:masters"), JSON.stringify(who.groups));
          equal((await kube.raw("GET", "/api/v1/namespaces/default")).status, 200);
          equal(kube.connection.exec?.runs, 1, "credentials without expiry are cached");
        } finally {
          kube.close();
        }
        // The plugin's CLI, from another directory: the relative command resolves against the kubeconfig.
        const run = await runPlugin(["list", "--kubeconfig", execKubeconfig], { env: { NO_COLOR: "1" }, cwd: "/" });
        equal(run.code, 1, run.stderr);
        match(run.stderr, /run 'kubectl irsa init' first/);
        deepStrictEqual((await Deno.readTextFile(`${dir}/runs`)).trim().split("\n"), ["run", "run"]);
      });
    }, { moto: false }),
});
