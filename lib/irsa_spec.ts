// A binding as an IRSA custom resource and back. `bind --dry-run -o yaml|json` renders a Binding as an IRSA
// object (the GitOps export) and the daemon reads every IRSA object back into a BindRequest; both directions live
// here so that a field bind honours cannot be dropped on the way (irsa_spec_test.ts runs every field through).
import { createHash } from "node:crypto";
import type { BindRequest } from "./bind.ts";
import { validateRoleArn } from "./arn.ts";
import type { Binding, BindingInventory } from "./bind_plan.ts";
import type { IrsaSpec, IrsaStatus } from "./crds.ts";
import { crdGroup, crdVersion, systemNamespace } from "./names.ts";

/** An IRSA object as `bind --dry-run -o yaml|json` prints it. */
export interface IrsaManifest {
  apiVersion: string;
  kind: "IRSA";
  metadata: { name: string; namespace: string };
  spec: IrsaSpec;
}

/** Longest object name Kubernetes accepts (a DNS-1123 subdomain). */
const maxObjectName = 253;
/** Hex digits of SHA-256 in an object name: 40 bits, so distinct bindings meet by chance about once in 10^12. */
const nameHashLength = 10;

/**
 * The IRSA object name of a ServiceAccount name bound in a set of namespaces: `<ns1>.<ns2>.<sa>-<hash>`, the
 * namespaces sorted and deduplicated, cut to 253 characters when long. The readable part alone could collide (a
 * ServiceAccount name may hold dots: ns `a` + sa `b.app` reads like ns `a`, `b` + sa `app`), so the hash of the
 * exact pair is always there; it depends on the namespace set, not on the order of `-n` flags nor on the role.
 */
export function irsaObjectName(serviceAccount: string, namespaces: readonly string[]): string {
  const set = [...new Set(namespaces)].sort();
  const hash = createHash("sha256").update(JSON.stringify([set, serviceAccount])).digest("hex").slice(
    0,
    nameHashLength,
  );
  // A cut that ends in "." or "-" would leave an empty label or "--"; the hash keeps the name distinct.
  const head = [...set, serviceAccount].join(".").slice(0, maxObjectName - nameHashLength - 1).replace(/[-.]+$/, "");
  return `${head}-${hash}`;
}

/**
 * The IRSA spec that makes the daemon do what `bind` does for `binding`: the resolved role name and policy ARNs
 * (so the object does not depend on the defaults of the plugin version that printed it) and every optional field
 * the binding sets. Fields the binding leaves unset stay absent: for bind and the daemon alike, absent means "the
 * default on create, left alone on an existing role" (max session duration, boundary), which an explicit default
 * would not be. `cleanup: true` does on deletion what `unbind` does.
 */
export function irsaSpecOf(binding: Binding): IrsaSpec {
  const iamRole: NonNullable<IrsaSpec["iamRole"]> = { name: binding.roleName, path: binding.rolePath };
  if (binding.maxSessionDuration !== undefined) iamRole.maxSessionDuration = binding.maxSessionDuration;
  const spec: IrsaSpec = {
    cleanup: true,
    serviceAccount: { name: binding.serviceAccount, namespaces: [...binding.namespaces] },
    iamRole,
    iamPolicies: [...binding.policyArns],
  };
  if (binding.inlinePolicy !== undefined) spec.inlinePolicy = binding.inlinePolicy;
  if (binding.permissionsBoundaryArn !== undefined) spec.permissionsBoundary = binding.permissionsBoundaryArn;
  if (Object.keys(binding.tags).length > 0) spec.tags = { ...binding.tags };
  if (binding.audience !== undefined) spec.audience = binding.audience;
  if (binding.stsRegionalEndpoints !== undefined) spec.stsRegionalEndpoints = binding.stsRegionalEndpoints;
  if (binding.tokenExpiration !== undefined) spec.tokenExpiration = binding.tokenExpiration;
  if (binding.adopt) spec.adopt = true;
  return spec;
}

/** The whole IRSA object of a binding, in the daemon's namespace where the seed's IRSA objects live. */
export function irsaManifest(binding: Binding): IrsaManifest {
  return {
    apiVersion: `${crdGroup}/${crdVersion}`,
    kind: "IRSA",
    metadata: { name: irsaObjectName(binding.serviceAccount, binding.namespaces), namespace: systemNamespace },
    spec: irsaSpecOf(binding),
  };
}

/** The BindRequest an IRSA spec stands for; the daemon resolves it with the same code as `bind`. */
export function bindRequestOf(spec: IrsaSpec): BindRequest {
  // Missing names are left empty for resolveBinding to refuse with a clear message.
  const req: BindRequest = {
    serviceAccount: spec.serviceAccount?.name ?? "",
    namespaces: spec.serviceAccount?.namespaces ?? [],
    policies: spec.iamPolicies ?? [],
    tags: spec.tags ?? {},
    adopt: spec.adopt ?? false,
  };
  if (spec.iamRole?.name !== undefined) req.roleName = spec.iamRole.name;
  if (spec.iamRole?.path !== undefined) req.rolePath = spec.iamRole.path;
  if (spec.iamRole?.maxSessionDuration !== undefined) req.maxSessionDuration = spec.iamRole.maxSessionDuration;
  if (spec.inlinePolicy !== undefined) req.inlinePolicy = spec.inlinePolicy;
  if (spec.permissionsBoundary !== undefined) req.permissionsBoundary = spec.permissionsBoundary;
  if (spec.audience !== undefined) req.audience = spec.audience;
  if (spec.stsRegionalEndpoints !== undefined) req.stsRegionalEndpoints = spec.stsRegionalEndpoints;
  if (spec.tokenExpiration !== undefined) req.tokenExpiration = spec.tokenExpiration;
  return req;
}

/**
 * What an IRSA object bound last time, read back from its status: the role of `status.roleArn` and the
 * ServiceAccounts of `status.serviceAccounts` (the seed's inventory field). A role ARN that cannot be read names
 * no role.
 */
export function irsaInventory(status: IrsaStatus | undefined): BindingInventory {
  let roleNames: string[] = [];
  if (status?.roleArn) {
    try {
      roleNames = [validateRoleArn(status.roleArn).name];
    } catch {
      roleNames = [];
    }
  }
  const serviceAccounts = (status?.serviceAccounts ?? [])
    .filter((sa) => typeof sa?.name === "string" && typeof sa.namespace === "string" && sa.name && sa.namespace)
    .map((sa) => ({ namespace: sa.namespace, name: sa.name }));
  return { roleNames, serviceAccounts };
}

/** The status fields that hold a binding's inventory, for the reconciler to write after a successful bind. */
export function inventoryStatus(
  roleArn: string,
  inventory: BindingInventory,
): Pick<IrsaStatus, "roleArn" | "serviceAccounts"> {
  return {
    roleArn,
    serviceAccounts: inventory.serviceAccounts.map((sa) => ({ name: sa.name, namespace: sa.namespace })),
  };
}
