// The decision of `init` and of the IRSASetup reconciler: from what should exist and what does, the list of
// actions. Pure, so --dry-run, -o json, the daemon and the tests all read the same plan.
import {
  bucketPolicyHasOurs,
  discoveryBucketPolicy,
  discoverySid,
  mergeBucketPolicy,
  publicAccessBlockForDiscovery,
} from "./bucket_policy.ts";
import { algorithmsOf, discoveryDocument, mergeJwks, parseJwks, serializeDocument } from "./discovery.ts";
import { IrsaError } from "./errors.ts";
import { issuerHostPath } from "./issuer.ts";
import type { Jwks } from "./keys.ts";
import { awsTag, discoveryKeys, keySecret, managedByValue, stsAudience } from "./names.ts";
import type { Partition } from "./arn.ts";
import { oidcProviderArn } from "./arn.ts";
import type { ObservedBucket, PublicAccessBlock } from "./aws/s3_port.ts";
import type { ObservedOidcProvider } from "./aws/iam_port.ts";
import {
  type CloudFrontHostingRecord,
  type KeySource,
  serializeSetupRecord,
  type SetupRecord,
} from "./setup_record.ts";
import {
  cloudFrontBucketPolicy,
  cloudFrontReadSid,
  publicAccessBlockForCloudFront,
} from "./cloudfront_bucket_policy.ts";
import { type CloudFrontAction, describeCloudFrontAction } from "./hosting_plan.ts";
import type { BindingPolicy } from "./binding_policy.ts";

/** A generated signing key pair (generate mode). */
export interface KeyPair {
  privatePem: string;
  publicPem: string;
}

/** What `init` wants to exist. */
export interface InitDesired {
  issuer: string;
  bucket: string;
  region: string;
  account: string;
  partition: Partition;
  clusterName: string;
  keySource: KeySource;
  /** Public keys the apiserver signs or verifies with now (cluster mode), or the generated one. */
  currentKeys: Jwks;
  /** Thumbprint of the issuer host's top intermediate CA; undefined registers the provider without one. */
  thumbprint: string | undefined;
  /** Issuers the apiserver accepted before; recorded so later runs keep printing them. */
  previousIssuers: string[];
  /** Generate mode: the key pair that the Secret must hold. */
  signingKey?: KeyPair;
  /** Generate mode with --out-dir: the files to write. */
  keyFiles?: { privatePath: string; publicPath: string };
  /** Overwrite an existing key Secret or key files. */
  force: boolean;
  /** The binding policy to record; absent records none. */
  bindingPolicy?: BindingPolicy;
  /** KMS key source: the signer's keys to record. */
  kmsKeys?: { key: string; kid: string }[];
  /** Kids to drop from the published JWKS: KMS keys the previous run listed and this one does not. */
  retiredKids?: string[];
  /** The distribution that reads the private bucket; absent: the bucket serves the issuer itself. */
  hosting?: CloudFrontHostingRecord;
}

/** What exists now. */
export interface InitObserved {
  bucket: ObservedBucket;
  provider: ObservedOidcProvider | undefined;
  setupRecord: string | undefined;
  keySecret: KeyPair | undefined;
  keyFiles: { privatePem?: string; publicPem?: string };
}

