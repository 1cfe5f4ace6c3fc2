// The least-privilege IAM policy of the daemon (init + bind + cleanup), as the README documents it: scoped to the
// issuer bucket, the OIDC provider, roles under one path and the ownership tag kubectl-irsa puts on what it creates.
// With a permissions boundary, even a compromised daemon cannot mint a role beyond it: roles are created and given a
// boundary only with that one, the boundary can be neither removed nor edited, and (always) the managed policies
// that make an account admin cannot be attached at all.

import { isPartition, oidcProviderArn, parseArn, type Partition, validatePolicyArn } from "./arn.ts";
import { defaultRefusedPolicies } from "./binding_policy.ts";
import { invalid } from "./errors.ts";
import { defaultIssuerUrl, partitionOfRegion, validateBucketName } from "./issuer.ts";
import { awsTag, managedByValue } from "./names.ts";
import type { PolicyDocument, PolicyStatement } from "./trust_policy.ts";
import { validateRolePath } from "./validate.ts";

/** What the daemon's policy is scoped to. The OIDC provider is given by ARN, by issuer, or by region (default issuer). */
export interface DaemonIamPolicyOptions {
  account: string;
  /** The issuer bucket. */
  bucket: string;
  /** Default: the provider ARN's, else the region's, else "aws". */
  partition?: Partition;
  /** The OIDC provider's ARN. */
  providerArn?: string;
  /** The issuer URL or host/path, when providerArn is not given. */
  issuer?: string;
  /** The bucket's region, for the default issuer (https://s3.<region>.amazonaws.com/<bucket>). */
  region?: string;
  /** The binding policy's role path; default "/". */
  rolePath?: string;
  /** The binding policy's permissions boundary (a policy ARN), required on every role. */
  permissionsBoundary?: string;
  /** IRSASetup spec.hosting cloudfront: the distribution and origin access control in front of the bucket. */
  cloudFront?: boolean;
}

/** The statements CloudFront hosting adds: reads, creating tagged, and changing only what carries our tag. */
function cloudFrontStatements(partition: Partition, account: string): PolicyStatement[] {
  const cf = `arn:${partition}:cloudfront::${account}`;
  const resourceTag = { [`aws:ResourceTag/${awsTag.managedBy}`]: managedByValue };
  return [
    {
      Sid: "CloudFrontRead",
      Effect: "Allow",
      Action: [
        "cloudfront:ListDistributions",
        "cloudfront:GetDistribution",
        "cloudfront:GetDistributionConfig",
        "cloudfront:ListTagsForResource",
        "cloudfront:ListOriginAccessControls",
        "cloudfront:GetOriginAccessControl",
      ],
      Resource: "*",
    },
    {
      Sid: "CloudFrontCreateTagged",
      Effect: "Allow",
      Action: ["cloudfront:CreateDistribution", "cloudfront:TagResource"],
      Resource: `${cf}:distribution/*`,
      Condition: { StringEquals: { [`aws:RequestTag/${awsTag.managedBy}`]: managedByValue } },
    },
    {
      Sid: "CloudFrontChangeOwn",
      Effect: "Allow",
      Action: ["cloudfront:UpdateDistribution", "cloudfront:DeleteDistribution"],
      Resource: `${cf}:distribution/*`,
      Condition: { StringEquals: resourceTag },
    },
    {
      // Origin access controls carry no tags; kubectl-irsa finds its own by name.
      Sid: "CloudFrontOriginAccessControl",
      Effect: "Allow",
      Action: [
        "cloudfront:CreateOriginAccessControl",
        "cloudfront:UpdateOriginAccessControl",
        "cloudfront:DeleteOriginAccessControl",
      ],
      Resource: `${cf}:origin-access-control/*`,
    },
  ];
}

