// The setup `init` records in the cluster (a ConfigMap in kube-system), so `bind`, `doctor` and the daemon
// need no repeated flags and agree on one issuer, provider and bucket.
import { isPartition, type Partition } from "./arn.ts";
import { IrsaError } from "./errors.ts";
import { label, managedByValue, setupRecord as where } from "./names.ts";

/** Where the cluster's signing keys come from; "eks" when EKS runs the issuer. */
export type KeySource = "cluster" | "generate" | "eks";

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
}

/** The ConfigMap manifest holding the record, for server-side apply. */
export function setupConfigMap(record: SetupRecord): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: where.name, namespace: where.namespace, labels: { [label.managedBy]: managedByValue } },
    data: { [where.key]: serializeSetupRecord(record) },
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
  if (!["cluster", "generate", "eks"].includes(String(raw.keySource))) throw damaged(`unknown keySource`);
  const previous = Array.isArray(raw.previousIssuers) ? raw.previousIssuers.filter((i) => typeof i === "string") : [];
  return { ...(raw as unknown as SetupRecord), previousIssuers: previous };
}
