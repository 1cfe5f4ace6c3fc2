import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import type { ObservedRole } from "./aws/iam_port.ts";
import { type BindRequest, resolveBinding } from "./bind.ts";
import { planBind, planRemoveUndesired } from "./bind_plan.ts";
import {
  admissionParamData,
  type BindingPolicy,
  type BindingScope,
  checkBindingPolicy,
  globsToRegex,
  validateBindingPolicy,
} from "./binding_policy.ts";
import { isIrsaError } from "./errors.ts";
import { awsTag, managedByValue } from "./names.ts";
import { parseSetupRecord, serializeSetupRecord, setupConfigMap, type SetupRecord } from "./setup_record.ts";
import { testIssuerHost, testSetup } from "./testdata/setup_fixture.ts";

const boundary = "arn:aws:iam::123456789012:policy/irsa-boundary";
const policy: BindingPolicy = {
  allowedPolicies: ["arn:aws:iam::123456789012:policy/team-*", "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"],
  rolePath: "/irsa/",
  permissionsBoundary: boundary,
};
const withPolicy = (p: BindingPolicy | undefined): SetupRecord => ({
  ...testSetup,
  ...(p ? { bindingPolicy: p } : {}),
});
const tenant: BindingScope = { tenantNamespace: "team-a" };
const request = (over: Partial<BindRequest> = {}): BindRequest => ({
  serviceAccount: "app",
  namespaces: ["team-a"],
  policies: ["arn:aws:iam::123456789012:policy/team-a-s3"],
  ...over,
});

/** Asserts a "denied" IrsaError with `reason` and a one-line message containing `named`. */
function assertDenied(fn: () => unknown, reason: string, named: string): void {
  throws(fn, (e: unknown) => {
    ok(isIrsaError(e, "denied"), `expected a denied IrsaError, got ${String(e)}`);
    equal(e.reason, reason);
    ok(e.message.includes(named), `message ${JSON.stringify(e.message)} does not name ${JSON.stringify(named)}`);
    ok(!e.message.includes("\n"));
    return true;
  });
}

Deno.test("resolveBinding() refuses what the binding policy forbids a tenant, each with its reason", async (t) => {
  const cases: { name: string; policy?: BindingPolicy; req: Partial<BindRequest>; reason: string; named: string }[] = [
    {
      name: "another namespace",
      req: { namespaces: ["team-a", "kube-system"] },
      reason: "NamespaceNotAllowed",
      named: "kube-system",
    },
    { name: "only another namespace", req: { namespaces: ["team-b"] }, reason: "NamespaceNotAllowed", named: "team-b" },
    { name: "adopt", req: { adopt: true }, reason: "AdoptNotAllowed", named: "team-a" },
    {
      name: "AdministratorAccess by default",
      req: { policies: ["AdministratorAccess"] },
      reason: "PolicyRefused",
      named: "arn:aws:iam::aws:policy/AdministratorAccess",
    },
    {
      name: "IAMFullAccess by ARN",
      req: { policies: ["arn:aws:iam::aws:policy/IAMFullAccess"] },
      reason: "PolicyRefused",
      named: "IAMFullAccess",
    },
    {
      name: "job-function policy",
      req: { policies: ["job-function/SystemAdministrator"] },
      reason: "PolicyRefused",
      named: "SystemAdministrator",
    },
    {
      name: "refused wins over allowed",
      policy: { allowedPolicies: ["arn:aws:iam::aws:policy/*"] },
      req: { policies: ["PowerUserAccess"] },
      reason: "PolicyRefused",
      named: "PowerUserAccess",
    },
    {
      name: "a policy outside the allowed ones",
      policy,
      req: { policies: ["arn:aws:iam::123456789012:policy/other"] },
      reason: "PolicyNotAllowed",
      named: "policy/other",
    },
    {
      name: "inline by default",
      req: { inlinePolicy: '{"Version":"2012-10-17","Statement":[]}' },
      reason: "InlinePolicyNotAllowed",
      named: "inline",
    },
    {
      name: "a role path outside the policy's",
      policy,
      req: { rolePath: "/admin/" },
      reason: "RolePathNotAllowed",
      named: "/admin/",
    },
    {
      name: "another boundary",
      policy,
      req: { permissionsBoundary: "arn:aws:iam::123456789012:policy/wide" },
      reason: "BoundaryNotAllowed",
      named: "policy/wide",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      assertDenied(() => resolveBinding(withPolicy(c.policy), request(c.req), tenant), c.reason, c.named);
    });
  }
});

