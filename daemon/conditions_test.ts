import { deepStrictEqual, equal } from "node:assert/strict";
import { setCondition } from "./conditions.ts";

Deno.test("setCondition() moves lastTransitionTime only on a status change", async (t) => {
  const t1 = new Date("2026-01-01T00:00:00.123Z");
  const t2 = new Date("2026-01-02T00:00:00Z");
  const ready = setCondition(undefined, {
    type: "Ready",
    status: "True",
    reason: "IRSAReady",
    message: "ok",
    observedGeneration: 1,
  }, t1);
  await t.step(
    "first set stamps the time without fractions",
    () => equal(ready[0]!.lastTransitionTime, "2026-01-01T00:00:00Z"),
  );
  await t.step("same status, new reason: time kept", () => {
    const again = setCondition(ready, {
      type: "Ready",
      status: "True",
      reason: "IRSAReady",
      message: "still",
      observedGeneration: 2,
    }, t2);
    deepStrictEqual([again[0]!.lastTransitionTime, again[0]!.observedGeneration, again[0]!.message], [
      "2026-01-01T00:00:00Z",
      2,
      "still",
    ]);
  });
  await t.step("status flips: time moves", () => {
    const failed = setCondition(
      ready,
      { type: "Ready", status: "False", reason: "IRSAFailedRoleUpdate", message: "x" },
      t2,
    );
    equal(failed[0]!.lastTransitionTime, "2026-01-02T00:00:00Z");
  });
  await t.step("other types are kept", () => {
    const two = setCondition(ready, { type: "Other", status: "True", reason: "R", message: "" }, t2);
    deepStrictEqual(two.map((c) => c.type), ["Ready", "Other"]);
  });
});
