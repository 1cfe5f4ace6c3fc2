// The decision of `bind`/`unbind` and of the IRSA reconciler: from a binding (ServiceAccount name, namespaces,
// policies) and what IAM and the cluster hold, the list of actions. Pure: no I/O, no clock.
import { roleArn as buildRoleArn, validateRoleArn } from "./arn.ts";
import { IrsaError } from "./errors.ts";
import { issuerHostPath } from "./issuer.ts";
import { awsTag, irsaAnnotation, managedByValue, saAnnotation } from "./names.ts";
import type { BindingScope } from "./binding_policy.ts";
import type { SetupRecord } from "./setup_record.ts";
import { buildTrustPolicy, parsePolicyDocument, policiesEqual, subjectOf, trustPolicyDiff } from "./trust_policy.ts";
import type { ObservedRole } from "./aws/iam_port.ts";

/** Name of the inline policy `bind --inline-policy` manages; other inline policies are never touched. */
export const inlinePolicyName = "kubectl-irsa-inline";

/** What the user asked for. */
export interface Binding {
  serviceAccount: string;
  namespaces: string[];
  roleName: string;
  rolePath: string;
  /** Resolved policy ARNs. */
  policyArns: string[];
  /** JSON text of the inline policy, if any. */
  inlinePolicy?: string;
  permissionsBoundaryArn?: string;
  /** User tags, besides the ownership tags. */
  tags: Record<string, string>;
  maxSessionDuration?: number;
  audience?: string;
  stsRegionalEndpoints?: boolean;
  tokenExpiration?: number;
  /** Take over a role that exists but was not created by kubectl-irsa for this cluster. */
  adopt: boolean;
}

/** A ServiceAccount as the cluster holds it. */
export interface ObservedServiceAccount {
  exists: boolean;
  annotations: Record<string, string>;
  /** Annotation keys that the kubectl-irsa field manager owns (from managedFields). */
  ownedAnnotations: string[];
}

/** What exists now. */
export interface BindObserved {
  role: ObservedRole | undefined;
  /** By namespace. */
  serviceAccounts: Record<string, ObservedServiceAccount>;
}

/** One change of a binding. Plain data: printed by --dry-run, executed by applyBindActions. */
export type BindAction =
  | {
    kind: "CreateRole";
    roleName: string;
    path: string;
    trustPolicy: string;
    tags: Record<string, string>;
    maxSessionDuration?: number;
    permissionsBoundaryArn?: string;
  }
  | { kind: "UpdateTrustPolicy"; roleName: string; trustPolicy: string; before: string }
  | { kind: "UpdateMaxSessionDuration"; roleName: string; seconds: number; before: number }
  | { kind: "PutPermissionsBoundary"; roleName: string; arn: string; before: string | undefined }
  | { kind: "TagRole"; roleName: string; tags: Record<string, string> }
  | { kind: "AttachPolicy"; roleName: string; policyArn: string }
  | { kind: "DetachPolicy"; roleName: string; policyArn: string }
  | { kind: "PutInlinePolicy"; roleName: string; policyName: string; document: string; before: string | undefined }
  | { kind: "DeleteInlinePolicy"; roleName: string; policyName: string }
  | { kind: "DeleteRole"; roleName: string }
  | {
    kind: "ApplyServiceAccount";
    namespace: string;
    name: string;
    /** The full set of annotations kubectl-irsa owns after the apply; omitted ones are removed. */
    annotations: Record<string, string>;
    create: boolean;
    before: Record<string, string>;
  }
  | { kind: "DeleteServiceAccount"; namespace: string; name: string };

/** The ownership tags of a binding's role. */
export function roleOwnershipTags(setup: SetupRecord, binding: Pick<Binding, "namespaces" | "serviceAccount">) {
  return {
    [awsTag.managedBy]: managedByValue,
    [awsTag.cluster]: issuerHostPath(setup.issuer),
    [awsTag.serviceAccount]: serviceAccountTag(binding),
  };
}

/** The value of the service-account ownership tag: the namespaces, sorted, and the ServiceAccount name. */
function serviceAccountTag(binding: Pick<Binding, "namespaces" | "serviceAccount">): string {
  return `${[...binding.namespaces].sort().join("+")}/${binding.serviceAccount}`;
}

/**
 * True when a tenant in `namespace` may manage the role: its service-account tag names that namespace alone. A
 * tenant who names another namespace's role (or an admin's) gets a refusal, never that role.
 */
export function roleBelongsToNamespace(role: Pick<ObservedRole, "tags">, namespace: string): boolean {
  const tag = role.tags[awsTag.serviceAccount] ?? "";
  return tag.slice(0, tag.indexOf("/")) === namespace;
}

