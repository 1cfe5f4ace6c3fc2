// The daemon's AWS calls, counted at the proxy in front of moto (not by the daemon): a new IRSA object costs the
// read that proves the role absent plus two writes, and its policy is checked once for all objects; the daemon's own status and finalizer writes, and metadata or status
// edits by others, cost nothing; a restart with nothing drifted stays within the drift budget instead of
// checking every object at once, still serves a new object first, and still repairs drift.
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { DetachRolePolicyCommand, ListAttachedRolePoliciesCommand } from "@aws-sdk/client-iam";
import { crdGroup, crdVersion, systemNamespace } from "../../lib/names.ts";
import { sandboxAws } from "../support/aws.ts";
import { installCrds } from "../support/crds.ts";
import { startDaemon } from "../support/daemon.ts";
import { isWrite, type RecordedRequest, startFaultProxy, waitProxyQuiet } from "../support/fault_proxy.ts";
import { createIrsaObjects, waitAllReady } from "../support/irsa_objects.ts";
import { createSetupAndWait } from "../support/irsa_setup.ts";
import { createNamespace, sandboxClient } from "../support/kube.ts";
import { sandboxRegion, withSandbox } from "../support/sandbox.ts";

const count = 20;
const budget = 2;
const policyArn = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess";
const irsas = { group: crdGroup, version: crdVersion, resource: "irsas", namespace: systemNamespace };

const byAction = (requests: RecordedRequest[]) => {
  const counts: Record<string, number> = {};
  for (const r of requests) counts[r.action || `${r.method} s3`] = (counts[r.action || `${r.method} s3`] ?? 0) + 1;
  return counts;
};

