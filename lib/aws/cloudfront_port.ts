// CloudFront for issuer hosting: one Origin Access Control and one distribution in front of the private discovery
// bucket. Reads return undefined for absent resources; writes are idempotent. Distribution writes carry the ETag
// they were planned from (IfMatch), so a change made in between fails instead of being overwritten.
import type { DistributionConfig } from "@aws-sdk/client-cloudfront";
import { IrsaError } from "../errors.ts";
import type { AwsClients } from "./clients.ts";
import { awsError, callOrMissing, isNotFound, sdkErrorCode } from "./sdk_errors.ts";

/** An Origin Access Control's settings (CloudFront's OriginAccessControlConfig). */
export interface OriginAccessControlConfig {
  name: string;
  description: string;
  /** "sigv4". */
  signingProtocol: string;
  /** "always", "never" or "no-override". */
  signingBehavior: string;
  /** "s3", "mediastore", ... */
  originType: string;
}

/** An Origin Access Control as CloudFront reports it. */
export interface ObservedOriginAccessControl extends OriginAccessControlConfig {
  id: string;
  /** Needed to update or delete it. */
  etag: string;
}

/** One origin of a distribution. */
export interface DistributionOrigin {
  id: string;
  domainName: string;
  originPath: string;
  /** "" when the origin signs with no OAC. */
  originAccessControlId: string;
  /** S3OriginConfig's legacy OAI ("" for none); undefined when the origin is a custom origin, not an S3 one. */
  s3OriginAccessIdentity: string | undefined;
}

/** The parts of a distribution's configuration that issuer hosting decides; the rest is left as it is. */
export interface DistributionSettings {
  comment: string;
  enabled: boolean;
  origins: DistributionOrigin[];
  /** Default cache behaviour. */
  targetOriginId: string;
  viewerProtocolPolicy: string;
  cachePolicyId: string;
  allowedMethods: string[];
  cachedMethods: string[];
  compress: boolean;
  /** Lambda@Edge and CloudFront Functions on the default behaviour; always written as none. */
  edgeFunctions: number;
  /** Path-pattern behaviours besides the default; always written as none. */
  cacheBehaviors: number;
  httpVersion: string;
  priceClass: string;
  defaultRootObject: string;
  aliases: string[];
  /** The ACM certificate of the aliases; undefined is CloudFront's own certificate. */
  certificateArn: string | undefined;
}

/** A distribution as CloudFront reports it. */
export interface ObservedDistribution {
  id: string;
  arn: string;
  /** `d111111abcdef8.cloudfront.net`. */
  domainName: string;
  /** "InProgress" while a change propagates, then "Deployed". */
  status: string;
  etag: string;
  settings: DistributionSettings;
  tags: Record<string, string>;
}

/** How to recognise a distribution: by tags first, then by its comment. */
export interface DistributionMatch {
  tags: Record<string, string>;
  comment: string;
  /** Only distributions with this origin or comment are candidates, so only they cost a tag lookup. */
  originDomainName: string;
  /** An id recorded earlier, tried before listing. */
  knownId?: string;
}

/** What a delete did: gone, or not yet possible (the distribution is enabled or still deploying). */
export type DistributionDeletion = "deleted" | "pending";

/** Thin port over CloudFront. */
export interface CloudFrontPort {
  findOriginAccessControl(name: string): Promise<ObservedOriginAccessControl | undefined>;
  /** Creates the OAC; when one with this name exists (a create that raced) returns its id. */
  createOriginAccessControl(config: OriginAccessControlConfig): Promise<string>;
  updateOriginAccessControl(id: string, options: { config: OriginAccessControlConfig; etag: string }): Promise<void>;
  /** Deletes the OAC; a missing one counts as deleted. Without `etag` the current one is read. */
  deleteOriginAccessControl(id: string, options?: { etag?: string }): Promise<void>;
  /** The distribution carrying all `match.tags`, else the one whose comment is `match.comment`. */
  findDistribution(match: DistributionMatch): Promise<ObservedDistribution | undefined>;
  getDistribution(id: string): Promise<ObservedDistribution | undefined>;
  createDistribution(
    settings: DistributionSettings,
    options: { tags: Record<string, string> },
  ): Promise<{ id: string; arn: string; domainName: string }>;
  /** Writes `settings` over the configuration read at `etag`; returns the new ETag. */
  updateDistribution(id: string, options: { settings: DistributionSettings; etag: string }): Promise<string>;
  /** Adds or overwrites tags; other tags stay. */
  tagDistribution(arn: string, tags: Record<string, string>): Promise<void>;
  /** Disables the distribution; a disabled or missing one is left as it is. */
  disableDistribution(id: string): Promise<void>;
  /**
   * Deletes a disabled, deployed distribution. CloudFront refuses to delete one that is enabled or still
   * deploying (minutes after it was disabled), so that answers "pending" instead of waiting.
   */
  deleteDistribution(id: string): Promise<DistributionDeletion>;
}

