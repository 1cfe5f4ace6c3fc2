import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import type { ObservedRole } from "./aws/iam_port.ts";
import {
  type BindAction,
  bindActionDiff,
  type Binding,
  bindingRoleArn,
  type BindObserved,
  describeBindAction,
  inlinePolicyName,
  type ObservedServiceAccount,
  planBind,
  planUnbind,
  trustedSubjects,
  type UnbindObserved,
} from "./bind_plan.ts";
import { isIrsaError } from "./errors.ts";
import type { SetupRecord } from "./setup_record.ts";
import { parsePolicyDocument } from "./trust_policy.ts";

const host = "s3.eu-west-1.amazonaws.com/b";
const provider = `arn:aws:iam::123456789012:oidc-provider/${host}`;

const setup: SetupRecord = {
  issuer: `https://${host}`,
  jwksUri: `https://${host}/keys.json`,
  providerArn: provider,
  bucket: "b",
  region: "eu-west-1",
  account: "123456789012",
  partition: "aws",
  keySource: "generate",
  clusterName: "b",
  previousIssuers: [],
};

const roleName = "irsa-b-ns1_app";
const roleArn = `arn:aws:iam::123456789012:role/${roleName}`;
const readOnly = "arn:aws:iam::aws:policy/ReadOnlyAccess";
const s3Full = "arn:aws:iam::aws:policy/AmazonS3FullAccess";
const ec2ReadOnly = "arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess";
const boundary = "arn:aws:iam::123456789012:policy/boundary";

const roleArnKey = "eks.amazonaws.com/role-arn";
const audienceKey = "eks.amazonaws.com/audience";
const stsKey = "eks.amazonaws.com/sts-regional-endpoints";
const tokenKey = "eks.amazonaws.com/token-expiration";
const createdByKey = "irsa.kubectl.io/created-by";

/** The trust policy of REFERENCE §2, byte for byte, for the given namespaces of ServiceAccount "app". */
function trust(namespaces: string[], audience = "sts.amazonaws.com"): string {
  const subs = namespaces.map((ns) => `"system:serviceaccount:${ns}:app"`).join(",");
  return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
    `"Principal":{"Federated":"${provider}"},` +
    `"Action":"sts:AssumeRoleWithWebIdentity",` +
    `"Condition":{"StringEquals":{"${host}:sub":[${subs}],"${host}:aud":"${audience}"}}}]}`;
}

/** The same trust policy with keys reordered and a one-element sub list collapsed, as IAM may return it. */
function trustReordered(namespaces: string[], audience = "sts.amazonaws.com"): string {
  const subs = namespaces.map((ns) => `system:serviceaccount:${ns}:app`).reverse();
  return JSON.stringify({
    Statement: [{
      Condition: { StringEquals: { [`${host}:aud`]: audience, [`${host}:sub`]: subs.length === 1 ? subs[0] : subs } },
      Action: "sts:AssumeRoleWithWebIdentity",
      Principal: { Federated: provider },
      Effect: "Allow",
    }],
    Version: "2012-10-17",
  });
}

function ownership(saTag = "ns1/app", cluster = host): Record<string, string> {
  return {
    "kubectl-irsa/managed-by": "kubectl-irsa",
    "kubectl-irsa/cluster": cluster,
    "kubectl-irsa/service-account": saTag,
  };
}

function binding(over: Partial<Binding> = {}): Binding {
  return {
    serviceAccount: "app",
    namespaces: ["ns1"],
    roleName,
    rolePath: "/",
    policyArns: [readOnly],
    tags: {},
    adopt: false,
    ...over,
  };
}

/** An owned role that already matches `binding()`, returned URL-encoded as IAM does. */
function role(over: Partial<ObservedRole> = {}): ObservedRole {
  return {
    arn: roleArn,
    name: roleName,
    path: "/",
    trustPolicy: encodeURIComponent(trust(["ns1"])),
    tags: ownership(),
    maxSessionDuration: 3600,
    permissionsBoundaryArn: undefined,
    attachedPolicyArns: [readOnly],
    inlinePolicies: {},
    ...over,
  };
}

const absent: ObservedServiceAccount = { exists: false, annotations: {}, ownedAnnotations: [] };

function sa(annotations: Record<string, string>, ownedAnnotations: string[]): ObservedServiceAccount {
  return { exists: true, annotations, ownedAnnotations };
}

