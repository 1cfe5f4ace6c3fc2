import { equal, throws } from "node:assert/strict";
import { IrsaError } from "./errors.ts";
import { evaluateIdentityPolicy, type IdentityDecision, type IdentityRequest } from "./identity_policy_eval.ts";
import type { ConditionBlock, PolicyDocument, PolicyStatement } from "./trust_policy.ts";

const role = "arn:aws:iam::123456789012:role/irsa/app";
const req = (context: IdentityRequest["context"] = {}, extra: Partial<IdentityRequest> = {}): IdentityRequest => ({
  action: "iam:CreateRole",
  resource: role,
  context,
  ...extra,
});
// Loosely typed, so a case can drop a field (undefined) or break one.
const allow = (s: Record<string, unknown> = {}): PolicyStatement =>
  ({ Effect: "Allow", Action: "iam:CreateRole", Resource: "*", ...s }) as PolicyStatement;
const doc = (...statements: PolicyStatement[]): PolicyDocument => ({ Version: "2012-10-17", Statement: statements });
const when = (condition: ConditionBlock) => doc(allow({ Condition: condition }));

type Decision = IdentityDecision["decision"];
interface Case {
  name: string;
  policy: PolicyDocument | string;
  req: IdentityRequest;
  want: Decision;
}

Deno.test("evaluateIdentityPolicy() matches Action, NotAction, Resource and NotResource as IAM does", async (t) => {
  const cases: Case[] = [
    { name: "exact action and resource *", policy: doc(allow()), req: req(), want: "Allow" },
    {
      name: "actions are case-insensitive",
      policy: doc(allow({ Action: "IAM:createrole" })),
      req: req(),
      want: "Allow",
    },
    { name: "action wildcard *", policy: doc(allow({ Action: "iam:Create*" })), req: req(), want: "Allow" },
    { name: "action wildcard ?", policy: doc(allow({ Action: "iam:?reateRole" })), req: req(), want: "Allow" },
    { name: "action * allows all", policy: doc(allow({ Action: "*" })), req: req(), want: "Allow" },
    { name: "another action", policy: doc(allow({ Action: "iam:DeleteRole" })), req: req(), want: "ImplicitDeny" },
    {
      name: "one action of a list",
      policy: doc(allow({ Action: ["s3:GetObject", "iam:CreateRole"] })),
      req: req(),
      want: "Allow",
    },
    {
      name: "NotAction allows other actions",
      policy: doc(allow({ Action: undefined, NotAction: "iam:*" })),
      req: req({}, { action: "s3:GetObject" }),
      want: "Allow",
    },
    {
      name: "NotAction excludes its actions",
      policy: doc(allow({ Action: undefined, NotAction: "iam:*" })),
      req: req(),
      want: "ImplicitDeny",
    },
    {
      name: "resource wildcard",
      policy: doc(allow({ Resource: "arn:aws:iam::123456789012:role/irsa/*" })),
      req: req(),
      want: "Allow",
    },
    {
      name: "resource ? matches one character",
      policy: doc(allow({ Resource: "arn:aws:iam::123456789012:role/irsa/ap?" })),
      req: req(),
      want: "Allow",
    },
    {
      name: "resources are case-sensitive",
      policy: doc(allow({ Resource: "arn:aws:iam::123456789012:role/IRSA/*" })),
      req: req(),
      want: "ImplicitDeny",
    },
    {
      name: "resource outside the path",
      policy: doc(allow({ Resource: "arn:aws:iam::123456789012:role/irsa/*" })),
      req: req({}, { resource: "arn:aws:iam::123456789012:role/app" }),
      want: "ImplicitDeny",
    },
    {
      name: "NotResource allows other resources",
      policy: doc(allow({ Resource: undefined, NotResource: "arn:aws:iam::*:role/admin/*" })),
      req: req(),
      want: "Allow",
    },
    {
      name: "NotResource excludes its resources",
      policy: doc(allow({ Resource: undefined, NotResource: "arn:aws:iam::*:role/irsa/*" })),
      req: req(),
      want: "ImplicitDeny",
    },
    { name: "an empty policy denies implicitly", policy: doc(), req: req(), want: "ImplicitDeny" },
    {
      name: "a URL-encoded document",
      policy: encodeURIComponent(JSON.stringify(doc(allow()))),
      req: req(),
      want: "Allow",
    },
  ];
  for (const c of cases) await t.step(c.name, () => equal(evaluateIdentityPolicy(c.policy, c.req).decision, c.want));
});

