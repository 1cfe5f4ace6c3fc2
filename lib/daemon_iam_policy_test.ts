import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import { daemonIamPolicy, type DaemonIamPolicyOptions } from "./daemon_iam_policy.ts";
import { IrsaError } from "./errors.ts";
import { evaluateIdentityPolicy, type IdentityDecision, type IdentityRequest } from "./identity_policy_eval.ts";
import { awsTag, managedByValue } from "./names.ts";
import type { PolicyDocument, PolicyStatement } from "./trust_policy.ts";

const account = "123456789012";
const boundary = `arn:aws:iam::${account}:policy/irsa-boundary`;
/** The README's example values. */
const example: DaemonIamPolicyOptions = {
  account,
  bucket: "my-cluster-oidc",
  region: "eu-west-1",
  rolePath: "/irsa/",
  permissionsBoundary: boundary,
};
const { permissionsBoundary: _, ...noBoundary } = example;
const cluster = "s3.eu-west-1.amazonaws.com/my-cluster-oidc";
const role = (name: string, path = "/irsa/") => `arn:aws:iam::${account}:role${path}${name}`;
const policyArn = (name: string) => `arn:aws:iam::aws:policy/${name}`;

// The request contexts IAM builds for the calls lib/aws/iam_port.ts makes.
const roleTags = {
  [awsTag.managedBy]: managedByValue,
  [awsTag.cluster]: cluster,
  [awsTag.serviceAccount]: "team-a/app",
};
const requestTags = (tags: Record<string, string>) => ({
  ...Object.fromEntries(Object.entries(tags).map(([k, v]) => [`aws:RequestTag/${k}`, v])),
  "aws:TagKeys": Object.keys(tags),
});
const ownRole = Object.fromEntries(Object.entries(roleTags).map(([k, v]) => [`aws:ResourceTag/${k}`, v]));
const createRole = (options: { boundary?: string; path?: string } = {}): IdentityRequest => ({
  action: "iam:CreateRole",
  resource: role("app", options.path),
  context: { ...requestTags(roleTags), ...(options.boundary ? { "iam:PermissionsBoundary": options.boundary } : {}) },
});
/** A request on a role the daemon made: IAM puts the role's boundary in `iam:PermissionsBoundary` for policy changes. */
const onOwnRole = (action: string, context: IdentityRequest["context"] = {}): IdentityRequest => ({
  action,
  resource: role("app"),
  context: { ...ownRole, "iam:PermissionsBoundary": boundary, ...context },
});

interface Case {
  name: string;
  req: IdentityRequest;
  want: IdentityDecision["decision"];
  statement?: string;
}

function check(doc: PolicyDocument, c: Case): void {
  const got = evaluateIdentityPolicy(doc, c.req);
  equal(got.decision, c.want, got.reasons.join("; "));
  if (c.statement !== undefined) equal(got.statement, c.statement);
}