/** True when the role was created by kubectl-irsa for this cluster (or adopted into it). */
export function roleIsOurs(role: ObservedRole, setup: SetupRecord): boolean {
  return role.tags[awsTag.managedBy] === managedByValue && role.tags[awsTag.cluster] === issuerHostPath(setup.issuer);
}

/** The ARN the binding's role has (or will have once created). */
export function bindingRoleArn(setup: SetupRecord, binding: Pick<Binding, "roleName" | "rolePath">): string {
  return buildRoleArn(setup.partition, setup.account, binding.roleName, { path: binding.rolePath });
}

/** The annotations the binding puts on each ServiceAccount: the webhook's, then the binding record. */
export function serviceAccountAnnotations(setup: SetupRecord, binding: Binding): Record<string, string> {
  const out: Record<string, string> = { [saAnnotation.roleArn]: bindingRoleArn(setup, binding) };
  if (binding.audience !== undefined) out[saAnnotation.audience] = binding.audience;
  if (binding.stsRegionalEndpoints !== undefined) {
    out[saAnnotation.stsRegionalEndpoints] = String(binding.stsRegionalEndpoints);
  }
  if (binding.tokenExpiration !== undefined) out[saAnnotation.tokenExpiration] = String(binding.tokenExpiration);
  out[irsaAnnotation.binding] = serializeBindingRecord(binding);
  return out;
}

/**
 * The binding as recorded on its ServiceAccounts: stable JSON (namespaces, policies and tags sorted, the inline
 * policy minified), so the same bind run in another order records the same text.
 */
export function serializeBindingRecord(binding: Binding): string {
  const tags = Object.fromEntries(Object.entries(binding.tags).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0));
  const record: Record<string, unknown> = {
    roleName: binding.roleName,
    rolePath: binding.rolePath,
    namespaces: [...binding.namespaces].sort(),
    policyArns: [...binding.policyArns].sort(),
    tags,
  };
  if (binding.inlinePolicy !== undefined) record.inlinePolicy = minifyJson(binding.inlinePolicy);
  if (binding.permissionsBoundaryArn !== undefined) record.permissionsBoundaryArn = binding.permissionsBoundaryArn;
  if (binding.maxSessionDuration !== undefined) record.maxSessionDuration = binding.maxSessionDuration;
  if (binding.audience !== undefined) record.audience = binding.audience;
  if (binding.stsRegionalEndpoints !== undefined) record.stsRegionalEndpoints = binding.stsRegionalEndpoints;
  if (binding.tokenExpiration !== undefined) record.tokenExpiration = binding.tokenExpiration;
  return JSON.stringify(record);
}

function minifyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text));
  } catch {
    return text; // resolveBinding refuses what is not JSON; never lose the text here
  }
}

/**
 * The binding a ServiceAccount records, when kubectl-irsa owns the record (an edit by another field manager is
 * not ours to trust). Throws IrsaError("invalid", "InvalidBindingRecord") for a record that cannot be read.
 */
