import { deepStrictEqual, equal } from "node:assert/strict";
import { bucketPolicyHasOurs, discoveryBucketPolicy, discoverySid, mergeBucketPolicy } from "./bucket_policy.ts";
import { cloudFrontBucketPolicy, publicAccessBlockForCloudFront } from "./cloudfront_bucket_policy.ts";
import type { PolicyStatement } from "./trust_policy.ts";

const distributionArn = "arn:aws:cloudfront::123456789012:distribution/EDFDVBD6EXAMPLE";
const ours = cloudFrontBucketPolicy({ partition: "aws", bucket: "b", distributionArn });
const foreign: PolicyStatement = {
  Sid: "DenyInsecure",
  Effect: "Deny",
  Principal: "*",
  Action: "s3:*",
  Resource: "arn:aws:s3:::b/*",
  Condition: { Bool: { "aws:SecureTransport": "false" } },
};

Deno.test("cloudFrontBucketPolicy() lets only our distribution read the two discovery objects", async (t) => {
  const cases = [
    { name: "aws", partition: "aws", prefix: "arn:aws:s3:::b" },
    { name: "aws-cn", partition: "aws-cn", prefix: "arn:aws-cn:s3:::b" },
  ] as const;
  for (const c of cases) {
    await t.step(c.name, () => {
      deepStrictEqual(cloudFrontBucketPolicy({ partition: c.partition, bucket: "b", distributionArn }), {
        Version: "2012-10-17",
        Statement: [{
          Sid: "AllowCloudFrontReadOfOidcDiscovery",
          Effect: "Allow",
          Principal: { Service: "cloudfront.amazonaws.com" },
          Action: "s3:GetObject",
          Resource: [`${c.prefix}/.well-known/openid-configuration`, `${c.prefix}/keys.json`],
          Condition: { StringEquals: { "AWS:SourceArn": distributionArn } },
        }],
      });
    });
  }
});

Deno.test("publicAccessBlockForCloudFront() turns all four settings on", () => {
  deepStrictEqual(publicAccessBlockForCloudFront(), {
    BlockPublicAcls: true,
    IgnorePublicAcls: true,
    BlockPublicPolicy: true,
    RestrictPublicBuckets: true,
  });
});

Deno.test("mergeBucketPolicy() for CloudFront drops the public statement, keeps foreign ones, replaces ours", async (t) => {
  const publicRead = [discoveryBucketPolicy({ partition: "aws", bucket: "b" }).Statement].flat()[0]!;
  const oldOurs = [
    cloudFrontBucketPolicy({ partition: "aws", bucket: "b", distributionArn: `${distributionArn}OLD` }).Statement,
  ].flat()[0]!;
  const ourStatement = [ours.Statement].flat()[0]!;
  const cases = [
    { name: "no policy", existing: undefined, want: [ourStatement] },
    { name: "direct S3 hosting before", existing: { Statement: [foreign, publicRead] }, want: [foreign, ourStatement] },
    { name: "another distribution before", existing: { Statement: [oldOurs, foreign] }, want: [foreign, ourStatement] },
    {
      name: "as text, single statement",
      existing: JSON.stringify({ Version: "2012-10-17", Statement: publicRead }),
      want: [ourStatement],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const merged = mergeBucketPolicy(c.existing, ours, { drop: [discoverySid] });
      deepStrictEqual(merged.Statement, c.want);
      equal(bucketPolicyHasOurs(merged, ours), true);
    });
  }
});

Deno.test("bucketPolicyHasOurs() tells the CloudFront statement of another distribution apart", () => {
  const other = cloudFrontBucketPolicy({ partition: "aws", bucket: "b", distributionArn: `${distributionArn}X` });
  equal(bucketPolicyHasOurs(other, ours), false);
  equal(bucketPolicyHasOurs(JSON.stringify(ours), ours), true);
});
