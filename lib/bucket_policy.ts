// The discovery bucket is made readable with a bucket policy on exactly two objects instead of ACLs (REFERENCE
// §4): new buckets have ACLs disabled, and a policy keeps the rest of the bucket private. Other statements in the
// policy belong to someone else and are kept.

import type { Partition } from "./arn.ts";
import { discoveryKeys } from "./names.ts";
import { normalizePolicy, parsePolicyDocument, type PolicyDocument, type PolicyStatement } from "./trust_policy.ts";

/** Sid of the one statement kubectl-irsa owns in a bucket policy. */
export const discoverySid = "AllowPublicReadOfOidcDiscovery";

/** The bucket policy that lets anyone read the discovery document and the JWKS, and nothing else. */
export function discoveryBucketPolicy(options: { partition: Partition; bucket: string }): PolicyDocument {
  const object = (key: string) => `arn:${options.partition}:s3:::${options.bucket}/${key}`;
  return {
    Version: "2012-10-17",
    Statement: [{
      Sid: discoverySid,
      Effect: "Allow",
      Principal: "*",
      Action: "s3:GetObject",
      Resource: [object(discoveryKeys.configuration), object(discoveryKeys.jwks)],
    }],
  };
}

/** S3 PublicAccessBlock settings that allow our public bucket policy while still refusing public ACLs. */
export function publicAccessBlockForDiscovery(): {
  BlockPublicAcls: boolean;
  IgnorePublicAcls: boolean;
  BlockPublicPolicy: boolean;
  RestrictPublicBuckets: boolean;
} {
  return { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: false, RestrictPublicBuckets: false };
}

function statementsOf(doc: PolicyDocument | string | undefined): PolicyStatement[] {
  if (doc === undefined) return [];
  const parsed = typeof doc === "string" ? parsePolicyDocument(doc) : doc;
  return Array.isArray(parsed.Statement) ? parsed.Statement : [parsed.Statement];
}

function ourSids(ours: PolicyDocument): Set<string> {
  return new Set(statementsOf(ours).map((s) => s.Sid).filter((sid): sid is string => sid !== undefined));
}

/**
 * The bucket policy to write: every foreign statement of `existing` kept in order, any statement with one of our
 * Sids replaced by ours, and statements with a Sid in `drop` (ours of another hosting) removed. `existing` may be the
 * raw text that GetBucketPolicy returned.
 */
export function mergeBucketPolicy(
  existing: PolicyDocument | string | undefined,
  ours: PolicyDocument,
  options: { drop?: readonly string[] } = {},
): PolicyDocument {
  const sids = new Set([...ourSids(ours), ...(options.drop ?? [])]);
  const parsed = typeof existing === "string" ? parsePolicyDocument(existing) : existing;
  const foreign = statementsOf(parsed).filter((s) => s.Sid === undefined || !sids.has(s.Sid));
  const merged: PolicyDocument = { Version: parsed?.Version ?? ours.Version ?? "2012-10-17", Statement: [] };
  if (parsed?.Id !== undefined) merged.Id = parsed.Id;
  merged.Statement = [...foreign, ...statementsOf(ours)];
  return merged;
}

/**
 * True when `existing` already holds every statement of `ours`, compared semantically and ignoring Sid, so that
 * an equivalent statement written by hand or re-serialized by S3 is not rewritten.
 */
export function bucketPolicyHasOurs(existing: PolicyDocument | string | undefined, ours: PolicyDocument): boolean {
  const key = (s: PolicyStatement) => {
    const { Sid: _sid, ...rest } = s;
    return JSON.stringify(normalizePolicy({ Statement: [rest] }).Statement[0]);
  };
  const have = new Set(statementsOf(existing).map(key));
  return statementsOf(ours).every((s) => have.has(key(s)));
}