export function recordedBinding(
  name: string,
  namespace: string,
  sa: ObservedServiceAccount,
): Binding | undefined {
  const text = sa.annotations[irsaAnnotation.binding];
  if (text === undefined || !sa.ownedAnnotations.includes(irsaAnnotation.binding)) return undefined;
  const damaged = (why: string) =>
    new IrsaError(
      "invalid",
      "InvalidBindingRecord",
      `the annotation ${irsaAnnotation.binding} of ServiceAccount ${namespace}/${name} is damaged (${why})`,
      { remedies: [{ kind: "bindAgain" }] },
    );
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text);
  } catch {
    throw damaged("not JSON");
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw damaged("not a JSON object");
  const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === "string");
  if (typeof raw.roleName !== "string" || raw.roleName === "") throw damaged(`"roleName" missing`);
  if (typeof raw.rolePath !== "string") throw damaged(`"rolePath" missing`);
  if (!isStrings(raw.namespaces) || !raw.namespaces.includes(namespace)) {
    throw damaged(`"namespaces" does not hold ${namespace}`);
  }
  if (!isStrings(raw.policyArns)) throw damaged(`"policyArns" missing`);
  const tags = raw.tags;
  if (
    typeof tags !== "object" || tags === null || Array.isArray(tags) ||
    !Object.values(tags).every((v) => typeof v === "string")
  ) throw damaged(`"tags" missing`);
  const binding: Binding = {
    serviceAccount: name,
    namespaces: raw.namespaces,
    roleName: raw.roleName,
    rolePath: raw.rolePath,
    policyArns: raw.policyArns,
    tags: tags as Record<string, string>,
    adopt: false,
  };
  const optional = <T>(key: string, is: (v: unknown) => v is T, what: string): T | undefined => {
    const v = raw[key];
    if (v === undefined) return undefined;
    if (!is(v)) throw damaged(`"${key}" is not a ${what}`);
    return v;
  };
  const isString = (v: unknown): v is string => typeof v === "string";
  const isNumber = (v: unknown): v is number => typeof v === "number";
  const isBoolean = (v: unknown): v is boolean => typeof v === "boolean";
  const inlinePolicy = optional("inlinePolicy", isString, "string");
  const permissionsBoundaryArn = optional("permissionsBoundaryArn", isString, "string");
  const maxSessionDuration = optional("maxSessionDuration", isNumber, "number");
  const audience = optional("audience", isString, "string");
  const stsRegionalEndpoints = optional("stsRegionalEndpoints", isBoolean, "boolean");
  const tokenExpiration = optional("tokenExpiration", isNumber, "number");
  if (inlinePolicy !== undefined) binding.inlinePolicy = inlinePolicy;
  if (permissionsBoundaryArn !== undefined) binding.permissionsBoundaryArn = permissionsBoundaryArn;
  if (maxSessionDuration !== undefined) binding.maxSessionDuration = maxSessionDuration;
  if (audience !== undefined) binding.audience = audience;
  if (stsRegionalEndpoints !== undefined) binding.stsRegionalEndpoints = stsRegionalEndpoints;
  if (tokenExpiration !== undefined) binding.tokenExpiration = tokenExpiration;
  return binding;
}

/**
 * The first webhook annotation of the binding that the ServiceAccount already holds with another value, set by
 * someone else. bind must not silently replace it: that would re-point running workloads at another role.
 */
export function foreignAnnotation(
  desired: Record<string, string>,
  sa: ObservedServiceAccount,
): { key: string; value: string; wanted: string } | undefined {
  if (!sa.exists) return undefined;
  for (const [key, wanted] of Object.entries(desired)) {
    // Our own annotations (created-by, the binding record) are ours by name.
    if ((Object.values(irsaAnnotation) as string[]).includes(key)) continue;
    const value = sa.annotations[key];
    if (value !== undefined && value !== wanted && !sa.ownedAnnotations.includes(key)) return { key, value, wanted };
  }
  return undefined;
}

/** The trust policy of the binding, as JSON text. */
export function bindingTrustPolicy(setup: SetupRecord, binding: Binding): string {
  return JSON.stringify(buildTrustPolicy({
    providerArn: setup.providerArn,
    issuerHostPath: issuerHostPath(setup.issuer),
    subjects: binding.namespaces.map((namespace) => ({ namespace, serviceAccount: binding.serviceAccount })),
    ...(binding.audience !== undefined ? { audience: binding.audience } : {}),
  }));
}

