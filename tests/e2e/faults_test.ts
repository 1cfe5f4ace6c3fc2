// AWS misbehaving: a proxy in front of moto throttles, fails or stalls 20 % of requests. 100 IRSA objects still
// all converge, with no duplicate or orphaned role, and the retries stay bounded and visible in the metrics.
import { deepStrictEqual, ok } from "node:assert/strict";
import { ListAttachedRolePoliciesCommand, ListRolesCommand } from "@aws-sdk/client-iam";
import { systemNamespace } from "../../lib/names.ts";
import { sandboxAws } from "../support/aws.ts";
import { installCrds } from "../support/crds.ts";
import { startDaemon } from "../support/daemon.ts";
import { startFaultProxy } from "../support/fault_proxy.ts";
import { awsCallTotals, createIrsaObjects, waitAllReady } from "../support/irsa_objects.ts";
import { initAndRestart } from "../support/irsa_setup.ts";
import { createNamespace, sandboxClient } from "../support/kube.ts";
import { withSandbox } from "../support/sandbox.ts";

const count = 100;

Deno.test({
  name: "faults e2e: 100 IRSA objects converge through a proxy that fails 20 % of AWS requests",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withSandbox(async (sandbox) => {
      const kube = await sandboxClient(sandbox);
      const aws = await sandboxAws(sandbox);
      const proxy = await startFaultProxy(sandbox, { faultRate: 0.2, holdMs: 3000 });
      try {
        await installCrds(kube);
        await createNamespace(kube, systemNamespace);
        await initAndRestart(sandbox, "faults-oidc");
        const daemon = await startDaemon(
          sandbox,
          [
            "--namespace",
            systemNamespace,
            "--no-webhook",
            "--leader-elect=false",
            "--concurrency",
            "8",
            "--aws-request-timeout",
            "1s",
          ],
          { env: { AWS_ENDPOINT_URL: proxy.endpoint } },
        );
        try {
          await createIrsaObjects(kube, {
            namespace: systemNamespace,
            target: "default",
            prefix: "f",
            count,
            policy: "AmazonS3ReadOnlyAccess",
          });
          const tookMs = await waitAllReady(kube, systemNamespace, count, 240_000);
          const totals = awsCallTotals(await daemon.metrics());
          console.log(
            `faults: ${count} objects Ready in ${(tookMs / 1000).toFixed(1)} s; injected ${
              JSON.stringify(proxy.counts)
            }; ` +
              `daemon calls ${JSON.stringify(totals)}`,
          );
          ok(proxy.counts.throttled + proxy.counts.failed + proxy.counts.delayed > 0, "faults were injected");
          ok(totals.errors > 0, "failed calls are visible in the metrics");
          // Bounded retries: well under three attempts per successful call on average.
          ok(
            totals.errors < (totals.reads + totals.writes),
            `errors ${totals.errors} vs successes ${totals.reads + totals.writes}`,
          );

          const names: string[] = [];
          let marker: string | undefined;
          do {
            const page = await aws.iam.send(new ListRolesCommand({ ...(marker ? { Marker: marker } : {}) }));
            names.push(...(page.Roles ?? []).map((r) => r.RoleName!));
            marker = page.IsTruncated ? page.Marker : undefined;
          } while (marker);
          deepStrictEqual(
            names.sort(),
            Array.from({ length: count }, (_, i) => `f-role-${i}`).sort(),
            "exactly the expected roles",
          );
          for (const i of [0, 37, 99]) {
            const attached = await aws.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: `f-role-${i}` }));
            deepStrictEqual(attached.AttachedPolicies?.map((p) => p.PolicyArn), [
              "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
            ]);
          }
        } finally {
          await daemon.stop();
        }
      } finally {
        await proxy.close();
        aws.destroy();
        kube.close();
      }
    }),
});