type Items<T> = { Quantity?: number | undefined; Items?: T[] | undefined } | undefined;
const items = <T>(list: Items<T>): T[] => list?.Items ?? [];
const quantity = (list: Items<unknown>): number => list?.Quantity ?? list?.Items?.length ?? 0;
// An empty list is sent as Quantity 0 without Items, as CloudFront itself returns it.
const listOf = <T>(values: T[]) => ({ Quantity: values.length, Items: values.length ? values : undefined });
const sorted = (values: string[]) => [...values].sort();

/** The settings a configuration holds. Pure. */
export function settingsOf(config: DistributionConfig): DistributionSettings {
  const dcb = config.DefaultCacheBehavior;
  const certificateArn = config.ViewerCertificate?.ACMCertificateArn;
  return {
    comment: config.Comment ?? "",
    enabled: config.Enabled ?? false,
    origins: items(config.Origins).map((o) => ({
      id: o.Id ?? "",
      domainName: o.DomainName ?? "",
      originPath: o.OriginPath ?? "",
      originAccessControlId: o.OriginAccessControlId ?? "",
      s3OriginAccessIdentity: o.S3OriginConfig ? o.S3OriginConfig.OriginAccessIdentity ?? "" : undefined,
    })),
    targetOriginId: dcb?.TargetOriginId ?? "",
    viewerProtocolPolicy: dcb?.ViewerProtocolPolicy ?? "",
    cachePolicyId: dcb?.CachePolicyId ?? "",
    allowedMethods: sorted(items(dcb?.AllowedMethods)),
    cachedMethods: sorted(items(dcb?.AllowedMethods?.CachedMethods)),
    compress: dcb?.Compress ?? false,
    edgeFunctions: quantity(dcb?.LambdaFunctionAssociations) + quantity(dcb?.FunctionAssociations),
    cacheBehaviors: quantity(config.CacheBehaviors),
    httpVersion: config.HttpVersion ?? "http2",
    priceClass: config.PriceClass ?? "PriceClass_All",
    defaultRootObject: config.DefaultRootObject ?? "",
    aliases: sorted(items(config.Aliases)),
    // CloudFront answers "" for the fields of a certificate source not in use.
    certificateArn: certificateArn ? certificateArn : undefined,
  };
}

/**
 * `settings` written over `base` (the configuration as read, or undefined for a new distribution): every field
 * kubectl-irsa decides is replaced, the rest (logging, WAF, IPv6, ...) kept. Pure.
 */