/** The daemon's identity policy; statements have Sids, conditions name the exact keys IAM puts in each request. */
export function daemonIamPolicy(opts: DaemonIamPolicyOptions): PolicyDocument {
  if (!/^\d{12}$/.test(opts.account)) {
    throw invalid("InvalidArn", `Invalid AWS account ID ${JSON.stringify(opts.account)}: must be 12 digits`);
  }
  validateBucketName(opts.bucket);
  const rolePath = opts.rolePath ?? "/";
  validateRolePath(rolePath);
  const boundary = opts.permissionsBoundary;
  if (boundary !== undefined) validatePolicyArn(boundary);
  const fromRegion = opts.region === undefined ? undefined : partitionOfRegion(opts.region);
  const partition = opts.partition ??
    (opts.providerArn !== undefined ? parseArn(opts.providerArn).partition : undefined) ??
    (fromRegion !== undefined && isPartition(fromRegion) ? fromRegion : "aws");
  let provider = opts.providerArn;
  if (provider === undefined) {
    const issuer = opts.issuer ?? (opts.region === undefined ? undefined : defaultIssuerUrl(opts.bucket, opts.region));
    if (issuer === undefined) {
      throw invalid("InvalidDaemonPolicyOptions", "The daemon's IAM policy needs the provider ARN, issuer or region");
    }
    provider = oidcProviderArn(partition, opts.account, issuer);
  }
  const iam = `arn:${partition}:iam::${opts.account}`;
  const roles = `${iam}:role${rolePath}*`;
  const bucket = `arn:${partition}:s3:::${opts.bucket}`;
  const requestTag = { [`aws:RequestTag/${awsTag.managedBy}`]: managedByValue };
  const resourceTag = { [`aws:ResourceTag/${awsTag.managedBy}`]: managedByValue };
  const withBoundary = boundary === undefined ? {} : { "iam:PermissionsBoundary": boundary };
  const changeOwn = [
    "iam:DeleteRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    // With a boundary, setting one is allowed only for that one, in its own statement below.
    ...(boundary === undefined ? ["iam:PutRolePermissionsBoundary"] : []),
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:TagRole",
  ];
  const statements: PolicyStatement[] = [
    {
      Sid: "ReadAccount",
      Effect: "Allow",
      // kms:GetPublicKey: an IRSASetup with keySource kms publishes the signer's public keys.
      Action: ["sts:GetCallerIdentity", "s3:GetAccountPublicAccessBlock", "iam:GetPolicy", "kms:GetPublicKey"],
      Resource: "*",
    },
    {
      Sid: "IssuerBucket",
      Effect: "Allow",
      Action: [
        "s3:CreateBucket",
        "s3:DeleteBucket",
        "s3:ListBucket",
        "s3:GetBucketLocation",
        "s3:GetBucketTagging",
        "s3:PutBucketTagging",
        "s3:GetBucketPublicAccessBlock",
        "s3:PutBucketPublicAccessBlock",
        "s3:GetBucketPolicy",
        "s3:PutBucketPolicy",
        "s3:PutBucketOwnershipControls",
      ],
      Resource: bucket,
    },
    {
      Sid: "IssuerObjects",
      Effect: "Allow",
      Action: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
      Resource: `${bucket}/*`,
    },
    {
      Sid: "OidcProvider",
      Effect: "Allow",
      Action: [
        "iam:GetOpenIDConnectProvider",
        "iam:CreateOpenIDConnectProvider",
        "iam:TagOpenIDConnectProvider",
        "iam:UpdateOpenIDConnectProviderThumbprint",
        "iam:DeleteOpenIDConnectProvider",
      ],
      Resource: provider,
    },
    {
      Sid: "CreateOnlyTaggedRoles",
      Effect: "Allow",
      Action: "iam:CreateRole",
      Resource: roles,
      Condition: { StringEquals: { ...requestTag, ...withBoundary } },
    },
    // CreateRole with tags is also authorized as TagRole; TagRole with the tag also adopts a role under the path.
    {
      Sid: "TagNewRoles",
      Effect: "Allow",
      Action: "iam:TagRole",
      Resource: roles,
      Condition: { StringEquals: requestTag },
    },
    {
      Sid: "ChangeOnlyOwnRoles",
      Effect: "Allow",
      Action: changeOwn,
      Resource: roles,
      Condition: { StringEquals: resourceTag },
    },
    {
      Sid: "ReadRoles",
      Effect: "Allow",
      Action: ["iam:GetRole", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies", "iam:GetRolePolicy"],
      Resource: roles,
    },
  ];
  if (boundary !== undefined) {
    statements.push(
      {
        Sid: "SetOnlyTheBoundary",
        Effect: "Allow",
        Action: "iam:PutRolePermissionsBoundary",
        Resource: roles,
        Condition: { StringEquals: { ...resourceTag, ...withBoundary } },
      },
      // The Denies hold whatever else the daemon's principal is allowed: a missing key makes StringNotEquals true.
      // For AttachRolePolicy and PutRolePolicy the key is the role's boundary, so a role tagged as ours under the
      // path (adopted) gets no policy before it has the boundary.
      {
        Sid: "DenyRolesWithoutTheBoundary",
        Effect: "Deny",
        Action: ["iam:CreateRole", "iam:PutRolePermissionsBoundary", "iam:AttachRolePolicy", "iam:PutRolePolicy"],
        Resource: "*",
        Condition: { StringNotEquals: withBoundary },
      },
      {
        Sid: "DenyBoundaryRemoval",
        Effect: "Deny",
        Action: "iam:DeleteRolePermissionsBoundary",
        Resource: `${iam}:role/*`,
      },
      {
        Sid: "DenyBoundaryChanges",
        Effect: "Deny",
        Action: [
          "iam:CreatePolicyVersion",
          "iam:DeletePolicy",
          "iam:DeletePolicyVersion",
          "iam:SetDefaultPolicyVersion",
        ],
        Resource: boundary,
      },
    );
  }
  if (opts.cloudFront) statements.push(...cloudFrontStatements(partition, opts.account));
  statements.push({
    Sid: "DenyAdminPolicies",
    Effect: "Deny",
    Action: "iam:AttachRolePolicy",
    Resource: "*",
    Condition: { ArnLike: { "iam:PolicyARN": [...defaultRefusedPolicies] } },
  });
  return { Version: "2012-10-17", Statement: statements };
}
