import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import type { ObservedRole } from "./aws/iam_port.ts";
import {
  type BindAction,
  bindActionDiff,
  type Binding,
  bindingDrift,
  type BindingInventory,
  bindingInventory,
  bindingRoleArn,
  type BindObserved,
  describeBindAction,
  describeDrift,
  inlinePolicyName,
  type InventoryObserved,
  mergeInventories,
  type ObservedServiceAccount,
  planBind,
  planRemoveUndesired,
  planUnbind,
  recordedBinding,
  serializeBindingRecord,
  trustedSubjects,
  type UnbindObserved,
  undesiredInventory,
} from "./bind_plan.ts";
import { isIrsaError } from "./errors.ts";
import { parsePolicyDocument } from "./trust_policy.ts";
import { testIssuerHost, testSetup } from "./testdata/setup_fixture.ts";

const host = testIssuerHost;
const provider = `arn:aws:iam::123456789012:oidc-provider/${host}`;

const setup = testSetup;

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
const bindingKey = "irsa.kubectl.io/binding";

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

/** The binding record bind writes for `binding(over)`. */
function record(over: Partial<Binding> = {}): string {
  return serializeBindingRecord(binding(over));
}

/** The role ARN annotation and binding record bind writes for `binding(over)`, plus `extra`. */
function ours(over: Partial<Binding> = {}, extra: Record<string, string> = {}): Record<string, string> {
  return { [roleArnKey]: bindingRoleArn(setup, binding(over)), ...extra, [bindingKey]: record(over) };
}

/** A ServiceAccount that bind already annotated for `binding(over)`. */
function annotatedAs(over: Partial<Binding> = {}): ObservedServiceAccount {
  const annotations = ours(over);
  return sa(annotations, Object.keys(annotations));
}

