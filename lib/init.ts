// `init` end to end: validate, gather (reads only), plan, apply. The CLI command and the IRSASetup reconciler
// both call `runInit`, so they cannot drift apart.
import { IrsaError } from "./errors.ts";
import { defaultIssuerUrl, issuerHostPath, validateBucketName, validateIssuerUrl, validateRegion } from "./issuer.ts";
import { generateRsaKeyPair, jwkFromPublicPem, type Jwks } from "./keys.ts";
import { discoveryKeys } from "./names.ts";
import { oidcProviderArn } from "./arn.ts";
import { type InitAction, type InitDesired, type InitObserved, type InitPlan, planInit } from "./init_plan.ts";
import { type KeySource, parseSetupRecord, setupConfigMap } from "./setup_record.ts";
import { type BindingPolicy, normalizeBindingPolicy, validateBindingPolicy } from "./binding_policy.ts";
import type { CallerIdentity, StsPort } from "./aws/sts_port.ts";
import type { S3Port } from "./aws/s3_port.ts";
import type { IamPort } from "./aws/iam_port.ts";
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
}

/** The user's request, from flags or from an IRSASetup spec. */
export interface InitRequest {
  bucket: string;
  region: string;
  issuerUrl?: string;
  /** A custom S3 endpoint used with path-style addressing; the default issuer is then `<endpoint>/<bucket>`. */
  pathStyleEndpoint?: string;
  keySource: Exclude<KeySource, "eks">;
  outDir?: string;
  force?: boolean;
  noThumbprint?: boolean;
  clusterName?: string;
  /** The binding policy to record; undefined keeps the recorded one, `{}` records none (the defaults). */
  bindingPolicy?: BindingPolicy;
}

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
  if (req.bindingPolicy !== undefined) validateBindingPolicy(req.bindingPolicy, "binding policy");
  return issuer;
}

/** Reads everything `init` needs to plan. Makes no writes. */
export async function gatherInit(req: InitRequest, ports: InitPorts): Promise<InitGathered> {
  const issuer = validateInitRequest(req);
  const identity = await ports.sts.callerIdentity();
  const accountBlock = await ports.s3.accountPublicAccessBlock(identity.account);
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
    thumbprint: req.noThumbprint ? undefined : await ports.thumbprint(issuer),
    previousIssuers,
    force: req.force ?? false,
    ...(bindingPolicy ? { bindingPolicy } : {}),
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
    }
  }
}

/** Gathers, plans and (unless dry-run) applies. */
export async function runInit(
  req: InitRequest,
  ports: InitPorts,
  options: { dryRun?: boolean; onAction?: (a: InitAction) => void } = {},
): Promise<{ gathered: InitGathered; plan: InitPlan }> {
  const gathered = await gatherInit(req, ports);
  const plan = planInit(gathered.desired, gathered.observed);
  if (!options.dryRun) {
    await applyInitActions(plan.actions, ports, {
      account: gathered.identity.account,
      region: req.region,
      ...(options.onAction ? { onAction: options.onAction } : {}),
    });
  }
  return { gathered, plan };
}