export function distributionConfigFor(
  base: DistributionConfig | undefined,
  settings: DistributionSettings,
  options: { callerReference: string },
): DistributionConfig {
  return {
    ...base,
    // CloudFront refuses an update that changes the caller reference.
    CallerReference: base?.CallerReference ?? options.callerReference,
    Comment: settings.comment,
    Enabled: settings.enabled,
    Origins: listOf(settings.origins.map((o) => ({
      ...items(base?.Origins).find((b) => b.Id === o.id),
      Id: o.id,
      DomainName: o.domainName,
      OriginPath: o.originPath,
      OriginAccessControlId: o.originAccessControlId,
      ...(o.s3OriginAccessIdentity === undefined
        ? {}
        : { S3OriginConfig: { OriginAccessIdentity: o.s3OriginAccessIdentity }, CustomOriginConfig: undefined }),
    }))),
    // A cache policy excludes the legacy ForwardedValues and TTL fields, so the behaviour is written whole.
    DefaultCacheBehavior: {
      TargetOriginId: settings.targetOriginId,
      ViewerProtocolPolicy: settings.viewerProtocolPolicy as never,
      CachePolicyId: settings.cachePolicyId,
      Compress: settings.compress,
      AllowedMethods: {
        ...listOf(settings.allowedMethods as never[]),
        CachedMethods: listOf(settings.cachedMethods as never[]),
      },
      LambdaFunctionAssociations: { Quantity: 0 },
      FunctionAssociations: { Quantity: 0 },
    },
    // The issuer serves two objects from one origin; another behaviour could route them elsewhere.
    CacheBehaviors: { Quantity: 0 },
    HttpVersion: settings.httpVersion as never,
    PriceClass: settings.priceClass as never,
    DefaultRootObject: settings.defaultRootObject,
    Aliases: listOf(settings.aliases),
    ViewerCertificate: settings.certificateArn
      ? {
        ACMCertificateArn: settings.certificateArn,
        SSLSupportMethod: "sni-only",
        MinimumProtocolVersion: "TLSv1.2_2021",
      }
      : { CloudFrontDefaultCertificate: true },
    IsIPV6Enabled: base?.IsIPV6Enabled ?? true,
  };
}

const tagList = (tags: Record<string, string>) => Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
const tagRecord = (tags: { Key?: string | undefined; Value?: string | undefined }[] | undefined) =>
  Object.fromEntries((tags ?? []).map((t) => [t.Key ?? "", t.Value ?? ""]));

/** CloudFront's answer when the ETag a write carries is not the current one. */
const staleCodes = ["PreconditionFailed", "InvalidIfMatchVersion"];

function changedMeanwhile(id: string, cause?: unknown): IrsaError {
  // Retryable: the next attempt reads the distribution again and plans from what it finds.
  return new IrsaError(
    "unavailable",
    "DistributionChanged",
    `CloudFront distribution ${id} changed while being updated`,
    {
      ...(cause === undefined ? {} : { cause }),
      retryable: true,
    },
  );
}