/** A ServiceAccount already annotated by us with the default binding. */
const annotated = annotatedAs();

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
      apply("ns1", ours({}, { [createdByKey]: "kubectl-irsa" }), true),
    ],
  },
  {
    name: "new binding, two namespaces: sorted sub list, one SA per namespace",
    binding: { namespaces: ["ns2", "ns1"] },
    observed: { role: undefined, serviceAccounts: { ns1: absent, ns2: annotatedAs({ namespaces: ["ns1", "ns2"] }) } },
    want: [
      {
        kind: "CreateRole",
        roleName,
        path: "/",
        trustPolicy: trust(["ns1", "ns2"]),
        tags: ownership("ns1+ns2/app"),
      },
      { kind: "AttachPolicy", roleName, policyArn: readOnly },
      apply("ns1", ours({ namespaces: ["ns2", "ns1"] }, { [createdByKey]: "kubectl-irsa" }), true),
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
      apply(
        "ns1",
        ours({
          rolePath: "/team/",
          tags: { team: "payments" },
          maxSessionDuration: 7200,
          permissionsBoundaryArn: boundary,
          inlinePolicy: inlineDoc,
          policyArns: [readOnly, s3Full],
        }),
        false,
      ),
    ],
  },
  {
    name: "existing SA without annotations: annotate it, no created-by",
    observed: { role: role(), serviceAccounts: { ns1: sa({}, []) } },
    want: [apply("ns1", ours(), false)],
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
        ns1: annotatedAs({ namespaces: ["ns1", "ns2"] }),
        ns2: sa(ours({ namespaces: ["ns2", "ns1"] }, { [createdByKey]: "kubectl-irsa" }), [
          roleArnKey,
          bindingKey,
          createdByKey,
        ]),
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
          {
            ...ours({
              tags: { team: "payments" },
              maxSessionDuration: 7200,
              permissionsBoundaryArn: boundary,
              inlinePolicy: inlineDoc,
              audience: "custom",
              stsRegionalEndpoints: true,
              tokenExpiration: 3600,
            }),
            [audienceKey]: "custom",
            [stsKey]: "true",
            [tokenKey]: "3600",
            foreign: "x",
          },
          [roleArnKey, audienceKey, stsKey, tokenKey, bindingKey],
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
      // The SA of ns1 records the binding with its new namespace.
      apply("ns1", ours({ namespaces: ["ns1", "ns2"] }), false, ours()),
      apply("ns2", ours({ namespaces: ["ns1", "ns2"] }, { [createdByKey]: "kubectl-irsa" }), true),
    ],
  },
  {
    name: "policy set changes: attach the new ones first, then detach the removed ones",
    binding: { policyArns: [readOnly, ec2ReadOnly] },
    observed: {
      role: role({ attachedPolicyArns: [s3Full, readOnly] }),
      serviceAccounts: { ns1: annotatedAs({ policyArns: [readOnly, ec2ReadOnly] }) },
    },
    want: [
      { kind: "AttachPolicy", roleName, policyArn: ec2ReadOnly },
      { kind: "DetachPolicy", roleName, policyArn: s3Full },
    ],
  },
  {
    name: "all policies removed: detach each",
    binding: { policyArns: [] },
    observed: {
      role: role({ attachedPolicyArns: [readOnly, s3Full] }),
      serviceAccounts: { ns1: annotatedAs({ policyArns: [] }) },
    },
    want: [
      { kind: "DetachPolicy", roleName, policyArn: readOnly },
      { kind: "DetachPolicy", roleName, policyArn: s3Full },
    ],
  },
  {
    name: "inline policy added; another inline policy on the role is untouched",
    binding: { inlinePolicy: inlineDoc },
    observed: {
      role: role({ inlinePolicies: { theirs: foreignInline } }),
      serviceAccounts: { ns1: annotatedAs({ inlinePolicy: inlineDoc }) },
    },
    want: [{ kind: "PutInlinePolicy", roleName, policyName: inlinePolicyName, document: inlineDoc, before: undefined }],
  },
  {
    name: "inline policy unchanged but URL-encoded and reformatted: no action",
    binding: { inlinePolicy: inlineDoc },
    observed: {
      role: role({ inlinePolicies: { [inlinePolicyName]: encodeURIComponent(JSON.stringify(JSON.parse(inlineDoc))) } }),
      serviceAccounts: { ns1: annotatedAs({ inlinePolicy: inlineDoc }) },
    },
    want: [],
  },
  {
    name: "inline policy changed: put with the old document as before",
    binding: { inlinePolicy: inlineDocOther },
    observed: {
      role: role({ inlinePolicies: { [inlinePolicyName]: encodeURIComponent(inlineDoc), theirs: foreignInline } }),
      serviceAccounts: { ns1: annotatedAs({ inlinePolicy: inlineDocOther }) },
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
    observed: { role: role(), serviceAccounts: { ns1: annotatedAs({ maxSessionDuration: 7200 }) } },
    want: [{ kind: "UpdateMaxSessionDuration", roleName, seconds: 7200, before: 3600 }],
  },
  {
    name: "maxSessionDuration requested and equal: nothing",
    binding: { maxSessionDuration: 3600 },
    observed: { role: role(), serviceAccounts: { ns1: annotatedAs({ maxSessionDuration: 3600 }) } },
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
      serviceAccounts: { ns1: annotatedAs({ permissionsBoundaryArn: boundary }) },
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
    observed: { role: role(), serviceAccounts: { ns1: annotatedAs({ permissionsBoundaryArn: boundary }) } },
    want: [{ kind: "PutPermissionsBoundary", roleName, arn: boundary, before: undefined }],
  },
  {
    name: "user tag changed: tag only that key; extra role tags are left alone",
    binding: { tags: { team: "payments", env: "prod" } },
    observed: {
      role: role({ tags: { ...ownership(), team: "payments", env: "dev", extra: "kept" } }),
      serviceAccounts: { ns1: annotatedAs({ tags: { team: "payments", env: "prod" } }) },
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
      deepStrictEqual(actions, [apply("ns1", ours(), false)]);
      const a = actions[0];
      ok(a?.kind === "ApplyServiceAccount");
      ok(!("example.com/owner" in a.annotations));
      ok(!(audienceKey in a.annotations));
    },
  },
  {
    name: "SA whose role-arn another manager set to another role: refused, whether or not the role exists",
    observed: {
      role: undefined,
      serviceAccounts: { ns1: sa({ [roleArnKey]: "arn:aws:iam::123456789012:role/someone-elses-role" }, []) },
    },
    conflict: "AnnotationNotOwned",
  },
  {
    name: "SA of the second namespace with a foreign role-arn: refused before any action for the first",
    binding: { namespaces: ["ns1", "ns2"] },
    observed: {
      role: undefined,
      serviceAccounts: { ns1: absent, ns2: sa({ [roleArnKey]: "arn:aws:iam::123456789012:role/x" }, ["other"]) },
    },
    conflict: "AnnotationNotOwned",
  },
  {
    name: "SA with a foreign audience that the binding sets otherwise: refused",
    binding: { audience: "custom-aud" },
    observed: { role: role(), serviceAccounts: { ns1: sa({ [roleArnKey]: roleArn, [audienceKey]: "theirs" }, []) } },
    conflict: "AnnotationNotOwned",
  },
  {
    name: "SA whose role-arn another manager set, with adopt: take it over, before shows theirs",
    binding: { adopt: true },
    observed: { role: role(), serviceAccounts: { ns1: sa({ [roleArnKey]: "arn:aws:iam::123456789012:role/x" }, []) } },
    want: [apply("ns1", ours(), false, { [roleArnKey]: "arn:aws:iam::123456789012:role/x" })],
  },
  {
    name: "SA whose role-arn another manager set to the binding's own ARN: no conflict, the record is added",
    observed: { role: role(), serviceAccounts: { ns1: sa({ [roleArnKey]: roleArn }, []) } },
    want: [apply("ns1", ours(), false, { [roleArnKey]: roleArn })],
  },
  {
    name: "SA whose binding record another manager edited: ours by name, rewritten without --adopt",
    observed: {
      role: role(),
      serviceAccounts: { ns1: sa({ [roleArnKey]: roleArn, [bindingKey]: "{}" }, [roleArnKey]) },
    },
    want: [apply("ns1", ours(), false, { [roleArnKey]: roleArn, [bindingKey]: "{}" })],
  },
  {
    name: "SA owning an annotation no longer wanted (token-expiration dropped): apply without it",
    observed: {
      role: role(),
      serviceAccounts: {
        ns1: sa(ours({}, { [tokenKey]: "3600" }), [roleArnKey, tokenKey, bindingKey]),
      },
    },
    want: [apply("ns1", ours(), false, ours({}, { [tokenKey]: "3600" }))],
  },
  {
    name: "SA with a created-by annotation that another manager owns: not claimed",
    observed: {
      role: role(),
      serviceAccounts: { ns1: sa(ours({}, { [createdByKey]: "kubectl-irsa" }), [roleArnKey, bindingKey]) },
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
        apply(
          "ns1",
          ours({ audience: "custom-aud", stsRegionalEndpoints: true, tokenExpiration: 3600 }, {
            [audienceKey]: "custom-aud",
            [stsKey]: "true",
            [tokenKey]: "3600",
            [createdByKey]: "kubectl-irsa",
          }),
          true,
        ),
      );
    },
  },
  {
    name: 'sts-regional-endpoints false is the string "false"',
    binding: { stsRegionalEndpoints: false },
    observed: { role: role(), serviceAccounts: { ns1: annotated } },
    want: [apply("ns1", ours({ stsRegionalEndpoints: false }, { [stsKey]: "false" }), false, ours())],
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
      apply("ns1", ours({ audience: "custom-aud" }, { [audienceKey]: "custom-aud" }), false, ours()),
    ],
  },
  {
    name: "created-by of one namespace's SA does not leak onto another namespace's SA",
    binding: { namespaces: ["ns1", "ns2"] },
    observed: {
      role: role({ trustPolicy: trust(["ns1", "ns2"]), tags: ownership("ns1+ns2/app") }),
      serviceAccounts: {
        ns1: sa(ours({ namespaces: ["ns1", "ns2"] }, { [createdByKey]: "kubectl-irsa" }), [
          roleArnKey,
          bindingKey,
          createdByKey,
        ]),
        ns2: sa({ "example.com/owner": "them" }, []),
      },
    },
    want: [apply("ns2", ours({ namespaces: ["ns1", "ns2"] }), false)],
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
          // A role conflict names the role; an annotation conflict the ServiceAccount and the way out.
          if (e.reason === "AnnotationNotOwned") {
            ok(/ServiceAccount ns\d\/app /.test(e.message), e.message);
            equal(e.remedies[0]?.kind, "adopt");
          } else ok(e.message.includes(roleName), e.message);
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
        before: ours(),
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
    }, { kind: "TagRole", roleName, tags: { "kubectl-irsa/service-account": "ns1/app" } }],
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
    observed: {
      role: role({ trustPolicy: encodeURIComponent(trust(["ns1", "ns2"])), tags: ownership("ns1+ns2/app") }),
      serviceAccount: absent,
    },
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
      before: ours(),
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
      before: ours(),
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