Deno.test("daemonIamPolicy() with a boundary refuses every way out of it", async (t) => {
  const doc = daemonIamPolicy(example);
  const cases: Case[] = [
    {
      name: "CreateRole with the boundary",
      req: createRole({ boundary }),
      want: "Allow",
      statement: "CreateOnlyTaggedRoles",
    },
    {
      name: "CreateRole without a boundary",
      req: createRole(),
      want: "ExplicitDeny",
      statement: "DenyRolesWithoutTheBoundary",
    },
    {
      name: "CreateRole with another boundary",
      req: createRole({ boundary: `arn:aws:iam::${account}:policy/wide-open` }),
      want: "ExplicitDeny",
      statement: "DenyRolesWithoutTheBoundary",
    },
    {
      name: "CreateRole without the ownership tag",
      req: { ...createRole({ boundary }), context: { "iam:PermissionsBoundary": boundary } },
      want: "ImplicitDeny",
    },
    { name: "CreateRole outside the role path", req: createRole({ boundary, path: "/" }), want: "ImplicitDeny" },
    { name: "CreateRole under another path", req: createRole({ boundary, path: "/admin/" }), want: "ImplicitDeny" },
    {
      name: "PutRolePermissionsBoundary with the boundary",
      req: onOwnRole("iam:PutRolePermissionsBoundary", { "iam:PermissionsBoundary": boundary }),
      want: "Allow",
      statement: "SetOnlyTheBoundary",
    },
    {
      name: "PutRolePermissionsBoundary with another boundary",
      req: onOwnRole("iam:PutRolePermissionsBoundary", { "iam:PermissionsBoundary": policyArn("AdministratorAccess") }),
      want: "ExplicitDeny",
      statement: "DenyRolesWithoutTheBoundary",
    },
    {
      name: "PutRolePermissionsBoundary with the boundary on an untagged role",
      req: {
        action: "iam:PutRolePermissionsBoundary",
        resource: role("x"),
        context: { "iam:PermissionsBoundary": boundary },
      },
      want: "ImplicitDeny",
    },
    {
      name: "DeleteRolePermissionsBoundary on an own role",
      req: onOwnRole("iam:DeleteRolePermissionsBoundary"),
      want: "ExplicitDeny",
      statement: "DenyBoundaryRemoval",
    },
    {
      name: "DeleteRolePermissionsBoundary on a role outside the path",
      req: { action: "iam:DeleteRolePermissionsBoundary", resource: role("x", "/"), context: {} },
      want: "ExplicitDeny",
      statement: "DenyBoundaryRemoval",
    },
    {
      name: "AttachRolePolicy of AdministratorAccess on an own role",
      req: onOwnRole("iam:AttachRolePolicy", { "iam:PolicyARN": policyArn("AdministratorAccess") }),
      want: "ExplicitDeny",
      statement: "DenyAdminPolicies",
    },
    {
      name: "AttachRolePolicy of a job-function policy",
      req: onOwnRole("iam:AttachRolePolicy", { "iam:PolicyARN": policyArn("job-function/SystemAdministrator") }),
      want: "ExplicitDeny",
      statement: "DenyAdminPolicies",
    },
    {
      name: "CreatePolicyVersion on the boundary",
      req: { action: "iam:CreatePolicyVersion", resource: boundary, context: {} },
      want: "ExplicitDeny",
      statement: "DenyBoundaryChanges",
    },
    {
      name: "SetDefaultPolicyVersion on the boundary",
      req: { action: "iam:SetDefaultPolicyVersion", resource: boundary, context: {} },
      want: "ExplicitDeny",
      statement: "DenyBoundaryChanges",
    },
    {
      name: "DeletePolicy of the boundary",
      req: { action: "iam:DeletePolicy", resource: boundary, context: {} },
      want: "ExplicitDeny",
      statement: "DenyBoundaryChanges",
    },
    {
      name: "UpdateAssumeRolePolicy on an untagged role",
      req: { action: "iam:UpdateAssumeRolePolicy", resource: role("foreign"), context: {} },
      want: "ImplicitDeny",
    },
    {
      name: "UpdateAssumeRolePolicy on a role tagged by someone else",
      req: {
        action: "iam:UpdateAssumeRolePolicy",
        resource: role("foreign"),
        context: { [`aws:ResourceTag/${awsTag.managedBy}`]: "me" },
      },
      want: "ImplicitDeny",
    },
    {
      name: "AttachRolePolicy on an untagged role",
      req: {
        action: "iam:AttachRolePolicy",
        resource: role("foreign"),
        context: { "iam:PolicyARN": policyArn("AmazonS3ReadOnlyAccess"), "iam:PermissionsBoundary": boundary },
      },
      want: "ImplicitDeny",
    },
    {
      name: "AttachRolePolicy on a role tagged as ours but without the boundary (adopted)",
      req: {
        action: "iam:AttachRolePolicy",
        resource: role("adopted"),
        context: { ...ownRole, "iam:PolicyARN": policyArn("AmazonS3ReadOnlyAccess") },
      },
      want: "ExplicitDeny",
      statement: "DenyRolesWithoutTheBoundary",
    },
    {
      name: "PutRolePolicy on a role tagged as ours but with another boundary",
      req: {
        action: "iam:PutRolePolicy",
        resource: role("adopted"),
        context: { ...ownRole, "iam:PermissionsBoundary": `arn:aws:iam::${account}:policy/wide` },
      },
      want: "ExplicitDeny",
      statement: "DenyRolesWithoutTheBoundary",
    },
    {
      name: "CreatePolicy (to widen nothing)",
      req: { action: "iam:CreatePolicy", resource: `arn:aws:iam::${account}:policy/x`, context: {} },
      want: "ImplicitDeny",
    },
    {
      name: "CreateUser",
      req: { action: "iam:CreateUser", resource: `arn:aws:iam::${account}:user/x`, context: {} },
      want: "ImplicitDeny",
    },
    {
      name: "PutObject in another bucket",
      req: { action: "s3:PutObject", resource: "arn:aws:s3:::other/keys.json", context: {} },
      want: "ImplicitDeny",
    },
  ];
  for (const c of cases) await t.step(c.name, () => check(doc, c));
});