/** A ServiceAccount already annotated by us with the binding's role. */
const annotated = sa({ [roleArnKey]: roleArn }, [roleArnKey]);

const inlineDoc = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::data/*" }],
});
const inlineDocOther = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Action: "s3:PutObject", Resource: "arn:aws:s3:::data/*" }],
});
const foreignInline = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Action: "sqs:*", Resource: "*" }],
});

function apply(
  namespace: string,
  annotations: Record<string, string>,
  create: boolean,
  before: Record<string, string> = {},
): BindAction {
  return { kind: "ApplyServiceAccount", namespace, name: "app", annotations, create, before };
}

interface BindCase {
  name: string;
  binding?: Partial<Binding>;
  observed: BindObserved;
  want?: BindAction[];
  check?: (actions: BindAction[]) => void;
  /** Expected IrsaError conflict reason instead of a plan. */
  conflict?: string;
}

const bindCases: BindCase[] = [
  {
    name: "new binding, one namespace, one policy: create role, attach, create the ServiceAccount",
    observed: { role: undefined, serviceAccounts: {} },
    want: [
      {
        kind: "CreateRole",
        roleName,
        path: "/",
        // Verbatim shape of REFERENCE §2 with one namespace.
        trustPolicy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
          `"Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/s3.eu-west-1.amazonaws.com/b"},` +
          `"Action":"sts:AssumeRoleWithWebIdentity",` +
          `"Condition":{"StringEquals":{` +
          `"s3.eu-west-1.amazonaws.com/b:sub":["system:serviceaccount:ns1:app"],` +
          `"s3.eu-west-1.amazonaws.com/b:aud":"sts.amazonaws.com"}}}]}`,
        tags: {
          "kubectl-irsa/managed-by": "kubectl-irsa",
          "kubectl-irsa/cluster": "s3.eu-west-1.amazonaws.com/b",
          "kubectl-irsa/service-account": "ns1/app",
        },
      },
      { kind: "AttachPolicy", roleName, policyArn: readOnly },
      apply("ns1", { [roleArnKey]: roleArn, [createdByKey]: "kubectl-irsa" }, true),
    ],
  },
  {
    name: "new binding, two namespaces: sorted sub list, one SA per namespace",
    binding: { namespaces: ["ns2", "ns1"] },
    observed: { role: undefined, serviceAccounts: { ns1: absent, ns2: annotated } },
    want: [
      {
        kind: "CreateRole",
        roleName,
        path: "/",
        trustPolicy: trust(["ns1", "ns2"]),
        tags: ownership("ns1+ns2/app"),
      },
      { kind: "AttachPolicy", roleName, policyArn: readOnly },
      apply("ns1", { [roleArnKey]: roleArn, [createdByKey]: "kubectl-irsa" }, true),
    ],
  },
  {
    name: "new binding with every option: user tags, session, boundary, inline policy, path",
    binding: {
      rolePath: "/team/",
      tags: { team: "payments" },
      maxSessionDuration: 7200,
      permissionsBoundaryArn: boundary,
      inlinePolicy: inlineDoc,
      policyArns: [readOnly, s3Full],
    },
    observed: { role: undefined, serviceAccounts: { ns1: sa({ other: "x" }, []) } },
    want: [
      {
        kind: "CreateRole",
        roleName,
        path: "/team/",
        trustPolicy: trust(["ns1"]),
        tags: { team: "payments", ...ownership() },
        maxSessionDuration: 7200,
        permissionsBoundaryArn: boundary,
      },
      { kind: "AttachPolicy", roleName, policyArn: readOnly },
      { kind: "AttachPolicy", roleName, policyArn: s3Full },
      { kind: "PutInlinePolicy", roleName, policyName: inlinePolicyName, document: inlineDoc, before: undefined },
      apply("ns1", { [roleArnKey]: `arn:aws:iam::123456789012:role/team/${roleName}` }, false),
    ],
  },
  {
    name: "existing SA without annotations: annotate it, no created-by",
    observed: { role: role(), serviceAccounts: { ns1: sa({}, []) } },
    want: [apply("ns1", { [roleArnKey]: roleArn }, false)],
  },
  {
    name: "idempotent: matching role (plain JSON) and annotated SA",
    observed: { role: role({ trustPolicy: trust(["ns1"]) }), serviceAccounts: { ns1: annotated } },
    want: [],
  },
  {
    name: "idempotent: trust policy URL-encoded as IAM returns it",
    observed: { role: role({ trustPolicy: encodeURIComponent(trust(["ns1"])) }), serviceAccounts: { ns1: annotated } },
    want: [],
  },
  {
    name: "idempotent: trust policy with another key order and a collapsed one-element sub",
    observed: {
      role: role({ trustPolicy: encodeURIComponent(trustReordered(["ns1"])) }),
      serviceAccounts: { ns1: annotated },
    },
    want: [],
  },
  {
    name: "idempotent: two namespaces in reverse order, SA we created keeps created-by",
    binding: { namespaces: ["ns1", "ns2"] },
    observed: {
      role: role({ trustPolicy: encodeURIComponent(trustReordered(["ns1", "ns2"])), tags: ownership("ns1+ns2/app") }),
      serviceAccounts: {
        ns1: annotated,
        ns2: sa({ [roleArnKey]: roleArn, [createdByKey]: "kubectl-irsa" }, [roleArnKey, createdByKey]),
      },
    },
    want: [],
  },
  {
    name: "idempotent: everything requested already in place",
    binding: {
      tags: { team: "payments" },
      maxSessionDuration: 7200,
      permissionsBoundaryArn: boundary,
      inlinePolicy: inlineDoc,
      audience: "custom",
      stsRegionalEndpoints: true,
      tokenExpiration: 3600,
    },
    observed: {
      role: role({
        trustPolicy: encodeURIComponent(trustReordered(["ns1"], "custom")),
        tags: { ...ownership(), team: "payments" },
        maxSessionDuration: 7200,
        permissionsBoundaryArn: boundary,
        inlinePolicies: { [inlinePolicyName]: encodeURIComponent(JSON.stringify(JSON.parse(inlineDoc), null, 2)) },
      }),
      serviceAccounts: {
        ns1: sa(
          { [roleArnKey]: roleArn, [audienceKey]: "custom", [stsKey]: "true", [tokenKey]: "3600", foreign: "x" },
          [roleArnKey, audienceKey, stsKey, tokenKey],
        ),
      },
    },
    want: [],
  },
  {
    name: "namespace added: update trust policy and service-account tag, annotate the new namespace only",
    binding: { namespaces: ["ns1", "ns2"] },
    observed: { role: role(), serviceAccounts: { ns1: annotated, ns2: absent } },
    want: [
      {
        kind: "UpdateTrustPolicy",
        roleName,
        trustPolicy: trust(["ns1", "ns2"]),
        before: encodeURIComponent(trust(["ns1"])),
      },
      { kind: "TagRole", roleName, tags: { "kubectl-irsa/service-account": "ns1+ns2/app" } },
      apply("ns2", { [roleArnKey]: roleArn, [createdByKey]: "kubectl-irsa" }, true),
    ],
  },
  {
    name: "policy set changes: attach the new ones first, then detach the removed ones",
    binding: { policyArns: [readOnly, ec2ReadOnly] },
    observed: { role: role({ attachedPolicyArns: [s3Full, readOnly] }), serviceAccounts: { ns1: annotated } },
    want: [
      { kind: "AttachPolicy", roleName, policyArn: ec2ReadOnly },
      { kind: "DetachPolicy", roleName, policyArn: s3Full },
    ],
  },
  {
    name: "all policies removed: detach each",
    binding: { policyArns: [] },
    observed: { role: role({ attachedPolicyArns: [readOnly, s3Full] }), serviceAccounts: { ns1: annotated } },
    want: [
      { kind: "DetachPolicy", roleName, policyArn: readOnly },
      { kind: "DetachPolicy", roleName, policyArn: s3Full },
    ],
  },
  {
    name: "inline policy added; another inline policy on the role is untouched",
    binding: { inlinePolicy: inlineDoc },
    observed: { role: role({ inlinePolicies: { theirs: foreignInline } }), serviceAccounts: { ns1: annotated } },
    want: [{ kind: "PutInlinePolicy", roleName, policyName: inlinePolicyName, document: inlineDoc, before: undefined }],
  },
  {
    name: "inline policy unchanged but URL-encoded and reformatted: no action",
    binding: { inlinePolicy: inlineDoc },
    observed: {
      role: role({ inlinePolicies: { [inlinePolicyName]: encodeURIComponent(JSON.stringify(JSON.parse(inlineDoc))) } }),
      serviceAccounts: { ns1: annotated },
    },
    want: [],
  },
  {
    name: "inline policy changed: put with the old document as before",
    binding: { inlinePolicy: inlineDocOther },
    observed: {
      role: role({ inlinePolicies: { [inlinePolicyName]: encodeURIComponent(inlineDoc), theirs: foreignInline } }),
      serviceAccounts: { ns1: annotated },
    },
    want: [{
      kind: "PutInlinePolicy",
      roleName,
      policyName: inlinePolicyName,
      document: inlineDocOther,
      before: encodeURIComponent(inlineDoc),
    }],
  },
  {
    name: "inline policy removed: only kubectl-irsa-inline is deleted",
    observed: {
      role: role({ inlinePolicies: { [inlinePolicyName]: inlineDoc, theirs: foreignInline } }),
      serviceAccounts: { ns1: annotated },
    },
    want: [{ kind: "DeleteInlinePolicy", roleName, policyName: inlinePolicyName }],
  },
  {
    name: "another inline policy alone is never deleted",
    observed: { role: role({ inlinePolicies: { theirs: foreignInline } }), serviceAccounts: { ns1: annotated } },
    want: [],
  },
  {
    name: "foreign role without tags: conflict",
    observed: { role: role({ tags: {} }), serviceAccounts: {} },
    conflict: "RoleNotOwned",
  },
  {
    name: "role of another cluster: conflict",
    observed: { role: role({ tags: ownership("ns1/app", "s3.us-east-1.amazonaws.com/other") }), serviceAccounts: {} },
    conflict: "RoleNotOwned",
  },
  {
    name: "role with managed-by but no cluster tag: conflict",
    observed: { role: role({ tags: { "kubectl-irsa/managed-by": "kubectl-irsa" } }), serviceAccounts: {} },
    conflict: "RoleNotOwned",
  },
  {
    name: "adopt a foreign role: tag it, then converge as usual",
    binding: { adopt: true },
    observed: {
      role: role({
        tags: { owner: "someone" },
        trustPolicy: encodeURIComponent(JSON.stringify({
          Version: "2012-10-17",
          Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
        })),
        attachedPolicyArns: [],
      }),
      serviceAccounts: { ns1: absent },
    },
    check: (actions) => {
      deepStrictEqual(actions.map((a) => a.kind), [
        "UpdateTrustPolicy",
        "TagRole",
        "AttachPolicy",
        "ApplyServiceAccount",
      ]);
      const [update, tag] = actions;
      ok(update?.kind === "UpdateTrustPolicy");
      equal(update.trustPolicy, trust(["ns1"]));
      deepStrictEqual(tag, { kind: "TagRole", roleName, tags: ownership() });
    },
  },
  {
    name: "adopt a role of another cluster: retag the cluster only",
    binding: { adopt: true },
    observed: {
      role: role({ tags: ownership("ns1/app", "s3.us-east-1.amazonaws.com/other") }),
      serviceAccounts: { ns1: annotated },
    },
    want: [{ kind: "TagRole", roleName, tags: { "kubectl-irsa/cluster": host } }],
  },
  {
    name: "adopt of a role that is already ours changes nothing",
    binding: { adopt: true },
    observed: { role: role(), serviceAccounts: { ns1: annotated } },
    want: [],
  },
  {
    name: "owned role with another path: conflict",
    observed: { role: role({ path: "/team/" }), serviceAccounts: {} },
    conflict: "RolePathDiffers",
  },
  {
    name: "adopted role with another path: conflict",
    binding: { adopt: true, rolePath: "/team/" },
    observed: { role: role({ tags: {} }), serviceAccounts: {} },
    conflict: "RolePathDiffers",
  },
  {
    name: "maxSessionDuration not requested: the role's value is left alone",
    observed: { role: role({ maxSessionDuration: 7200 }), serviceAccounts: { ns1: annotated } },
    want: [],
  },
  {
    name: "maxSessionDuration requested and different: update",
    binding: { maxSessionDuration: 7200 },
    observed: { role: role(), serviceAccounts: { ns1: annotated } },
    want: [{ kind: "UpdateMaxSessionDuration", roleName, seconds: 7200, before: 3600 }],
  },
  {
    name: "maxSessionDuration requested and equal: nothing",
    binding: { maxSessionDuration: 3600 },
    observed: { role: role(), serviceAccounts: { ns1: annotated } },
    want: [],
  },
  {
    name: "permissions boundary not requested: the role's boundary is left alone",
    observed: { role: role({ permissionsBoundaryArn: boundary }), serviceAccounts: { ns1: annotated } },
    want: [],
  },
  {
    name: "permissions boundary requested and different: put it",
    binding: { permissionsBoundaryArn: boundary },
    observed: {
      role: role({ permissionsBoundaryArn: "arn:aws:iam::123456789012:policy/old" }),
      serviceAccounts: { ns1: annotated },
    },
    want: [{
      kind: "PutPermissionsBoundary",
      roleName,
      arn: boundary,
      before: "arn:aws:iam::123456789012:policy/old",
    }],
  },
  {
    name: "permissions boundary requested on a role without one",
    binding: { permissionsBoundaryArn: boundary },
    observed: { role: role(), serviceAccounts: { ns1: annotated } },
    want: [{ kind: "PutPermissionsBoundary", roleName, arn: boundary, before: undefined }],
  },
  {
    name: "user tag changed: tag only that key; extra role tags are left alone",
    binding: { tags: { team: "payments", env: "prod" } },
    observed: {
      role: role({ tags: { ...ownership(), team: "payments", env: "dev", extra: "kept" } }),
      serviceAccounts: { ns1: annotated },
    },
    want: [{ kind: "TagRole", roleName, tags: { env: "prod" } }],
  },
  {
    name: "SA with foreign annotations: the apply lists only ours",
    observed: {
      role: role(),
      serviceAccounts: { ns1: sa({ "example.com/owner": "them", [audienceKey]: "theirs" }, []) },
    },
    check: (actions) => {
      deepStrictEqual(actions, [apply("ns1", { [roleArnKey]: roleArn }, false)]);
      const a = actions[0];
      ok(a?.kind === "ApplyServiceAccount");
      ok(!("example.com/owner" in a.annotations));
      ok(!(audienceKey in a.annotations));
    },
  },
  {
    name: "SA whose role-arn was set by another manager: take it over, before shows theirs",
    observed: { role: role(), serviceAccounts: { ns1: sa({ [roleArnKey]: "arn:aws:iam::123456789012:role/x" }, []) } },
    want: [apply("ns1", { [roleArnKey]: roleArn }, false, { [roleArnKey]: "arn:aws:iam::123456789012:role/x" })],
  },
  {
    name: "SA owning an annotation no longer wanted (token-expiration dropped): apply without it",
    observed: {
      role: role(),
      serviceAccounts: { ns1: sa({ [roleArnKey]: roleArn, [tokenKey]: "3600" }, [roleArnKey, tokenKey]) },
    },
    want: [apply("ns1", { [roleArnKey]: roleArn }, false, { [roleArnKey]: roleArn, [tokenKey]: "3600" })],
  },
  {
    name: "SA with a created-by annotation that another manager owns: not claimed",
    observed: {
      role: role(),
      serviceAccounts: { ns1: sa({ [roleArnKey]: roleArn, [createdByKey]: "kubectl-irsa" }, [roleArnKey]) },
    },
    want: [],
  },
  {
    name: "audience, sts-regional-endpoints and token-expiration appear as strings",
    binding: { audience: "custom-aud", stsRegionalEndpoints: true, tokenExpiration: 3600 },
    observed: { role: undefined, serviceAccounts: { ns1: absent } },
    check: (actions) => {
      const create = actions[0];
      ok(create?.kind === "CreateRole");
      equal(create.trustPolicy, trust(["ns1"], "custom-aud"));
      deepStrictEqual(
        actions.at(-1),
        apply("ns1", {
          [roleArnKey]: roleArn,
          [audienceKey]: "custom-aud",
          [stsKey]: "true",
          [tokenKey]: "3600",
          [createdByKey]: "kubectl-irsa",
        }, true),
      );
    },
  },
  {
    name: 'sts-regional-endpoints false is the string "false"',
    binding: { stsRegionalEndpoints: false },
    observed: { role: role(), serviceAccounts: { ns1: annotated } },
    want: [apply("ns1", { [roleArnKey]: roleArn, [stsKey]: "false" }, false, { [roleArnKey]: roleArn })],
  },
  {
    name: "audience change updates the trust policy and the annotation",
    binding: { audience: "custom-aud" },
    observed: { role: role(), serviceAccounts: { ns1: annotated } },
    want: [
      {
        kind: "UpdateTrustPolicy",
        roleName,
        trustPolicy: trust(["ns1"], "custom-aud"),
        before: encodeURIComponent(trust(["ns1"])),
      },
      apply("ns1", { [roleArnKey]: roleArn, [audienceKey]: "custom-aud" }, false, { [roleArnKey]: roleArn }),
    ],
  },
  {
    name: "created-by of one namespace's SA does not leak onto another namespace's SA",
    binding: { namespaces: ["ns1", "ns2"] },
    observed: {
      role: role({ trustPolicy: trust(["ns1", "ns2"]), tags: ownership("ns1+ns2/app") }),
      serviceAccounts: {
        ns1: sa({ [roleArnKey]: roleArn, [createdByKey]: "kubectl-irsa" }, [roleArnKey, createdByKey]),
        ns2: sa({ "example.com/owner": "them" }, []),
      },
    },
    want: [apply("ns2", { [roleArnKey]: roleArn }, false)],
  },
];