/** One change `init` makes. Plain data: printed by --dry-run, executed by applyInitActions. */
export type InitAction =
  | { kind: "CreateBucket"; bucket: string; region: string }
  | { kind: "PutBucketTagging"; bucket: string; tags: Record<string, string> }
  | { kind: "PutPublicAccessBlock"; bucket: string; config: PublicAccessBlock; before: PublicAccessBlock | undefined }
  | { kind: "PutBucketPolicy"; bucket: string; policy: string; before: string | undefined }
  | { kind: "PutObject"; bucket: string; key: string; body: string; before: string | undefined }
  | {
    kind: "CreateOidcProvider";
    url: string;
    clientIds: string[];
    thumbprints: string[];
    tags: Record<string, string>;
  }
  | { kind: "UpdateOidcThumbprints"; arn: string; thumbprints: string[]; before: string[] }
  | { kind: "TagOidcProvider"; arn: string; tags: Record<string, string> }
  | { kind: "ApplyKeySecret"; namespace: string; name: string; key: KeyPair; replaces: boolean }
  | { kind: "WriteKeyFile"; path: string; mode: number; content: string; secret: boolean }
  | { kind: "ApplySetupRecord"; record: SetupRecord; before: string | undefined }
  /** Issuer hosting on CloudFront, applied before the rest because the bucket policy names the distribution. */
  | { kind: "CloudFront"; action: CloudFrontAction };

/** A key file that must hold `content`; `have` is what the file holds now (undefined when absent). */
export interface KeyFileWant {
  path: string;
  content: string;
  have: string | undefined;
  /** A private key: written 0600. */
  secret: boolean;
}

/** Writes for key files that differ; an existing file with other content is refused unless `force`. Pure. */
export function planKeyFileWrites(
  files: KeyFileWant[],
  options: { force: boolean },
): Extract<InitAction, { kind: "WriteKeyFile" }>[] {
  const writes: Extract<InitAction, { kind: "WriteKeyFile" }>[] = [];
  for (const f of files) {
    if (f.have === f.content) continue;
    if (f.have !== undefined && !options.force) {
      throw new IrsaError(
        "conflict",
        "KeyFileExists",
        `${f.path} already exists with another key`,
        { remedies: [{ kind: "force", to: "overwrite it" }] },
      );
    }
    writes.push({
      kind: "WriteKeyFile",
      path: f.path,
      mode: f.secret ? 0o600 : 0o644,
      content: f.content,
      secret: f.secret,
    });
  }
  return writes;
}

/** The outcome of planning. */
export interface InitPlan {
  actions: InitAction[];
  /** Differences the plan will not repair (foreign resources), shown to the user. */
  warnings: string[];
  record: SetupRecord;
  jwks: Jwks;
  discovery: string;
  keysJson: string;
}

/** The tags kubectl-irsa puts on the bucket and provider. */
export function ownershipTags(desired: Pick<InitDesired, "issuer">): Record<string, string> {
  return { [awsTag.managedBy]: managedByValue, [awsTag.cluster]: issuerHostPath(desired.issuer) };
}

function samePab(a: PublicAccessBlock | undefined, b: PublicAccessBlock): boolean {
  return !!a && (Object.keys(b) as (keyof PublicAccessBlock)[]).every((k) => a[k] === b[k]);
}