Deno.test("evaluateIdentityPolicy() lets an explicit Deny win over any Allow, wherever it stands", async (t) => {
  const deny: PolicyStatement = { Sid: "NoRoles", Effect: "Deny", Action: "iam:*Role", Resource: "*" };
  for (const [name, policy] of [["deny first", doc(deny, allow())], ["deny last", doc(allow(), deny)]] as const) {
    await t.step(name, () => {
      const got = evaluateIdentityPolicy(policy, req());
      equal(got.decision, "ExplicitDeny");
      equal(got.statement, "NoRoles");
    });
  }
  await t.step("a Deny whose condition fails does not deny", () => {
    const conditional = { ...deny, Condition: { StringEquals: { "aws:RequestTag/team": "x" } } };
    const got = evaluateIdentityPolicy(doc(conditional, allow({ Sid: "Create" })), req());
    equal(got.decision, "Allow");
    equal(got.statement, "Create");
  });
  await t.step("an implicit deny names why each statement for the action did not apply", () => {
    const got = evaluateIdentityPolicy(when({ StringEquals: { "iam:PermissionsBoundary": "arn:b" } }), req());
    equal(got.decision, "ImplicitDeny");
    equal(got.statement, undefined);
    equal(
      got.reasons[0],
      'Statement[0] (Allow) does not apply: StringEquals iam:PermissionsBoundary: the request has absent, the policy ["arn:b"]',
    );
  });
});