Deno.test("planBind() plans the actions of a binding", async (t) => {
  for (const c of bindCases) {
    await t.step(c.name, () => {
      const b = binding(c.binding);
      if (c.conflict !== undefined) {
        throws(() => planBind(setup, b, c.observed), (e: unknown) => {
          ok(isIrsaError(e, "conflict"), `expected a conflict, got ${String(e)}`);
          equal(e.reason, c.conflict);
          ok(e.message.includes(roleName), e.message);
          ok(!e.message.includes("\n"));
          return true;
        });
        return;
      }
      const actions = planBind(setup, b, c.observed);
      if (c.want !== undefined) deepStrictEqual(actions, c.want);
      c.check?.(actions);
      // Every SA annotation set carries the binding's role ARN, and the plan is deterministic.
      for (const a of actions) {
        if (a.kind === "ApplyServiceAccount") equal(a.annotations[roleArnKey], bindingRoleArn(setup, b));
      }
      deepStrictEqual(planBind(setup, b, c.observed), actions);
    });
  }
});

Deno.test("planBind() then observing the result plans nothing", () => {
  const b = binding({ namespaces: ["ns1", "ns2"], tokenExpiration: 900, inlinePolicy: inlineDoc });
  const actions = planBind(setup, b, { role: undefined, serviceAccounts: {} });
  const create = actions.find((a) => a.kind === "CreateRole");
  ok(create?.kind === "CreateRole");
  const serviceAccounts: Record<string, ObservedServiceAccount> = {};
  for (const a of actions) {
    if (a.kind === "ApplyServiceAccount") {
      serviceAccounts[a.namespace] = sa({ ...a.annotations }, Object.keys(a.annotations));
    }
  }
  const observed: BindObserved = {
    role: role({
      trustPolicy: encodeURIComponent(create.trustPolicy),
      tags: create.tags,
      inlinePolicies: { [inlinePolicyName]: encodeURIComponent(inlineDoc) },
    }),
    serviceAccounts,
  };
  deepStrictEqual(planBind(setup, b, observed), []);
});