Deno.test("planBind() refuses a role annotation kubectl-irsa did not set, in one line naming it and the way out", () => {
  const theirs = "arn:aws:iam::123456789012:role/someone-elses-role";
  throws(
    () =>
      planBind(setup, binding(), {
        role: undefined,
        serviceAccounts: { ns1: sa({ [roleArnKey]: theirs }, []) },
      }),
    (e: unknown) => {
      ok(isIrsaError(e, "conflict"));
      equal(e.reason, "AnnotationNotOwned");
      equal(
        e.message,
        `ServiceAccount ns1/app has eks.amazonaws.com/role-arn: ${theirs}, which kubectl-irsa did not set`,
      );
      deepStrictEqual(e.remedies, [
        { kind: "adopt", to: `replace it with ${roleArn}` },
        { kind: "otherServiceAccount" },
      ]);
      return true;
    },
  );
});

Deno.test("serializeBindingRecord() is stable across flag order and carries every field bind resolved", () => {
  const full: Partial<Binding> = {
    namespaces: ["ns2", "ns1"],
    policyArns: [s3Full, readOnly],
    tags: { z: "1", a: "2" },
    inlinePolicy: JSON.stringify(JSON.parse(inlineDoc), null, 2),
    permissionsBoundaryArn: boundary,
    maxSessionDuration: 7200,
    audience: "custom",
    stsRegionalEndpoints: false,
    tokenExpiration: 900,
  };
  const text = record(full);
  equal(
    record({ ...full, namespaces: ["ns1", "ns2"], policyArns: [readOnly, s3Full], tags: { a: "2", z: "1" } }),
    text,
  );
  deepStrictEqual(JSON.parse(text), {
    roleName,
    rolePath: "/",
    namespaces: ["ns1", "ns2"],
    policyArns: [s3Full, readOnly].sort(),
    tags: { a: "2", z: "1" },
    inlinePolicy: inlineDoc,
    permissionsBoundaryArn: boundary,
    maxSessionDuration: 7200,
    audience: "custom",
    stsRegionalEndpoints: false,
    tokenExpiration: 900,
  });
  const back = recordedBinding("app", "ns2", sa({ [bindingKey]: text }, [bindingKey]));
  deepStrictEqual(back, {
    ...binding(full),
    namespaces: ["ns1", "ns2"],
    policyArns: [s3Full, readOnly].sort(),
    inlinePolicy: inlineDoc,
  });
});