Deno.test("evaluateIdentityPolicy() evaluates each condition operator, with IfExists and set qualifiers", async (t) => {
  const b = "arn:aws:iam::123456789012:policy/boundary";
  const k = "iam:PermissionsBoundary";
  const admin = "arn:aws:iam::aws:policy/AdministratorAccess";
  const tags = ["kubectl-irsa/managed-by", "kubectl-irsa/cluster"];
  const cases: Case[] = [
    { name: "StringEquals holds", policy: when({ StringEquals: { [k]: b } }), req: req({ [k]: b }), want: "Allow" },
    {
      name: "StringEquals is case-sensitive",
      policy: when({ StringEquals: { [k]: b } }),
      req: req({ [k]: b.toUpperCase() }),
      want: "ImplicitDeny",
    },
    {
      name: "StringEquals with the key absent",
      policy: when({ StringEquals: { [k]: b } }),
      req: req(),
      want: "ImplicitDeny",
    },
    {
      name: "StringEquals: values OR-ed",
      policy: when({ StringEquals: { [k]: ["x", b] } }),
      req: req({ [k]: b }),
      want: "Allow",
    },
    {
      name: "StringEquals: '*' is literal",
      policy: when({ StringEquals: { [k]: "arn:*" } }),
      req: req({ [k]: b }),
      want: "ImplicitDeny",
    },
    {
      name: "condition key names are case-insensitive",
      policy: when({ StringEquals: { "IAM:permissionsboundary": b } }),
      req: req({ [k]: b }),
      want: "Allow",
    },
    {
      name: "StringNotEquals with another value",
      policy: when({ StringNotEquals: { [k]: b } }),
      req: req({ [k]: "x" }),
      want: "Allow",
    },
    {
      name: "StringNotEquals with the value",
      policy: when({ StringNotEquals: { [k]: b } }),
      req: req({ [k]: b }),
      want: "ImplicitDeny",
    },
    {
      name: "StringNotEquals with the key absent holds",
      policy: when({ StringNotEquals: { [k]: b } }),
      req: req(),
      want: "Allow",
    },
    {
      name: "StringNotEquals: values NOR-ed",
      policy: when({ StringNotEquals: { [k]: ["x", b] } }),
      req: req({ [k]: b }),
      want: "ImplicitDeny",
    },
    {
      name: "StringLike with wildcards",
      policy: when({ StringLike: { [k]: "arn:aws:iam::*:policy/bound?ry" } }),
      req: req({ [k]: b }),
      want: "Allow",
    },
    {
      name: "StringLike without a match",
      policy: when({ StringLike: { [k]: "arn:aws:iam::*:policy/other" } }),
      req: req({ [k]: b }),
      want: "ImplicitDeny",
    },
    {
      name: "StringLike with the key absent",
      policy: when({ StringLike: { [k]: "*" } }),
      req: req(),
      want: "ImplicitDeny",
    },
    {
      name: "StringNotLike with a match",
      policy: when({ StringNotLike: { [k]: "*boundary" } }),
      req: req({ [k]: b }),
      want: "ImplicitDeny",
    },
    {
      name: "StringNotLike with the key absent holds",
      policy: when({ StringNotLike: { [k]: "*" } }),
      req: req(),
      want: "Allow",
    },
    {
      name: "ArnEquals holds",
      policy: when({ ArnEquals: { "iam:PolicyARN": admin } }),
      req: req({ "iam:PolicyARN": admin }),
      want: "Allow",
    },
    {
      name: "ArnEquals takes wildcards too",
      policy: when({ ArnEquals: { "iam:PolicyARN": "arn:*:iam::aws:policy/*" } }),
      req: req({ "iam:PolicyARN": admin }),
      want: "Allow",
    },
    {
      name: "ArnLike per component",
      policy: when({ ArnLike: { "iam:PolicyARN": "arn:*:iam::aws:policy/Admin*" } }),
      req: req({ "iam:PolicyARN": admin }),
      want: "Allow",
    },
    {
      name: "ArnLike: '*' does not span components",
      policy: when({ ArnLike: { "iam:PolicyARN": "arn:*:iam::aws:policy/x" } }),
      req: req({ "iam:PolicyARN": "arn:aws:foo:iam::aws:policy/x" }),
      want: "ImplicitDeny",
    },
    {
      name: "ArnLike: the resource part may hold colons",
      policy: when({ ArnLike: { "aws:SourceArn": "arn:aws:logs:*:*:log-group:*" } }),
      req: req({ "aws:SourceArn": "arn:aws:logs:eu-west-1:123456789012:log-group:g" }),
      want: "Allow",
    },
    {
      name: "ArnLike with a value that is not an ARN",
      policy: when({ ArnLike: { "iam:PolicyARN": "arn:*:iam::aws:policy/*" } }),
      req: req({ "iam:PolicyARN": "AdministratorAccess" }),
      want: "ImplicitDeny",
    },
    {
      name: "ArnLike with the key absent",
      policy: when({ ArnLike: { "iam:PolicyARN": "*" } }),
      req: req(),
      want: "ImplicitDeny",
    },
    {
      name: "ArnNotEquals with the ARN",
      policy: when({ ArnNotEquals: { "iam:PolicyARN": admin } }),
      req: req({ "iam:PolicyARN": admin }),
      want: "ImplicitDeny",
    },
    {
      name: "ArnNotEquals with the key absent holds",
      policy: when({ ArnNotEquals: { "iam:PolicyARN": admin } }),
      req: req(),
      want: "Allow",
    },
    {
      name: "ArnNotLike with another ARN",
      policy: when({ ArnNotLike: { "iam:PolicyARN": "arn:*:iam::aws:policy/*" } }),
      req: req({ "iam:PolicyARN": b }),
      want: "Allow",
    },
    {
      name: "ArnNotLike with a match",
      policy: when({ ArnNotLike: { "iam:PolicyARN": "arn:*:iam::aws:policy/*" } }),
      req: req({ "iam:PolicyARN": admin }),
      want: "ImplicitDeny",
    },
    {
      name: "Bool true",
      policy: when({ Bool: { "aws:SecureTransport": "true" } }),
      req: req({ "aws:SecureTransport": "true" }),
      want: "Allow",
    },
    {
      name: "Bool as a JSON boolean",
      policy: when({ Bool: { "aws:SecureTransport": true } }),
      req: req({ "aws:SecureTransport": "true" }),
      want: "Allow",
    },
    {
      name: "Bool false against true",
      policy: when({ Bool: { "aws:SecureTransport": "false" } }),
      req: req({ "aws:SecureTransport": "true" }),
      want: "ImplicitDeny",
    },
    {
      name: "Bool with the key absent",
      policy: when({ Bool: { "aws:SecureTransport": "false" } }),
      req: req(),
      want: "ImplicitDeny",
    },
    { name: "Null true: the key is absent", policy: when({ Null: { [k]: "true" } }), req: req(), want: "Allow" },
    {
      name: "Null true: the key is present",
      policy: when({ Null: { [k]: "true" } }),
      req: req({ [k]: b }),
      want: "ImplicitDeny",
    },
    {
      name: "Null false: the key is present",
      policy: when({ Null: { [k]: "false" } }),
      req: req({ [k]: b }),
      want: "Allow",
    },
    {
      name: "Null false: the key is absent",
      policy: when({ Null: { [k]: "false" } }),
      req: req(),
      want: "ImplicitDeny",
    },
    {
      name: "IfExists with the key absent holds",
      policy: when({ StringEqualsIfExists: { [k]: b } }),
      req: req(),
      want: "Allow",
    },
    {
      name: "IfExists with another value",
      policy: when({ StringEqualsIfExists: { [k]: b } }),
      req: req({ [k]: "x" }),
      want: "ImplicitDeny",
    },
    {
      name: "ArnLikeIfExists with the ARN",
      policy: when({ ArnLikeIfExists: { [k]: b } }),
      req: req({ [k]: b }),
      want: "Allow",
    },
    {
      name: "ForAnyValue: one of the list",
      policy: when({ "ForAnyValue:StringLike": { "aws:TagKeys": "kubectl-irsa/c*" } }),
      req: req({ "aws:TagKeys": tags }),
      want: "Allow",
    },
    {
      name: "ForAnyValue: none of the list",
      policy: when({ "ForAnyValue:StringEquals": { "aws:TagKeys": "team" } }),
      req: req({ "aws:TagKeys": tags }),
      want: "ImplicitDeny",
    },
    {
      name: "ForAnyValue with the key absent",
      policy: when({ "ForAnyValue:StringEquals": { "aws:TagKeys": "team" } }),
      req: req(),
      want: "ImplicitDeny",
    },
    {
      name: "ForAllValues: every value allowed",
      policy: when({ "ForAllValues:StringEquals": { "aws:TagKeys": [...tags, "x"] } }),
      req: req({ "aws:TagKeys": tags }),
      want: "Allow",
    },
    {
      name: "ForAllValues: one value not allowed",
      policy: when({ "ForAllValues:StringEquals": { "aws:TagKeys": tags[0]! } }),
      req: req({ "aws:TagKeys": tags }),
      want: "ImplicitDeny",
    },
    {
      name: "ForAllValues with the key absent holds",
      policy: when({ "ForAllValues:StringEquals": { "aws:TagKeys": "x" } }),
      req: req(),
      want: "Allow",
    },
    {
      name: "ForAllValues:StringNotLike: no value matches",
      policy: when({ "ForAllValues:StringNotLike": { "aws:TagKeys": "aws:*" } }),
      req: req({ "aws:TagKeys": tags }),
      want: "Allow",
    },
    {
      name: "ForAllValues:StringNotLike: one value matches",
      policy: when({ "ForAllValues:StringNotLike": { "aws:TagKeys": "*/cluster" } }),
      req: req({ "aws:TagKeys": tags }),
      want: "ImplicitDeny",
    },
    {
      name: "StringEquals on a list: one value matches",
      policy: when({ StringEquals: { "aws:TagKeys": tags[1]! } }),
      req: req({ "aws:TagKeys": tags }),
      want: "Allow",
    },
    {
      name: "StringNotEquals on a list: one value matches",
      policy: when({ StringNotEquals: { "aws:TagKeys": tags[1]! } }),
      req: req({ "aws:TagKeys": tags }),
      want: "ImplicitDeny",
    },
    {
      name: "an empty list is an absent key",
      policy: when({ Null: { "aws:TagKeys": "true" } }),
      req: req({ "aws:TagKeys": [] }),
      want: "Allow",
    },
    {
      name: "keys of one operator are AND-ed (both hold)",
      policy: when({ StringEquals: { [k]: b, "aws:RequestTag/t": "v" } }),
      req: req({ [k]: b, "aws:RequestTag/t": "v" }),
      want: "Allow",
    },
    {
      name: "keys of one operator are AND-ed (one fails)",
      policy: when({ StringEquals: { [k]: b, "aws:RequestTag/t": "v" } }),
      req: req({ [k]: b }),
      want: "ImplicitDeny",
    },
    {
      name: "operators are AND-ed",
      policy: when({ StringEquals: { [k]: b }, Null: { "aws:RequestTag/t": "false" } }),
      req: req({ [k]: b }),
      want: "ImplicitDeny",
    },
  ];
  for (const c of cases) await t.step(c.name, () => equal(evaluateIdentityPolicy(c.policy, c.req).decision, c.want));
});