/** Plans `init`. Throws IrsaError when the observed state cannot be made right without touching foreign resources. */
export function planInit(desired: InitDesired, observed: InitObserved): InitPlan {
  const actions: InitAction[] = [];
  const warnings: string[] = [];
  const { bucket, region } = desired;
  const hostPath = issuerHostPath(desired.issuer);
  const tags = ownershipTags(desired);

  // Keys first: the private key is stored before anything publishes its public half, so a rerun reuses it.
  if (desired.signingKey) {
    const existing = observed.keySecret;
    const same = existing?.privatePem === desired.signingKey.privatePem;
    if (existing && !same && !desired.force) {
      throw new IrsaError(
        "conflict",
        "KeyExists",
        `Secret ${keySecret.namespace}/${keySecret.name} already holds a key`,
        { remedies: [{ kind: "force", to: "replace it" }] },
      );
    }
    if (!same) {
      actions.push({
        kind: "ApplyKeySecret",
        namespace: keySecret.namespace,
        name: keySecret.name,
        key: desired.signingKey,
        replaces: !!existing,
      });
    }
    if (desired.keyFiles) {
      const files = [
        {
          path: desired.keyFiles.privatePath,
          content: desired.signingKey.privatePem,
          have: observed.keyFiles.privatePem,
          secret: true,
        },
        {
          path: desired.keyFiles.publicPath,
          content: desired.signingKey.publicPem,
          have: observed.keyFiles.publicPem,
          secret: false,
        },
      ];
      actions.push(...planKeyFileWrites(files, { force: desired.force }));
    }
  }

  const b = observed.bucket;
  const published = b.exists ? b.objects[discoveryKeys.jwks] : undefined;
  const jwks = mergeJwks(published ? parseJwksOrEmpty(published, warnings) : { keys: [] }, desired.currentKeys, {
    retire: new Set(desired.retiredKids ?? []),
  });
  const keysJson = serializeDocument(jwks);
  const discovery = serializeDocument(discoveryDocument(desired.issuer, { algorithms: algorithmsOf(jwks) }));
  const cloudFront = desired.hosting;
  const policy = cloudFront
    ? cloudFrontBucketPolicy({ partition: desired.partition, bucket, distributionArn: cloudFront.distributionArn })
    : discoveryBucketPolicy({ partition: desired.partition, bucket });
  const pab = cloudFront ? publicAccessBlockForCloudFront() : publicAccessBlockForDiscovery();
  // Each hosting drops the other's statement of ours: S3 refuses a public one under BlockPublicPolicy, and a
  // distribution no longer serving the issuer should not keep reading the bucket.
  const otherSid = cloudFront ? discoverySid : cloudFrontReadSid;

  if (!b.exists) {
    actions.push(
      { kind: "CreateBucket", bucket, region },
      { kind: "PutBucketTagging", bucket, tags },
      { kind: "PutPublicAccessBlock", bucket, config: pab, before: undefined },
      { kind: "PutBucketPolicy", bucket, policy: JSON.stringify(policy), before: undefined },
    );
  } else {
    if (Object.entries(tags).some(([k, v]) => b.tags[k] !== v)) {
      // PutBucketTagging replaces the whole set, so keep the owner's own tags.
      actions.push({ kind: "PutBucketTagging", bucket, tags: { ...b.tags, ...tags } });
    }
    if (!samePab(b.publicAccessBlock, pab)) {
      actions.push({ kind: "PutPublicAccessBlock", bucket, config: pab, before: b.publicAccessBlock });
    }
    const otherLeft = b.policy !== undefined && b.policy.includes(`"${otherSid}"`);
    if (!bucketPolicyHasOurs(b.policy, policy) || otherLeft) {
      actions.push({
        kind: "PutBucketPolicy",
        bucket,
        policy: JSON.stringify(mergeBucketPolicy(b.policy, policy, { drop: [otherSid] })),
        before: b.policy,
      });
    }
  }
  const objects = b.exists ? b.objects : {};
  for (const [key, body] of [[discoveryKeys.configuration, discovery], [discoveryKeys.jwks, keysJson]] as const) {
    if (objects[key] !== body) actions.push({ kind: "PutObject", bucket, key, body, before: objects[key] });
  }

  const providerArn = oidcProviderArn(desired.partition, desired.account, hostPath);
  const thumbprints = desired.thumbprint ? [desired.thumbprint] : [];
  const p = observed.provider;
  if (!p) {
    actions.push({ kind: "CreateOidcProvider", url: desired.issuer, clientIds: [stsAudience], thumbprints, tags });
  } else {
    const owned = p.tags[awsTag.managedBy] === managedByValue;
    if (!p.clientIds.includes(stsAudience)) {
      throw new IrsaError(
        "conflict",
        "ProviderMissingAudience",
        `OIDC provider ${providerArn} exists but does not list client ID "${stsAudience}"; add it with 'aws iam add-client-id-to-open-id-connect-provider' or delete the provider`,
      );
    }
    const thumbprintDiffers = desired.thumbprint !== undefined && !p.thumbprints.includes(desired.thumbprint);
    if (!owned) {
      warnings.push(`OIDC provider ${providerArn} is not managed by kubectl-irsa; using it as is`);
      if (thumbprintDiffers) {
        warnings.push(
          `its thumbprints [${p.thumbprints.join(", ")}] do not include ${desired.thumbprint} (left unchanged)`,
        );
      }
    } else if (thumbprintDiffers) {
      actions.push({ kind: "UpdateOidcThumbprints", arn: providerArn, thumbprints, before: p.thumbprints });
    }
  }

  const record: SetupRecord = {
    issuer: desired.issuer,
    jwksUri: `${desired.issuer}/${discoveryKeys.jwks}`,
    providerArn,
    bucket,
    region,
    account: desired.account,
    partition: desired.partition,
    keySource: desired.keySource,
    clusterName: desired.clusterName,
    previousIssuers: desired.previousIssuers.filter((i) => i !== desired.issuer),
  };
  if (desired.bindingPolicy !== undefined) record.bindingPolicy = desired.bindingPolicy;
  if (desired.kmsKeys !== undefined) record.kmsKeys = desired.kmsKeys;
  if (cloudFront !== undefined) record.hosting = cloudFront;
  if (observed.setupRecord !== serializeSetupRecord(record)) {
    actions.push({ kind: "ApplySetupRecord", record, before: observed.setupRecord });
  }
  return { actions, warnings, record, jwks, discovery, keysJson };
}

