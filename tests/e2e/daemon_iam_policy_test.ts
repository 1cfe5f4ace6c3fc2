// The daemon's least-privilege IAM policy under moto's IAM enforcement, next to the project's evaluator.
//
// What moto 5.2.1 enforces (moto/iam/access_control.py, moto/core/authorization.py, moto/iam/responses.py), with
// `POST /moto-api/reset-auth 0` turning enforcement on:
// - Action: matched, case-sensitively, with `*` only. S3 actions are moto's names for the HTTP request (HeadBucket is
//   s3:HeadBucket, where AWS checks s3:ListBucket).
// - Resource: matched against the ARN moto determines for the request: for IAM the ARN of the *existing* role named
//   by RoleName, and "*" for everything else (CreateRole of a new role, policies, providers, users); for S3 the
//   bucket or object ARN. A statement whose Resource is an ARN never matches "*".
// - Conditions: not evaluated for identity policies. moto passes no request context, so every condition counts as
//   met: a conditioned Allow allows regardless of its condition, and a conditioned Deny denies every request of
//   its action. Explicit Deny beats Allow, and sts:GetCallerIdentity is always allowed.
// So moto decides the Action/Resource part of the policy, and the evaluator (lib/identity_policy_eval.ts) decides the
// rest on the exact request context IAM would build. Each case below asserts both answers; where they differ, `gap`
// says why; the evaluator answers as IAM documents it.
import { equal } from "node:assert/strict";
import {
  AttachRolePolicyCommand,
  AttachUserPolicyCommand,
  CreateAccessKeyCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateRoleCommand,
  CreateUserCommand,
  DeleteRolePermissionsBoundaryCommand,
  GetRoleCommand,
  PutRolePermissionsBoundaryCommand,
  PutRolePolicyCommand,
  TagRoleCommand,
  UpdateAssumeRolePolicyCommand,
} from "@aws-sdk/client-iam";
import { CreateBucketCommand, GetBucketLocationCommand, HeadBucketCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { type TestAws, testAws } from "../support/aws.ts";
import { daemonIamPolicy } from "../../lib/daemon_iam_policy.ts";
import { evaluateIdentityPolicy, type IdentityDecision, type IdentityRequest } from "../../lib/identity_policy_eval.ts";
import { awsTag, managedByValue } from "../../lib/names.ts";
import { freePort, ServerProcess } from "../support/server_process.ts";

const account = "123456789012"; // moto's default account
const region = "eu-west-1";
const bucket = "my-cluster-oidc";
const boundary = `arn:aws:iam::${account}:policy/irsa-boundary`;
const appPolicy = `arn:aws:iam::${account}:policy/app-read`;
const admin = "arn:aws:iam::aws:policy/AdministratorAccess";
const policy = daemonIamPolicy({ account, bucket, region, rolePath: "/irsa/", permissionsBoundary: boundary });
const roleArn = (name: string, path = "/irsa/") => `arn:aws:iam::${account}:role${path}${name}`;
const trust = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
});
const readObjects = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "*" }],
});
const ownTags = [
  { Key: awsTag.managedBy, Value: managedByValue },
  { Key: awsTag.cluster, Value: `s3.${region}.amazonaws.com/${bucket}` },
  { Key: awsTag.serviceAccount, Value: "team-a/app" },
];
const resourceTags = Object.fromEntries(ownTags.map((t) => [`aws:ResourceTag/${t.Key}`, t.Value]));
const requestTags = (tags: { Key: string; Value: string }[]) => ({
  ...Object.fromEntries(tags.map((t) => [`aws:RequestTag/${t.Key}`, t.Value])),
  "aws:TagKeys": tags.map((t) => t.Key),
});

async function startMoto(dir: string): Promise<{ proc: ServerProcess; endpoint: string }> {
  const port = freePort();
  const proc = ServerProcess.start("moto_server", ["moto_server", "-H", "127.0.0.1", "-p", String(port)], {
    logPath: `${dir}/moto.log`,
  });
  const endpoint = `http://127.0.0.1:${port}`;
  await proc.waitReady(async () => {
    const r = await fetch(`${endpoint}/moto-api/data.json`);
    await r.body?.cancel();
    return r.ok;
  }, 30_000);
  return { proc, endpoint };
}

async function clients(endpoint: string, credentials: { accessKeyId: string; secretAccessKey: string }) {
  return await testAws({ region, endpoints: { default: endpoint }, s3PathStyle: true, credentials });
}