Deno.test("daemonIamPolicy() allows what the daemon sends for init, bind and cleanup", async (t) => {
  const doc = daemonIamPolicy(example);
  const provider = `arn:aws:iam::${account}:oidc-provider/${cluster}`;
  const cases: Case[] = [
    { name: "GetCallerIdentity", req: { action: "sts:GetCallerIdentity", resource: "*", context: {} }, want: "Allow" },
    {
      name: "PutBucketPolicy on the issuer bucket",
      req: { action: "s3:PutBucketPolicy", resource: "arn:aws:s3:::my-cluster-oidc", context: {} },
      want: "Allow",
    },
    {
      name: "PutObject of the JWKS",
      req: { action: "s3:PutObject", resource: "arn:aws:s3:::my-cluster-oidc/keys.json", context: {} },
      want: "Allow",
    },
    {
      name: "CreateOpenIDConnectProvider",
      req: { action: "iam:CreateOpenIDConnectProvider", resource: provider, context: {} },
      want: "Allow",
    },
    {
      name: "GetPolicy of the boundary",
      req: { action: "iam:GetPolicy", resource: boundary, context: {} },
      want: "Allow",
    },
    { name: "CreateRole with the boundary and the tags", req: createRole({ boundary }), want: "Allow" },
    // CreateRole with tags is authorized as TagRole too, in the same request context.
    {
      name: "TagRole of CreateRole",
      req: { ...createRole({ boundary }), action: "iam:TagRole" },
      want: "Allow",
      statement: "TagNewRoles",
    },
    { name: "GetRole", req: { action: "iam:GetRole", resource: role("app"), context: {} }, want: "Allow" },
    {
      name: "AttachRolePolicy of a normal policy",
      req: onOwnRole("iam:AttachRolePolicy", { "iam:PolicyARN": policyArn("AmazonS3ReadOnlyAccess") }),
      want: "Allow",
      statement: "ChangeOnlyOwnRoles",
    },
    {
      name: "AttachRolePolicy of a customer policy",
      req: onOwnRole("iam:AttachRolePolicy", { "iam:PolicyARN": `arn:aws:iam::${account}:policy/app` }),
      want: "Allow",
    },
    { name: "PutRolePolicy", req: onOwnRole("iam:PutRolePolicy"), want: "Allow" },
    { name: "UpdateAssumeRolePolicy", req: onOwnRole("iam:UpdateAssumeRolePolicy"), want: "Allow" },
    {
      name: "TagRole of the service-account tag",
      req: onOwnRole("iam:TagRole", requestTags({ [awsTag.serviceAccount]: "team-a/other" })),
      want: "Allow",
      statement: "ChangeOnlyOwnRoles",
    },
    {
      name: "DetachRolePolicy",
      req: onOwnRole("iam:DetachRolePolicy", { "iam:PolicyARN": policyArn("AmazonS3ReadOnlyAccess") }),
      want: "Allow",
    },
    { name: "DeleteRole", req: onOwnRole("iam:DeleteRole"), want: "Allow" },
    {
      name: "DeleteOpenIDConnectProvider",
      req: { action: "iam:DeleteOpenIDConnectProvider", resource: provider, context: {} },
      want: "Allow",
    },
  ];
  for (const c of cases) await t.step(c.name, () => check(doc, c));
});

