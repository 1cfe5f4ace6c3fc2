// `init` end to end: validate, gather (reads only), plan, apply. The CLI command and the IRSASetup reconciler
// both call `runInit`, so they cannot drift apart.
import { IrsaError } from "./errors.ts";
import { defaultIssuerUrl, issuerHostPath, validateBucketName, validateIssuerUrl, validateRegion } from "./issuer.ts";
import { generateRsaKeyPair, jwkFromPublicPem, jwkFromSpki, type Jwks } from "./keys.ts";
import { discoveryKeys } from "./names.ts";
import { oidcProviderArn } from "./arn.ts";
import { type InitAction, type InitDesired, type InitObserved, type InitPlan, planInit } from "./init_plan.ts";
import { type KeySource, parseSetupRecord, setupConfigMap } from "./setup_record.ts";
import { type BindingPolicy, normalizeBindingPolicy, validateBindingPolicy } from "./binding_policy.ts";
import type { CallerIdentity, StsPort } from "./aws/sts_port.ts";
import type { S3Port } from "./aws/s3_port.ts";
import type { IamPort } from "./aws/iam_port.ts";
import type { KmsPort } from "./aws/kms_port.ts";
import type { CloudFrontPort } from "./aws/cloudfront_port.ts";
import { applyCloudFrontActions, gatherCloudFront, type HostingDistribution } from "./hosting.ts";
import { type CloudFrontAction, planCloudFrontHosting } from "./hosting_plan.ts";
import { validateKmsKeyRefs } from "./kms_key_ref.ts";
import { loadSignerKeys } from "./signer/service.ts";
import type { ClusterPort } from "./kube/kube_port.ts";

/** Local files, behind a port so the daemon (which writes none) and tests can pass their own. */
export interface FilePort {
  read(path: string): Promise<string | undefined>;
  write(path: string, content: string, mode: number): Promise<void>;
}

/** Everything `init` talks to. */
export interface InitPorts {
  sts: StsPort;
  s3: S3Port;
  iam: IamPort;
  cluster: ClusterPort;
  files: FilePort;
  /** Computes the OIDC thumbprint of the issuer's host. */
  thumbprint(issuer: string): Promise<string>;
  /** The KMS key source reads its public keys here; nothing else uses it. */
  kms?: KmsPort;
  /** CloudFront hosting only. */
  cloudfront?: CloudFrontPort;
}

/** The user's request, from flags or from an IRSASetup spec. */
export interface InitRequest {
  bucket: string;
  region: string;
  issuerUrl?: string;
  /** A custom S3 endpoint used with path-style addressing; the default issuer is then `<endpoint>/<bucket>`. */
  pathStyleEndpoint?: string;
  keySource: Exclude<KeySource, "eks">;
  /** KMS key source: the signer's keys, the signing one first. */
  kmsKeys?: string[];
  outDir?: string;
  force?: boolean;
  noThumbprint?: boolean;
  clusterName?: string;
  /** The binding policy to record; undefined keeps the recorded one, `{}` records none (the defaults). */
  bindingPolicy?: BindingPolicy;
  /** "cloudfront": a private bucket read by a CloudFront distribution; default "s3" (public read of two objects). */
  hosting?: "s3" | "cloudfront";
  /** CloudFront hosting: the distribution, once it exists (runInit finds or creates it before the bucket part). */
  distribution?: HostingDistribution;
}

/** The issuer a dry run shows for a distribution it has not created yet. */
export const pendingDistributionDomain = "new-distribution.cloudfront.net";

/** What `gatherInit` found, enough to plan and to render the apiserver change. */
export interface InitGathered {
  identity: CallerIdentity;
  desired: InitDesired;
  observed: InitObserved;
  /** The issuers the apiserver accepts now (first one signs), as far as they can be found. */
  currentIssuers: string[];
}

/** Checks the request before anything is read or written. */
export function validateInitRequest(req: InitRequest): string {
  validateBucketName(req.bucket);
  validateRegion(req.region);
  // On an S3-compatible endpoint with path-style addressing the bucket is public at <endpoint>/<bucket>.
  const issuer = req.issuerUrl !== undefined
    ? validateIssuerUrl(req.issuerUrl)
    : req.hosting === "cloudfront"
    ? `https://${req.distribution?.domainName ?? pendingDistributionDomain}`
    : req.pathStyleEndpoint !== undefined
    ? validateIssuerUrl(`${req.pathStyleEndpoint.replace(/\/+$/, "")}/${req.bucket}`)
    : defaultIssuerUrl(req.bucket, req.region);
  if (req.outDir !== undefined && req.keySource !== "generate") {
    throw new IrsaError(
      "invalid",
      "OutDirNeedsGenerate",
      "an output directory only applies to the generate key source",
    );
  }
  if (req.keySource === "kms") validateKmsKeyRefs(req.kmsKeys ?? []);
  else if (req.kmsKeys !== undefined && req.kmsKeys.length > 0) {
    throw new IrsaError("invalid", "KmsKeysNeedKms", "KMS keys only apply to the kms key source");
  }
  if (req.bindingPolicy !== undefined) validateBindingPolicy(req.bindingPolicy, "binding policy");
  return issuer;
}

