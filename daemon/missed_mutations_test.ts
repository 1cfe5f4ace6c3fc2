import { equal } from "node:assert/strict";
import { applyJsonPatch, defaultWebhookConfig, identityFromAnnotations, mutatePod } from "../lib/pod_mutation.ts";
import { type ListedPod, missesCredentials } from "./missed_mutations.ts";

const annotated = { "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/app" };
const pod = (labels: Record<string, string> = {}): ListedPod => ({
  metadata: { name: "p", namespace: "ns", uid: "u", labels },
  spec: { serviceAccountName: "app", containers: [{ name: "c", image: "busybox" }] },
} as ListedPod);
const mutated = applyJsonPatch(
  pod(),
  mutatePod(pod(), identityFromAnnotations(annotated, defaultWebhookConfig), defaultWebhookConfig),
);

Deno.test("missesCredentials() flags only annotated, unmutated, not opted-out pods", async (t) => {
  const cases: { name: string; pod: ListedPod; sa: Record<string, string> | undefined; want: boolean }[] = [
    { name: "unmutated pod of an annotated SA", pod: pod(), sa: annotated, want: true },
    { name: "mutated pod", pod: mutated, sa: annotated, want: false },
    { name: "SA without a role", pod: pod(), sa: {}, want: false },
    { name: "unknown SA", pod: pod(), sa: undefined, want: false },
    {
      name: "opted-out pod",
      pod: pod({ "eks.amazonaws.com/skip-pod-identity-webhook": "true" }),
      sa: annotated,
      want: false,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => equal(missesCredentials(c.pod, c.sa, defaultWebhookConfig), c.want));
  }
});
