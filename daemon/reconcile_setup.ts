// The IRSASetup reconciler: `init` for the seed's IRSASetup object (self-hosted mode), or a check that the named
// provider exists (EKS mode). Only one IRSASetup per cluster is honoured; cleanup tears down in the safe order
// provider -> objects -> bucket, and only what kubectl-irsa owns.
import { apiserverChange } from "../lib/apiserver_change.ts";
import { oidcProviderArn, parseArn, type Partition } from "../lib/arn.ts";
import { pathStyleS3Endpoint } from "../lib/aws/clients.ts";
import { iamPort } from "../lib/aws/iam_port.ts";
import { s3Port } from "../lib/aws/s3_port.ts";
import { stsPort } from "../lib/aws/sts_port.ts";
import { IrsaError, isRetryable } from "../lib/errors.ts";
import { type InitPorts, runInit } from "../lib/init.ts";
import { kmsPort } from "../lib/aws/kms_port.ts";
import { cloudFrontPort } from "../lib/aws/cloudfront_port.ts";
import { applyCloudFrontActions, gatherCloudFront } from "../lib/hosting.ts";
import { describeCloudFrontAction, planCloudFrontTeardown } from "../lib/hosting_plan.ts";
import { signerSocketPath } from "../lib/names.ts";
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
import { validateBindingPolicy } from "../lib/binding_policy.ts";
import { setCondition } from "./conditions.ts";
import { addFinalizer, publishEvent, removeFinalizer, updateStatus } from "./object_ops.ts";
import type { ReconcileContext, ReconcileResult } from "./reconcile_irsa.ts";
import { type IrsaObject, irsaResource, type IrsaSetupObject, irsaSetupResource } from "./resources.ts";
import { daemonMessage } from "./remedy.ts";

const apiVersion = `${crdGroup}/${crdVersion}`;

/** The IRSASetup that wins when several exist: the oldest, then by namespace/name. Pure. */
export function activeSetup(objects: IrsaSetupObject[]): IrsaSetupObject | undefined {
  return objects.filter((o) => !o.metadata.deletionTimestamp).sort((a, b) =>
    (a.metadata.creationTimestamp ?? "").localeCompare(b.metadata.creationTimestamp ?? "") ||
    `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`)
  )[0];
}

/**
 * The IRSASetup that set the cluster up: the oldest of all, those being deleted included (activeSetup skips
 * them, since a deleted one no longer wins; but while it is deleted it is still the one whose setup exists). Pure.
 */
export function oldestSetup(objects: IrsaSetupObject[]): IrsaSetupObject | undefined {
  return [...objects].sort((a, b) =>
    (a.metadata.creationTimestamp ?? "").localeCompare(b.metadata.creationTimestamp ?? "") ||
    `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`)
  )[0];
}

