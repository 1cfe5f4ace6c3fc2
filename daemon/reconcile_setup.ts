// The IRSASetup reconciler: `init` for the seed's IRSASetup object (self-hosted mode), or a check that the named
// provider exists (EKS mode). Only one IRSASetup per cluster is honoured; cleanup tears down in the safe order
// provider -> objects -> bucket, and only what kubectl-irsa owns.
import { apiserverChange } from "../lib/apiserver_change.ts";
import { oidcProviderArn, parseArn, type Partition } from "../lib/arn.ts";
import { pathStyleS3Endpoint } from "../lib/aws/clients.ts";
import { iamPort } from "../lib/aws/iam_port.ts";
import { s3Port } from "../lib/aws/s3_port.ts";
import { stsPort } from "../lib/aws/sts_port.ts";
import { IrsaError } from "../lib/errors.ts";
import { type InitPorts, runInit } from "../lib/init.ts";
import { issuerHostPath } from "../lib/issuer.ts";
import { clusterPort } from "../lib/kube/kube_port.ts";
import {
  awsTag,
  crdGroup,
  crdVersion,
  discoveryKeys,
  managedByValue,
  seedFinalizer,
  setupRecord,
} from "../lib/names.ts";
import { parseSetupRecord, setupConfigMap, type SetupRecord } from "../lib/setup_record.ts";
import { fetchIssuerThumbprint } from "../lib/thumbprint.ts";
import { setCondition } from "./conditions.ts";
import { addFinalizer, publishEvent, removeFinalizer, updateStatus } from "./object_ops.ts";
import type { ReconcileContext, ReconcileResult } from "./reconcile_irsa.ts";
import { type IrsaSetupObject, irsaSetupResource } from "./resources.ts";
import { daemonMessage } from "./remedy.ts";

const apiVersion = `${crdGroup}/${crdVersion}`;

/** The IRSASetup that wins when several exist: the oldest, then by namespace/name. Pure. */
export function activeSetup(objects: IrsaSetupObject[]): IrsaSetupObject | undefined {
  return objects.filter((o) => !o.metadata.deletionTimestamp).sort((a, b) =>
    (a.metadata.creationTimestamp ?? "").localeCompare(b.metadata.creationTimestamp ?? "") ||
    `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`)
  )[0];
}