/** Plans `bind`. Throws IrsaError("conflict") for a role that is not ours unless the binding adopts it. */
export function planBind(
  setup: SetupRecord,
  binding: Binding,
  observed: BindObserved,
  scope: BindingScope = {},
): BindAction[] {
  const actions: BindAction[] = [];
  const roleName = binding.roleName;
  const trustPolicy = bindingTrustPolicy(setup, binding);
  const ownership = roleOwnershipTags(setup, binding);
  const role = observed.role;
  const annotations = serviceAccountAnnotations(setup, binding);

  // Checked before anything else, so a refusal plans (and so writes) nothing at all.
  if (!binding.adopt) {
    for (const namespace of binding.namespaces) {
      const sa = observed.serviceAccounts[namespace];
      const foreign = sa && foreignAnnotation(annotations, sa);
      if (foreign) {
        throw new IrsaError(
          "conflict",
          "AnnotationNotOwned",
          `ServiceAccount ${namespace}/${binding.serviceAccount} has ${foreign.key}: ${foreign.value}, which ` +
            "kubectl-irsa did not set",
          {
            remedies: [{ kind: "adopt", to: `replace it with ${foreign.wanted}` }, { kind: "otherServiceAccount" }],
          },
        );
      }
    }
  }

  if (!role) {
    actions.push({
      kind: "CreateRole",
      roleName,
      path: binding.rolePath,
      trustPolicy,
      tags: { ...binding.tags, ...ownership },
      ...(binding.maxSessionDuration !== undefined ? { maxSessionDuration: binding.maxSessionDuration } : {}),
      ...(binding.permissionsBoundaryArn !== undefined
        ? { permissionsBoundaryArn: binding.permissionsBoundaryArn }
        : {}),
    });
    for (const policyArn of binding.policyArns) actions.push({ kind: "AttachPolicy", roleName, policyArn });
    if (binding.inlinePolicy !== undefined) {
      actions.push({
        kind: "PutInlinePolicy",
        roleName,
        policyName: inlinePolicyName,
        document: binding.inlinePolicy,
        before: undefined,
      });
    }
  } else {
    const ours = roleIsOurs(role, setup);
    if (!ours && !binding.adopt) {
      throw new IrsaError(
        "conflict",
        "RoleNotOwned",
        `IAM role "${roleName}" exists but was not created by kubectl-irsa for this cluster`,
        { remedies: [{ kind: "adopt", to: "manage it" }, { kind: "roleName" }] },
      );
    }
    if (scope.tenantNamespace !== undefined && !roleBelongsToNamespace(role, scope.tenantNamespace)) {
      throw new IrsaError(
        "denied",
        "RoleNotAllowed",
        `IAM role "${roleName}" belongs to ${role.tags[awsTag.serviceAccount] ?? "another binding"}, not to a ` +
          `ServiceAccount of namespace ${scope.tenantNamespace}`,
        { remedies: [{ kind: "roleName" }] },
      );
    }
    if (role.path !== binding.rolePath) {
      throw new IrsaError(
        "conflict",
        "RolePathDiffers",
        `IAM role "${roleName}" has path "${role.path}", not "${binding.rolePath}", and IAM cannot change a role's path`,
        { remedies: [{ kind: "rolePath", path: role.path }] },
      );
    }
    if (!policiesEqual(parsePolicyDocument(role.trustPolicy), trustPolicy)) {
      actions.push({ kind: "UpdateTrustPolicy", roleName, trustPolicy, before: role.trustPolicy });
    }
    if (binding.maxSessionDuration !== undefined && role.maxSessionDuration !== binding.maxSessionDuration) {
      actions.push({
        kind: "UpdateMaxSessionDuration",
        roleName,
        seconds: binding.maxSessionDuration,
        before: role.maxSessionDuration,
      });
    }
    if (
      binding.permissionsBoundaryArn !== undefined && role.permissionsBoundaryArn !== binding.permissionsBoundaryArn
    ) {
      actions.push({
        kind: "PutPermissionsBoundary",
        roleName,
        arn: binding.permissionsBoundaryArn,
        before: role.permissionsBoundaryArn,
      });
    }
    const wantTags = { ...binding.tags, ...ownership };
    const changedTags = Object.fromEntries(Object.entries(wantTags).filter(([k, v]) => role.tags[k] !== v));
    if (Object.keys(changedTags).length > 0) actions.push({ kind: "TagRole", roleName, tags: changedTags });
    for (const policyArn of binding.policyArns) {
      if (!role.attachedPolicyArns.includes(policyArn)) actions.push({ kind: "AttachPolicy", roleName, policyArn });
    }
    for (const policyArn of role.attachedPolicyArns) {
      if (!binding.policyArns.includes(policyArn)) actions.push({ kind: "DetachPolicy", roleName, policyArn });
    }
    const inline = role.inlinePolicies[inlinePolicyName];
    if (binding.inlinePolicy !== undefined) {
      if (inline === undefined || !policiesEqual(parsePolicyDocument(inline), binding.inlinePolicy)) {
        actions.push({
          kind: "PutInlinePolicy",
          roleName,
          policyName: inlinePolicyName,
          document: binding.inlinePolicy,
          before: inline,
        });
      }
    } else if (inline !== undefined) {
      actions.push({ kind: "DeleteInlinePolicy", roleName, policyName: inlinePolicyName });
    }
  }

  for (const namespace of binding.namespaces) {
    const sa = observed.serviceAccounts[namespace] ?? { exists: false, annotations: {}, ownedAnnotations: [] };
    // A fresh copy per namespace: `keep` below must not leak created-by onto another namespace's ServiceAccount.
    const desired = sa.exists ? { ...annotations } : { ...annotations, [irsaAnnotation.createdBy]: managedByValue };
    const keep = sa.annotations[irsaAnnotation.createdBy] !== undefined &&
      sa.ownedAnnotations.includes(irsaAnnotation.createdBy);
    if (keep) desired[irsaAnnotation.createdBy] = sa.annotations[irsaAnnotation.createdBy]!;
    const matches = sa.exists && Object.entries(desired).every(([k, v]) => sa.annotations[k] === v) &&
      sa.ownedAnnotations.every((k) => k in desired);
    if (!matches) {
      actions.push({
        kind: "ApplyServiceAccount",
        namespace,
        name: binding.serviceAccount,
        annotations: desired,
        create: !sa.exists,
        before: pick(sa.annotations, [...Object.keys(desired), ...sa.ownedAnnotations]),
      });
    }
  }
  return actions;
}

