// The cluster's binding policy: what a role made for an IRSA object in a tenant namespace may get, and the path and
// permissions boundary of every role kubectl-irsa creates. One pure check serves `bind`, the reconciler and (as
// data the ValidatingAdmissionPolicy reads from the setup ConfigMap) admission, so all three refuse the same
// bindings with the same reasons. Patterns are IAM-style globs, turned into one anchored regular expression that
// means the same to JavaScript and to CEL's RE2.
import { validatePolicyArn } from "./arn.ts";
import type { Binding } from "./bind_plan.ts";
import { patterns } from "./crds.ts";
import { IrsaError } from "./errors.ts";
import { validateRolePath } from "./validate.ts";

/** Inline policies on tenant roles: allowed or refused. */
export type InlinePolicies = "Allow" | "Deny";

/** `IRSASetup.spec.bindingPolicy`, and `init --binding-policy FILE`; every field optional. */
export interface BindingPolicy {
  /** Managed policy ARN patterns (`*`, `?`) tenant roles may get; absent: any policy that is not refused. */
  allowedPolicies?: string[];
  /** Managed policy ARN patterns tenant roles never get, even when allowed; absent: {@link defaultRefusedPolicies}. */
  refusedPolicies?: string[];
  /** Whether tenant roles may have an inline policy; default Deny (a document can say anything). */
  inlinePolicies?: InlinePolicies;
  /** Every role kubectl-irsa creates lives under this IAM path (default "/"), so the daemon's IAM policy can too. */
  rolePath?: string;
  /** Set on every role kubectl-irsa creates; a binding may name only this one. */
  permissionsBoundary?: string;
}

/**
 * AWS managed policies that make a role an account administrator or let it make one: refused for tenants unless
 * the policy's `refusedPolicies` says otherwise.
 */
export const defaultRefusedPolicies: readonly string[] = [
  "arn:*:iam::aws:policy/AdministratorAccess",
  "arn:*:iam::aws:policy/AdministratorAccess-*",
  "arn:*:iam::aws:policy/IAMFullAccess",
  "arn:*:iam::aws:policy/PowerUserAccess",
  "arn:*:iam::aws:policy/AWSOrganizationsFullAccess",
  "arn:*:iam::aws:policy/job-function/*",
];

/** Where a binding comes from: an IRSA object in a tenant namespace, or an admin (the daemon's namespace, `bind`). */
export type BindingScope = { tenantNamespace: string } | { tenantNamespace?: undefined };

const policyPattern = new RegExp(patterns.policyGlob);

/** Throws unless `policy` is well formed (patterns, path, boundary ARN); `where` names its source in messages. */
export function validateBindingPolicy(policy: BindingPolicy, where: string): void {
  const bad = (message: string) => new IrsaError("invalid", "InvalidBindingPolicy", `${where}: ${message}`);
  for (const field of ["allowedPolicies", "refusedPolicies"] as const) {
    const list = policy[field];
    if (list === undefined) continue;
    if (!Array.isArray(list)) throw bad(`${field} must be a list of policy ARN patterns`);
    for (const p of list) {
      if (typeof p !== "string" || !policyPattern.test(p)) {
        throw bad(`${field} entry ${JSON.stringify(p)} is not a policy ARN pattern like arn:aws:iam::aws:policy/*`);
      }
    }
  }
  if (policy.inlinePolicies !== undefined && policy.inlinePolicies !== "Allow" && policy.inlinePolicies !== "Deny") {
    throw bad(`inlinePolicies must be Allow or Deny, not ${JSON.stringify(policy.inlinePolicies)}`);
  }
  if (policy.rolePath !== undefined) validateRolePath(policy.rolePath);
  if (policy.permissionsBoundary !== undefined) validatePolicyArn(policy.permissionsBoundary);
  const unknown = Object.keys(policy).filter((k) => !bindingPolicyFields.includes(k));
  if (unknown.length > 0) throw bad(`unknown field ${unknown.map((k) => JSON.stringify(k)).join(", ")}`);
}

const bindingPolicyFields: readonly string[] = [
  "allowedPolicies",
  "refusedPolicies",
  "inlinePolicies",
  "rolePath",
  "permissionsBoundary",
] satisfies (keyof BindingPolicy)[];

/** The policy with its fields in a fixed order and absent ones left out, for stable JSON. */
export function normalizeBindingPolicy(policy: BindingPolicy): BindingPolicy {
  const out: BindingPolicy = {};
  if (policy.allowedPolicies !== undefined) out.allowedPolicies = [...policy.allowedPolicies];
  if (policy.refusedPolicies !== undefined) out.refusedPolicies = [...policy.refusedPolicies];
  if (policy.inlinePolicies !== undefined) out.inlinePolicies = policy.inlinePolicies;
  if (policy.rolePath !== undefined) out.rolePath = policy.rolePath;
  if (policy.permissionsBoundary !== undefined) out.permissionsBoundary = policy.permissionsBoundary;
  return out;
}