const target = { namespace: "ns1", serviceAccount: "app", keepRole: false };

interface UnbindCase {
  name: string;
  target?: Partial<typeof target>;
  observed: UnbindObserved;
  want: BindAction[];
  warnings?: string[];
  check?: (actions: BindAction[]) => void;
}

const unbindCases: UnbindCase[] = [
  {
    name: "owned role with one subject: detach, delete inline policies, delete role, then the SA",
    observed: {
      role: role({
        attachedPolicyArns: [readOnly, s3Full],
        inlinePolicies: { [inlinePolicyName]: inlineDoc, theirs: foreignInline },
      }),
      serviceAccount: annotated,
    },
    want: [
      { kind: "DetachPolicy", roleName, policyArn: readOnly },
      { kind: "DetachPolicy", roleName, policyArn: s3Full },
      { kind: "DeleteInlinePolicy", roleName, policyName: inlinePolicyName },
      { kind: "DeleteInlinePolicy", roleName, policyName: "theirs" },
      { kind: "DeleteRole", roleName },
      {
        kind: "ApplyServiceAccount",
        namespace: "ns1",
        name: "app",
        annotations: {},
        create: false,
        before: {
          [roleArnKey]: roleArn,
        },
      },
    ],
  },
  {
    name: "owned role trusted by two namespaces: only drop this namespace from the trust policy",
    target: { namespace: "ns2" },
    observed: {
      role: role({
        trustPolicy: encodeURIComponent(trustReordered(["ns1", "ns2"], "custom-aud")),
        tags: ownership("ns1+ns2/app"),
      }),
      serviceAccount: absent,
    },
    want: [{
      kind: "UpdateTrustPolicy",
      roleName,
      trustPolicy: trust(["ns1"], "custom-aud"),
      before: encodeURIComponent(trustReordered(["ns1", "ns2"], "custom-aud")),
    }],
    check: (actions) => {
      const a = actions[0];
      ok(a?.kind === "UpdateTrustPolicy");
      deepStrictEqual(trustedSubjects(a.trustPolicy), ["system:serviceaccount:ns1:app"]);
      const doc = parsePolicyDocument(a.trustPolicy);
      const st = Array.isArray(doc.Statement) ? doc.Statement[0] : doc.Statement;
      equal(st?.Condition?.StringEquals?.[`${host}:aud`], "custom-aud");
    },
  },
  {
    name: "owned role trusted by two other namespaces: the trust policy is left as is",
    target: { namespace: "ns3" },
    observed: { role: role({ trustPolicy: encodeURIComponent(trust(["ns1", "ns2"])) }), serviceAccount: absent },
    want: [],
  },
  {
    name: "foreign role: no role action and a warning",
    observed: { role: role({ tags: {} }), serviceAccount: annotated },
    want: [{
      kind: "ApplyServiceAccount",
      namespace: "ns1",
      name: "app",
      annotations: {},
      create: false,
      before: {
        [roleArnKey]: roleArn,
      },
    }],
    warnings: [`IAM role "${roleName}" was not created by kubectl-irsa for this cluster; it is left unchanged`],
  },
  {
    name: "role of another cluster: no role action and a warning",
    observed: {
      role: role({ tags: ownership("ns1/app", "s3.us-east-1.amazonaws.com/other") }),
      serviceAccount: absent,
    },
    want: [],
    warnings: [`IAM role "${roleName}" was not created by kubectl-irsa for this cluster; it is left unchanged`],
  },
  {
    name: "keepRole: no role action",
    target: { keepRole: true },
    observed: { role: role(), serviceAccount: annotated },
    want: [{
      kind: "ApplyServiceAccount",
      namespace: "ns1",
      name: "app",
      annotations: {},
      create: false,
      before: {
        [roleArnKey]: roleArn,
      },
    }],
  },
  {
    name: "SA created by us: delete it",
    observed: {
      role: undefined,
      serviceAccount: sa({ [roleArnKey]: roleArn, [createdByKey]: "kubectl-irsa" }, [roleArnKey, createdByKey]),
    },
    want: [{ kind: "DeleteServiceAccount", namespace: "ns1", name: "app" }],
  },
  {
    name: "SA not created by us with owned annotations: apply empty annotations, before lists only ours",
    observed: {
      role: undefined,
      serviceAccount: sa({ [roleArnKey]: roleArn, [tokenKey]: "900", "example.com/x": "y" }, [roleArnKey, tokenKey]),
    },
    want: [{
      kind: "ApplyServiceAccount",
      namespace: "ns1",
      name: "app",
      annotations: {},
      create: false,
      before: { [roleArnKey]: roleArn, [tokenKey]: "900" },
    }],
  },
  {
    name: "SA with annotations we do not own: left alone",
    observed: { role: undefined, serviceAccount: sa({ [roleArnKey]: roleArn }, []) },
    want: [],
  },
  {
    name: "SA absent: role deleted, no SA action",
    observed: { role: role(), serviceAccount: absent },
    want: [
      { kind: "DetachPolicy", roleName, policyArn: readOnly },
      { kind: "DeleteRole", roleName },
    ],
  },
  {
    name: "nothing exists: nothing to do",
    observed: { role: undefined, serviceAccount: absent },
    want: [],
  },
];