Deno.test("recordedBinding() trusts only a record kubectl-irsa owns and refuses a damaged one", async (t) => {
  await t.step(
    "no record",
    () => equal(recordedBinding("app", "ns1", sa({ [roleArnKey]: roleArn }, [roleArnKey])), undefined),
  );
  await t.step("a record another manager wrote", () => {
    equal(recordedBinding("app", "ns1", sa({ [bindingKey]: record() }, [])), undefined);
  });
  const damaged: { name: string; text: string; named: string }[] = [
    { name: "not JSON", text: "{nope", named: "not JSON" },
    { name: "an array", text: "[]", named: "not a JSON object" },
    { name: "no role name", text: JSON.stringify({ ...JSON.parse(record()), roleName: undefined }), named: "roleName" },
    { name: "another namespace's record", text: record({ namespaces: ["ns2"] }), named: "ns1" },
    {
      name: "tags that are not strings",
      text: JSON.stringify({ ...JSON.parse(record()), tags: { a: 1 } }),
      named: "tags",
    },
    {
      name: "a token expiration that is not a number",
      text: JSON.stringify({ ...JSON.parse(record()), tokenExpiration: "900" }),
      named: "tokenExpiration",
    },
  ];
  for (const c of damaged) {
    await t.step(c.name, () => {
      throws(() => recordedBinding("app", "ns1", sa({ [bindingKey]: c.text }, [bindingKey])), (e: unknown) => {
        ok(isIrsaError(e, "invalid"));
        equal(e.reason, "InvalidBindingRecord");
        ok(e.message.includes(c.named) && e.message.includes("ns1/app") && !e.message.includes("\n"), e.message);
        return true;
      });
    });
  }
});

