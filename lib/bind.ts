// `bind` and `unbind` end to end: validate, gather (reads only), plan, apply. The CLI commands and the IRSA
// reconciler call these, so they cannot drift apart.
import { managedPolicyArn, validatePolicyArn, validateRoleArn } from "./arn.ts";
import {
  type BindAction,
  type Binding,
  type BindingInventory,
  type BindObserved,
  type InventoryObserved,
  type ObservedServiceAccount,
  planBind,
  planUnbind,
  roleIsOurs,
  serviceAccountKey,
  trustedSubjects,
} from "./bind_plan.ts";
import { type BindingScope, checkBindingPolicy, defaultRolePath } from "./binding_policy.ts";
import { IrsaError } from "./errors.ts";
import { setupRecord as setupRecordName } from "./names.ts";
import { defaultRoleName } from "./role_name.ts";
import { parseSetupRecord, type SetupRecord } from "./setup_record.ts";
import { buildTrustPolicy } from "./trust_policy.ts";
import { issuerHostPath } from "./issuer.ts";
import {
  validateDnsLabel,
  validateDnsSubdomain,
  validateInlinePolicyJson,
  validateMaxSessionDuration,
  validatePolicyDocumentSize,
  validateRoleName,
  validateRolePath,
  validateTags,
  validateTokenExpiration,
} from "./validate.ts";
import { saAnnotation } from "./names.ts";
import type { IamPort } from "./aws/iam_port.ts";
import type { ServiceAccountPort } from "./kube/service_account_port.ts";

/** A binding as the user states it: policy names not yet resolved, role name possibly defaulted. */
export interface BindRequest {
  serviceAccount: string;
  namespaces: string[];
  policies: string[];
  inlinePolicy?: string;
  roleName?: string;
  rolePath?: string;
  permissionsBoundary?: string;
  tags?: Record<string, string>;
  maxSessionDuration?: number;
  audience?: string;
  stsRegionalEndpoints?: boolean;
  tokenExpiration?: number;
  adopt?: boolean;
}

/** Everything bind and unbind talk to. */
export interface BindPorts {
  iam: IamPort;
  serviceAccounts: ServiceAccountPort;
  /** The raw setup record text, or undefined when `init` never ran. */
  setupRecord(): Promise<string | undefined>;
}

/** Reads the setup that `init` recorded; a missing one is a precondition failure with the fix. */
export async function loadSetup(ports: Pick<BindPorts, "setupRecord">): Promise<SetupRecord> {
  const text = await ports.setupRecord();
  if (text === undefined) {
    throw new IrsaError(
      "precondition",
      "NotInitialized",
      `no IRSA setup recorded in ${setupRecordName.namespace}/${setupRecordName.name}`,
      { remedies: [{ kind: "init", again: false }] },
    );
  }
  return parseSetupRecord({ [setupRecordName.key]: text });
}

/**
 * The checks of a request that need neither the setup nor any server: names, paths, ARNs, tags, ranges and the
 * inline policy. The CLI runs them before it opens a connection, so a typo is a usage error at once; an empty
 * namespace list is allowed here (the CLI learns the context's namespace later) and refused by resolveBinding.
 */
export function validateBindRequest(req: BindRequest): void {
  validateDnsSubdomain("ServiceAccount name", req.serviceAccount);
  for (const ns of req.namespaces) validateDnsLabel("namespace", ns);
  if (req.roleName !== undefined) validateRoleName(req.roleName);
  if (req.rolePath !== undefined) validateRolePath(req.rolePath);
  // Bare names resolve in any partition the same way; the partition of an ARN is checked with the setup.
  const policyKeys = new Set(req.policies.map((p) => {
    if (!p.startsWith("arn:")) return `aws:policy/${managedPolicyArn("aws", p).split(":policy/")[1]}`;
    const arn = validatePolicyArn(p);
    return `${arn.account}:${arn.resource}`;
  }));
  if (policyKeys.size > 10) {
    throw new IrsaError(
      "invalid",
      "TooManyPolicies",
      `${policyKeys.size} managed policies requested; IAM attaches at most 10 to a role by default`,
    );
  }
  if (req.inlinePolicy !== undefined) {
    validateInlinePolicyJson(req.inlinePolicy);
    validatePolicyDocumentSize("inline", req.inlinePolicy);
  }
  if (req.permissionsBoundary !== undefined) validatePolicyArn(req.permissionsBoundary);
  const tags = req.tags ?? {};
  validateTags(tags);
  // IAM role tag keys are case-insensitive, so "Kubectl-IRSA/cluster" would overwrite an ownership tag.
  const reserved = Object.keys(tags).find((k) => k.toLowerCase().startsWith("kubectl-irsa/"));
  if (reserved !== undefined) {
    throw new IrsaError(
      "invalid",
      "ReservedTag",
      `Invalid tag key ${JSON.stringify(reserved)}: keys starting with "kubectl-irsa/" are reserved for ownership`,
    );
  }
  if (req.maxSessionDuration !== undefined) validateMaxSessionDuration(req.maxSessionDuration);
  if (req.tokenExpiration !== undefined) validateTokenExpiration(req.tokenExpiration);
  if (req.audience !== undefined && (req.audience === "" || /[*?]/.test(req.audience))) {
    throw new IrsaError("invalid", "InvalidAudience", `audience "${req.audience}" must be a literal, non-empty value`);
  }
}