Deno.test("planUnbind() plans removing one namespace's binding", async (t) => {
  for (const c of unbindCases) {
    await t.step(c.name, () => {
      const { actions, warnings } = planUnbind(setup, { ...target, ...c.target }, c.observed);
      deepStrictEqual(actions, c.want);
      deepStrictEqual(warnings, c.warnings ?? []);
      c.check?.(actions);
    });
  }
});

Deno.test("trustedSubjects() reads sub values", async (t) => {
  const cases = [
    { name: "plain JSON", input: trust(["ns1", "ns2"]), want: ["ns1", "ns2"] },
    { name: "URL-encoded", input: encodeURIComponent(trust(["ns1", "ns2"])), want: ["ns1", "ns2"] },
    {
      name: "collapsed one-element sub, URL-encoded",
      input: encodeURIComponent(trustReordered(["ns1"])),
      want: ["ns1"],
    },
    {
      name: "no StringEquals sub",
      input: JSON.stringify({ Version: "2012-10-17", Statement: { Effect: "Allow", Action: "sts:AssumeRole" } }),
      want: [],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      deepStrictEqual(trustedSubjects(c.input), c.want.map((ns) => `system:serviceaccount:${ns}:app`));
    });
  }
});

const oneOfEach: Record<BindAction["kind"], BindAction> = {
  CreateRole: { kind: "CreateRole", roleName, path: "/", trustPolicy: trust(["ns1"]), tags: ownership() },
  UpdateTrustPolicy: {
    kind: "UpdateTrustPolicy",
    roleName,
    trustPolicy: trust(["ns1", "ns2"]),
    before: encodeURIComponent(trust(["ns1", "ns3"])),
  },
  UpdateMaxSessionDuration: { kind: "UpdateMaxSessionDuration", roleName, seconds: 7200, before: 3600 },
  PutPermissionsBoundary: { kind: "PutPermissionsBoundary", roleName, arn: boundary, before: undefined },
  TagRole: { kind: "TagRole", roleName, tags: { team: "x" } },
  AttachPolicy: { kind: "AttachPolicy", roleName, policyArn: readOnly },
  DetachPolicy: { kind: "DetachPolicy", roleName, policyArn: readOnly },
  PutInlinePolicy: {
    kind: "PutInlinePolicy",
    roleName,
    policyName: inlinePolicyName,
    document: inlineDoc,
    before: undefined,
  },
  DeleteInlinePolicy: { kind: "DeleteInlinePolicy", roleName, policyName: inlinePolicyName },
  DeleteRole: { kind: "DeleteRole", roleName },
  ApplyServiceAccount: apply("ns1", {}, false, { [roleArnKey]: roleArn }),
  DeleteServiceAccount: { kind: "DeleteServiceAccount", namespace: "ns1", name: "app" },
};