Deno.test("daemonIamPolicy() without a boundary keeps the README's grants and still refuses admin policies", async (t) => {
  const doc = daemonIamPolicy(noBoundary);
  const cases: Case[] = [
    { name: "CreateRole without a boundary", req: createRole(), want: "Allow" },
    { name: "CreateRole with any boundary", req: createRole({ boundary }), want: "Allow" },
    {
      name: "PutRolePermissionsBoundary on an own role",
      req: onOwnRole("iam:PutRolePermissionsBoundary", { "iam:PermissionsBoundary": boundary }),
      want: "Allow",
      statement: "ChangeOnlyOwnRoles",
    },
    {
      name: "DeleteRolePermissionsBoundary is not granted",
      req: onOwnRole("iam:DeleteRolePermissionsBoundary"),
      want: "ImplicitDeny",
    },
    {
      name: "AttachRolePolicy of AdministratorAccess",
      req: onOwnRole("iam:AttachRolePolicy", { "iam:PolicyARN": policyArn("AdministratorAccess") }),
      want: "ExplicitDeny",
      statement: "DenyAdminPolicies",
    },
    {
      name: "AttachRolePolicy of IAMFullAccess (aws-cn)",
      req: onOwnRole("iam:AttachRolePolicy", { "iam:PolicyARN": "arn:aws-cn:iam::aws:policy/IAMFullAccess" }),
      want: "ExplicitDeny",
    },
  ];
  for (const c of cases) await t.step(c.name, () => check(doc, c));
  await t.step(
    "no statement names the boundary key",
    () => ok(!JSON.stringify(doc).includes("iam:PermissionsBoundary")),
  );
});

// The README's policy before the boundary: every action it granted, on the same resources.
const readmeGrants: Record<string, string[]> = {
  "*": ["sts:GetCallerIdentity", "s3:GetAccountPublicAccessBlock", "iam:GetPolicy"],
  "arn:aws:s3:::my-cluster-oidc": [
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
  "arn:aws:s3:::my-cluster-oidc/*": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
  [`arn:aws:iam::${account}:oidc-provider/${cluster}`]: [
    "iam:GetOpenIDConnectProvider",
    "iam:CreateOpenIDConnectProvider",
    "iam:TagOpenIDConnectProvider",
    "iam:UpdateOpenIDConnectProviderThumbprint",
    "iam:DeleteOpenIDConnectProvider",
  ],
  [`arn:aws:iam::${account}:role/irsa/*`]: [
    "iam:CreateRole",
    "iam:TagRole",
    "iam:DeleteRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "iam:PutRolePermissionsBoundary",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:GetRole",
    "iam:ListAttachedRolePolicies",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
  ],
};

Deno.test("daemonIamPolicy() grants every action of the README's policy on the same resource", async (t) => {
  for (const boundaryArn of [undefined, boundary]) {
    const statements = daemonIamPolicy(boundaryArn ? { ...example, permissionsBoundary: boundaryArn } : noBoundary)
      .Statement as PolicyStatement[];
    const list = (v: string | string[] | undefined) => v === undefined ? [] : Array.isArray(v) ? v : [v];
    for (const [resource, actions] of Object.entries(readmeGrants)) {
      await t.step(`${resource} ${boundaryArn ? "with" : "without"} a boundary`, () => {
        const granted = statements.filter((s) => s.Effect === "Allow" && list(s.Resource).includes(resource))
          .flatMap((s) => list(s.Action));
        deepStrictEqual(actions.filter((a) => !granted.includes(a)), []);
      });
    }
  }
});

Deno.test("daemonIamPolicy() builds ARNs from its options and checks them", async (t) => {
  await t.step("every statement has a Sid, and the document fits IAM's 6144-character limit", () => {
    const doc = daemonIamPolicy(example);
    ok((doc.Statement as PolicyStatement[]).every((s) => s.Sid !== undefined && /^[A-Za-z0-9]+$/.test(s.Sid)));
    ok(JSON.stringify(doc).replace(/\s/g, "").length <= 6144);
  });
  await t.step("the default role path is /", () => {
    const doc = JSON.stringify(daemonIamPolicy({ account, bucket: "bkt", region: "eu-west-1" }));
    ok(doc.includes(`"arn:aws:iam::${account}:role/*"`));
  });
  await t.step("the partition follows the region, and the provider the issuer", () => {
    const doc = JSON.stringify(
      daemonIamPolicy({ account, bucket: "bkt", region: "cn-north-1", issuer: "https://oidc.example.com/c1" }),
    );
    ok(doc.includes(`"arn:aws-cn:iam::${account}:oidc-provider/oidc.example.com/c1"`));
    ok(doc.includes(`"arn:aws-cn:s3:::bkt"`));
  });
  await t.step("a provider ARN is used as given", () => {
    const providerArn = `arn:aws-us-gov:iam::${account}:oidc-provider/issuer.example.com`;
    const doc = JSON.stringify(daemonIamPolicy({ account, bucket: "bkt", providerArn }));
    ok(doc.includes(`"${providerArn}"`));
    ok(doc.includes(`"arn:aws-us-gov:iam::${account}:role/*"`));
  });
  const bad: [string, DaemonIamPolicyOptions, string][] = [
    ["an account that is not 12 digits", { ...example, account: "1234" }, "InvalidArn"],
    ["a malformed role path", { ...example, rolePath: "irsa" }, "InvalidRolePath"],
    ["a boundary that is not a policy ARN", { ...example, permissionsBoundary: role("x") }, "InvalidArn"],
    ["a malformed bucket", { ...example, bucket: "No_Bucket" }, "InvalidBucketName"],
    ["no provider, issuer or region", { account, bucket: "bkt" }, "InvalidDaemonPolicyOptions"],
  ];
  for (const [name, opts, reason] of bad) {
    await t.step(`throws for ${name}`, () => {
      throws(() => daemonIamPolicy(opts), (e) => e instanceof IrsaError && e.reason === reason);
    });
  }
});

Deno.test("README.md's daemon policy is daemonIamPolicy() with the README's example values", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const lines = readme.split("\n");
  const heading = lines.findIndex((l) => l.includes("IAM permissions of the daemon"));
  ok(heading >= 0, "README.md has no line containing 'IAM permissions of the daemon'");
  const open = lines.findIndex((l, i) => i > heading && l.trim() === "```json");
  const close = lines.findIndex((l, i) => i > open && l.trim() === "```");
  ok(open > heading && close > open, "no ```json block follows the 'IAM permissions of the daemon' line");
  deepStrictEqual(JSON.parse(lines.slice(open + 1, close).join("\n")), daemonIamPolicy(example));
});