/** Whether moto let the call through: anything but AccessDenied (403) counts as allowed. */
async function motoAllows(call: () => Promise<unknown>): Promise<boolean> {
  try {
    await call();
    return true;
  } catch (e) {
    // A service error after authorization (NoSuchEntity, …) means moto let the request through.
    const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (err.name === "AccessDenied" || err.$metadata?.httpStatusCode === 403) return false;
    if (err.$metadata?.httpStatusCode !== undefined) return true;
    throw e;
  }
}

/** What IAM puts in the context of a policy change on a role with the boundary. */
const roleBoundary = { "iam:PermissionsBoundary": boundary };

interface Case {
  name: string;
  call: (aws: TestAws) => Promise<unknown>;
  /** The request as IAM authorizes it, for the evaluator. */
  req: IdentityRequest;
  decision: IdentityDecision["decision"];
  /** Why moto answers otherwise than AWS (the evaluator); absent when they agree. */
  gap?: string;
  /** Why moto refuses, when the answer agrees but not the reason. */
  motoReason?: string;
}

const cases: Case[] = [
  {
    name: "GetCallerIdentity",
    call: (aws) => aws.sts.send(new GetCallerIdentityCommand({})),
    req: { action: "sts:GetCallerIdentity", resource: "*", context: {} },
    decision: "Allow",
  },
  {
    name: "GetRole of an own role",
    call: (aws) => aws.iam.send(new GetRoleCommand({ RoleName: "own" })),
    req: { action: "iam:GetRole", resource: roleArn("own"), context: {} },
    decision: "Allow",
  },
  {
    name: "GetRole of a role outside the path",
    call: (aws) => aws.iam.send(new GetRoleCommand({ RoleName: "outside" })),
    req: { action: "iam:GetRole", resource: roleArn("outside", "/other/"), context: {} },
    decision: "ImplicitDeny",
  },
  {
    name: "UpdateAssumeRolePolicy of an own role",
    call: (aws) => aws.iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: "own", PolicyDocument: trust })),
    req: { action: "iam:UpdateAssumeRolePolicy", resource: roleArn("own"), context: resourceTags },
    decision: "Allow",
  },
  {
    name: "UpdateAssumeRolePolicy of a role outside the path",
    call: (aws) => aws.iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: "outside", PolicyDocument: trust })),
    req: { action: "iam:UpdateAssumeRolePolicy", resource: roleArn("outside", "/other/"), context: resourceTags },
    decision: "ImplicitDeny",
  },
  {
    name: "UpdateAssumeRolePolicy of an untagged role under the path",
    call: (aws) => aws.iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: "untagged", PolicyDocument: trust })),
    req: { action: "iam:UpdateAssumeRolePolicy", resource: roleArn("untagged"), context: {} },
    decision: "ImplicitDeny",
    gap: "moto does not evaluate aws:ResourceTag, so ChangeOnlyOwnRoles allows any role under the path",
  },
  {
    name: "PutRolePolicy on an own role",
    call: (aws) =>
      aws.iam.send(new PutRolePolicyCommand({ RoleName: "own", PolicyName: "inline", PolicyDocument: readObjects })),
    // IAM names the role's boundary in iam:PermissionsBoundary for policy changes; every role here has it.
    req: { action: "iam:PutRolePolicy", resource: roleArn("own"), context: { ...resourceTags, ...roleBoundary } },
    decision: "Allow",
    gap:
      "moto treats the iam:PermissionsBoundary condition of DenyRolesWithoutTheBoundary as met, so it denies every " +
      "PutRolePolicy",
  },
  {
    name: "TagRole of an own role",
    call: (aws) => aws.iam.send(new TagRoleCommand({ RoleName: "own", Tags: [ownTags[2]!] })),
    req: {
      action: "iam:TagRole",
      resource: roleArn("own"),
      context: { ...resourceTags, ...requestTags([ownTags[2]!]) },
    },
    decision: "Allow",
  },
  {
    name: "AttachRolePolicy of a normal policy on an own role",
    call: (aws) => aws.iam.send(new AttachRolePolicyCommand({ RoleName: "own", PolicyArn: appPolicy })),
    req: {
      action: "iam:AttachRolePolicy",
      resource: roleArn("own"),
      context: { ...resourceTags, ...roleBoundary, "iam:PolicyARN": appPolicy },
    },
    decision: "Allow",
    gap: "moto treats the iam:PolicyARN condition of DenyAdminPolicies as met, so it denies every AttachRolePolicy",
  },
  {
    name: "AttachRolePolicy of AdministratorAccess on an own role",
    call: (aws) => aws.iam.send(new AttachRolePolicyCommand({ RoleName: "own", PolicyArn: admin })),
    req: {
      action: "iam:AttachRolePolicy",
      resource: roleArn("own"),
      context: { ...resourceTags, ...roleBoundary, "iam:PolicyARN": admin },
    },
    decision: "ExplicitDeny",
    motoReason: "moto denies every AttachRolePolicy (the condition of DenyAdminPolicies counts as met)",
  },
  {
    name: "AttachRolePolicy on a role outside the path",
    call: (aws) => aws.iam.send(new AttachRolePolicyCommand({ RoleName: "outside", PolicyArn: appPolicy })),
    req: {
      action: "iam:AttachRolePolicy",
      resource: roleArn("outside", "/other/"),
      context: { ...resourceTags, ...roleBoundary, "iam:PolicyARN": appPolicy },
    },
    decision: "ImplicitDeny",
  },
  {
    name: "PutRolePermissionsBoundary of the boundary on an own role",
    call: (aws) =>
      aws.iam.send(new PutRolePermissionsBoundaryCommand({ RoleName: "own", PermissionsBoundary: boundary })),
    req: {
      action: "iam:PutRolePermissionsBoundary",
      resource: roleArn("own"),
      context: { ...resourceTags, "iam:PermissionsBoundary": boundary },
    },
    decision: "Allow",
    gap: "moto treats the StringNotEquals of DenyRolesWithoutTheBoundary as met, so it denies every boundary",
  },
  {
    name: "PutRolePermissionsBoundary of another boundary on an own role",
    call: (aws) =>
      aws.iam.send(new PutRolePermissionsBoundaryCommand({ RoleName: "own", PermissionsBoundary: appPolicy })),
    req: {
      action: "iam:PutRolePermissionsBoundary",
      resource: roleArn("own"),
      context: { ...resourceTags, "iam:PermissionsBoundary": appPolicy },
    },
    decision: "ExplicitDeny",
    motoReason: "moto denies every boundary (the condition of DenyRolesWithoutTheBoundary counts as met)",
  },
  {
    name: "DeleteRolePermissionsBoundary of an own role",
    call: (aws) => aws.iam.send(new DeleteRolePermissionsBoundaryCommand({ RoleName: "own" })),
    req: { action: "iam:DeleteRolePermissionsBoundary", resource: roleArn("own"), context: resourceTags },
    decision: "ExplicitDeny",
  },
  {
    name: "CreateRole under the path with the boundary and the tags",
    call: (aws) =>
      aws.iam.send(
        new CreateRoleCommand({
          RoleName: "new",
          Path: "/irsa/",
          AssumeRolePolicyDocument: trust,
          PermissionsBoundary: boundary,
          Tags: ownTags,
        }),
      ),
    req: {
      action: "iam:CreateRole",
      resource: roleArn("new"),
      context: { ...requestTags(ownTags), "iam:PermissionsBoundary": boundary },
    },
    decision: "Allow",
    gap: 'moto authorizes CreateRole of a new role on Resource "*", which no role-path statement matches',
  },
  {
    name: "CreateRole outside the path",
    call: (aws) =>
      aws.iam.send(
        new CreateRoleCommand({
          RoleName: "new-outside",
          Path: "/",
          AssumeRolePolicyDocument: trust,
          PermissionsBoundary: boundary,
          Tags: ownTags,
        }),
      ),
    req: {
      action: "iam:CreateRole",
      resource: roleArn("new-outside", "/"),
      context: { ...requestTags(ownTags), "iam:PermissionsBoundary": boundary },
    },
    decision: "ImplicitDeny",
    motoReason: 'moto refuses every new role (Resource "*"), whatever its path',
  },
  {
    name: "CreatePolicyVersion of the boundary",
    call: (aws) =>
      aws.iam.send(new CreatePolicyVersionCommand({ PolicyArn: boundary, PolicyDocument: trust, SetAsDefault: true })),
    req: { action: "iam:CreatePolicyVersion", resource: boundary, context: {} },
    decision: "ExplicitDeny",
    motoReason: 'moto sees Resource "*", which DenyBoundaryChanges does not match; no statement allows it',
  },
  {
    name: "CreateUser",
    call: (aws) => aws.iam.send(new CreateUserCommand({ UserName: "escalate" })),
    req: { action: "iam:CreateUser", resource: `arn:aws:iam::${account}:user/escalate`, context: {} },
    decision: "ImplicitDeny",
  },
  {
    name: "GetBucketLocation of the issuer bucket",
    call: (aws) => aws.s3.send(new GetBucketLocationCommand({ Bucket: bucket })),
    req: { action: "s3:GetBucketLocation", resource: `arn:aws:s3:::${bucket}`, context: {} },
    decision: "Allow",
  },
  {
    name: "GetBucketLocation of another bucket",
    call: (aws) => aws.s3.send(new GetBucketLocationCommand({ Bucket: "other-bucket" })),
    req: { action: "s3:GetBucketLocation", resource: "arn:aws:s3:::other-bucket", context: {} },
    decision: "ImplicitDeny",
  },
  {
    name: "HeadBucket of the issuer bucket",
    call: (aws) => aws.s3.send(new HeadBucketCommand({ Bucket: bucket })),
    req: { action: "s3:ListBucket", resource: `arn:aws:s3:::${bucket}`, context: {} },
    decision: "Allow",
    gap: "moto authorizes HeadBucket as s3:HeadBucket, which is no IAM action; AWS authorizes it as s3:ListBucket",
  },

  {
    name: "PutObject in the issuer bucket",
    call: (aws) => aws.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "keys.json", Body: "{}" })),
    req: { action: "s3:PutObject", resource: `arn:aws:s3:::${bucket}/keys.json`, context: {} },
    decision: "Allow",
  },
  {
    name: "PutObject in another bucket",
    call: (aws) => aws.s3.send(new PutObjectCommand({ Bucket: "other-bucket", Key: "keys.json", Body: "{}" })),
    req: { action: "s3:PutObject", resource: "arn:aws:s3:::other-bucket/keys.json", context: {} },
    decision: "ImplicitDeny",
  },
];