Deno.test("bindingDrift() is exactly what bind would change, each part named", async (t) => {
  const cases: {
    name: string;
    binding?: Partial<Binding>;
    observed: BindObserved;
    drift: string[];
    conflict?: string;
  }[] = [
    { name: "nothing changed", observed: { role: role(), serviceAccounts: { ns1: annotated } }, drift: [] },
    {
      name: "a managed policy detached behind our back",
      observed: { role: role({ attachedPolicyArns: [] }), serviceAccounts: { ns1: annotated } },
      drift: [`${readOnly} is not attached`],
    },
    {
      name: "a policy attached by hand",
      observed: { role: role({ attachedPolicyArns: [readOnly, s3Full] }), serviceAccounts: { ns1: annotated } },
      drift: [`${s3Full} is attached but not bound`],
    },
    {
      name: "an edited trust policy",
      observed: {
        role: role({ trustPolicy: encodeURIComponent(trust(["elsewhere"])) }),
        serviceAccounts: { ns1: annotated },
      },
      drift: [
        `the trust policy of "${roleName}" differs: + subject system:serviceaccount:ns1:app, ` +
        "- subject system:serviceaccount:elsewhere:app",
      ],
    },
    {
      name: "a missing ownership tag",
      observed: {
        role: role({ tags: { ...ownership(), "kubectl-irsa/service-account": "ns9/app" } }),
        serviceAccounts: { ns1: annotated },
      },
      drift: ["tag kubectl-irsa/service-account=ns1/app missing or changed"],
    },
    {
      name: "a missing user tag",
      binding: { tags: { team: "payments" } },
      observed: { role: role(), serviceAccounts: { ns1: annotatedAs({ tags: { team: "payments" } }) } },
      drift: ["tag team=payments missing or changed"],
    },
    {
      name: "a changed permissions boundary",
      binding: { permissionsBoundaryArn: boundary },
      observed: {
        role: role({ permissionsBoundaryArn: "arn:aws:iam::123456789012:policy/other" }),
        serviceAccounts: { ns1: annotatedAs({ permissionsBoundaryArn: boundary }) },
      },
      drift: [`permissions boundary is arn:aws:iam::123456789012:policy/other, not ${boundary}`],
    },
    {
      name: "an edited inline policy",
      binding: { inlinePolicy: inlineDoc },
      observed: {
        role: role({ inlinePolicies: { [inlinePolicyName]: encodeURIComponent(inlineDocOther) } }),
        serviceAccounts: { ns1: annotatedAs({ inlinePolicy: inlineDoc }) },
      },
      drift: [`inline policy "${inlinePolicyName}" differs`],
    },
    {
      name: "a changed session duration",
      binding: { maxSessionDuration: 7200 },
      observed: { role: role(), serviceAccounts: { ns1: annotatedAs({ maxSessionDuration: 7200 }) } },
      drift: ["max session duration is 3600s, not 7200s"],
    },
    {
      name: "an annotation kubectl-irsa owns, edited",
      binding: { tokenExpiration: 900 },
      observed: {
        role: role(),
        serviceAccounts: {
          ns1: sa(ours({ tokenExpiration: 900 }, { [tokenKey]: "3600" }), [roleArnKey, tokenKey, bindingKey]),
        },
      },
      drift: [`annotation ${tokenKey} of ServiceAccount ns1/app differs`],
    },
    {
      name: "the ServiceAccount of another namespace deleted",
      binding: { namespaces: ["ns1", "ns2"] },
      observed: {
        role: role({ trustPolicy: trust(["ns1", "ns2"]), tags: ownership("ns1+ns2/app") }),
        serviceAccounts: { ns1: annotatedAs({ namespaces: ["ns1", "ns2"] }), ns2: absent },
      },
      drift: ["ServiceAccount ns2/app does not exist"],
    },
    {
      name: "the role deleted",
      observed: { role: undefined, serviceAccounts: { ns1: annotated } },
      drift: [`IAM role "${roleName}" does not exist`, `${readOnly} is not attached`],
    },
    {
      name: "the ownership tags removed: bind would refuse, so a conflict",
      observed: { role: role({ tags: {} }), serviceAccounts: { ns1: annotated } },
      drift: [],
      conflict: "RoleNotOwned",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const b = binding(c.binding);
      const got = bindingDrift(setup, b, c.observed);
      deepStrictEqual(got.drift, c.drift);
      equal(got.conflict?.reason, c.conflict);
      if (!c.conflict) deepStrictEqual(got.actions, planBind(setup, b, c.observed), "the drift is bind's own plan");
    });
  }
});