const distributionArn = `arn:aws:cloudfront::${account}:distribution/E2QWRUHAPOMQZL`;
const ownDistribution = {
  [`aws:ResourceTag/${awsTag.managedBy}`]: managedByValue,
  "aws:ResourceTag/kubectl-irsa/bucket": "my-cluster-oidc",
};
const distributionTags = requestTags({ [awsTag.managedBy]: managedByValue, "kubectl-irsa/bucket": "my-cluster-oidc" });
const cloudFrontSids = [
  "CloudFrontRead",
  "CloudFrontCreateTagged",
  "CloudFrontChangeOwn",
  "CloudFrontOriginAccessControl",
];
const sids = (doc: PolicyDocument) => (doc.Statement as PolicyStatement[]).map((s) => s.Sid);

Deno.test("daemonIamPolicy() grants CloudFront only with the cloudFront option", async (t) => {
  for (const boundaryArn of [undefined, boundary]) {
    const base = boundaryArn ? example : noBoundary;
    await t.step(`${boundaryArn ? "with" : "without"} a boundary`, () => {
      const without = daemonIamPolicy(base);
      ok(!JSON.stringify(without).includes("cloudfront:"), JSON.stringify(without));
      equal(
        evaluateIdentityPolicy(without, { action: "cloudfront:ListDistributions", resource: "*", context: {} })
          .decision,
        "ImplicitDeny",
      );
      const withCf = daemonIamPolicy({ ...base, cloudFront: true });
      deepStrictEqual(sids(withCf).filter((s) => s?.startsWith("CloudFront")), cloudFrontSids);
      // The other statements are the same, and the admin-policy Deny stays last.
      deepStrictEqual(sids(withCf).filter((s) => !s?.startsWith("CloudFront")), sids(without));
      equal(sids(withCf).at(-1), "DenyAdminPolicies");
      ok(JSON.stringify(withCf).replace(/\s/g, "").length <= 6144);
    });
  }
  await t.step("the CloudFront ARNs follow the partition", () => {
    const doc = JSON.stringify(daemonIamPolicy({ account, bucket: "bkt", region: "cn-north-1", cloudFront: true }));
    ok(doc.includes(`"arn:aws-cn:cloudfront::${account}:distribution/*"`), doc);
    ok(doc.includes(`"arn:aws-cn:cloudfront::${account}:origin-access-control/*"`), doc);
  });
});

