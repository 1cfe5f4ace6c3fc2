// The setup `init` records in the cluster (a ConfigMap in kube-system), so `bind`, `doctor` and the daemon
// need no repeated flags and agree on one issuer, provider and bucket.
import { isPartition, type Partition } from "./arn.ts";
import {
  admissionParamData,
  type BindingPolicy,
  normalizeBindingPolicy,
  validateBindingPolicy,
} from "./binding_policy.ts";
import { IrsaError } from "./errors.ts";
import { label, managedByValue, setupRecord as where } from "./names.ts";

/** Where the cluster's signing keys come from; "eks" when EKS runs the issuer, "kms" for the KMS-backed signer. */
export type KeySource = "cluster" | "generate" | "kms" | "eks";

/** What `init` set up. */
export interface SetupRecord {
  issuer: string;
  jwksUri: string;
  providerArn: string;
  /** Empty in EKS mode, where AWS hosts the issuer. */
  bucket: string;
  region: string;
  account: string;
  partition: Partition;
  keySource: KeySource;
  /** Names roles and tags AWS resources; unique per cluster. */
  clusterName: string;
  /** Issuers the apiserver used before this one; they stay accepted so existing tokens keep working. */
  previousIssuers: string[];
  /** What tenant roles may get, and the path and boundary of every role; absent: the defaults. */
  bindingPolicy?: BindingPolicy;
  /** KMS key source: the signer's keys, the signing one first (as given), and their kids. */
  kmsKeys?: { key: string; kid: string }[];
  /** Absent: the bucket serves the issuer itself (public read of two objects). */
  hosting?: CloudFrontHostingRecord;
}

/** A private bucket behind our CloudFront distribution. */
export interface CloudFrontHostingRecord {
  kind: "cloudfront";
  distributionId: string;
  distributionArn: string;
  domainName: string;
}

/** The ConfigMap manifest holding the record, for server-side apply. */
export function setupConfigMap(record: SetupRecord): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: where.name, namespace: where.namespace, labels: { [label.managedBy]: managedByValue } },
    // The policy.* keys are the binding policy for the ValidatingAdmissionPolicy, which cannot parse JSON.
    data: { [where.key]: serializeSetupRecord(record), ...admissionParamData(record.bindingPolicy, record.partition) },
  };
}

/** Stable JSON of the record (field order fixed), so an unchanged record compares equal as text. */
export function serializeSetupRecord(record: SetupRecord): string {
  const ordered: SetupRecord = {
    issuer: record.issuer,
    jwksUri: record.jwksUri,
    providerArn: record.providerArn,
    bucket: record.bucket,
    region: record.region,
    account: record.account,
    partition: record.partition,
    keySource: record.keySource,
    clusterName: record.clusterName,
    previousIssuers: record.previousIssuers,
  };
  if (record.bindingPolicy !== undefined) ordered.bindingPolicy = normalizeBindingPolicy(record.bindingPolicy);
  if (record.kmsKeys !== undefined) ordered.kmsKeys = record.kmsKeys;
  if (record.hosting !== undefined) ordered.hosting = record.hosting;
  return JSON.stringify(ordered, null, 2) + "\n";
}

/** Reads the record from the ConfigMap's data; throws when it is damaged, so nothing acts on half a setup. */
export function parseSetupRecord(data: Record<string, string> | undefined): SetupRecord {
  const text = data?.[where.key];
  const damaged = (why: string) =>
    new IrsaError(
      "precondition",
      "SetupRecordDamaged",
      `the setup record ${where.namespace}/${where.name} is damaged (${why})`,
      { remedies: [{ kind: "init", again: true }] },
    );
  if (!text) throw damaged(`no "${where.key}" key`);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text);
  } catch {
    throw damaged("not JSON");
  }
  const strings = ["issuer", "jwksUri", "providerArn", "region", "account", "clusterName"] as const;
  for (const key of strings) if (typeof raw[key] !== "string" || raw[key] === "") throw damaged(`"${key}" missing`);
  if (typeof raw.bucket !== "string") throw damaged(`"bucket" missing`);
  if (!isPartition(String(raw.partition))) throw damaged(`unknown partition "${raw.partition}"`);
  if (!["cluster", "generate", "kms", "eks"].includes(String(raw.keySource))) throw damaged(`unknown keySource`);
  const kmsKey = (k: unknown) =>
    typeof k === "object" && k !== null && typeof (k as Record<string, unknown>).key === "string" &&
    typeof (k as Record<string, unknown>).kid === "string";
  if (raw.kmsKeys !== undefined && !(Array.isArray(raw.kmsKeys) && raw.kmsKeys.every(kmsKey))) {
    throw damaged(`"kmsKeys" not a list of keys`);
  }
  const h = raw.hosting as Record<string, unknown> | undefined;
  if (
    h !== undefined &&
    !(h?.kind === "cloudfront" &&
      ["distributionId", "distributionArn", "domainName"].every((k) => typeof h[k] === "string"))
  ) {
    throw damaged(`"hosting" not a CloudFront distribution`);
  }
  if (raw.keySource === "kms" && !(Array.isArray(raw.kmsKeys) && raw.kmsKeys.length > 0)) {
    throw damaged(`"kmsKeys" missing`);
  }
  const previous = Array.isArray(raw.previousIssuers) ? raw.previousIssuers.filter((i) => typeof i === "string") : [];
  const record = { ...(raw as unknown as SetupRecord), previousIssuers: previous };
  if (raw.bindingPolicy !== undefined) {
    if (typeof raw.bindingPolicy !== "object" || raw.bindingPolicy === null) {
      throw damaged(`"bindingPolicy" not an object`);
    }
    try {
      validateBindingPolicy(raw.bindingPolicy as BindingPolicy, "bindingPolicy");
    } catch (e) {
      throw damaged(e instanceof Error ? e.message : String(e));
    }
  }
  return record;
}
