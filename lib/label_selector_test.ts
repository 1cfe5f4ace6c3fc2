import { equal } from "node:assert/strict";
import { type LabelSelector, matchesLabelSelector } from "./label_selector.ts";

Deno.test("matchesLabelSelector() follows the apiserver's rules", async (t) => {
  const labels = { "kubernetes.io/metadata.name": "kube-system", tier: "control" };
  const cases: { name: string; selector: LabelSelector | undefined; want: boolean }[] = [
    { name: "no selector", selector: undefined, want: true },
    { name: "empty selector", selector: {}, want: true },
    { name: "matchLabels equal", selector: { matchLabels: { tier: "control" } }, want: true },
    { name: "matchLabels different", selector: { matchLabels: { tier: "apps" } }, want: false },
    { name: "matchLabels missing key", selector: { matchLabels: { team: "a" } }, want: false },
    {
      name: "NotIn holding the value (install's default excludes kube-system)",
      selector: {
        matchExpressions: [{
          key: "kubernetes.io/metadata.name",
          operator: "NotIn",
          values: ["kube-system", "irsa-manager-system"],
        }],
      },
      want: false,
    },
    {
      name: "NotIn without the value",
      selector: { matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "NotIn", values: ["other"] }] },
      want: true,
    },
    {
      name: "NotIn on a missing key",
      selector: { matchExpressions: [{ key: "absent", operator: "NotIn", values: ["x"] }] },
      want: true,
    },
    { name: "In", selector: { matchExpressions: [{ key: "tier", operator: "In", values: ["control"] }] }, want: true },
    {
      name: "In on a missing key",
      selector: { matchExpressions: [{ key: "absent", operator: "In", values: ["x"] }] },
      want: false,
    },
    { name: "Exists", selector: { matchExpressions: [{ key: "tier", operator: "Exists" }] }, want: true },
    { name: "DoesNotExist", selector: { matchExpressions: [{ key: "tier", operator: "DoesNotExist" }] }, want: false },
    {
      name: "labels and expressions must all hold",
      selector: { matchLabels: { tier: "control" }, matchExpressions: [{ key: "tier", operator: "DoesNotExist" }] },
      want: false,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => equal(matchesLabelSelector(c.selector, labels), c.want));
  }
});