Deno.test("daemonIamPolicy() with cloudFront changes only distributions tagged as kubectl-irsa's", async (t) => {
  const doc = daemonIamPolicy({ ...example, cloudFront: true });
  const cases: Case[] = [
    {
      name: "UpdateDistribution on a tagged distribution",
      req: { action: "cloudfront:UpdateDistribution", resource: distributionArn, context: ownDistribution },
      want: "Allow",
      statement: "CloudFrontChangeOwn",
    },
    {
      name: "UpdateDistribution on an untagged distribution",
      req: { action: "cloudfront:UpdateDistribution", resource: distributionArn, context: {} },
      want: "ImplicitDeny",
    },
    {
      name: "UpdateDistribution on a distribution tagged by someone else",
      req: {
        action: "cloudfront:UpdateDistribution",
        resource: distributionArn,
        context: { [`aws:ResourceTag/${awsTag.managedBy}`]: "terraform" },
      },
      want: "ImplicitDeny",
    },
    {
      name: "DeleteDistribution on a tagged distribution",
      req: { action: "cloudfront:DeleteDistribution", resource: distributionArn, context: ownDistribution },
      want: "Allow",
      statement: "CloudFrontChangeOwn",
    },
    {
      name: "DeleteDistribution on an untagged distribution",
      req: { action: "cloudfront:DeleteDistribution", resource: distributionArn, context: {} },
      want: "ImplicitDeny",
    },
    {
      name: "CreateDistribution with the ownership tag",
      req: { action: "cloudfront:CreateDistribution", resource: distributionArn, context: distributionTags },
      want: "Allow",
      statement: "CloudFrontCreateTagged",
    },
    // CreateDistributionWithTags is authorized as TagResource too, in the same request context.
    {
      name: "TagResource of CreateDistributionWithTags",
      req: { action: "cloudfront:TagResource", resource: distributionArn, context: distributionTags },
      want: "Allow",
      statement: "CloudFrontCreateTagged",
    },
    {
      name: "CreateDistribution without the ownership tag",
      req: { action: "cloudfront:CreateDistribution", resource: distributionArn, context: {} },
      want: "ImplicitDeny",
    },
    {
      name: "CreateDistribution with another managed-by value",
      req: {
        action: "cloudfront:CreateDistribution",
        resource: distributionArn,
        context: requestTags({ [awsTag.managedBy]: "me" }),
      },
      want: "ImplicitDeny",
    },
    {
      name: "CreateDistribution in another account",
      req: {
        action: "cloudfront:CreateDistribution",
        resource: "arn:aws:cloudfront::210987654321:distribution/E1",
        context: distributionTags,
      },
      want: "ImplicitDeny",
    },
    {
      name: "ListDistributions",
      req: { action: "cloudfront:ListDistributions", resource: "*", context: {} },
      want: "Allow",
      statement: "CloudFrontRead",
    },
    {
      name: "GetDistributionConfig of any distribution",
      req: { action: "cloudfront:GetDistributionConfig", resource: "*", context: {} },
      want: "Allow",
    },
    {
      name: "CreateOriginAccessControl",
      req: {
        action: "cloudfront:CreateOriginAccessControl",
        resource: `arn:aws:cloudfront::${account}:origin-access-control/*`,
        context: {},
      },
      want: "Allow",
      statement: "CloudFrontOriginAccessControl",
    },
    {
      name: "CreateInvalidation is not granted",
      req: { action: "cloudfront:CreateInvalidation", resource: distributionArn, context: ownDistribution },
      want: "ImplicitDeny",
    },
  ];
  for (const c of cases) await t.step(c.name, () => check(doc, c));
});
