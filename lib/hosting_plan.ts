// Issuer hosting on CloudFront: the discovery bucket stays private (Block Public Access fully on) and a
// distribution reads it through an Origin Access Control, so the issuer is https://<distribution domain>. Pure:
// from what should exist and what does, the list of actions, read alike by --dry-run, the daemon and the tests.
import { IrsaError } from "./errors.ts";
import { awsTag, managedByValue } from "./names.ts";
import type {
  DistributionSettings,
  ObservedDistribution,
  ObservedOriginAccessControl,
  OriginAccessControlConfig,
} from "./aws/cloudfront_port.ts";

/** Tag naming the discovery bucket a distribution serves, beside awsTag.managedBy. */
export const bucketTag = "kubectl-irsa/bucket";

/** CloudFront's managed CachingOptimized cache policy: no cookies, headers or query strings reach S3. */
export const cachingOptimizedPolicyId = "658327ea-f89d-4fab-a63d-7e88639e58f6";

/** Id of the bucket's origin inside the distribution. */
export const discoveryOriginId = "kubectl-irsa-discovery-bucket";

/** Longest OAC name CloudFront accepts. */
const maxOacNameLength = 64;

/** What issuer hosting on CloudFront wants to exist. */
export interface CloudFrontHostingDesired {
  bucket: string;
  /** The bucket's region. */
  region: string;
  /** An issuer host of one's own and its ACM certificate in us-east-1; absent serves on the distribution's domain. */
  customDomain?: { name: string; certificateArn: string };
}

/** What CloudFront holds now. */
export interface CloudFrontObserved {
  /** The OAC named {@linkcode originAccessControlName}. */
  originAccessControl: ObservedOriginAccessControl | undefined;
  /** The distribution found by {@linkcode distributionMatch}. */
  distribution: ObservedDistribution | undefined;
}

/** The OAC a planned distribution signs with: one that exists, or the one created earlier in the same plan. */
export type OriginAccessControlRef = { id: string } | { createdByPlan: string };

/** One field that differs, as text. */
export interface FieldChange {
  field: string;
  before: string;
  after: string;
}

/**
 * One change to CloudFront. Plain data: printed by --dry-run, executed in order. When `originAccessControl` is
 * `createdByPlan`, the settings hold "" for the OAC id: the applier puts in the id CreateOriginAccessControl
 * returned ({@linkcode withOriginAccessControl}). A DeleteDistribution that answers "pending" ends the run; the next
 * plan starts from there.
 */
export type CloudFrontAction =
  | { kind: "CreateOriginAccessControl"; config: OriginAccessControlConfig }
  | {
    kind: "UpdateOriginAccessControl";
    id: string;
    etag: string;
    config: OriginAccessControlConfig;
    changes: FieldChange[];
  }
  | {
    kind: "CreateDistribution";
    settings: DistributionSettings;
    originAccessControl: OriginAccessControlRef;
    tags: Record<string, string>;
  }
  | {
    kind: "UpdateDistribution";
    id: string;
    domainName: string;
    etag: string;
    settings: DistributionSettings;
    originAccessControl: OriginAccessControlRef;
    changes: FieldChange[];
  }
  | { kind: "TagDistribution"; id: string; arn: string; tags: Record<string, string> }
  | { kind: "DisableDistribution"; id: string; domainName: string }
  /** Until the distribution is Deployed: the CLI polls, the daemon requeues. */
  | { kind: "WaitForDistribution"; id: string; domainName: string }
  | { kind: "DeleteDistribution"; id: string; domainName: string }
  | { kind: "DeleteOriginAccessControl"; id: string; name: string };

/** The bucket's S3 REST endpoint, the origin CloudFront signs requests to (not the website endpoint). */
export function s3RestEndpoint(bucket: string, region: string): string {
  return `${bucket}.s3.${region}.${region.startsWith("cn-") ? "amazonaws.com.cn" : "amazonaws.com"}`;
}