Deno.test("describeDrift() describes every action kind in one non-empty line", async (t) => {
  for (const a of Object.values(oneOfEach)) {
    await t.step(a.kind, () => {
      const text = describeDrift(a);
      ok(text.trim().length > 0 && !text.includes("\n") && !text.includes("undefined"), text);
    });
  }
});

Deno.test("planUnbind() drops the namespace from the records of the binding's other ServiceAccounts", () => {
  const both = { namespaces: ["ns1", "ns2"] };
  const { actions } = planUnbind(setup, { ...target, namespace: "ns2" }, {
    role: role({ trustPolicy: encodeURIComponent(trust(["ns1", "ns2"])), tags: ownership("ns1+ns2/app") }),
    serviceAccount: sa(ours(both, { [createdByKey]: "kubectl-irsa" }), [roleArnKey, bindingKey, createdByKey]),
    siblings: { ns1: sa(ours(both, { "example.com/x": "y" }), [roleArnKey, bindingKey]) },
  });
  deepStrictEqual(actions, [
    {
      kind: "UpdateTrustPolicy",
      roleName,
      trustPolicy: trust(["ns1"]),
      before: encodeURIComponent(trust(["ns1", "ns2"])),
    },
    { kind: "TagRole", roleName, tags: { "kubectl-irsa/service-account": "ns1/app" } },
    apply("ns1", ours(), false, ours(both)),
    { kind: "DeleteServiceAccount", namespace: "ns2", name: "app" },
  ]);
  // What remains is what bind for ns1 alone plans nothing for.
  deepStrictEqual(
    planBind(setup, binding(), {
      role: role({ trustPolicy: trust(["ns1"]), tags: ownership() }),
      serviceAccounts: { ns1: annotated },
    }),
    [],
  );
});

Deno.test("undesiredInventory() is what the inventory holds beyond the desired binding", async (t) => {
  const inventory = {
    roleNames: ["old-role"],
    serviceAccounts: [{ namespace: "ns1", name: "app" }, { namespace: "ns2", name: "app" }],
  };
  const cases: { name: string; desired: Binding | undefined; want: BindingInventory }[] = [
    { name: "deletion: everything", desired: undefined, want: inventory },
    {
      name: "a namespace dropped and the role renamed",
      desired: binding({ namespaces: ["ns1"], roleName: "new-role" }),
      want: { roleNames: ["old-role"], serviceAccounts: [{ namespace: "ns2", name: "app" }] },
    },
    {
      name: "the ServiceAccount renamed: its old name goes in every namespace",
      desired: binding({ serviceAccount: "web", namespaces: ["ns1", "ns2"], roleName: "old-role" }),
      want: { roleNames: [], serviceAccounts: inventory.serviceAccounts },
    },
    {
      name: "nothing changed: nothing",
      desired: binding({ namespaces: ["ns2", "ns1"], roleName: "old-role" }),
      want: { roleNames: [], serviceAccounts: [] },
    },
  ];
  for (const c of cases) await t.step(c.name, () => deepStrictEqual(undesiredInventory(inventory, c.desired), c.want));
});

Deno.test("mergeInventories() keeps each role and ServiceAccount once", () => {
  deepStrictEqual(
    mergeInventories(
      { roleNames: ["a"], serviceAccounts: [{ namespace: "ns1", name: "app" }] },
      bindingInventory(binding({ roleName: "a", namespaces: ["ns1", "ns2"] })),
    ),
    { roleNames: ["a"], serviceAccounts: [{ namespace: "ns1", name: "app" }, { namespace: "ns2", name: "app" }] },
  );
});

