import { deepStrictEqual } from "node:assert/strict";
import { ownedAnnotationKeys } from "./managed_fields.ts";

Deno.test("ownedAnnotationKeys() lists only the applying manager's annotation keys", async (t) => {
  const entries = [
    {
      manager: "kubectl-irsa",
      operation: "Apply",
      fieldsV1: { "f:metadata": { "f:annotations": { ".": {}, "f:eks.amazonaws.com/role-arn": {}, "f:x/y": {} } } },
    },
    { manager: "kubectl", operation: "Update", fieldsV1: { "f:metadata": { "f:annotations": { "f:other": {} } } } },
    { manager: "kubectl-irsa", operation: "Update", fieldsV1: { "f:metadata": { "f:annotations": { "f:upd": {} } } } },
  ];
  const cases = [
    { name: "our Apply entry", manager: "kubectl-irsa", want: ["eks.amazonaws.com/role-arn", "x/y"] },
    { name: "Update operations do not count", manager: "kubectl", want: [] },
    { name: "unknown manager", manager: "nobody", want: [] },
  ];
  for (const c of cases) await t.step(c.name, () => deepStrictEqual(ownedAnnotationKeys(entries, c.manager), c.want));
  await t.step("no managedFields", () => deepStrictEqual(ownedAnnotationKeys(undefined, "kubectl-irsa"), []));
});