function pick(record: Record<string, string>, keys: string[]): Record<string, string> {
  return Object.fromEntries(keys.filter((k) => k in record).map((k) => [k, record[k]!]));
}

/** What unbind must know about the role that an annotation points at. */
export interface UnbindObserved {
  role: ObservedRole | undefined;
  serviceAccount: ObservedServiceAccount;
  /**
   * ServiceAccounts of the same name in the other namespaces the role trusts, by namespace: their binding records
   * lose the unbound namespace, so `list` does not call the rest of the binding drifted.
   */
  siblings?: Record<string, ObservedServiceAccount>;
}

/**
 * Plans `unbind` for one namespace: remove our annotations (and the ServiceAccount if we created it); drop this
 * namespace from the role's trust policy, or delete the role when no subject remains. A role that is not ours is
 * never changed.
 */
export function planUnbind(
  setup: SetupRecord,
  target: { namespace: string; serviceAccount: string; keepRole: boolean },
  observed: UnbindObserved,
): { actions: BindAction[]; warnings: string[] } {
  const actions: BindAction[] = [];
  const warnings: string[] = [];
  const role = observed.role;
  if (role && !target.keepRole) {
    if (!roleIsOurs(role, setup)) {
      warnings.push(`IAM role "${role.name}" was not created by kubectl-irsa for this cluster; it is left unchanged`);
    } else {
      const remaining = trustedSubjects(role.trustPolicy).filter((s) => s !== subjectOf(target));
      if (remaining.length > 0) {
        // Keep every other subject as it is, whatever ServiceAccount name it carries.
        const subjects = remaining.map((sub) => {
          const [, , namespace = "", serviceAccount = ""] = sub.split(":");
          return { namespace, serviceAccount };
        });
        const audience = trustedAudience(role.trustPolicy, setup);
        const trustPolicy = JSON.stringify(buildTrustPolicy({
          providerArn: setup.providerArn,
          issuerHostPath: issuerHostPath(setup.issuer),
          subjects,
          ...(audience !== undefined ? { audience } : {}),
        }));
        if (!policiesEqual(parsePolicyDocument(role.trustPolicy), trustPolicy)) {
          actions.push({ kind: "UpdateTrustPolicy", roleName: role.name, trustPolicy, before: role.trustPolicy });
        }
        // The ownership tag names the namespaces bind would name for what remains.
        const namespaces = subjects.filter((s) => s.serviceAccount === target.serviceAccount).map((s) => s.namespace);
        const tag = roleOwnershipTags(setup, { namespaces, serviceAccount: target.serviceAccount })[
          awsTag.serviceAccount
        ];
        if (namespaces.length > 0 && role.tags[awsTag.serviceAccount] !== tag) {
          actions.push({ kind: "TagRole", roleName: role.name, tags: { [awsTag.serviceAccount]: tag } });
        }
        for (const [namespace, sibling] of Object.entries(observed.siblings ?? {})) {
          if (namespace === target.namespace) continue;
          actions.push(...recordWithout(target.serviceAccount, namespace, sibling, target.namespace));
        }
      } else {
        actions.push(...roleRemoval(role));
      }
    }
  }
  actions.push(...serviceAccountRemoval(target.namespace, target.serviceAccount, observed.serviceAccount));
  return { actions, warnings };
}

/** Rewrites a sibling's binding record without `removed`; nothing when it records no such binding. */
function recordWithout(name: string, namespace: string, sa: ObservedServiceAccount, removed: string): BindAction[] {
  let recorded: Binding | undefined;
  try {
    recorded = recordedBinding(name, namespace, sa);
  } catch {
    return []; // a damaged record is list's to report, not unbind's to guess at
  }
  if (!recorded || !recorded.namespaces.includes(removed)) return [];
  const owned = pick(sa.annotations, sa.ownedAnnotations);
  const record = serializeBindingRecord({ ...recorded, namespaces: recorded.namespaces.filter((n) => n !== removed) });
  return [{
    kind: "ApplyServiceAccount",
    namespace,
    name,
    annotations: { ...owned, [irsaAnnotation.binding]: record },
    create: false,
    before: owned,
  }];
}