Deno.test("planRemoveUndesired() removes what is no longer desired, and only what is ours", async (t) => {
  const inventory = (roleNames: string[], namespaces: string[]): BindingInventory => ({
    roleNames,
    serviceAccounts: namespaces.map((namespace) => ({ namespace, name: "app" })),
  });
  const createdByUs = (over: Partial<Binding> = {}) => {
    const annotations = ours(over, { [createdByKey]: "kubectl-irsa" });
    return sa(annotations, Object.keys(annotations));
  };
  const ownedRole = role({ attachedPolicyArns: [readOnly], inlinePolicies: { [inlinePolicyName]: inlineDoc } });
  const removal: BindAction[] = [
    { kind: "DetachPolicy", roleName, policyArn: readOnly },
    { kind: "DeleteInlinePolicy", roleName, policyName: inlinePolicyName },
    { kind: "DeleteRole", roleName },
  ];
  const stripped = (ns: string, over: Partial<Binding> = {}): BindAction => ({
    kind: "ApplyServiceAccount",
    namespace: ns,
    name: "app",
    annotations: {},
    create: false,
    before: ours(over),
  });
  const cases: {
    name: string;
    setup?: typeof setup | undefined;
    inventory: BindingInventory;
    desired: Binding | undefined;
    observed: InventoryObserved;
    want: BindAction[];
    warns?: RegExp;
  }[] = [
    {
      name: "deletion: our role (policies first), our annotations, the ServiceAccount we created",
      inventory: inventory([roleName], ["ns1", "ns2"]),
      desired: undefined,
      observed: {
        roles: { [roleName]: ownedRole },
        serviceAccounts: { "ns1/app": annotated, "ns2/app": createdByUs() },
      },
      want: [stripped("ns1"), { kind: "DeleteServiceAccount", namespace: "ns2", name: "app" }, ...removal],
    },
    {
      name: "deletion: a role of another cluster stays, with a warning",
      inventory: inventory([roleName], ["ns1"]),
      desired: undefined,
      observed: { roles: { [roleName]: role({ tags: ownership("ns1/app", "elsewhere") }) }, serviceAccounts: {} },
      want: [],
      warns: /not created by kubectl-irsa for this cluster/,
    },
    {
      name: "deletion: what is already gone plans nothing",
      inventory: inventory([roleName], ["ns1"]),
      desired: undefined,
      observed: { roles: { [roleName]: undefined }, serviceAccounts: { "ns1/app": absent } },
      want: [],
    },
    {
      name: "a namespace dropped: its ServiceAccount only (the trust policy is bind's)",
      inventory: inventory([roleName], ["ns1", "ns2"]),
      desired: binding({ namespaces: ["ns1"] }),
      observed: { roles: {}, serviceAccounts: { "ns2/app": annotatedAs({ namespaces: ["ns1", "ns2"] }) } },
      want: [stripped("ns2", { namespaces: ["ns1", "ns2"] })],
    },
    {
      name: "a namespace dropped whose ServiceAccount another binding took over: left alone",
      inventory: inventory([roleName], ["ns1", "ns2"]),
      desired: binding({ namespaces: ["ns1"] }),
      observed: { roles: {}, serviceAccounts: { "ns2/app": annotatedAs({ namespaces: ["ns2"], roleName: "theirs" }) } },
      want: [],
      warns: /ns2\/app is bound to arn:aws:iam::123456789012:role\/theirs now/,
    },
    {
      name: "a role renamed: the old one goes when ours",
      inventory: inventory([roleName], ["ns1"]),
      desired: binding({ roleName: "new-role" }),
      observed: { roles: { [roleName]: ownedRole }, serviceAccounts: {} },
      want: removal,
    },
    {
      name: "a role renamed: a foreign old one stays",
      inventory: inventory([roleName], ["ns1"]),
      desired: binding({ roleName: "new-role" }),
      observed: { roles: { [roleName]: role({ tags: {} }) }, serviceAccounts: {} },
      want: [],
      warns: /left unchanged/,
    },
    {
      name: "no setup record: a role with our managed-by tag naming exactly the inventory goes",
      setup: undefined,
      inventory: inventory([roleName], ["ns1"]),
      desired: undefined,
      observed: { roles: { [roleName]: ownedRole }, serviceAccounts: {} },
      want: removal,
    },
    {
      name: "no setup record: a role whose tag names other ServiceAccounts stays",
      setup: undefined,
      inventory: inventory([roleName], ["ns1"]),
      desired: undefined,
      observed: { roles: { [roleName]: role({ tags: ownership("ns1+ns9/app") }) }, serviceAccounts: {} },
      want: [],
      warns: /left unchanged/,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const chosen = "setup" in c ? c.setup : setup;
      const { actions, warnings } = planRemoveUndesired(
        chosen,
        { inventory: c.inventory, desired: c.desired },
        c.observed,
      );
      deepStrictEqual(actions, c.want);
      if (c.warns) ok(warnings.some((w) => c.warns!.test(w)), warnings.join("; "));
      else deepStrictEqual(warnings, []);
    });
  }
});