/**
 * Checks a request and turns it into a Binding. Pure given the setup: every check that needs no AWS call happens
 * here, so invalid input never reaches AWS.
 */
export function resolveBinding(setup: SetupRecord, req: BindRequest, scope: BindingScope = {}): Binding {
  validateBindRequest(req);
  if (req.namespaces.length === 0) throw new IrsaError("invalid", "NoNamespace", "at least one namespace is needed");
  const namespaces = [...new Set(req.namespaces)];
  const roleName = req.roleName ??
    defaultRoleName({ clusterName: setup.clusterName, namespace: namespaces, serviceAccount: req.serviceAccount });
  validateRoleName(roleName);
  const policy = setup.bindingPolicy;
  const rolePath = req.rolePath ?? defaultRolePath(policy);
  // The policy's boundary is every role's unless the request names one, which the policy check then refuses.
  const boundary = req.permissionsBoundary ?? policy?.permissionsBoundary;
  const policyArns = [...new Set(req.policies.map((p) => managedPolicyArn(setup.partition, p)))];
  if (boundary !== undefined) {
    const arn = validatePolicyArn(boundary);
    if (arn.partition !== setup.partition) {
      throw new IrsaError(
        "invalid",
        "InvalidArn",
        `permissions boundary ${boundary} is in partition ${arn.partition}, not ${setup.partition}`,
      );
    }
  }
  const tags = req.tags ?? {};
  const trust = buildTrustPolicy({
    providerArn: setup.providerArn,
    issuerHostPath: issuerHostPath(setup.issuer),
    subjects: namespaces.map((namespace) => ({ namespace, serviceAccount: req.serviceAccount })),
    ...(req.audience !== undefined ? { audience: req.audience } : {}),
  });
  validatePolicyDocumentSize("trust", JSON.stringify(trust));
  const binding: Binding = {
    serviceAccount: req.serviceAccount,
    namespaces,
    roleName,
    rolePath,
    policyArns,
    tags,
    adopt: req.adopt ?? false,
  };
  if (req.inlinePolicy !== undefined) binding.inlinePolicy = req.inlinePolicy;
  if (boundary !== undefined) binding.permissionsBoundaryArn = boundary;
  if (req.maxSessionDuration !== undefined) binding.maxSessionDuration = req.maxSessionDuration;
  if (req.audience !== undefined) binding.audience = req.audience;
  if (req.stsRegionalEndpoints !== undefined) binding.stsRegionalEndpoints = req.stsRegionalEndpoints;
  if (req.tokenExpiration !== undefined) binding.tokenExpiration = req.tokenExpiration;
  checkBindingPolicy(policy, binding, scope);
  return binding;
}

/** Reads what a binding needs: namespaces, policies (all must exist), the role and the ServiceAccounts. */
export async function gatherBind(binding: Binding, ports: BindPorts): Promise<BindObserved> {
  for (const ns of binding.namespaces) {
    if (!(await ports.serviceAccounts.namespaceExists(ns))) {
      throw new IrsaError("not-found", "NamespaceNotFound", `namespace "${ns}" does not exist; create it first`);
    }
  }
  const missing: string[] = [];
  for (const arn of binding.policyArns) if (!(await ports.iam.policyExists(arn))) missing.push(arn);
  if (binding.permissionsBoundaryArn && !(await ports.iam.policyExists(binding.permissionsBoundaryArn))) {
    missing.push(binding.permissionsBoundaryArn);
  }
  if (missing.length > 0) {
    throw new IrsaError(
      "invalid",
      "PolicyNotFound",
      `unknown IAM polic${missing.length > 1 ? "ies" : "y"}: ${missing.join(", ")}`,
    );
  }
  const role = await ports.iam.getRole(binding.roleName);
  const serviceAccounts: BindObserved["serviceAccounts"] = {};
  for (const ns of binding.namespaces) {
    serviceAccounts[ns] = await ports.serviceAccounts.get(ns, binding.serviceAccount);
  }
  return { role, serviceAccounts };
}

/**
 * Executes actions in order; every step is idempotent, so a failed run is repaired by a rerun. An aborted
 * `signal` stops it before the next step with the signal's reason (the daemon's leadership was lost: another
 * replica now writes).
 */