Deno.test("resolveBinding() lets a tenant bind within the policy and gives every role the path and boundary", () => {
  const b = resolveBinding(withPolicy(policy), request({ policies: ["AmazonS3ReadOnlyAccess"] }), tenant);
  equal(b.rolePath, "/irsa/");
  equal(b.permissionsBoundaryArn, boundary);
  // Case does not get a refused policy through (IAM names are case-insensitive).
  assertDenied(
    () => resolveBinding(withPolicy(undefined), request({ policies: ["administratoraccess"] }), tenant),
    "PolicyRefused",
    "administratoraccess",
  );
  // Inline allowed when the policy says so; other namespaces' defaults need no policy at all.
  const inline = '{"Version":"2012-10-17","Statement":[]}';
  equal(
    resolveBinding(withPolicy({ inlinePolicies: "Allow" }), request({ inlinePolicy: inline }), tenant).inlinePolicy,
    inline,
  );
});

Deno.test("resolveBinding() holds admin bindings to the path and boundary only", () => {
  const admin = request({ namespaces: ["kube-system", "team-a"], policies: ["AdministratorAccess"], adopt: true });
  const b = resolveBinding(withPolicy(policy), admin);
  deepStrictEqual([b.rolePath, b.permissionsBoundaryArn, b.policyArns], ["/irsa/", boundary, [
    "arn:aws:iam::aws:policy/AdministratorAccess",
  ]]);
  assertDenied(
    () => resolveBinding(withPolicy(policy), { ...admin, rolePath: "/" }),
    "RolePathNotAllowed",
    "role path / is not under /irsa/",
  );
  // Without a policy nothing changes for admins: path "/" and no boundary, as before.
  const plain = resolveBinding(withPolicy(undefined), admin);
  deepStrictEqual([plain.rolePath, plain.permissionsBoundaryArn], ["/", undefined]);
});

function role(serviceAccountTag: string, over: Partial<ObservedRole> = {}): ObservedRole {
  return {
    arn: "arn:aws:iam::123456789012:role/irsa/shared",
    name: "shared",
    path: "/irsa/",
    trustPolicy: JSON.stringify({ Version: "2012-10-17", Statement: [] }),
    tags: {
      [awsTag.managedBy]: managedByValue,
      [awsTag.cluster]: testIssuerHost,
      [awsTag.serviceAccount]: serviceAccountTag,
    },
    maxSessionDuration: 3600,
    permissionsBoundaryArn: boundary,
    attachedPolicyArns: [],
    inlinePolicies: {},
    ...over,
  };
}

Deno.test("planBind() refuses a tenant another namespace's role, even one kubectl-irsa owns", () => {
  const setup = withPolicy(policy);
  const b = resolveBinding(setup, request({ roleName: "shared" }), tenant);
  const observed = { serviceAccounts: {} };
  assertDenied(
    () => planBind(setup, b, { ...observed, role: role("team-b/app") }, tenant),
    "RoleNotAllowed",
    "team-b/app",
  );
  assertDenied(
    () => planBind(setup, b, { ...observed, role: role("kube-system+team-a/app") }, tenant),
    "RoleNotAllowed",
    "team-a",
  );
  ok(planBind(setup, b, { ...observed, role: role("team-a/old") }, tenant).length > 0);
  // An admin may rebind any role kubectl-irsa owns.
  ok(Array.isArray(planBind(setup, b, { ...observed, role: role("team-b/app") })));
});

