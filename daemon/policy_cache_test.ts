import { equal } from "node:assert/strict";
import type { IamPort } from "../lib/aws/iam_port.ts";
import { FakeClock } from "./clock.ts";
import { PolicyExistenceCache } from "./policy_cache.ts";

Deno.test("PolicyExistenceCache asks IAM once per policy per TTL, and always again after a missing answer", async (t) => {
  const clock = new FakeClock();
  const existing = new Set(["arn:a"]);
  const asked: string[] = [];
  const port = { policyExists: (arn: string) => (asked.push(arn), Promise.resolve(existing.has(arn))) } as IamPort;
  const iam = new PolicyExistenceCache(60_000, clock).wrap(port);
  await t.step("an existing policy is asked once within the TTL", async () => {
    equal(await iam.policyExists("arn:a"), true);
    equal(await iam.policyExists("arn:a"), true);
    equal(asked.length, 1);
  });
  await t.step("reconciles asking together make one call", async () => {
    const answers = await Promise.all([
      iam.policyExists("arn:c"),
      iam.policyExists("arn:c"),
      iam.policyExists("arn:c"),
    ]);
    equal(answers.join(), "false,false,false");
    equal(asked.filter((a) => a === "arn:c").length, 1);
  });
  await t.step("a missing one is asked every time, so creating it takes effect at once", async () => {
    equal(await iam.policyExists("arn:b"), false);
    existing.add("arn:b");
    equal(await iam.policyExists("arn:b"), true);
    equal(asked.filter((a) => a === "arn:b").length, 2);
  });
  await t.step("after the TTL the answer is asked again, and a deletion is seen", async () => {
    await clock.advance(60_000);
    existing.delete("arn:a");
    equal(await iam.policyExists("arn:a"), false);
    equal(await iam.policyExists("arn:a"), false);
    equal(asked.filter((a) => a === "arn:a").length, 3);
  });
});