/** The comment on our distribution: how it is recognised when its tags are lost. */
export function distributionComment(bucket: string): string {
  return `kubectl-irsa OIDC issuer for s3://${bucket}`;
}

/**
 * The OAC's name: `kubectl-irsa-<bucket>`, cut to 64 characters with the first 8 hex digits of the FNV-1a hash of
 * the bucket name at the end, so that it stays stable (it is how the OAC is found again) and distinct.
 */
export function originAccessControlName(bucket: string): string {
  const full = `${managedByValue}-${bucket}`;
  if (full.length <= maxOacNameLength) return full;
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(bucket)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  const suffix = hash.toString(16).padStart(8, "0");
  return `${full.slice(0, maxOacNameLength - suffix.length - 1).replace(/[-.]+$/, "")}-${suffix}`;
}

/** The OAC: SigV4 on every request to the S3 origin. */
export function originAccessControlConfig(bucket: string): OriginAccessControlConfig {
  return {
    name: originAccessControlName(bucket),
    description: `kubectl-irsa: CloudFront reads the OIDC discovery documents in s3://${bucket}`,
    signingProtocol: "sigv4",
    signingBehavior: "always",
    originType: "s3",
  };
}

/** The tags our distribution carries. */
export function distributionTags(bucket: string): Record<string, string> {
  return { [awsTag.managedBy]: managedByValue, [bucketTag]: bucket };
}

/** How the port finds our distribution (CloudFrontPort.findDistribution). */
export function distributionMatch(desired: Pick<CloudFrontHostingDesired, "bucket" | "region">): {
  tags: Record<string, string>;
  comment: string;
  originDomainName: string;
} {
  return {
    tags: distributionTags(desired.bucket),
    comment: distributionComment(desired.bucket),
    originDomainName: s3RestEndpoint(desired.bucket, desired.region),
  };
}

/** The distribution issuer hosting wants, signing with the OAC `originAccessControlId` ("" when not known yet). */
export function desiredDistributionSettings(
  desired: CloudFrontHostingDesired,
  originAccessControlId: string,
): DistributionSettings {
  return {
    comment: distributionComment(desired.bucket),
    enabled: true,
    origins: [{
      id: discoveryOriginId,
      domainName: s3RestEndpoint(desired.bucket, desired.region),
      originPath: "",
      originAccessControlId,
      // An OAC origin keeps S3OriginConfig with an empty OAI; a legacy OAI would be a second way in.
      s3OriginAccessIdentity: "",
    }],
    targetOriginId: discoveryOriginId,
    viewerProtocolPolicy: "https-only",
    cachePolicyId: cachingOptimizedPolicyId,
    allowedMethods: ["GET", "HEAD"],
    cachedMethods: ["GET", "HEAD"],
    compress: true,
    edgeFunctions: 0,
    cacheBehaviors: 0,
    httpVersion: "http2and3",
    priceClass: "PriceClass_100",
    defaultRootObject: "",
    aliases: desired.customDomain ? [desired.customDomain.name] : [],
    certificateArn: desired.customDomain?.certificateArn,
  };
}

/** `settings` signing with the OAC `id`, for an action whose OAC was `createdByPlan`. Pure. */
export function withOriginAccessControl(settings: DistributionSettings, id: string): DistributionSettings {
  return { ...settings, origins: settings.origins.map((o) => ({ ...o, originAccessControlId: id })) };
}

/** Whether a found distribution is ours: tagged for this bucket, or untagged but carrying our comment. */
export function distributionOwnership(
  d: ObservedDistribution,
  bucket: string,
): "owned" | "untagged" | "foreign" {
  const managedBy = d.tags[awsTag.managedBy];
  const taggedBucket = d.tags[bucketTag];
  if (managedBy === managedByValue && taggedBucket === bucket) return "owned";
  // Tags are lost only by hand (the create tags atomically); the comment is ours, so is the distribution.
  if (managedBy === undefined && taggedBucket === undefined && d.settings.comment === distributionComment(bucket)) {
    return "untagged";
  }
  return "foreign";
}

