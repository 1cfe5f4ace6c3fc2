// Two daemon replicas on one Lease: exactly one reconciles; after the leader is killed with SIGKILL the other
// takes over within the lease duration and converges; SIGTERM releases the lease at once.
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { ListRolesCommand } from "@aws-sdk/client-iam";
import { crdGroup, crdVersion, systemNamespace } from "../../lib/names.ts";
import type { KubeClient } from "../../lib/kube/client.ts";
import { sandboxAws } from "../support/aws.ts";
import { installCrds } from "../support/crds.ts";
import { type DaemonProcess, startDaemon } from "../support/daemon.ts";
import { initAndRestart } from "../support/irsa_setup.ts";
import { createNamespace, sandboxClient } from "../support/kube.ts";
import { withSandbox } from "../support/sandbox.ts";

const collection = { group: crdGroup, version: crdVersion, resource: "irsas", namespace: systemNamespace };

async function createIrsa(kube: KubeClient, name: string): Promise<void> {
  await kube.create(collection, {
    apiVersion: `${crdGroup}/${crdVersion}`,
    kind: "IRSA",
    metadata: { name },
    spec: {
      cleanup: true,
      serviceAccount: { name, namespaces: ["default"] },
      iamRole: { name: `${name}-role` },
      iamPolicies: ["AmazonS3ReadOnlyAccess"],
    },
  });
}

async function waitReady(kube: KubeClient, name: string, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    const o = await kube.get<{ status?: { conditions?: { type: string; status: string }[] } }>({ ...collection, name });
    if (o?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`IRSA ${name} was not Ready within ${timeoutMs} ms`);
}

async function leaseHolder(kube: KubeClient): Promise<string | undefined> {
  const lease = await kube.get<{ spec?: { holderIdentity?: string } }>({
    group: "coordination.k8s.io",
    resource: "leases",
    namespace: systemNamespace,
    name: "kubectl-irsa-leader",
  });
  return lease?.spec?.holderIdentity || undefined;
}

async function isLeader(d: DaemonProcess): Promise<boolean> {
  return (await Deno.readTextFile(d.process.logPath)).includes('"msg":"Became leader"');
}

Deno.test({
  name: "leader election e2e",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: (t) =>
    withSandbox(async (sandbox) => {
      const kube = await sandboxClient(sandbox);
      const aws = await sandboxAws(sandbox);
      const daemons: DaemonProcess[] = [];
      let newLeader: DaemonProcess | undefined;
      try {
        await installCrds(kube);
        await createNamespace(kube, systemNamespace);
        await initAndRestart(sandbox, "leader-oidc");
        const args = [
          "--namespace",
          systemNamespace,
          "--no-webhook",
          "--lease-duration",
          "6s",
          "--resync-period",
          "30s",
        ];
        daemons.push(await startDaemon(sandbox, args), await startDaemon(sandbox, args));

        await t.step("exactly one replica leads and reconciles", async () => {
          await createIrsa(kube, "first");
          await waitReady(kube, "first", 30_000);
          const leaders = await Promise.all(daemons.map(isLeader));
          deepStrictEqual(leaders.filter(Boolean).length, 1, `leaders: ${leaders}`);
          ok(await leaseHolder(kube));
        });

        await t.step("after SIGKILL of the leader the other takes over within the lease duration", async () => {
          const leader = (await isLeader(daemons[0]!)) ? daemons[0]! : daemons[1]!;
          const follower = leader === daemons[0] ? daemons[1]! : daemons[0]!;
          newLeader = follower;
          await leader.process.kill();
          await createIrsa(kube, "second");
          const tookMs = await waitReady(kube, "second", 20_000);
          ok(await isLeader(follower), "the follower became leader");
          console.log(`failover: second IRSA Ready ${tookMs} ms after the leader was killed (lease 6 s)`);
          const roles = await aws.iam.send(new ListRolesCommand({}));
          deepStrictEqual(
            roles.Roles?.map((r) => r.RoleName).sort(),
            ["first-role", "second-role"],
            "no duplicate or orphaned roles",
          );
        });

        await t.step("SIGTERM releases the lease", async () => {
          ok(newLeader, "a leader took over");
          ok(await leaseHolder(kube));
          await newLeader.stop();
          equal(await leaseHolder(kube), undefined, "the lease has no holder after a clean stop");
        });
      } finally {
        for (const d of daemons) await d.stop();
        aws.destroy();
        kube.close();
      }
    }),
});