/** How soon an IRSASetup waiting for its IRSA objects to go looks again. */
const dependentsRequeueMs = 5_000;
/** How often a teardown waiting for CloudFront looks again (disabling a distribution takes minutes). */
const cloudFrontPollMs = 30_000;

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

  const checkpoint = () => ctx.signal?.throwIfAborted();
  const setStatus = async (
    ready: { status: "True" | "False"; reason: string; message: string },
    extra: Record<string, unknown> = {},
  ) => {
    checkpoint();
    const conditions = setCondition(
      object.status?.conditions,
      { type: "Ready", ...ready, observedGeneration: meta.generation ?? 0 },
      ctx.now(),
    );
    const before = object.status?.conditions?.find((c) => c.type === "Ready");
    const status = { ...object.status, ...extra, conditions };
    const changed = before?.status !== ready.status || before?.reason !== ready.reason;
    if (await updateStatus(kube, irsaSetupResource, meta, object.status, status) && changed) {
      checkpoint();
      await publishEvent(kube, { apiVersion, kind: "IRSASetup", meta }, {
        type: ready.status === "True" ? "Normal" : "Warning",
        reason: ready.reason,
        message: ready.message,
      }).catch((e) => ctx.log.warn("Publishing an Event failed", { error: e }));
    }
  };

  if (meta.deletionTimestamp) {
    if (!meta.finalizers?.includes(seedFinalizer)) return {};
    // A duplicate never set anything up (it was refused), so its deletion must not tear down the active setup.
    if (
      object.spec.cleanup && (object.spec.mode ?? "selfhosted") === "selfhosted" &&
      oldestSetup(await kube.list<IrsaSetupObject>(irsaSetupResource))?.metadata.uid === meta.uid
    ) {
      // IRSA cleanup needs the setup record and the provider, so the setup goes last (like namespace deletion
      // waiting for its content). Every IRSA object counts, in every namespace, whatever its cleanup setting.
      const dependents = await kube.list<IrsaObject>(irsaResource);
      if (dependents.length > 0) {
        const example = dependents[0]!.metadata;
        await setStatus({
          status: "False",
          reason: "DependentsExist",
          message: `waiting for ${dependents.length} IRSA object${dependents.length === 1 ? "" : "s"} (such as ` +
            `${example.namespace}/${example.name}) to be deleted first; their cleanup needs this setup`,
        });
        return { requeueAfterMs: dependentsRequeueMs };
      }
      try {
        if (await teardown(object, ctx) === "pending") {
          // CloudFront deletes a distribution only minutes after disabling it; the next pass continues.
          await setStatus({
            status: "False",
            reason: "CleanupInProgress",
            message: "waiting for the CloudFront distribution to be disabled before deleting it",
          });
          return { requeueAfterMs: cloudFrontPollMs };
        }
      } catch (e) {
        if (ctx.signal?.aborted) throw e;
        await setStatus({ status: "False", reason: "CleanupFailed", message: `cleanup failed: ${daemonMessage(e)}` })
          .catch((s) => ctx.log.warn("Writing the status failed", { kind: "IRSASetup", namespace, name, error: s }));
        throw e;
      }
    }
    checkpoint();
    await removeFinalizer(kube, irsaSetupResource, meta);
    return {};
  }

  const all = await kube.list<IrsaSetupObject>(irsaSetupResource);
  const winner = activeSetup(all);
  if (winner && winner.metadata.uid !== meta.uid) {
    await setStatus({
      status: "False",
      reason: "DuplicateSetup",
      message: `only one IRSASetup per cluster is used; ${winner.metadata.namespace}/${winner.metadata.name} is active`,
    });
    return {};
  }

  const bindingPolicy = object.spec.bindingPolicy && Object.keys(object.spec.bindingPolicy).length > 0
    ? object.spec.bindingPolicy
    : undefined;
  try {
    if (bindingPolicy) validateBindingPolicy(bindingPolicy, "spec.bindingPolicy");
  } catch (e) {
    if (!(e instanceof IrsaError)) throw e;
    await setStatus({ status: "False", reason: "InvalidSpec", message: daemonMessage(e) });
    return {};
  }

  checkpoint();
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
        return {};
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
        ...(bindingPolicy ? { bindingPolicy } : {}),
      };
      checkpoint();
      await cluster.applySetupRecord(setupConfigMap(record));
      await setStatus({ status: "True", reason: "EksOIDCSetupReady", message: `using ${arn}` }, {
        issuer,
        providerArn: arn,
      });
      return {};
    }

    const s3 = object.spec.discovery?.s3;
    if (!s3) {
      await setStatus({
        status: "False",
        reason: "InvalidSpec",
        message: "spec.discovery.s3 is required in selfhosted mode",
      });
      return {};
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
      ...(object.spec.keySource === "kms" ? { kms: kmsPort(aws) } : {}),
      ...(object.spec.hosting === "cloudfront" ? { cloudfront: cloudFrontPort(aws) } : {}),
    };
    const endpoint = pathStyleS3Endpoint(aws.config);
    const { gathered, plan } = await runInit(
      {
        bucket: s3.bucketName,
        region: s3.region,
        keySource: object.spec.keySource ?? "generate",
        ...(object.spec.kmsKeys ? { kmsKeys: object.spec.kmsKeys } : {}),
        ...(object.spec.hosting ? { hosting: object.spec.hosting } : {}),
        ...(object.spec.issuerUrl ? { issuerUrl: object.spec.issuerUrl } : {}),
        ...(object.spec.clusterName ? { clusterName: object.spec.clusterName } : {}),
        ...(endpoint ? { pathStyleEndpoint: endpoint } : {}),
        // The spec is the whole truth: no bindingPolicy records none (the defaults).
        bindingPolicy: object.spec.bindingPolicy ?? {},
      },
      ports,
      {
        onAction: (a) => {
          // runInit announces each action before it runs it: the last moment to stop after leadership is lost.
          checkpoint();
          ctx.log.info(`Init: ${a.kind}`, { kind: "IRSASetup", namespace, name });
        },
      },
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
      ...(plan.record.keySource === "kms" ? { signer: { socketPath: signerSocketPath } } : {}),
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
    return {};
  } catch (e) {
    if (ctx.signal?.aborted) throw e;
    const reason = e instanceof IrsaError ? `SelfHostedSetupFailed${e.reason}` : "SelfHostedSetupFailed";
    await setStatus({ status: "False", reason, message: daemonMessage(e) });
    // Retryable by the error's code (throttling, OperationAborted, an outage); anything else waits for an edit.
    if (isRetryable(e)) throw e;
    return {};
  }
}