function originText(o: DistributionSettings["origins"][number], ref?: OriginAccessControlRef): string {
  const oac = ref && "createdByPlan" in ref ? `new ${ref.createdByPlan}` : o.originAccessControlId || "none";
  const oai = o.s3OriginAccessIdentity === undefined ? "custom origin" : o.s3OriginAccessIdentity || "none";
  return `${o.id}=${o.domainName}${o.originPath} (OAC ${oac}, OAI ${oai})`;
}

function settingsFields(s: DistributionSettings, ref?: OriginAccessControlRef): Record<string, string> {
  const list = (values: string[]) => values.length ? [...values].sort().join(",") : "none";
  return {
    comment: s.comment,
    enabled: String(s.enabled),
    origins: s.origins.map((o) => originText(o, ref)).join("; ") || "none",
    targetOriginId: s.targetOriginId,
    viewerProtocolPolicy: s.viewerProtocolPolicy,
    cachePolicyId: s.cachePolicyId || "none",
    allowedMethods: list(s.allowedMethods),
    cachedMethods: list(s.cachedMethods),
    compress: String(s.compress),
    edgeFunctions: String(s.edgeFunctions),
    cacheBehaviors: String(s.cacheBehaviors),
    httpVersion: s.httpVersion,
    priceClass: s.priceClass,
    defaultRootObject: s.defaultRootObject || "none",
    aliases: list(s.aliases),
    certificate: s.certificateArn ?? "CloudFront default",
  };
}

function changesBetween(before: Record<string, string>, after: Record<string, string>): FieldChange[] {
  return Object.keys(after)
    .filter((field) => before[field] !== after[field])
    .map((field) => ({ field, before: before[field] ?? "", after: after[field] ?? "" }));
}

/** The fields of a distribution that differ from the wanted settings (the OAC by `ref`). Pure. */
export function distributionChanges(
  observed: DistributionSettings,
  wanted: DistributionSettings,
  ref: OriginAccessControlRef,
): FieldChange[] {
  return changesBetween(settingsFields(observed), settingsFields(wanted, ref));
}

function oacFields(c: OriginAccessControlConfig): Record<string, string> {
  return {
    description: c.description,
    signingProtocol: c.signingProtocol,
    signingBehavior: c.signingBehavior,
    originType: c.originType,
  };
}

/**
 * Plans issuer hosting on CloudFront. Throws IrsaError when the distribution found carries our comment but
 * belongs to someone else (another tag set), rather than creating a second one beside it.
 */
export function planCloudFrontHosting(
  desired: CloudFrontHostingDesired,
  observed: CloudFrontObserved,
): CloudFrontAction[] {
  const actions: CloudFrontAction[] = [];
  const oacConfig = originAccessControlConfig(desired.bucket);
  const oac = observed.originAccessControl;
  let ref: OriginAccessControlRef;
  if (!oac) {
    actions.push({ kind: "CreateOriginAccessControl", config: oacConfig });
    ref = { createdByPlan: oacConfig.name };
  } else {
    const changes = changesBetween(oacFields(oac), oacFields(oacConfig));
    if (changes.length > 0) {
      actions.push({ kind: "UpdateOriginAccessControl", id: oac.id, etag: oac.etag, config: oacConfig, changes });
    }
    ref = { id: oac.id };
  }
  const settings = desiredDistributionSettings(desired, "id" in ref ? ref.id : "");
  const tags = distributionTags(desired.bucket);
  const d = observed.distribution;
  if (!d) {
    actions.push({ kind: "CreateDistribution", settings, originAccessControl: ref, tags });
    return actions;
  }
  const ownership = distributionOwnership(d, desired.bucket);
  if (ownership === "foreign") {
    throw new IrsaError(
      "conflict",
      "DistributionNotOwned",
      `CloudFront distribution ${d.id} (${d.domainName}) carries the comment "${d.settings.comment}" but is not tagged ${awsTag.managedBy}=${managedByValue}, ${bucketTag}=${desired.bucket}`,
      {
        remedies: [{
          kind: "other",
          text: `tag the distribution ${awsTag.managedBy}=${managedByValue} and ${bucketTag}=${desired.bucket} to ` +
            "let kubectl-irsa manage it, or change its comment",
        }],
      },
    );
  }
  if (ownership === "untagged") actions.push({ kind: "TagDistribution", id: d.id, arn: d.arn, tags });
  const changes = distributionChanges(d.settings, settings, ref);
  if (changes.length > 0) {
    actions.push({
      kind: "UpdateDistribution",
      id: d.id,
      domainName: d.domainName,
      etag: d.etag,
      settings,
      originAccessControl: ref,
      changes,
    });
  }
  return actions;
}