export async function applyBindActions(
  actions: BindAction[],
  ports: BindPorts,
  options: { onAction?: (a: BindAction) => void; signal?: AbortSignal } = {},
): Promise<void> {
  for (const a of actions) {
    options.signal?.throwIfAborted();
    options.onAction?.(a);
    switch (a.kind) {
      case "CreateRole":
        await ports.iam.createRole(a.roleName, {
          path: a.path,
          trustPolicy: a.trustPolicy,
          tags: a.tags,
          description: "IRSA role managed by kubectl-irsa",
          ...(a.maxSessionDuration !== undefined ? { maxSessionDuration: a.maxSessionDuration } : {}),
          ...(a.permissionsBoundaryArn !== undefined ? { permissionsBoundaryArn: a.permissionsBoundaryArn } : {}),
        });
        break;
      case "UpdateTrustPolicy":
        await ports.iam.updateTrustPolicy(a.roleName, a.trustPolicy);
        break;
      case "UpdateMaxSessionDuration":
        await ports.iam.updateRole(a.roleName, { maxSessionDuration: a.seconds });
        break;
      case "PutPermissionsBoundary":
        await ports.iam.putPermissionsBoundary(a.roleName, a.arn);
        break;
      case "TagRole":
        await ports.iam.tagRole(a.roleName, a.tags);
        break;
      case "AttachPolicy":
        await ports.iam.attachPolicy(a.roleName, a.policyArn);
        break;
      case "DetachPolicy":
        await ports.iam.detachPolicy(a.roleName, a.policyArn);
        break;
      case "PutInlinePolicy":
        await ports.iam.putInlinePolicy(a.roleName, { policyName: a.policyName, document: a.document });
        break;
      case "DeleteInlinePolicy":
        await ports.iam.deleteInlinePolicy(a.roleName, a.policyName);
        break;
      case "DeleteRole":
        await ports.iam.deleteRole(a.roleName);
        break;
      case "ApplyServiceAccount":
        await ports.serviceAccounts.apply(a.namespace, a.name, a.annotations);
        break;
      case "DeleteServiceAccount":
        await ports.serviceAccounts.delete(a.namespace, a.name);
        break;
    }
  }
}

/**
 * Reads what exists of an inventory's objects: every role and every ServiceAccount it names. A failed read
 * throws; it never counts as "absent", so a cleanup planned from it cannot skip what it could not see.
 */
export async function gatherInventory(inventory: BindingInventory, ports: BindPorts): Promise<InventoryObserved> {
  const observed: InventoryObserved = { roles: {}, serviceAccounts: {} };
  for (const name of inventory.roleNames) observed.roles[name] = await ports.iam.getRole(name);
  for (const sa of inventory.serviceAccounts) {
    observed.serviceAccounts[serviceAccountKey(sa)] = await ports.serviceAccounts.get(sa.namespace, sa.name);
  }
  return observed;
}

/** Gathers, plans and (unless dry-run) applies a binding. */
export async function runBind(
  req: BindRequest,
  ports: BindPorts,
  options: { dryRun?: boolean; onAction?: (a: BindAction) => void } = {},
): Promise<{ setup: SetupRecord; binding: Binding; actions: BindAction[] }> {
  const setup = await loadSetup(ports);
  const binding = resolveBinding(setup, req);
  const observed = await gatherBind(binding, ports);
  const actions = planBind(setup, binding, observed);
  if (!options.dryRun) await applyBindActions(actions, ports, options.onAction ? { onAction: options.onAction } : {});
  return { setup, binding, actions };
}

/** Gathers, plans and (unless dry-run) applies an unbind of one ServiceAccount in one namespace. */
export async function runUnbind(
  target: { namespace: string; serviceAccount: string; keepRole: boolean },
  ports: BindPorts,
  options: { dryRun?: boolean; onAction?: (a: BindAction) => void } = {},
): Promise<{ actions: BindAction[]; warnings: string[]; roleName: string | undefined }> {
  validateDnsLabel("namespace", target.namespace);
  validateDnsSubdomain("ServiceAccount name", target.serviceAccount);
  const setup = await loadSetup(ports);
  const serviceAccount = await ports.serviceAccounts.get(target.namespace, target.serviceAccount);
  const annotated = serviceAccount.annotations[saAnnotation.roleArn];
  const roleName = annotated !== undefined ? validateRoleArn(annotated).name : defaultRoleName({
    clusterName: setup.clusterName,
    namespace: target.namespace,
    serviceAccount: target.serviceAccount,
  });
  const role = await ports.iam.getRole(roleName);
  // The other namespaces the role trusts this ServiceAccount name in: their binding records drop this one.
  const siblings: Record<string, ObservedServiceAccount> = {};
  if (role && !target.keepRole && roleIsOurs(role, setup)) {
    for (const sub of trustedSubjects(role.trustPolicy)) {
      const [, , namespace = "", name = ""] = sub.split(":");
      if (name !== target.serviceAccount || namespace === target.namespace || namespace in siblings) continue;
      siblings[namespace] = await ports.serviceAccounts.get(namespace, name);
    }
  }
  const { actions, warnings } = planUnbind(setup, target, { role, serviceAccount, siblings });
  if (!serviceAccount.exists && !role) {
    warnings.push(
      `nothing is bound: ServiceAccount ${target.namespace}/${target.serviceAccount} and role "${roleName}" do not exist`,
    );
  }
  if (!options.dryRun) await applyBindActions(actions, ports, options.onAction ? { onAction: options.onAction } : {});
  return { actions, warnings, roleName: role?.name };
}