Deno.test({
  name: "daemon AWS calls, counted at a proxy: 3 per new object, 0 for status edits, a restart within the budget",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    await withSandbox(async (sandbox) => {
      const kube = await sandboxClient(sandbox);
      const aws = await sandboxAws(sandbox);
      const proxy = await startFaultProxy(sandbox, { faultRate: 0, holdMs: 0 });
      const args = [
        "--namespace",
        systemNamespace,
        "--no-webhook",
        "--leader-elect=false",
        "--resync-period",
        "1h",
        "--drift-budget",
        String(budget),
      ];
      const env = { AWS_ENDPOINT_URL: proxy.endpoint };
      try {
        await installCrds(kube);
        await createNamespace(kube, systemNamespace);
        let daemon = await startDaemon(sandbox, args, { env });
        try {
          await createSetupAndWait(kube, "calls", {
            cleanup: false,
            discovery: { s3: { region: sandboxRegion, bucketName: "calls-oidc" } },
          });
          await waitProxyQuiet(proxy, 0, 2_000, 60_000);

          await t.step(
            `${count} new objects: 3 AWS calls each, 2 of them writes, and one GetPolicy for all`,
            async () => {
              const mark = proxy.requests.length;
              await createIrsaObjects(kube, {
                namespace: systemNamespace,
                target: "default",
                prefix: "c",
                count,
                policy: "AmazonS3ReadOnlyAccess",
              });
              await waitAllReady(kube, systemNamespace, count, 120_000);
              await waitProxyQuiet(proxy, mark, 3_000, 60_000);
              const pass = proxy.requests.slice(mark);
              deepStrictEqual(byAction(pass), {
                GetPolicy: 1,
                GetRole: count,
                CreateRole: count,
                AttachRolePolicy: count,
              });
              equal(pass.filter(isWrite).length, 2 * count);
              const created = pass.filter((r) => r.action === "CreateRole").map((r) => r.form?.get("RoleName"));
              equal(new Set(created).size, count, "one CreateRole per role");
            },
          );

          await t.step("label, annotation and status edits by others cost 0 AWS calls", async () => {
            const mark = proxy.requests.length;
            await kube.patch({ ...irsas, name: "c-1" }, {
              metadata: { labels: { team: "a" }, annotations: { a: "b" } },
            });
            await kube.request(
              "PATCH",
              `/apis/${crdGroup}/${crdVersion}/namespaces/${systemNamespace}/irsas/c-2/status`,
              {
                body: [{
                  op: "add",
                  path: "/status/conditions/-",
                  value: {
                    type: "Audited",
                    status: "True",
                    reason: "Elsewhere",
                    message: "written by another controller",
                    lastTransitionTime: "2026-12-01T00:00:00Z",
                  },
                }],
                contentType: "application/json-patch+json",
              },
            );
            await new Promise((r) => setTimeout(r, 3_000));
            equal(proxy.requests.length - mark, 0);
          });

          await t.step(
            "a spec edit is reconciled at once: 3 reads and the one write it needs (TagRole)",
            async () => {
              const mark = proxy.requests.length;
              await kube.patch({ ...irsas, name: "c-3" }, { spec: { tags: { team: "a" } } });
              await waitProxyQuiet(proxy, mark, 2_000, 60_000);
              const edit = proxy.requests.slice(mark);
              deepStrictEqual(byAction(edit), {
                GetRole: 1,
                ListAttachedRolePolicies: 1,
                ListRolePolicies: 1,
                TagRole: 1,
              });
            },
          );

          await daemon.stop();
          // Drift made while the daemon was down: a policy detached by hand.
          await aws.iam.send(new DetachRolePolicyCommand({ RoleName: "c-role-7", PolicyArn: policyArn }));
          const mark = proxy.requests.length;
          const started = Date.now();
          daemon = await startDaemon(sandbox, args, { env });

          await t.step(
            `a restart checks the ${count} objects within --drift-budget ${budget}, not at once`,
            async () => {
              await new Promise((r) => setTimeout(r, 10_000 - (Date.now() - started)));
              const early = proxy.requests.slice(mark);
              // 10 s of budget, the second saved up, and one check of 4 calls started on the last credit.
              ok(early.length <= budget * 10 + budget + 4, `${early.length} AWS calls in the first 10 s`);
              ok(early.length > 0, "the drift checks did start");
            },
          );

          await t.step("a new object is served before the remaining checks", async () => {
            const at = proxy.requests.length;
            await createIrsaObjects(kube, {
              namespace: systemNamespace,
              target: "default",
              prefix: "n",
              count: 1,
              policy: "AmazonS3ReadOnlyAccess",
            });
            await waitAllReady(kube, systemNamespace, count + 1, 30_000);
            const created = proxy.requests.slice(at).filter((r) => r.action === "CreateRole");
            deepStrictEqual(created.map((r) => r.form?.get("RoleName")), ["n-role-0"]);
            const unchecked = new Set(Array.from({ length: count }, (_, i) => `c-role-${i}`));
            for (const r of proxy.requests.slice(mark, at)) {
              if (r.action === "GetRole") unchecked.delete(r.form?.get("RoleName") ?? "");
            }
            ok(unchecked.size > 0, "some objects were still waiting for their drift check");
          });

          await t.step("the drift checks repair the detached policy and write nothing else", async () => {
            const deadline = Date.now() + 120_000;
            let attached: string[] = [];
            while (Date.now() < deadline) {
              const out = await aws.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: "c-role-7" }));
              attached = (out.AttachedPolicies ?? []).map((p) => p.PolicyArn ?? "");
              if (attached.length > 0) break;
              await new Promise((r) => setTimeout(r, 1_000));
            }
            deepStrictEqual(attached, [policyArn]);
            const writes = proxy.requests.slice(mark).filter(isWrite).map((r) =>
              `${r.action} ${r.form?.get("RoleName")}`
            );
            deepStrictEqual(writes.filter((w) => !w.endsWith("n-role-0")), ["AttachRolePolicy c-role-7"]);
          });
        } finally {
          await daemon.stop();
        }
      } finally {
        await proxy.close();
        aws.destroy();
        kube.close();
      }
    });
  },
});