/** Reads everything `init` needs to plan. Makes no writes. */
export async function gatherInit(req: InitRequest, ports: InitPorts): Promise<InitGathered> {
  const issuer = validateInitRequest(req);
  const identity = await ports.sts.callerIdentity();
  // Behind CloudFront nothing is public, so the account may block public access as it likes.
  const accountBlock = req.hosting === "cloudfront"
    ? undefined
    : await ports.s3.accountPublicAccessBlock(identity.account);
  if (accountBlock?.BlockPublicPolicy || accountBlock?.RestrictPublicBuckets) {
    throw new IrsaError(
      "precondition",
      "AccountPublicAccessBlocked",
      `account ${identity.account} blocks public bucket policies (account-level Block Public Access), so STS could not read the discovery documents`,
      {
        remedies: [
          {
            kind: "other",
            text: `allow them with 'aws s3control put-public-access-block --account-id ${identity.account} ` +
              "--public-access-block-configuration " +
              "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=false,RestrictPublicBuckets=false'",
          },
          { kind: "cloudFrontHosting" },
          { kind: "issuerUrl", to: "host the issuer elsewhere" },
        ],
      },
    );
  }

  const recordText = await ports.cluster.getSetupRecord();
  const previousRecord = recordText ? parseSetupRecordLenient(recordText) : undefined;

  let currentKeys: Jwks;
  let signingKey: InitDesired["signingKey"];
  let keyFiles: InitDesired["keyFiles"];
  let kmsKeys: InitDesired["kmsKeys"];
  let retiredKids: string[] = [];
  const observedKeyFiles: InitObserved["keyFiles"] = {};
  const existingSecret = await ports.cluster.getKeySecret();
  if (req.keySource === "cluster") {
    const jwks = await ports.cluster.apiserverJwks();
    if (!jwks || jwks.keys.length === 0) {
      throw new IrsaError(
        "precondition",
        "ClusterKeysUnavailable",
        "the kube-apiserver does not serve its keys at /openid/v1/jwks (its --service-account-issuer is not an https URL)",
        { remedies: [{ kind: "generateKey" }] },
      );
    }
    currentKeys = jwks;
  } else if (req.keySource === "kms") {
    if (!ports.kms) throw new Error("the kms key source needs a KMS port");
    // The same loader the signer starts with, so the published kids are the ones it signs with.
    const { keys } = await loadSignerKeys(ports.kms, req.kmsKeys ?? []);
    currentKeys = { keys: await Promise.all(keys.map((k) => jwkFromSpki(k.spkiDer))) };
    kmsKeys = keys.map((k, i) => ({ key: req.kmsKeys![i]!, kid: k.kid }));
    // A KMS key dropped from the list is retired: its kid leaves keys.json (other published keys stay).
    const listed = new Set(kmsKeys.map((k) => k.kid));
    retiredKids = (previousRecord?.kmsKeys ?? []).map((k) => k.kid).filter((kid) => !listed.has(kid));
  } else {
    signingKey = existingSecret && !req.force ? existingSecret : await generateRsaKeyPair();
    currentKeys = { keys: [await jwkFromPublicPem(signingKey.publicPem)] };
    if (req.outDir !== undefined) {
      const dir = req.outDir.replace(/\/+$/, "");
      keyFiles = { privatePath: `${dir}/irsa-manager.key`, publicPath: `${dir}/irsa-manager.pub` };
      const priv = await ports.files.read(keyFiles.privatePath);
      const pub = await ports.files.read(keyFiles.publicPath);
      if (priv !== undefined) observedKeyFiles.privatePem = priv;
      if (pub !== undefined) observedKeyFiles.publicPem = pub;
    }
  }

  const apiserverIssuer = await ports.cluster.apiserverIssuer();
  const currentIssuers = unique([
    ...(apiserverIssuer ? [apiserverIssuer] : []),
    ...(previousRecord?.previousIssuers ?? []),
  ]);
  const previousIssuers = currentIssuers.filter((i) => i !== issuer);

  const bucket = await ports.s3.observeBucket(req.bucket, {
    account: identity.account,
    region: req.region,
    keys: [discoveryKeys.configuration, discoveryKeys.jwks],
  });
  const policy = req.bindingPolicy ?? previousRecord?.bindingPolicy;
  const bindingPolicy = policy && Object.keys(normalizeBindingPolicy(policy)).length > 0 ? policy : undefined;
  const desired: InitDesired = {
    issuer,
    bucket: req.bucket,
    region: req.region,
    account: identity.account,
    partition: identity.partition,
    clusterName: req.clusterName ?? previousRecord?.clusterName ?? req.bucket,
    keySource: req.keySource,
    currentKeys,
    // A distribution a dry run has not created has no host to read a certificate from.
    thumbprint: req.noThumbprint || issuer === `https://${pendingDistributionDomain}`
      ? undefined
      : await ports.thumbprint(issuer),
    previousIssuers,
    force: req.force ?? false,
    ...(bindingPolicy ? { bindingPolicy } : {}),
    ...(kmsKeys ? { kmsKeys, retiredKids } : {}),
    ...(req.hosting === "cloudfront"
      ? {
        hosting: {
          kind: "cloudfront" as const,
          distributionId: req.distribution?.id ?? "",
          distributionArn: req.distribution?.arn ??
            `arn:${identity.partition}:cloudfront::${identity.account}:distribution/new`,
          domainName: req.distribution?.domainName ?? pendingDistributionDomain,
        },
      }
      : {}),
    ...(signingKey ? { signingKey } : {}),
    ...(keyFiles ? { keyFiles } : {}),
  };
  const provider = await ports.iam.getOidcProvider(
    oidcProviderArn(identity.partition, identity.account, issuerHostPath(issuer)),
  );
  return {
    identity,
    desired,
    observed: { bucket, provider, setupRecord: recordText, keySecret: existingSecret, keyFiles: observedKeyFiles },
    currentIssuers,
  };
}