/** The SDK implementation. */
export function cloudFrontPort(clients: AwsClients): CloudFrontPort {
  const sdk = () => import("@aws-sdk/client-cloudfront");
  async function send<T>(
    operation: string,
    target: string,
    command: unknown,
    missing?: string[],
  ): Promise<T | undefined> {
    const client = await clients.cloudfront();
    // deno-lint-ignore no-explicit-any
    return await callOrMissing(() => client.send(command as any) as Promise<T>, {
      operation,
      target,
      ...(missing ? { missing } : {}),
    });
  }
  async function getResult(id: string) {
    const cf = await sdk();
    return await send<import("@aws-sdk/client-cloudfront").GetDistributionResult>(
      "cloudfront:GetDistribution",
      id,
      new cf.GetDistributionCommand({ Id: id }),
      ["NoSuchDistribution"],
    );
  }

  async function getConfig(id: string) {
    const cf = await sdk();
    return await send<import("@aws-sdk/client-cloudfront").GetDistributionConfigResult>(
      "cloudfront:GetDistributionConfig",
      id,
      new cf.GetDistributionConfigCommand({ Id: id }),
      ["NoSuchDistribution"],
    );
  }

  async function getOac(id: string): Promise<ObservedOriginAccessControl | undefined> {
    const cf = await sdk();
    const out = await send<import("@aws-sdk/client-cloudfront").GetOriginAccessControlResult>(
      "cloudfront:GetOriginAccessControl",
      id,
      new cf.GetOriginAccessControlCommand({ Id: id }),
      ["NoSuchOriginAccessControl"],
    );
    const c = out?.OriginAccessControl?.OriginAccessControlConfig;
    if (!out || !c) return undefined;
    return {
      id,
      name: c.Name ?? "",
      description: c.Description ?? "",
      signingProtocol: c.SigningProtocol ?? "",
      signingBehavior: c.SigningBehavior ?? "",
      originType: c.OriginAccessControlOriginType ?? "",
      etag: out.ETag ?? "",
    };
  }

  async function findOac(name: string): Promise<ObservedOriginAccessControl | undefined> {
    const cf = await sdk();
    let marker: string | undefined;
    do {
      const page = await send<import("@aws-sdk/client-cloudfront").ListOriginAccessControlsResult>(
        "cloudfront:ListOriginAccessControls",
        name,
        new cf.ListOriginAccessControlsCommand(marker ? { Marker: marker } : {}),
      );
      const list = page?.OriginAccessControlList;
      const hit = items(list).find((o) => o.Name === name);
      // The list carries no ETag, which updates and deletes need.
      if (hit?.Id) return await getOac(hit.Id);
      marker = list?.IsTruncated ? list.NextMarker : undefined;
    } while (marker);
    return undefined;
  }

  async function tagsOf(arn: string): Promise<Record<string, string> | undefined> {
    const cf = await sdk();
    const out = await send<import("@aws-sdk/client-cloudfront").ListTagsForResourceResult>(
      "cloudfront:ListTagsForResource",
      arn,
      new cf.ListTagsForResourceCommand({ Resource: arn }),
      ["NoSuchResource", "NoSuchDistribution"],
    );
    return out ? tagRecord(out.Tags?.Items) : undefined;
  }

  async function get(id: string): Promise<ObservedDistribution | undefined> {
    const out = await getResult(id);
    const d = out?.Distribution;
    if (!out || !d?.DistributionConfig) return undefined;
    const arn = d.ARN ?? "";
    const tags = await tagsOf(arn);
    if (!tags) return undefined;
    return {
      id,
      arn,
      domainName: d.DomainName ?? "",
      status: d.Status ?? "",
      etag: out.ETag ?? "",
      settings: settingsOf(d.DistributionConfig),
      tags,
    };
  }

  async function find(match: DistributionMatch): Promise<ObservedDistribution | undefined> {
    const carries = (tags: Record<string, string>) => Object.entries(match.tags).every(([k, v]) => tags[k] === v);
    if (match.knownId) {
      const known = await get(match.knownId);
      if (known && carries(known.tags)) return known;
    }
    const cf = await sdk();
    const byComment: string[] = [];
    let marker: string | undefined;
    do {
      const page = await send<import("@aws-sdk/client-cloudfront").ListDistributionsResult>(
        "cloudfront:ListDistributions",
        match.originDomainName,
        new cf.ListDistributionsCommand(marker ? { Marker: marker } : {}),
      );
      const list = page?.DistributionList;
      for (const s of items(list)) {
        const commented = s.Comment === match.comment;
        const serves = items(s.Origins).some((o) => o.DomainName === match.originDomainName);
        if (!s.Id || !s.ARN || !(commented || serves)) continue;
        const tags = await tagsOf(s.ARN);
        if (tags && carries(tags)) return await get(s.Id);
        if (commented) byComment.push(s.Id);
      }
      marker = list?.IsTruncated ? list.NextMarker : undefined;
    } while (marker);
    return byComment[0] === undefined ? undefined : await get(byComment[0]);
  }

  return {
    findOriginAccessControl: findOac,

    async createOriginAccessControl(config) {
      const cf = await sdk();
      try {
        const out = await (await clients.cloudfront()).send(
          new cf.CreateOriginAccessControlCommand({
            OriginAccessControlConfig: {
              Name: config.name,
              Description: config.description,
              SigningProtocol: config.signingProtocol as never,
              SigningBehavior: config.signingBehavior as never,
              OriginAccessControlOriginType: config.originType as never,
            },
          }),
        );
        return out.OriginAccessControl?.Id ?? "";
      } catch (e) {
        // Names are unique per account: the one that exists is compared by the next plan.
        if (sdkErrorCode(e).code === "OriginAccessControlAlreadyExists") {
          const existing = await findOac(config.name);
          if (existing) return existing.id;
        }
        throw awsError(e, "cloudfront:CreateOriginAccessControl", config.name);
      }
    },

    async updateOriginAccessControl(id, { config, etag }) {
      const cf = await sdk();
      await send(
        "cloudfront:UpdateOriginAccessControl",
        id,
        new cf.UpdateOriginAccessControlCommand({
          Id: id,
          IfMatch: etag,
          OriginAccessControlConfig: {
            Name: config.name,
            Description: config.description,
            SigningProtocol: config.signingProtocol as never,
            SigningBehavior: config.signingBehavior as never,
            OriginAccessControlOriginType: config.originType as never,
          },
        }),
      );
    },

    async deleteOriginAccessControl(id, options = {}) {
      const cf = await sdk();
      const etag = options.etag ?? (await getOac(id))?.etag;
      if (etag === undefined) return;
      await send(
        "cloudfront:DeleteOriginAccessControl",
        id,
        new cf.DeleteOriginAccessControlCommand({ Id: id, IfMatch: etag }),
        ["NoSuchOriginAccessControl"],
      );
    },

    findDistribution: find,
    getDistribution: get,

    async createDistribution(settings, { tags }) {
      const cf = await sdk();
      // A fresh reference per call: the SDK's own retries resend the same one, and CloudFront answers a repeat
      // with DistributionAlreadyExists instead of creating a second distribution.
      const config = distributionConfigFor(undefined, settings, {
        callerReference: `kubectl-irsa-${crypto.randomUUID()}`,
      });
      try {
        const out = await (await clients.cloudfront()).send(
          new cf.CreateDistributionWithTagsCommand({
            DistributionConfigWithTags: { DistributionConfig: config, Tags: { Items: tagList(tags) } },
          }),
        );
        const d = out.Distribution;
        return { id: d?.Id ?? "", arn: d?.ARN ?? "", domainName: d?.DomainName ?? "" };
      } catch (e) {
        if (sdkErrorCode(e).code === "DistributionAlreadyExists") {
          const origin = settings.origins[0]?.domainName ?? "";
          const existing = await find({ tags, comment: settings.comment, originDomainName: origin });
          if (existing) return { id: existing.id, arn: existing.arn, domainName: existing.domainName };
        }
        throw awsError(e, "cloudfront:CreateDistributionWithTags", settings.comment);
      }
    },

    async updateDistribution(id, { settings, etag }) {
      const cf = await sdk();
      const current = await send<import("@aws-sdk/client-cloudfront").GetDistributionConfigResult>(
        "cloudfront:GetDistributionConfig",
        id,
        new cf.GetDistributionConfigCommand({ Id: id }),
      );
      if (!current?.DistributionConfig || current.ETag !== etag) throw changedMeanwhile(id);
      const config = distributionConfigFor(current.DistributionConfig, settings, { callerReference: "" });
      try {
        const out = await (await clients.cloudfront()).send(
          new cf.UpdateDistributionCommand({ Id: id, IfMatch: etag, DistributionConfig: config }),
        );
        return out.ETag ?? "";
      } catch (e) {
        if (staleCodes.includes(sdkErrorCode(e).code)) throw changedMeanwhile(id, e);
        throw awsError(e, "cloudfront:UpdateDistribution", id);
      }
    },

    async tagDistribution(arn, tags) {
      const cf = await sdk();
      await send(
        "cloudfront:TagResource",
        arn,
        new cf.TagResourceCommand({ Resource: arn, Tags: { Items: tagList(tags) } }),
      );
    },

    async disableDistribution(id) {
      const cf = await sdk();
      const current = await getConfig(id);
      if (!current?.DistributionConfig?.Enabled) return;
      try {
        await (await clients.cloudfront()).send(
          new cf.UpdateDistributionCommand({
            Id: id,
            IfMatch: current.ETag,
            DistributionConfig: { ...current.DistributionConfig, Enabled: false },
          }),
        );
      } catch (e) {
        if (staleCodes.includes(sdkErrorCode(e).code)) throw changedMeanwhile(id, e);
        if (isNotFound(e, "NoSuchDistribution")) return;
        throw awsError(e, "cloudfront:UpdateDistribution", id);
      }
    },

    async deleteDistribution(id) {
      const cf = await sdk();
      const out = await getResult(id);
      const d = out?.Distribution;
      if (!out || !d) return "deleted";
      if (d.DistributionConfig?.Enabled || d.Status !== "Deployed") return "pending";
      try {
        await (await clients.cloudfront()).send(new cf.DeleteDistributionCommand({ Id: id, IfMatch: out.ETag }));
        return "deleted";
      } catch (e) {
        const { code } = sdkErrorCode(e);
        if (code === "NoSuchDistribution") return "deleted";
        // Disabled but not yet deployed everywhere, or changed since it was read: the next attempt reads again.
        if (code === "DistributionNotDisabled" || staleCodes.includes(code)) return "pending";
        throw awsError(e, "cloudfront:DeleteDistribution", id);
      }
    },
  };
}