function parseJwksOrEmpty(text: string, warnings: string[]): Jwks {
  try {
    return parseJwks(text);
  } catch (e) {
    // A damaged keys.json is replaced; keys in it that we cannot read could not verify anything anyway.
    warnings.push(
      `the published ${discoveryKeys.jwks} could not be read (${(e as Error).message}); it will be replaced`,
    );
    return { keys: [] };
  }
}

/** A one-line description of an action, for progress output and --dry-run. Never includes key material. */
export function describeInitAction(a: InitAction): string {
  switch (a.kind) {
    case "CreateBucket":
      return `create S3 bucket "${a.bucket}" in ${a.region} (Block Public Access on, ACLs disabled)`;
    case "PutBucketTagging":
      return `tag S3 bucket "${a.bucket}" (${Object.keys(a.tags).join(", ")})`;
    case "PutPublicAccessBlock":
      return a.config.BlockPublicPolicy
        ? `set public access block of "${a.bucket}": all public access blocked`
        : `set public access block of "${a.bucket}": ACLs blocked and ignored, bucket policy allowed`;
    case "PutBucketPolicy":
      return `${a.before ? "update" : "set"} bucket policy of "${a.bucket}": ${
        a.policy.includes(cloudFrontReadSid) ? "s3:GetObject for the CloudFront distribution" : "public s3:GetObject"
      } on the two discovery objects only`;
    case "PutObject":
      return `${a.before === undefined ? "upload" : "update"} s3://${a.bucket}/${a.key}`;
    case "CreateOidcProvider":
      return `create IAM OIDC provider ${a.url.replace(/^https:\/\//, "")} (client ID ${a.clientIds.join(", ")}${
        a.thumbprints.length ? `, thumbprint ${a.thumbprints.join(", ")}` : ", no thumbprint"
      })`;
    case "UpdateOidcThumbprints":
      return `update thumbprints of ${a.arn}: [${a.before.join(", ")}] -> [${a.thumbprints.join(", ")}]`;
    case "TagOidcProvider":
      return `tag IAM OIDC provider ${a.arn}`;
    case "ApplyKeySecret":
      return `${a.replaces ? "replace" : "store"} signing key in Secret ${a.namespace}/${a.name}`;
    case "WriteKeyFile":
      return `write ${a.secret ? "private" : "public"} key file ${a.path} (mode ${a.mode.toString(8)})`;
    case "ApplySetupRecord":
      return `${a.before ? "update" : "record"} the setup in ConfigMap kube-system/kubectl-irsa-setup`;
    case "CloudFront":
      return describeCloudFrontAction(a.action);
  }
}
