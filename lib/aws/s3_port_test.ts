import { deepStrictEqual, equal } from "node:assert/strict";
import { headBucketError, regionOfLocation } from "./s3_port.ts";

const target = { bucket: "b", account: "123456789012", region: "eu-west-1" };
const sdkError = (status: number, name = "Unknown") =>
  Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });

Deno.test("headBucketError() names another account's bucket, a region mismatch and other failures", async (t) => {
  const cases = [
    {
      name: "403: owned by another account",
      error: sdkError(403, "Forbidden"),
      kind: "conflict",
      reason: "BucketNotOwned",
      says: "not owned by account 123456789012",
      remedies: [{ kind: "bucket" }],
    },
    {
      name: "301: another region",
      error: sdkError(301, "PermanentRedirect"),
      kind: "invalid",
      reason: "BucketRegionMismatch",
      says: 'bucket "b" is not in eu-west-1',
      remedies: [{ kind: "bucketRegion" }],
    },
    {
      name: "500: AWS failure",
      error: sdkError(500, "InternalError"),
      kind: "unavailable",
      reason: "InternalError",
      says: "s3:HeadBucket",
      remedies: [],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const e = headBucketError(c.error, target);
      equal(e.kind, c.kind);
      equal(e.reason, c.reason);
      equal(e.message.includes(c.says), true, e.message);
      deepStrictEqual(e.remedies, c.remedies);
    });
  }
});

Deno.test("regionOfLocation() maps GetBucketLocation's legacy answers", async (t) => {
  for (
    const [location, want] of [[null, "us-east-1"], ["", "us-east-1"], ["EU", "eu-west-1"], [
      "ap-south-1",
      "ap-south-1",
    ]] as const
  ) {
    await t.step(String(location), () => equal(regionOfLocation(location), want));
  }
});