Deno.test("describeBindAction() describes every action kind in one non-empty line", async (t) => {
  const extra: BindAction[] = [
    apply("ns1", { [roleArnKey]: roleArn }, true),
    apply("ns1", { [roleArnKey]: roleArn }, false),
    { ...oneOfEach.PutInlinePolicy, before: inlineDoc } as BindAction,
  ];
  for (const [i, a] of [...Object.values(oneOfEach), ...extra].entries()) {
    await t.step(`${i} ${a.kind}`, () => {
      const text = describeBindAction(a);
      ok(text.trim().length > 0, `empty description for ${a.kind}`);
      ok(!text.includes("\n"));
      ok(!text.includes("undefined"), text);
    });
  }
});

Deno.test("bindActionDiff() explains changes", async (t) => {
  const cases: { name: string; action: BindAction; want: string[] }[] = [
    {
      name: "UpdateTrustPolicy names the added and removed subjects",
      action: oneOfEach.UpdateTrustPolicy,
      want: ["+ subject system:serviceaccount:ns2:app", "- subject system:serviceaccount:ns3:app"],
    },
    {
      name: "CreateRole lists trusted subjects and tags",
      action: oneOfEach.CreateRole,
      want: [
        "+ trusts system:serviceaccount:ns1:app",
        "+ tag kubectl-irsa/managed-by=kubectl-irsa",
        `+ tag kubectl-irsa/cluster=${host}`,
        "+ tag kubectl-irsa/service-account=ns1/app",
      ],
    },
    {
      name: "ApplyServiceAccount shows removed and added annotations",
      action: apply("ns1", { [roleArnKey]: roleArn }, false, { [roleArnKey]: "old", [tokenKey]: "900" }),
      want: [`- ${roleArnKey}: old`, `- ${tokenKey}: 900`, `+ ${roleArnKey}: ${roleArn}`],
    },
    { name: "DeleteRole has no diff", action: oneOfEach.DeleteRole, want: [] },
  ];
  for (const c of cases) await t.step(c.name, () => deepStrictEqual(bindActionDiff(c.action), c.want));
});