/** Deletes a role; IAM refuses DeleteRole while policies are attached, so they go first. */
function roleRemoval(role: ObservedRole): BindAction[] {
  return [
    ...role.attachedPolicyArns.map((policyArn): BindAction => ({
      kind: "DetachPolicy",
      roleName: role.name,
      policyArn,
    })),
    ...Object.keys(role.inlinePolicies).map((policyName): BindAction => ({
      kind: "DeleteInlinePolicy",
      roleName: role.name,
      policyName,
    })),
    { kind: "DeleteRole", roleName: role.name },
  ];
}

/** Undoes bind on one ServiceAccount: deletes it if bind created it, else removes only our annotations. */
function serviceAccountRemoval(namespace: string, name: string, sa: ObservedServiceAccount): BindAction[] {
  if (!sa.exists) return [];
  if (sa.annotations[irsaAnnotation.createdBy] === managedByValue) {
    return [{ kind: "DeleteServiceAccount", namespace, name }];
  }
  if (sa.ownedAnnotations.length === 0) return [];
  return [{
    kind: "ApplyServiceAccount",
    namespace,
    name,
    annotations: {},
    create: false,
    before: pick(sa.annotations, sa.ownedAnnotations),
  }];
}

/** A ServiceAccount by namespace and name. */
export interface ServiceAccountRef {
  namespace: string;
  name: string;
}

/**
 * What a binding wrote, as an IRSA object's status records it: its roles (by name; a role name is unique in an
 * account whatever its path) and its ServiceAccounts. Cleanup and spec edits remove by it, so what the spec no
 * longer names (a dropped namespace, a renamed role, a spec that no longer resolves) is still found.
 */
export interface BindingInventory {
  roleNames: string[];
  serviceAccounts: ServiceAccountRef[];
}

/** The inventory of a binding: what bind writes for it. */
export function bindingInventory(
  binding: Pick<Binding, "roleName" | "serviceAccount" | "namespaces">,
): BindingInventory {
  return {
    roleNames: [binding.roleName],
    serviceAccounts: binding.namespaces.map((namespace) => ({ namespace, name: binding.serviceAccount })),
  };
}

/** The union of inventories, without duplicates, in first-seen order. */
export function mergeInventories(...inventories: BindingInventory[]): BindingInventory {
  const roleNames = [...new Set(inventories.flatMap((i) => i.roleNames))];
  const seen = new Set<string>();
  const serviceAccounts: ServiceAccountRef[] = [];
  for (const sa of inventories.flatMap((i) => i.serviceAccounts)) {
    if (seen.has(serviceAccountKey(sa))) continue;
    seen.add(serviceAccountKey(sa));
    serviceAccounts.push({ namespace: sa.namespace, name: sa.name });
  }
  return { roleNames, serviceAccounts };
}

/** The key of a ServiceAccount in {@linkcode InventoryObserved}: `namespace/name`. */
export function serviceAccountKey(ref: ServiceAccountRef): string {
  return `${ref.namespace}/${ref.name}`;
}

/** What of `inventory` the desired binding no longer names; all of it when nothing is desired (deletion). */
export function undesiredInventory(inventory: BindingInventory, desired: Binding | undefined): BindingInventory {
  if (!desired) return mergeInventories(inventory);
  const wanted = new Set(bindingInventory(desired).serviceAccounts.map(serviceAccountKey));
  return {
    roleNames: inventory.roleNames.filter((n) => n !== desired.roleName),
    serviceAccounts: inventory.serviceAccounts.filter((sa) => !wanted.has(serviceAccountKey(sa))),
  };
}

/** What exists of the objects of an inventory: roles by name, ServiceAccounts by `namespace/name`. */
export interface InventoryObserved {
  roles: Record<string, ObservedRole | undefined>;
  serviceAccounts: Record<string, ObservedServiceAccount>;
}

/**
 * Plans removing what `inventory` holds and `desired` no longer names: after a spec edit the ServiceAccounts of a
 * dropped namespace (or of the old ServiceAccount name) and a renamed role; on deletion (`desired` undefined)
 * everything. It runs after the desired binding is applied, so the trust policy and the remaining records are
 * bind's to update. Only what is ours goes:
 * - a role with our ownership tags for this cluster; without a setup record (it was deleted) one whose
 *   managed-by tag is ours and whose service-account tag names exactly the inventory's ServiceAccounts;
 * - on a ServiceAccount, the annotations our field manager owns, or the whole ServiceAccount when we created it,
 *   and only while its role annotation (if any) still names one of our roles: a namespace handed to another
 *   binding keeps that binding's annotations.
 * Pure.
 */
