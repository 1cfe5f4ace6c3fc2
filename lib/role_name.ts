// Default role names must be stable across runs (the name is how we find the role again) and distinct for every
// binding in a cluster, while staying inside IAM's 64 characters.

import { createHash } from "node:crypto";
import { invalid } from "./errors.ts";
import { validateDnsLabel, validateDnsSubdomain } from "./validate.ts";

/** Longest role name IAM accepts. */
export const maxRoleNameLength = 64;

/** Inputs of {@link defaultRoleName}. */
export interface RoleNameInput {
  clusterName: string;
  /** One namespace, or several that share one role (`bind -n a -n b`). */
  namespace: string | readonly string[];
  serviceAccount: string;
}

/**
 * The default IAM role name of a binding: `irsa-<cluster>-<namespaces>_<sa>`, with several namespaces sorted and
 * joined by ".". Namespaces hold neither "." nor "_" and ServiceAccount names hold no "_", so within one cluster
 * no two bindings share a name (plain "-" separators would make ns "a" + sa "b-c" collide with ns "a-b" + sa
 * "c"). Characters IAM refuses in the cluster name become "-". A name over 64 characters is cut and ends with "-"
 * and the first 8 hex digits of the SHA-256 of the full name, so it stays deterministic and distinct.
 */
export function defaultRoleName(input: RoleNameInput): string {
  const namespaces = typeof input.namespace === "string" ? [input.namespace] : [...input.namespace];
  if (namespaces.length === 0) throw invalid("InvalidName", "A role needs at least one namespace");
  for (const ns of namespaces) validateDnsLabel("namespace", ns);
  validateDnsSubdomain("ServiceAccount name", input.serviceAccount);
  const cluster = input.clusterName.replace(/[^\w+=,.@-]/g, "-");
  if (cluster.length === 0) {
    throw invalid("InvalidName", "The cluster name is empty", { remedies: [{ kind: "clusterName" }] });
  }
  const joined = [...new Set(namespaces)].sort().join(".");
  const full = `irsa-${cluster}-${joined}_${input.serviceAccount}`;
  if (full.length <= maxRoleNameLength) return full;
  const hash = createHash("sha256").update(full).digest("hex").slice(0, 8);
  // A cut that ends in a separator would read as "a--1f2e…"; drop it, the hash keeps the name distinct.
  const head = full.slice(0, maxRoleNameLength - hash.length - 1).replace(/[-._]+$/, "");
  return `${head}-${hash}`;
}