function parseSetupRecordLenient(text: string) {
  try {
    return parseSetupRecord({ "setup.json": text });
  } catch {
    return undefined; // a damaged record is rewritten by this run
  }
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

/** Executes the plan's actions in order. Each step is idempotent, so a failed run is repaired by a rerun. */
export async function applyInitActions(
  actions: InitAction[],
  ports: InitPorts,
  options: { account: string; region: string; onAction?: (a: InitAction) => void },
): Promise<void> {
  const { account, region } = options;
  for (const a of actions) {
    options.onAction?.(a);
    switch (a.kind) {
      case "CreateBucket":
        await ports.s3.createBucket(a.bucket, { region: a.region });
        break;
      case "PutBucketTagging":
        await ports.s3.putBucketTagging(a.bucket, { account, region, tags: a.tags });
        break;
      case "PutPublicAccessBlock":
        await ports.s3.putPublicAccessBlock(a.bucket, { account, region, config: a.config });
        break;
      case "PutBucketPolicy":
        await ports.s3.putBucketPolicy(a.bucket, { account, region, policy: a.policy });
        break;
      case "PutObject":
        await ports.s3.putObject(a.bucket, {
          account,
          region,
          key: a.key,
          body: a.body,
          contentType: "application/json",
        });
        break;
      case "CreateOidcProvider":
        await ports.iam.createOidcProvider(a.url, { clientIds: a.clientIds, thumbprints: a.thumbprints, tags: a.tags });
        break;
      case "UpdateOidcThumbprints":
        await ports.iam.updateOidcThumbprints(a.arn, a.thumbprints);
        break;
      case "TagOidcProvider":
        await ports.iam.tagOidcProvider(a.arn, a.tags);
        break;
      case "ApplyKeySecret":
        await ports.cluster.applyKeySecret(a.key);
        break;
      case "WriteKeyFile":
        await ports.files.write(a.path, a.content, a.mode);
        break;
      case "ApplySetupRecord":
        await ports.cluster.applySetupRecord(setupConfigMap(a.record));
        break;
      case "CloudFront":
        break; // applied by runInit before the bucket part
    }
  }
}

/** Gathers, plans and (unless dry-run) applies. */
export async function runInit(
  req: InitRequest,
  ports: InitPorts,
  options: { dryRun?: boolean; onAction?: (a: InitAction) => void } = {},
): Promise<{ gathered: InitGathered; plan: InitPlan }> {
  let request = req;
  let hosting: CloudFrontAction[] = [];
  if (req.hosting === "cloudfront") {
    validateInitRequest(req);
    if (!ports.cloudfront) throw new Error("CloudFront hosting needs a CloudFront port");
    // The distribution first: its ARN goes into the bucket policy and its domain is the default issuer.
    const desired = { bucket: req.bucket, region: req.region };
    const observed = await gatherCloudFront(desired, ports.cloudfront);
    hosting = planCloudFrontHosting(desired, observed);
    const found = observed.distribution;
    let distribution = found && { id: found.id, arn: found.arn, domainName: found.domainName };
    if (!options.dryRun) {
      ({ distribution } = await applyCloudFrontActions(hosting, ports.cloudfront, {
        ...(distribution ? { observed: distribution } : {}),
        onAction: (action) => options.onAction?.({ kind: "CloudFront", action }),
      }));
    }
    request = { ...req, ...(distribution ? { distribution } : {}) };
  }
  const gathered = await gatherInit(request, ports);
  const planned = planInit(gathered.desired, gathered.observed);
  const plan = {
    ...planned,
    actions: [...hosting.map((action) => ({ kind: "CloudFront" as const, action })), ...planned.actions],
  };
  if (!options.dryRun) {
    await applyInitActions(planned.actions, ports, {
      account: gathered.identity.account,
      region: req.region,
      ...(options.onAction ? { onAction: options.onAction } : {}),
    });
  }
  return { gathered, plan };
}