export function planRemoveUndesired(
  setup: SetupRecord | undefined,
  target: { inventory: BindingInventory; desired: Binding | undefined; scope?: BindingScope },
  observed: InventoryObserved,
): { actions: BindAction[]; warnings: string[] } {
  const tenant = target.scope?.tenantNamespace;
  const actions: BindAction[] = [];
  const warnings: string[] = [];
  const undesired = undesiredInventory(target.inventory, target.desired);
  const ourRoles = new Set([...target.inventory.roleNames, ...(target.desired ? [target.desired.roleName] : [])]);
  for (const ref of undesired.serviceAccounts) {
    const sa = observed.serviceAccounts[serviceAccountKey(ref)];
    if (!sa?.exists) continue;
    if (tenant !== undefined && ref.namespace !== tenant) {
      warnings.push(`ServiceAccount ${serviceAccountKey(ref)} is outside namespace ${tenant}; it is left unchanged`);
      continue;
    }
    const arn = sa.annotations[saAnnotation.roleArn];
    const boundTo = arn === undefined ? undefined : roleNameOfArn(arn);
    if (arn !== undefined && (boundTo === undefined || !ourRoles.has(boundTo))) {
      warnings.push(`ServiceAccount ${serviceAccountKey(ref)} is bound to ${arn} now; it is left unchanged`);
      continue;
    }
    actions.push(...serviceAccountRemoval(ref.namespace, ref.name, sa));
  }
  const inventoryTags = new Set(
    [...new Set(target.inventory.serviceAccounts.map((sa) => sa.name))].map((name) =>
      serviceAccountTag({
        serviceAccount: name,
        namespaces: target.inventory.serviceAccounts.filter((sa) => sa.name === name).map((sa) => sa.namespace),
      })
    ),
  );
  for (const name of undesired.roleNames) {
    const role = observed.roles[name];
    if (!role) continue;
    const ours = setup
      ? roleIsOurs(role, setup)
      : role.tags[awsTag.managedBy] === managedByValue && inventoryTags.has(role.tags[awsTag.serviceAccount] ?? "");
    if (!ours) {
      warnings.push(`IAM role "${role.name}" was not created by kubectl-irsa for this cluster; it is left unchanged`);
      continue;
    }
    if (tenant !== undefined && !roleBelongsToNamespace(role, tenant)) {
      warnings.push(`IAM role "${role.name}" does not belong to namespace ${tenant}; it is left unchanged`);
      continue;
    }
    actions.push(...roleRemoval(role));
  }
  return { actions, warnings };
}

function roleNameOfArn(arn: string): string | undefined {
  try {
    return validateRoleArn(arn).name;
  } catch {
    return undefined;
  }
}

/** The `sub` values a trust policy allows under StringEquals. */
export function trustedSubjects(trustPolicy: string): string[] {
  const out: string[] = [];
  for (const st of statementsOf(trustPolicy)) {
    for (const [key, value] of Object.entries(st.Condition?.StringEquals ?? {})) {
      if (key.endsWith(":sub")) out.push(...(Array.isArray(value) ? value : [value]).map(String));
    }
  }
  return out;
}

function trustedAudience(trustPolicy: string, setup: SetupRecord): string | undefined {
  const key = `${issuerHostPath(setup.issuer)}:aud`;
  for (const st of statementsOf(trustPolicy)) {
    const value = st.Condition?.StringEquals?.[key];
    if (value !== undefined) return String(Array.isArray(value) ? value[0] : value);
  }
  return undefined;
}

function statementsOf(policy: string) {
  const doc = parsePolicyDocument(policy);
  return Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement];
}

/** A one-line description of an action. */
export function describeBindAction(a: BindAction): string {
  switch (a.kind) {
    case "CreateRole":
      return `create IAM role "${a.roleName}" (path ${a.path}) trusted by the ServiceAccount`;
    case "UpdateTrustPolicy":
      return `update the trust policy of IAM role "${a.roleName}"`;
    case "UpdateMaxSessionDuration":
      return `set max session duration of "${a.roleName}": ${a.before}s -> ${a.seconds}s`;
    case "PutPermissionsBoundary":
      return `set permissions boundary of "${a.roleName}" to ${a.arn}`;
    case "TagRole":
      return `tag IAM role "${a.roleName}" (${Object.keys(a.tags).join(", ")})`;
    case "AttachPolicy":
      return `attach ${a.policyArn} to "${a.roleName}"`;
    case "DetachPolicy":
      return `detach ${a.policyArn} from "${a.roleName}"`;
    case "PutInlinePolicy":
      return `${a.before === undefined ? "add" : "update"} inline policy "${a.policyName}" of "${a.roleName}"`;
    case "DeleteInlinePolicy":
      return `delete inline policy "${a.policyName}" of "${a.roleName}"`;
    case "DeleteRole":
      return `delete IAM role "${a.roleName}"`;
    case "ApplyServiceAccount":
      return Object.keys(a.annotations).length === 0
        ? `remove kubectl-irsa annotations from ServiceAccount ${a.namespace}/${a.name}`
        : `${a.create ? "create" : "annotate"} ServiceAccount ${a.namespace}/${a.name}`;
    case "DeleteServiceAccount":
      return `delete ServiceAccount ${a.namespace}/${a.name} (created by kubectl-irsa)`;
  }
}

