import { equal, notEqual, ok, throws } from "node:assert/strict";
import { isIrsaError } from "./errors.ts";
import { defaultRoleName } from "./role_name.ts";
import { validateRoleName } from "./validate.ts";

Deno.test("defaultRoleName() is readable, valid and distinct", async (t) => {
  const cases = [
    {
      name: "simple",
      in: { clusterName: "prod", namespace: "default", serviceAccount: "app" },
      want: "irsa-prod-default_app",
    },
    {
      name: "several namespaces sorted",
      in: { clusterName: "prod", namespace: ["ns2", "ns1", "ns2"], serviceAccount: "app" },
      want: "irsa-prod-ns1.ns2_app",
    },
    {
      name: "invalid cluster characters become -",
      in: { clusterName: "kind:my cluster/1", namespace: "a", serviceAccount: "b" },
      want: "irsa-kind-my-cluster-1-a_b",
    },
    { name: "SA with dots", in: { clusterName: "c", namespace: "a", serviceAccount: "x.y" }, want: "irsa-c-a_x.y" },
  ];
  for (const c of cases) await t.step(c.name, () => equal(defaultRoleName(c.in), c.want));

  await t.step("long names are cut and hashed deterministically", () => {
    const input = {
      clusterName: "production-cluster-eu-west-1",
      namespace: "payments-backend",
      serviceAccount: "ledger-reconciler-worker",
    };
    const name = defaultRoleName(input);
    equal(name.length, 64);
    ok(/-[0-9a-f]{8}$/.test(name), name);
    equal(name.slice(0, 55), "irsa-production-cluster-eu-west-1-payments-backend_ledg");
    equal(defaultRoleName(input), name);
    notEqual(defaultRoleName({ ...input, serviceAccount: "ledger-reconciler-worker2" }), name);
    validateRoleName(name);
  });
  await t.step("names that differ only in where '-' splits ns and SA differ", () => {
    notEqual(
      defaultRoleName({ clusterName: "c", namespace: "a", serviceAccount: "b-c" }),
      defaultRoleName({ clusterName: "c", namespace: "a-b", serviceAccount: "c" }),
    );
  });
  await t.step("every result is a valid role name", () => {
    for (const sa of ["a", "a".repeat(100), "x.y-z", `${"b".repeat(50)}.c`]) {
      const name = defaultRoleName({ clusterName: "c".repeat(70), namespace: "ns", serviceAccount: sa });
      validateRoleName(name);
      ok(!/[-._]-[0-9a-f]{8}$/.test(name), name);
    }
  });
  const bad = [
    { name: "empty cluster", in: { clusterName: "", namespace: "a", serviceAccount: "b" } },
    { name: "no namespace", in: { clusterName: "c", namespace: [], serviceAccount: "b" } },
    { name: "bad namespace", in: { clusterName: "c", namespace: "A_B", serviceAccount: "b" } },
    { name: "bad SA", in: { clusterName: "c", namespace: "a", serviceAccount: "b_c" } },
  ];
  for (const c of bad) {
    await t.step(
      `rejects ${c.name}`,
      () => throws(() => defaultRoleName(c.in), (e: unknown) => isIrsaError(e, "invalid")),
    );
  }
});
