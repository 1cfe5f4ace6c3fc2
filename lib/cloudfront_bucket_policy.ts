// With CloudFront hosting the bucket is private: Block Public Access fully on, and a bucket policy that lets only
// our distribution (CloudFront's service principal, pinned by AWS:SourceArn) read the two discovery objects.

import type { Partition } from "./arn.ts";
import { discoveryKeys } from "./names.ts";
import type { PublicAccessBlock } from "./aws/s3_port.ts";
import type { PolicyDocument } from "./trust_policy.ts";

/** Sid of the statement that lets our distribution read the discovery objects. */
export const cloudFrontReadSid = "AllowCloudFrontReadOfOidcDiscovery";

/** The bucket policy that lets the distribution `distributionArn`, and nothing else, read the discovery objects. */
export function cloudFrontBucketPolicy(
  options: { partition: Partition; bucket: string; distributionArn: string },
): PolicyDocument {
  const object = (key: string) => `arn:${options.partition}:s3:::${options.bucket}/${key}`;
  return {
    Version: "2012-10-17",
    Statement: [{
      Sid: cloudFrontReadSid,
      Effect: "Allow",
      Principal: { Service: "cloudfront.amazonaws.com" },
      Action: "s3:GetObject",
      Resource: [object(discoveryKeys.configuration), object(discoveryKeys.jwks)],
      // Without it any distribution, in any account, could read the bucket through its own OAC.
      Condition: { StringEquals: { "AWS:SourceArn": options.distributionArn } },
    }],
  };
}

/** Block Public Access fully on: CloudFront's reads are not public, so nothing public is needed. */
export function publicAccessBlockForCloudFront(): PublicAccessBlock {
  return { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true };
}