/**
 * Tears the setup down in the safe order provider -> objects -> bucket -> record, each only when ours. A failed
 * read throws (and is retried), never skips a step; a lost leadership stops before the next write.
 */
async function teardown(object: IrsaSetupObject, ctx: ReconcileContext): Promise<"done" | "pending"> {
  const checkpoint = () => ctx.signal?.throwIfAborted();
  const recordText = await clusterPort(ctx.kube).getSetupRecord();
  if (!recordText) return "done";
  const record = parseSetupRecord({ [setupRecord.key]: recordText });
  if (record.bucket !== object.spec.discovery?.s3?.bucketName) return "done";
  const aws = await ctx.aws();
  const iam = iamPort(aws);
  const s3 = s3Port(aws);
  const log = (msg: string) =>
    ctx.log.info(msg, { kind: "IRSASetup", namespace: object.metadata.namespace, name: object.metadata.name });
  // A deleted bucket name can be registered by someone else, so the provider that trusts it goes first.
  const provider = await iam.getOidcProvider(record.providerArn);
  if (provider?.tags[awsTag.managedBy] === managedByValue) {
    checkpoint();
    await iam.deleteOidcProvider(record.providerArn);
    log(`Deleted IAM OIDC provider ${record.providerArn}`);
  }
  // The distribution before the bucket: a deleted bucket's name could be taken by someone its OAC then reads.
  if (record.hosting?.kind === "cloudfront") {
    const cloudfront = cloudFrontPort(aws);
    const desired = { bucket: record.bucket, region: record.region };
    const actions = planCloudFrontTeardown(desired, await gatherCloudFront(desired, cloudfront));
    const { pending } = await applyCloudFrontActions(actions, cloudfront, {
      onAction: (a) => {
        checkpoint();
        log(`Cleanup: ${describeCloudFrontAction(a)}`);
      },
    });
    if (pending) return "pending";
  }
  const bucket = await s3.observeBucket(record.bucket, { account: record.account, region: record.region, keys: [] });
  if (bucket.exists && bucket.tags[awsTag.managedBy] === managedByValue) {
    for (const key of [discoveryKeys.configuration, discoveryKeys.jwks]) {
      checkpoint();
      await s3.deleteObject(record.bucket, { account: record.account, region: record.region, key });
    }
    checkpoint();
    await s3.deleteBucket(record.bucket, { account: record.account, region: record.region });
    log(`Deleted S3 bucket ${record.bucket}`);
  }
  checkpoint();
  await ctx.kube.delete({ resource: "configmaps", namespace: setupRecord.namespace, name: setupRecord.name });
  return "done";
}
