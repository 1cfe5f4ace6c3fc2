import { equal, ok } from "node:assert/strict";
import { missedMutationMessage } from "./missed_mutations.ts";
import type { ListedPod } from "../lib/pod_mutation.ts";

Deno.test("missedMutationMessage() tells a restart from a namespace the webhook never sees", () => {
  const pod = {
    metadata: { name: "worker-1", namespace: "kube-system", uid: "u" },
    spec: { serviceAccountName: "autoscaler", containers: [] },
  } as unknown as ListedPod;
  const restart = missedMutationMessage(pod, true);
  ok(restart.includes("restart it to get credentials"), restart);
  const outside = missedMutationMessage(pod, false);
  ok(outside.includes("namespace kube-system is outside the pod identity webhook's namespaceSelector"), outside);
  ok(outside.includes("--webhook-skip-namespaces"), outside);
  equal(outside.includes("restart"), false);
});