/** Reconciles the IRSASetup `namespace/name`. */
export async function reconcileSetup(
  key: string,
  ctx: ReconcileContext & { caBundlePem?: string },
): Promise<ReconcileResult> {
  const [namespace, name] = key.split("/") as [string, string];
  const { kube } = ctx;
  const object = await kube.get<IrsaSetupObject>({ ...irsaSetupResource, namespace, name });
  if (!object) return {};
  const meta = object.metadata;
  const cluster = clusterPort(kube);

  if (meta.deletionTimestamp) {
    if (!meta.finalizers?.includes(seedFinalizer)) return {};
    if (object.spec.cleanup && (object.spec.mode ?? "selfhosted") === "selfhosted") await teardown(object, ctx);
    await removeFinalizer(kube, irsaSetupResource, meta);
    return {};
  }

  const setStatus = async (
    ready: { status: "True" | "False"; reason: string; message: string },
    extra: Record<string, unknown> = {},
  ) => {
    const conditions = setCondition(
      object.status?.conditions,
      { type: "Ready", ...ready, observedGeneration: meta.generation ?? 0 },
      ctx.now(),
    );
    const before = object.status?.conditions?.find((c) => c.type === "Ready");
    const status = { ...object.status, ...extra, conditions };
    if (await updateStatus(kube, irsaSetupResource, meta, object.status, status) && before?.status !== ready.status) {
      await publishEvent(kube, { apiVersion, kind: "IRSASetup", meta }, {
        type: ready.status === "True" ? "Normal" : "Warning",
        reason: ready.reason,
        message: ready.message,
      }).catch((e) => ctx.log.warn("Publishing an Event failed", { error: e }));
    }
  };

  const all = await kube.list<IrsaSetupObject>(irsaSetupResource);
  const winner = activeSetup(all);
  if (winner && winner.metadata.uid !== meta.uid) {
    await setStatus({
      status: "False",
      reason: "DuplicateSetup",
      message: `only one IRSASetup per cluster is used; ${winner.metadata.namespace}/${winner.metadata.name} is active`,
    });
    return { requeueAfterMs: ctx.resyncMs };
  }

  await addFinalizer(kube, irsaSetupResource, meta);
  const aws = await ctx.aws();
  try {
    if (object.spec.mode === "eks") {
      const given = object.spec.iamOIDCProvider ?? object.spec.provider ?? "";
      const identity = await stsPort(aws).callerIdentity();
      const arn = given.startsWith("arn:")
        ? given
        : oidcProviderArn(identity.partition, identity.account, issuerHostPath(given));
      const provider = await iamPort(aws).getOidcProvider(arn);
      if (!provider) {
        await setStatus({
          status: "False",
          reason: "EksOIDCProviderNotFound",
          message: `IAM OIDC provider ${arn} does not exist`,
        });
        return { requeueAfterMs: ctx.resyncMs };
      }
      const issuer = `https://${provider.url}`;
      const record: SetupRecord = {
        issuer,
        jwksUri: `${issuer}/keys`,
        providerArn: arn,
        bucket: "",
        region: aws.region,
        account: parseArn(arn).account,
        partition: parseArn(arn).partition as Partition,
        keySource: "eks",
        clusterName: object.spec.clusterName ?? provider.url.split("/").pop() ?? "eks",
        previousIssuers: [],
      };
      await cluster.applySetupRecord(setupConfigMap(record));
      await setStatus({ status: "True", reason: "EksOIDCSetupReady", message: `using ${arn}` }, {
        issuer,
        providerArn: arn,
      });
      return { requeueAfterMs: ctx.resyncMs };
    }

    const s3 = object.spec.discovery?.s3;
    if (!s3) {
      await setStatus({
        status: "False",
        reason: "InvalidSpec",
        message: "spec.discovery.s3 is required in selfhosted mode",
      });
      return { requeueAfterMs: ctx.resyncMs };
    }
    const ports: InitPorts = {
      sts: stsPort(aws),
      s3: s3Port(aws),
      iam: iamPort(aws),
      cluster,
      files: {
        read: () => Promise.resolve(undefined),
        write: () => Promise.reject(new Error("the daemon writes no local files")),
      },
      thumbprint: (issuer) => fetchIssuerThumbprint(issuer, ctx.caBundlePem ? { caPem: ctx.caBundlePem } : {}),
    };
    const endpoint = pathStyleS3Endpoint(aws.config);
    const { gathered, plan } = await runInit(
      {
        bucket: s3.bucketName,
        region: s3.region,
        keySource: object.spec.keySource ?? "generate",
        ...(object.spec.issuerUrl ? { issuerUrl: object.spec.issuerUrl } : {}),
        ...(object.spec.clusterName ? { clusterName: object.spec.clusterName } : {}),
        ...(endpoint ? { pathStyleEndpoint: endpoint } : {}),
      },
      ports,
      { onAction: (a) => ctx.log.info(`Init: ${a.kind}`, { kind: "IRSASetup", namespace, name }) },
    );
    const change = apiserverChange({
      distro: "raw",
      newIssuer: plan.record.issuer,
      currentIssuers: gathered.currentIssuers,
      jwksUri: plan.record.jwksUri,
      ...(plan.record.keySource === "generate"
        ? {
          keyFiles: {
            publicKeyPath: "/etc/kubernetes/pki/irsa-manager.pub",
            privateKeyPath: "/etc/kubernetes/pki/irsa-manager.key",
          },
        }
        : {}),
    });
    const flagsChanged = JSON.stringify(object.status?.apiserverFlags) !== JSON.stringify(change.flags);
    await setStatus({
      status: "True",
      reason: "SelfHostedSetupReady",
      message: change.issuerAlreadyFirst
        ? `issuer ${plan.record.issuer} is published and the kube-apiserver signs with it`
        : `issuer ${plan.record.issuer} is published; apply status.apiserverFlags to the kube-apiserver`,
    }, { issuer: plan.record.issuer, providerArn: plan.record.providerArn, apiserverFlags: change.flags });
    if (flagsChanged && !change.issuerAlreadyFirst) {
      await publishEvent(kube, { apiVersion, kind: "IRSASetup", meta }, {
        type: "Normal",
        reason: "ApiserverChangeRequired",
        // The whole resulting set, not just the new values: a partial list taken literally drops the key flags.
        message: `kube-apiserver's service-account flags must become: ${change.resultingFlags.join(" ")} ` +
          "(<unchanged>: keep every value it has today)",
      }).catch((e) => ctx.log.warn("Publishing an Event failed", { error: e }));
    }
    return { requeueAfterMs: ctx.resyncMs };
  } catch (e) {
    const reason = e instanceof IrsaError ? `SelfHostedSetupFailed${e.reason}` : "SelfHostedSetupFailed";
    await setStatus({ status: "False", reason, message: daemonMessage(e) });
    if (e instanceof IrsaError && ["invalid", "conflict", "precondition"].includes(e.kind)) {
      return { requeueAfterMs: ctx.resyncMs };
    }
    throw e;
  }
}

async function teardown(object: IrsaSetupObject, ctx: ReconcileContext): Promise<void> {
  const recordText = await clusterPort(ctx.kube).getSetupRecord();
  if (!recordText) return;
  const record = parseSetupRecord({ [setupRecord.key]: recordText });
  if (record.bucket !== object.spec.discovery?.s3?.bucketName) return;
  const aws = await ctx.aws();
  const iam = iamPort(aws);
  const s3 = s3Port(aws);
  const log = (msg: string) =>
    ctx.log.info(msg, { kind: "IRSASetup", namespace: object.metadata.namespace, name: object.metadata.name });
  // A deleted bucket name can be registered by someone else, so the provider that trusts it goes first.
  const provider = await iam.getOidcProvider(record.providerArn);
  if (provider?.tags[awsTag.managedBy] === managedByValue) {
    await iam.deleteOidcProvider(record.providerArn);
    log(`Deleted IAM OIDC provider ${record.providerArn}`);
  }
  const bucket = await s3.observeBucket(record.bucket, { account: record.account, region: record.region, keys: [] });
  if (bucket.exists && bucket.tags[awsTag.managedBy] === managedByValue) {
    for (const key of [discoveryKeys.configuration, discoveryKeys.jwks]) {
      await s3.deleteObject(record.bucket, { account: record.account, region: record.region, key });
    }
    await s3.deleteBucket(record.bucket, { account: record.account, region: record.region });
    log(`Deleted S3 bucket ${record.bucket}`);
  }
  await ctx.kube.delete({ resource: "configmaps", namespace: setupRecord.namespace, name: setupRecord.name });
}