/**
 * Drift of a recorded binding, for `list`: exactly what bind would change now (its own plan), each part described.
 * A binding bind would refuse (a foreign role or annotation) is a conflict, not a plan.
 */
export function bindingDrift(
  setup: SetupRecord,
  binding: Binding,
  observed: BindObserved,
): { actions: BindAction[]; drift: string[]; conflict?: IrsaError } {
  let actions: BindAction[];
  try {
    actions = planBind(setup, binding, observed);
  } catch (e) {
    if (e instanceof IrsaError && e.kind === "conflict") return { actions: [], drift: [], conflict: e };
    throw e;
  }
  return { actions, drift: actions.map(describeDrift) };
}

/**
 * What an action of a bind plan says about the present state, for `list`: a plan that is not empty is drift, and
 * each action names the part that differs from the recorded binding.
 */
export function describeDrift(a: BindAction): string {
  switch (a.kind) {
    case "CreateRole":
      return `IAM role "${a.roleName}" does not exist`;
    case "UpdateTrustPolicy":
      return `the trust policy of "${a.roleName}" differs: ${
        trustPolicyDiff(parsePolicyDocument(a.before), parsePolicyDocument(a.trustPolicy)).join(", ")
      }`;
    case "UpdateMaxSessionDuration":
      return `max session duration is ${a.before}s, not ${a.seconds}s`;
    case "PutPermissionsBoundary":
      return `permissions boundary is ${a.before ?? "none"}, not ${a.arn}`;
    case "TagRole":
      return `tag${Object.keys(a.tags).length > 1 ? "s" : ""} ${
        Object.entries(a.tags).map(([k, v]) => `${k}=${v}`).join(", ")
      } missing or changed`;
    case "AttachPolicy":
      return `${a.policyArn} is not attached`;
    case "DetachPolicy":
      return `${a.policyArn} is attached but not bound`;
    case "PutInlinePolicy":
      return `inline policy "${a.policyName}" ${a.before === undefined ? "is missing" : "differs"}`;
    case "DeleteInlinePolicy":
      return `inline policy "${a.policyName}" is attached but not bound`;
    case "ApplyServiceAccount": {
      if (a.create) return `ServiceAccount ${a.namespace}/${a.name} does not exist`;
      const keys = [...new Set([...Object.keys(a.before), ...Object.keys(a.annotations)])]
        .filter((k) => a.before[k] !== a.annotations[k]);
      return `annotation${keys.length > 1 ? "s" : ""} ${keys.join(", ")} of ServiceAccount ${a.namespace}/${a.name} ${
        keys.length > 1 ? "differ" : "differs"
      }`;
    }
    case "DeleteRole":
    case "DeleteServiceAccount":
      return describeBindAction(a);
  }
}

/** Readable diff lines under an action, for --dry-run. */
export function bindActionDiff(a: BindAction): string[] {
  switch (a.kind) {
    case "UpdateTrustPolicy":
      return trustPolicyDiff(parsePolicyDocument(a.before), parsePolicyDocument(a.trustPolicy));
    case "CreateRole":
      return [
        ...trustedSubjects(a.trustPolicy).map((s) => `+ trusts ${s}`),
        ...Object.entries(a.tags).map(([k, v]) => `+ tag ${k}=${v}`),
      ];
    case "TagRole":
      return Object.entries(a.tags).map(([k, v]) => `+ tag ${k}=${v}`);
    case "ApplyServiceAccount": {
      const lines: string[] = [];
      for (const [k, v] of Object.entries(a.before)) if (a.annotations[k] !== v) lines.push(`- ${k}: ${v}`);
      for (const [k, v] of Object.entries(a.annotations)) if (a.before[k] !== v) lines.push(`+ ${k}: ${v}`);
      return lines;
    }
    default:
      return [];
  }
}