/**
 * One anchored, case-insensitive (IAM names are) regular expression source matching any of the globs, or "" for
 * none. Only `*` and `?` are special; everything else is escaped, so JavaScript and RE2 read it alike.
 */
export function globsToRegex(globs: readonly string[]): string {
  if (globs.length === 0) return "";
  const one = (g: string) =>
    [...g].map((c) => c === "*" ? ".*" : c === "?" ? "." : /[\w:/-]/.test(c) ? c : `\\${c}`).join("");
  return `^(?:${globs.map(one).join("|")})$`;
}

function matches(regex: string, value: string): boolean {
  return regex !== "" && new RegExp(regex, "i").test(value);
}

/** The path a binding gets when it names none: the policy's, or "/". */
export function defaultRolePath(policy: BindingPolicy | undefined): string {
  return policy?.rolePath ?? "/";
}

/**
 * Checks a resolved binding against the policy; throws IrsaError("denied") with the reason of the first rule it
 * breaks. Tenant bindings are held to every rule, admin ones to the role path and the boundary. Pure: it runs
 * before any read or write, so a refused binding makes no AWS call at all.
 */
export function checkBindingPolicy(
  policy: BindingPolicy | undefined,
  binding: Pick<Binding, "namespaces" | "policyArns" | "rolePath" | "adopt"> & {
    inlinePolicy?: string;
    permissionsBoundaryArn?: string;
  },
  scope: BindingScope,
): void {
  const deny = (reason: string, message: string) => new IrsaError("denied", reason, message);
  const tenant = scope.tenantNamespace;
  if (tenant !== undefined) {
    const other = binding.namespaces.find((ns) => ns !== tenant);
    if (other !== undefined) {
      throw deny(
        "NamespaceNotAllowed",
        `an IRSA object in namespace ${tenant} may only bind ServiceAccounts in ${tenant}, not in ${other}`,
      );
    }
    if (binding.adopt) {
      throw deny("AdoptNotAllowed", `adopt is not allowed in namespace ${tenant}: only admins may take over roles`);
    }
    const refused = globsToRegex(policy?.refusedPolicies ?? defaultRefusedPolicies);
    const allowed = policy?.allowedPolicies === undefined ? undefined : globsToRegex(policy.allowedPolicies);
    for (const arn of binding.policyArns) {
      if (matches(refused, arn)) {
        throw deny("PolicyRefused", `policy ${arn} is refused for tenant namespaces by the cluster's binding policy`);
      }
      if (allowed !== undefined && !matches(allowed, arn)) {
        throw deny(
          "PolicyNotAllowed",
          `policy ${arn} is not among the policies the cluster's binding policy allows for tenant namespaces`,
        );
      }
    }
    if (binding.inlinePolicy !== undefined && (policy?.inlinePolicies ?? "Deny") !== "Allow") {
      throw deny("InlinePolicyNotAllowed", "inline policies are not allowed for tenant namespaces");
    }
  }
  const path = defaultRolePath(policy);
  if (!binding.rolePath.startsWith(path)) {
    throw deny("RolePathNotAllowed", `role path ${binding.rolePath} is not under ${path}, the binding policy's path`);
  }
  const boundary = policy?.permissionsBoundary;
  if (boundary !== undefined && binding.permissionsBoundaryArn !== boundary) {
    throw deny(
      "BoundaryNotAllowed",
      `permissions boundary ${binding.permissionsBoundaryArn ?? "(none)"} differs from ${boundary}, the one the ` +
        "binding policy sets on every role",
    );
  }
}

/** Data keys of the setup ConfigMap that the ValidatingAdmissionPolicy reads (CEL cannot parse setup.json). */
export const admissionParamKey = {
  allowedPolicies: "policy.allowedPolicies",
  refusedPolicies: "policy.refusedPolicies",
  inlinePolicies: "policy.inlinePolicies",
  rolePath: "policy.rolePath",
  permissionsBoundary: "policy.permissionsBoundary",
  managedPolicyPrefix: "policy.managedPolicyPrefix",
} as const;

/**
 * The policy as ConfigMap data for admission, every key present: regexes for the pattern lists ("" for none,
 * "^.*$" when any policy is allowed), the managed-policy ARN prefix that bare names resolve to.
 */
export function admissionParamData(policy: BindingPolicy | undefined, partition: string): Record<string, string> {
  return {
    [admissionParamKey.allowedPolicies]: policy?.allowedPolicies === undefined
      ? "^.*$"
      : globsToRegex(policy.allowedPolicies),
    [admissionParamKey.refusedPolicies]: globsToRegex(policy?.refusedPolicies ?? defaultRefusedPolicies),
    [admissionParamKey.inlinePolicies]: policy?.inlinePolicies ?? "Deny",
    [admissionParamKey.rolePath]: defaultRolePath(policy),
    [admissionParamKey.permissionsBoundary]: policy?.permissionsBoundary ?? "",
    [admissionParamKey.managedPolicyPrefix]: `arn:${partition}:iam::aws:policy/`,
  };
}
