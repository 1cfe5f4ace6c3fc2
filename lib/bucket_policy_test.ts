import { deepStrictEqual, equal } from "node:assert/strict";
import {
  bucketPolicyHasOurs,
  discoveryBucketPolicy,
  discoverySid,
  mergeBucketPolicy,
  publicAccessBlockForDiscovery,
} from "./bucket_policy.ts";
import type { PolicyDocument, PolicyStatement } from "./trust_policy.ts";

const ours = discoveryBucketPolicy({ partition: "aws", bucket: "b" });
const ourStatement = [ours.Statement].flat()[0] as PolicyStatement;
const foreign: PolicyStatement = {
  Sid: "DenyInsecure",
  Effect: "Deny",
  Principal: "*",
  Action: "s3:*",
  Resource: "arn:aws:s3:::b/*",
  Condition: { Bool: { "aws:SecureTransport": "false" } },
};

Deno.test("discoveryBucketPolicy() exposes exactly the two discovery objects", async (t) => {
  const cases = [
    {
      name: "aws",
      partition: "aws",
      want: ["arn:aws:s3:::b/.well-known/openid-configuration", "arn:aws:s3:::b/keys.json"],
    },
    {
      name: "aws-cn",
      partition: "aws-cn",
      want: ["arn:aws-cn:s3:::b/.well-known/openid-configuration", "arn:aws-cn:s3:::b/keys.json"],
    },
  ] as const;
  for (const c of cases) {
    await t.step(c.name, () => {
      deepStrictEqual(discoveryBucketPolicy({ partition: c.partition, bucket: "b" }), {
        Version: "2012-10-17",
        Statement: [{
          Sid: "AllowPublicReadOfOidcDiscovery",
          Effect: "Allow",
          Principal: "*",
          Action: "s3:GetObject",
          Resource: [...c.want],
        }],
      });
    });
  }
});

Deno.test("publicAccessBlockForDiscovery() keeps ACLs blocked", () => {
  deepStrictEqual(publicAccessBlockForDiscovery(), {
    BlockPublicAcls: true,
    IgnorePublicAcls: true,
    BlockPublicPolicy: false,
    RestrictPublicBuckets: false,
  });
});

Deno.test("mergeBucketPolicy() keeps foreign statements and replaces ours", async (t) => {
  const stale: PolicyStatement = { ...ourStatement, Resource: "arn:aws:s3:::b/*" };
  const cases: { name: string; existing: PolicyDocument | string | undefined; want: PolicyStatement[] }[] = [
    { name: "no policy yet", existing: undefined, want: [ourStatement] },
    { name: "foreign only", existing: { Version: "2012-10-17", Statement: foreign }, want: [foreign, ourStatement] },
    {
      name: "stale ours replaced, URL-encoded input",
      existing: encodeURIComponent(JSON.stringify({ Version: "2012-10-17", Statement: [stale, foreign] })),
      want: [foreign, ourStatement],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const merged = mergeBucketPolicy(c.existing, ours);
      deepStrictEqual(merged.Statement, c.want);
      equal(merged.Version, "2012-10-17");
    });
  }
  await t.step("keeps Id", () => equal(mergeBucketPolicy({ Id: "x", Statement: [] }, ours).Id, "x"));
});

Deno.test("bucketPolicyHasOurs() compares semantically", async (t) => {
  const reserialized = JSON.stringify({
    Version: "2012-10-17",
    Statement: [foreign, {
      Resource: ["arn:aws:s3:::b/keys.json", "arn:aws:s3:::b/.well-known/openid-configuration"],
      Action: ["s3:GetObject"],
      Principal: { AWS: "*" },
      Effect: "Allow",
      Sid: "SomethingElse",
    }],
  });
  const cases: { name: string; existing: PolicyDocument | string | undefined; want: boolean }[] = [
    { name: "no policy", existing: undefined, want: false },
    { name: "ours as built", existing: ours, want: true },
    { name: "merged with foreign", existing: mergeBucketPolicy({ Statement: foreign }, ours), want: true },
    { name: "re-serialized and reordered", existing: reserialized, want: true },
    { name: "foreign only", existing: { Statement: [foreign] }, want: false },
    {
      name: "only keys.json",
      existing: { Statement: { ...ourStatement, Resource: "arn:aws:s3:::b/keys.json" } },
      want: false,
    },
    {
      name: "other bucket",
      existing: discoveryBucketPolicy({ partition: "aws", bucket: "other" }),
      want: false,
    },
  ];
  for (const c of cases) await t.step(c.name, () => equal(bucketPolicyHasOurs(c.existing, ours), c.want));
  equal(discoverySid, "AllowPublicReadOfOidcDiscovery");
});