Deno.test("evaluateIdentityPolicy() throws on what it cannot evaluate, instead of deciding", async (t) => {
  const other = allow({ Action: "s3:GetObject" });
  const cases: { name: string; policy: PolicyDocument; pattern: RegExp }[] = [
    {
      name: "an unsupported operator",
      policy: when({ NumericLessThan: { "aws:MultiFactorAuthAge": "3600" } }),
      pattern: /NumericLessThan is not supported/,
    },
    {
      name: "an unsupported operator in a statement for another action",
      policy: doc(allow(), { ...other, Condition: { DateGreaterThan: { "aws:CurrentTime": "2020-01-01T00:00:00Z" } } }),
      pattern: /DateGreaterThan/,
    },
    {
      name: "an unknown set qualifier",
      policy: when({ "ForSomeValues:StringEquals": { k: "v" } }),
      pattern: /ForSomeValues:StringEquals is not supported/,
    },
    { name: "Null with IfExists", policy: when({ NullIfExists: { k: "true" } }), pattern: /NullIfExists is invalid/ },
    {
      name: "Null with a qualifier",
      policy: when({ "ForAnyValue:Null": { k: "true" } }),
      pattern: /ForAnyValue:Null is invalid/,
    },
    {
      name: "Bool with another word",
      policy: when({ Bool: { "aws:SecureTransport": "yes" } }),
      pattern: /not true or false/,
    },
    {
      name: "a policy variable in a condition",
      policy: when({ StringEquals: { "aws:RequestTag/owner": "${aws:username}" } }),
      pattern: /policy variable/,
    },
    {
      name: "a policy variable in a resource",
      policy: doc(allow({ Resource: "arn:aws:iam::*:user/${aws:username}" })),
      pattern: /policy variable/,
    },
    { name: "a Principal", policy: doc(allow({ Principal: "*" })), pattern: /has Principal/ },
    {
      name: "both Action and NotAction",
      policy: doc(allow({ NotAction: "s3:*" })),
      pattern: /exactly one of Action, NotAction/,
    },
    {
      name: "no Resource",
      policy: doc(allow({ Resource: undefined })),
      pattern: /exactly one of Resource, NotResource/,
    },
    { name: "an Effect in lower case", policy: doc(allow({ Effect: "allow" })), pattern: /Effect "allow"/ },
    { name: "an operator without keys", policy: when({ StringEquals: {} }), pattern: /has no condition keys/ },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      // JSON round trip: undefined fields are absent, as in a parsed document.
      const policy = JSON.parse(JSON.stringify(c.policy)) as PolicyDocument;
      throws(() => evaluateIdentityPolicy(policy, req()), (e) => e instanceof IrsaError && c.pattern.test(e.message));
    });
  }
});