Deno.test({
  name: "the daemon's IAM policy under moto's IAM enforcement and the evaluator",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "daemon-iam-policy-" });
    const { proc, endpoint } = await startMoto(dir);
    const root = await clients(endpoint, { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "moto-secret-key" });
    let daemon: TestAws | undefined;
    try {
      // Enforcement is off while the world is set up.
      const iam = root.iam;
      await iam.send(
        new CreatePolicyCommand({
          PolicyName: "irsa-boundary",
          PolicyDocument: readObjects,
        }),
      );
      await iam.send(
        new CreatePolicyCommand({
          PolicyName: "app-read",
          PolicyDocument: readObjects,
        }),
      );
      const daemonPolicy = await iam.send(
        new CreatePolicyCommand({ PolicyName: "kubectl-irsa-daemon", PolicyDocument: JSON.stringify(policy) }),
      );
      await iam.send(new CreateUserCommand({ UserName: "kubectl-irsa" }));
      await iam.send(new AttachUserPolicyCommand({ UserName: "kubectl-irsa", PolicyArn: daemonPolicy.Policy!.Arn! }));
      const key = (await iam.send(new CreateAccessKeyCommand({ UserName: "kubectl-irsa" }))).AccessKey!;
      const role = (RoleName: string, Path: string, tagged: boolean) =>
        iam.send(
          new CreateRoleCommand({
            RoleName,
            Path,
            AssumeRolePolicyDocument: trust,
            PermissionsBoundary: boundary,
            ...(tagged ? { Tags: ownTags } : {}),
          }),
        );
      await role("own", "/irsa/", true);
      await role("untagged", "/irsa/", false);
      await role("outside", "/other/", true);
      for (const b of [bucket, "other-bucket"]) {
        await root.s3.send(
          new CreateBucketCommand({ Bucket: b, CreateBucketConfiguration: { LocationConstraint: region } }),
        );
      }
      const res = await fetch(`${endpoint}/moto-api/reset-auth`, { method: "POST", body: "0" });
      equal(res.status, 200, await res.text());
      daemon = await clients(endpoint, { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! });

      await t.step("moto enforces: keys of no IAM user are refused now", async () => {
        equal(await motoAllows(() => root.iam.send(new GetRoleCommand({ RoleName: "own" }))), false);
      });
      const table: string[] = [];
      for (const c of cases) {
        await t.step(c.name, async () => {
          const evaluated = evaluateIdentityPolicy(policy, c.req);
          equal(evaluated.decision, c.decision, evaluated.reasons.join("; "));
          const moto = await motoAllows(() => c.call(daemon!));
          const aws = c.decision === "Allow";
          // moto's answer is asserted too: a moto upgrade that closes a gap must update this file and the report.
          equal(moto, c.gap === undefined ? aws : !aws, `moto ${moto ? "allowed" : "refused"} it`);
          table.push(
            `${c.name}: evaluator ${evaluated.decision}${evaluated.statement ? ` (${evaluated.statement})` : ""}, ` +
              `moto ${moto ? "allowed" : "refused"}${
                c.gap ? ` — gap: ${c.gap}` : c.motoReason ? ` — ${c.motoReason}` : ""
              }`,
          );
        });
      }
      console.error(table.map((l) => `  ${l}`).join("\n"));
    } finally {
      daemon?.destroy();
      root.destroy();
      await proc.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