/**
 * Plans removing issuer hosting: our distribution is disabled, waited for, deleted, then our OAC deleted. A
 * foreign distribution is left alone, and so is our OAC while that distribution still signs with it.
 */
export function planCloudFrontTeardown(
  desired: Pick<CloudFrontHostingDesired, "bucket">,
  observed: CloudFrontObserved,
): CloudFrontAction[] {
  const actions: CloudFrontAction[] = [];
  const d = observed.distribution;
  const ours = d !== undefined && distributionOwnership(d, desired.bucket) !== "foreign";
  if (d && ours) {
    const { id, domainName } = d;
    if (d.settings.enabled) actions.push({ kind: "DisableDistribution", id, domainName });
    if (d.settings.enabled || d.status !== "Deployed") actions.push({ kind: "WaitForDistribution", id, domainName });
    actions.push({ kind: "DeleteDistribution", id, domainName });
  }
  const oac = observed.originAccessControl;
  const keptUsesOac = d !== undefined && !ours && d.settings.origins.some((o) => o.originAccessControlId === oac?.id);
  if (oac && !keptUsesOac) actions.push({ kind: "DeleteOriginAccessControl", id: oac.id, name: oac.name });
  return actions;
}

function changeText(changes: FieldChange[]): string {
  return changes.map((c) => `${c.field} ${c.before} -> ${c.after}`).join("; ");
}

/** A one-line description of an action, for progress output and --dry-run. */
export function describeCloudFrontAction(a: CloudFrontAction): string {
  switch (a.kind) {
    case "CreateOriginAccessControl":
      return `create CloudFront origin access control "${a.config.name}" (${a.config.signingProtocol}, sign ${a.config.signingBehavior}, origin type ${a.config.originType})`;
    case "UpdateOriginAccessControl":
      return `update CloudFront origin access control "${a.config.name}": ${changeText(a.changes)}`;
    case "CreateDistribution": {
      const origin = a.settings.origins[0];
      const oac = "createdByPlan" in a.originAccessControl
        ? a.originAccessControl.createdByPlan
        : a.originAccessControl.id;
      return `create CloudFront distribution for ${
        origin?.domainName ?? "no origin"
      } (OAC ${oac}, ${a.settings.viewerProtocolPolicy}, ${a.settings.priceClass}${
        a.settings.aliases.length ? `, alias ${a.settings.aliases.join(", ")}` : ""
      })`;
    }
    case "UpdateDistribution":
      return `update CloudFront distribution ${a.id} (${a.domainName}): ${changeText(a.changes)}`;
    case "TagDistribution":
      return `tag CloudFront distribution ${a.id} (${Object.keys(a.tags).join(", ")})`;
    case "DisableDistribution":
      return `disable CloudFront distribution ${a.id} (${a.domainName})`;
    case "WaitForDistribution":
      return `wait for CloudFront distribution ${a.id} to finish deploying`;
    case "DeleteDistribution":
      return `delete CloudFront distribution ${a.id} (${a.domainName})`;
    case "DeleteOriginAccessControl":
      return `delete CloudFront origin access control "${a.name}" (${a.id})`;
  }
}
