import { equal } from "node:assert/strict";
import { CallBudget } from "./call_budget.ts";
import { FakeClock } from "./clock.ts";

Deno.test("CallBudget: calls spent run a debt that refills at the rate, and idle time saves up one second", async (t) => {
  const clock = new FakeClock();
  const budget = new CallBudget(2, clock);
  await t.step("starts with one second's worth", () => equal(budget.waitMs(), 0));
  await t.step("a check of 6 calls leaves a debt of 4 calls: 2 s", () => {
    budget.charge(6);
    equal(budget.waitMs(), 2_000);
  });
  await t.step("half of it paid after 1 s", async () => {
    await clock.advance(1_000);
    equal(budget.waitMs(), 1_000);
  });
  await t.step("an hour idle saves up no more than the burst", async () => {
    await clock.advance(3_600_000);
    budget.charge(2);
    equal(budget.waitMs(), 0);
    budget.charge(1);
    equal(budget.waitMs(), 500);
  });
  await t.step("a budget of 0 never refills", () => {
    const none = new CallBudget(0, clock);
    none.charge(2);
    equal(none.waitMs(), Infinity);
  });
});
