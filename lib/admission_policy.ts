// The ValidatingAdmissionPolicies that refuse, at admission, the IRSA objects the reconciler would refuse by
// lib/binding_policy.ts: the namespace scope (no parameters, so it holds before `init`) and the binding policy
// (parameters from the setup ConfigMap's `policy.*` keys). The messages are the reconciler's, word for word.
// Only spec changes are checked: a finalizer or metadata update of an object admitted before the policy existed
// must still go through, or its deletion would hang.
import { admissionParamData, admissionParamKey } from "./binding_policy.ts";
import { crdGroup, setupRecord } from "./names.ts";

/** Names of the two policies (and of their bindings). */
export const admissionPolicyName = {
  scope: "kubectl-irsa-namespace-scope",
  bindingPolicy: "kubectl-irsa-binding-policy",
} as const;

const api = "admissionregistration.k8s.io/v1";

/** CEL string literal of `s`. */
function cel(s: string): string {
  return `'${s.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}

/** The policies and their bindings for a daemon in `systemNamespace`, in apply order. */
export function admissionPolicyManifests(
  systemNamespace: string,
  labels: Record<string, string>,
): Record<string, unknown>[] {
  const matchConstraints = {
    resourceRules: [{
      apiGroups: [crdGroup],
      apiVersions: ["*"],
      operations: ["CREATE", "UPDATE"],
      resources: ["irsas"],
    }],
  };
  const specChanged = [{
    name: "spec-changed",
    expression: "request.operation == 'CREATE' || !has(oldObject.spec) || object.spec != oldObject.spec",
  }];
  const tenant = `request.namespace != ${cel(systemNamespace)}`;
  const scope = {
    apiVersion: api,
    kind: "ValidatingAdmissionPolicy",
    metadata: { name: admissionPolicyName.scope, labels },
    spec: {
      failurePolicy: "Fail",
      matchConstraints,
      matchConditions: [...specChanged, { name: "tenant-namespace", expression: tenant }],
      validations: [
        {
          expression: "!has(object.spec.serviceAccount) || !has(object.spec.serviceAccount.namespaces) || " +
            "object.spec.serviceAccount.namespaces.all(n, n == request.namespace)",
          messageExpression: "'an IRSA object in namespace ' + request.namespace + ' may only bind ServiceAccounts " +
            "in ' + request.namespace + ', not in ' + object.spec.serviceAccount.namespaces.filter(n, n != " +
            "request.namespace)[0]",
          reason: "Forbidden",
        },
        {
          expression: "!has(object.spec.adopt) || !object.spec.adopt",
          messageExpression: "'adopt is not allowed in namespace ' + request.namespace + ': only admins may take " +
            "over roles'",
          reason: "Forbidden",
        },
      ],
    },
  };

  // Defaults for a setup ConfigMap written before these keys existed: the same as an absent policy.
  const fallback = admissionParamData(undefined, "aws");
  const param = (key: string) => `params.?data[?${cel(key)}].orValue(${cel(fallback[key] ?? "")})`;
  const policy = {
    apiVersion: api,
    kind: "ValidatingAdmissionPolicy",
    metadata: { name: admissionPolicyName.bindingPolicy, labels },
    spec: {
      failurePolicy: "Fail",
      paramKind: { apiVersion: "v1", kind: "ConfigMap" },
      matchConstraints,
      matchConditions: specChanged,
      variables: [
        { name: "tenant", expression: tenant },
        { name: "allowed", expression: param(admissionParamKey.allowedPolicies) },
        { name: "refused", expression: param(admissionParamKey.refusedPolicies) },
        { name: "inline", expression: param(admissionParamKey.inlinePolicies) },
        { name: "rolePath", expression: param(admissionParamKey.rolePath) },
        { name: "boundary", expression: param(admissionParamKey.permissionsBoundary) },
        {
          name: "arns",
          expression: `has(object.spec.iamPolicies) ? object.spec.iamPolicies.map(p, p.startsWith('arn:') ? p : ` +
            `${param(admissionParamKey.managedPolicyPrefix)} + p) : []`,
        },
        {
          name: "refusedArns",
          expression: "variables.refused == '' ? [] : variables.arns.filter(a, a.matches('(?i)' + variables.refused))",
        },
        {
          name: "notAllowedArns",
          expression: "variables.allowed == '' ? variables.arns : " +
            "variables.arns.filter(a, !a.matches('(?i)' + variables.allowed))",
        },
        {
          name: "path",
          expression: "has(object.spec.iamRole) && has(object.spec.iamRole.path) ? object.spec.iamRole.path : " +
            "variables.rolePath",
        },
      ],
      validations: [
        {
          expression: "!variables.tenant || variables.refusedArns.size() == 0",
          messageExpression: "'policy ' + variables.refusedArns[0] + ' is refused for tenant namespaces by the " +
            "cluster\\'s binding policy'",
          reason: "Forbidden",
        },
        {
          expression: "!variables.tenant || variables.notAllowedArns.size() == 0",
          messageExpression: "'policy ' + variables.notAllowedArns[0] + ' is not among the policies the cluster\\'s " +
            "binding policy allows for tenant namespaces'",
          reason: "Forbidden",
        },
        {
          expression: "!variables.tenant || !has(object.spec.inlinePolicy) || variables.inline == 'Allow'",
          message: "inline policies are not allowed for tenant namespaces",
          reason: "Forbidden",
        },
        {
          expression: "variables.path.startsWith(variables.rolePath)",
          messageExpression: "'role path ' + variables.path + ' is not under ' + variables.rolePath + ', the binding " +
            "policy\\'s path'",
          reason: "Forbidden",
        },
        {
          expression: "variables.boundary == '' || !has(object.spec.permissionsBoundary) || " +
            "object.spec.permissionsBoundary == variables.boundary",
          messageExpression: "'permissions boundary ' + object.spec.permissionsBoundary + ' differs from ' + " +
            "variables.boundary + ', the one the binding policy sets on every role'",
          reason: "Forbidden",
        },
      ],
    },
  };
  const binding = (name: string, extra: Record<string, unknown> = {}) => ({
    apiVersion: api,
    kind: "ValidatingAdmissionPolicyBinding",
    metadata: { name, labels },
    spec: { policyName: name, validationActions: ["Deny"], ...extra },
  });
  return [
    scope,
    binding(admissionPolicyName.scope),
    policy,
    binding(admissionPolicyName.bindingPolicy, {
      // Before `init` there is no ConfigMap and nothing to bind against; the scope policy still holds.
      paramRef: { name: setupRecord.name, namespace: setupRecord.namespace, parameterNotFoundAction: "Allow" },
    }),
  ];
}