Deno.test("planRemoveUndesired() never lets a tenant's cleanup touch another namespace", () => {
  const sa = { exists: true, annotations: {}, ownedAnnotations: [] };
  const { actions, warnings } = planRemoveUndesired(withPolicy(policy), {
    inventory: {
      roleNames: ["shared", "mine"],
      serviceAccounts: [{ namespace: "team-b", name: "app" }, { namespace: "team-a", name: "app" }],
    },
    desired: undefined,
    scope: tenant,
  }, {
    roles: { shared: role("team-b/app"), mine: role("team-a/app", { name: "mine" }) },
    serviceAccounts: { "team-b/app": sa, "team-a/app": sa },
  });
  ok(!actions.some((a) => JSON.stringify(a).includes("team-b") || JSON.stringify(a).includes('"shared"')));
  ok(actions.some((a) => a.kind === "DeleteRole" && a.roleName === "mine"));
  equal(warnings.length, 2);
});

Deno.test("globsToRegex() matches like IAM wildcards and escapes everything else", () => {
  const re = new RegExp(globsToRegex(["arn:aws:iam::aws:policy/Amazon?3*", "arn:*:iam::1:policy/a.b"]), "i");
  ok(re.test("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"));
  ok(re.test("arn:aws-cn:iam::1:policy/a.b"));
  ok(!re.test("arn:aws:iam::1:policy/aXb"), "a dot is literal");
  ok(!re.test("xarn:aws:iam::aws:policy/AmazonS3"), "anchored");
  equal(globsToRegex([]), "");
});

Deno.test("validateBindingPolicy() refuses malformed policies in one line", async (t) => {
  const bad: [string, unknown][] = [
    ["a pattern that is not an ARN", { allowedPolicies: ["AdministratorAccess"] }],
    ["a list that is a string", { refusedPolicies: "arn:aws:iam::aws:policy/*" }],
    ["inline neither Allow nor Deny", { inlinePolicies: "yes" }],
    ["a bad role path", { rolePath: "irsa" }],
    ["a boundary that is not an ARN", { permissionsBoundary: "boundary" }],
    ["an unknown field", { allowedPolicy: [] }],
  ];
  for (const [name, value] of bad) {
    await t.step(name, () => {
      throws(() => validateBindingPolicy(value as BindingPolicy, "spec.bindingPolicy"), (e: unknown) => {
        ok(isIrsaError(e, "invalid"));
        ok(!e.message.includes("\n"));
        return true;
      });
    });
  }
  validateBindingPolicy(policy, "ok");
});

Deno.test("the setup record carries the policy, and the ConfigMap its admission keys", () => {
  const record = withPolicy({ permissionsBoundary: boundary, rolePath: "/irsa/", inlinePolicies: "Allow" });
  const text = serializeSetupRecord(record);
  deepStrictEqual(parseSetupRecord({ "setup.json": text }), record);
  equal(
    serializeSetupRecord(testSetup).includes("bindingPolicy"),
    false,
    "no policy, no field: old records stay equal",
  );
  const data = (setupConfigMap(record) as { data: Record<string, string> }).data;
  deepStrictEqual(
    [
      data["policy.rolePath"],
      data["policy.permissionsBoundary"],
      data["policy.inlinePolicies"],
      data["policy.allowedPolicies"],
    ],
    ["/irsa/", boundary, "Allow", "^.*$"],
  );
  ok(new RegExp(data["policy.refusedPolicies"]!, "i").test("arn:aws:iam::aws:policy/AdministratorAccess"));
  throws(() =>
    parseSetupRecord({ "setup.json": JSON.stringify({ ...JSON.parse(text), bindingPolicy: { rolePath: 1 } }) })
  );
  deepStrictEqual(admissionParamData(undefined, "aws-cn")["policy.managedPolicyPrefix"], "arn:aws-cn:iam::aws:policy/");
});

Deno.test("checkBindingPolicy() with no policy refuses tenants only the defaults", () => {
  const binding = {
    namespaces: ["t"],
    policyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
    rolePath: "/",
    adopt: false,
  };
  checkBindingPolicy(undefined, binding, { tenantNamespace: "t" });
  checkBindingPolicy(undefined, { ...binding, policyArns: ["arn:aws:iam::aws:policy/AdministratorAccess"] }, {});
});
