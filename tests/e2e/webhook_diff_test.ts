// Differential test of the pod identity webhook: our daemon and the upstream amazon-eks-pod-identity-webhook
// (v0.6.17, see tests/support/go_build.ts) run side by side against one real kube-apiserver, each selected by its
// own namespace label. Every corpus pod is created with dryRun=All in both namespaces, and the specs the apiserver
// returns (patched and defaulted by the same code) must be equal. A third, unwebhooked namespace gives the
// untouched spec, so the test also knows which pods were mutated at all.
//
// Differences: none is deliberate, and none is known. (A pod without serviceAccountName once differed: we looked
// up "default" and injected a token the apiserver then refused; we now leave it alone, as upstream does.)
import { deepStrictEqual, notDeepStrictEqual, ok } from "node:assert/strict";
import { systemNamespace } from "../../lib/names.ts";
import type { KubeClient } from "../../lib/kube/client.ts";
import { startDaemon } from "../support/daemon.ts";
import { createNamespace, createServiceAccount, sandboxClient } from "../support/kube.ts";
import { piwDefaultRegion, startPiw } from "../support/piw.ts";
import { withSandbox } from "../support/sandbox.ts";
import { freePort } from "../support/server_process.ts";
import { registerWebhook, waitForWebhook } from "../support/webhook.ts";
import { type CorpusCase, corpusCases, corpusServiceAccounts } from "../support/webhook_corpus.ts";

const diffLabel = "irsa-diff";

/** Corpus cases neither webhook may touch; every other case must come back mutated. */
const untouched = new Set([
  "ServiceAccount without a role annotation",
  "ServiceAccount that does not exist",
  "empty role-arn annotation",
  "opt-out label",
  "opt-out label with the value false still opts out",
  "no serviceAccountName (the default ServiceAccount has a role)",
]);

/** What the apiserver answered: the created pod's spec, or the error message when it refused the pod. */
type Outcome = { spec: unknown } | { error: string };

async function dryRunCreate(kube: KubeClient, namespace: string, name: string, c: CorpusCase): Promise<Outcome> {
  try {
    const pod = await kube.request<{ spec: unknown }>("POST", `/api/v1/namespaces/${namespace}/pods`, {
      query: { dryRun: "All" },
      body: { apiVersion: "v1", kind: "Pod", metadata: { ...c.pod.metadata, name }, spec: c.pod.spec },
    });
    return { spec: pod.spec };
  } catch (e) {
    // Namespaces differ between the three creations; the rest of the message must not.
    return { error: (e as Error).message.replace(namespace, "<namespace>") };
  }
}

/** Known differences by case name: each asserts the divergence itself instead of equality (see the header). */
Deno.test({
  name: "our webhook and upstream pod-identity-webhook return the same pod spec for every corpus pod",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: (t) =>
    withSandbox(async (sandbox) => {
      const kube = await sandboxClient(sandbox);
      try {
        await createNamespace(kube, systemNamespace);
        // Registered before the daemon starts, so the daemon publishes its CA bundle into it at start-up.
        const ourPort = freePort();
        await registerWebhook(kube, { port: ourPort, namespaceSelector: { matchLabels: { [diffLabel]: "ours" } } });
        const piw = await startPiw(sandbox);
        try {
          await registerWebhook(kube, {
            port: piw.port,
            name: "pod-identity-webhook-diff",
            webhookName: "pod-identity-webhook.amazonaws.com",
            caBundlePem: piw.caPem,
            admissionReviewVersions: ["v1beta1"],
            namespaceSelector: { matchLabels: { [diffLabel]: "piw" } },
          });
          const daemon = await startDaemon(sandbox, [
            "--namespace",
            systemNamespace,
            "--aws-default-region",
            piwDefaultRegion,
          ], { webhookPort: ourPort });
          try {
            const suffix = Date.now().toString(36);
            const ns = { ours: `diff-ours-${suffix}`, piw: `diff-piw-${suffix}`, none: `diff-none-${suffix}` };
            await createNamespace(kube, ns.ours, { [diffLabel]: "ours" });
            await createNamespace(kube, ns.piw, { [diffLabel]: "piw" });
            await createNamespace(kube, ns.none, { [diffLabel]: "none" });
            for (const namespace of Object.values(ns)) {
              for (const sa of corpusServiceAccounts) {
                await createServiceAccount(kube, namespace, sa.name, sa.annotations);
              }
            }
            await Promise.all([waitForWebhook(kube, ns.ours, "app"), waitForWebhook(kube, ns.piw, "app")]);

            ok(corpusCases.length >= 30, `the corpus has ${corpusCases.length} cases`);
            for (const [i, c] of corpusCases.entries()) {
              await t.step(c.name, async () => {
                const name = `diff-${i}`;
                const [ours, upstream, plain] = await Promise.all([
                  dryRunCreate(kube, ns.ours, name, c),
                  dryRunCreate(kube, ns.piw, name, c),
                  dryRunCreate(kube, ns.none, name, c),
                ]);
                ok("spec" in plain, `the unwebhooked pod is valid: ${JSON.stringify(plain)}`);
                deepStrictEqual(ours, upstream);
                if (untouched.has(c.name)) deepStrictEqual(ours, plain, "neither webhook mutates this pod");
                else notDeepStrictEqual(ours, plain, "both webhooks mutate this pod");
              });
            }
          } finally {
            await daemon.stop();
          }
        } finally {
          await piw.stop();
        }
      } finally {
        kube.close();
      }
    }, { moto: false }),
});
