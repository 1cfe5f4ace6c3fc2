// `rotate-key` end to end: gather (reads only), plan with lib/rotation.ts, then (unless dry-run) apply. Each stage
// is resumable because every plan is computed from what exists, and every action is idempotent.
import { parseJwks } from "./discovery.ts";
import { IrsaError } from "./errors.ts";
import type { FilePort } from "./init.ts";
import { generateRsaKeyPair, jwkFromPublicPem, type Jwks } from "./keys.ts";
import { discoveryKeys, stsAudience } from "./names.ts";
import {
  type KnownKey,
  parseRotationState,
  planPrepare,
  planRetire,
  planVerify,
  type PrepareObserved,
  rotatedKeyFileNames,
  type RotationAction,
  type RotationPlan,
  type RotationState,
  serializeRotationState,
} from "./rotation.ts";
import { parseSetupRecord, type SetupRecord } from "./setup_record.ts";
import type { S3Port } from "./aws/s3_port.ts";
import type { ClusterPort } from "./kube/kube_port.ts";
import type { RotationKubePort } from "./kube/rotation_port.ts";
import type { KeyPair } from "./init_plan.ts";
import type { VerifiedChain } from "./web_identity.ts";
import { decodeProtectedHeader } from "jose";

/** Everything `rotate-key` talks to. */
export interface RotationPorts {
  s3: S3Port;
  cluster: ClusterPort;
  rotation: RotationKubePort;
  files: FilePort;
  /** Verifies a token the way STS does (anonymous fetch of the issuer's documents). */
  verifyToken(token: string): Promise<VerifiedChain>;
}

/** The setup and rotation state every stage starts from. */
export interface RotationContext {
  record: SetupRecord;
  state: RotationState | undefined;
  stateText: string | undefined;
}

/** Reads the setup record and the rotation state; throws when `init` never ran or the cluster is on EKS. */
export async function loadRotationContext(
  ports: Pick<RotationPorts, "cluster" | "rotation">,
): Promise<RotationContext> {
  const recordText = await ports.cluster.getSetupRecord();
  if (!recordText) {
    throw new IrsaError("precondition", "NotInitialised", "no setup is recorded; run 'kubectl irsa init' first");
  }
  const record = parseSetupRecord({ "setup.json": recordText });
  if (record.keySource === "eks") {
    throw new IrsaError(
      "precondition",
      "EksKeys",
      "on EKS, AWS runs the issuer and rotates its signing keys; there is nothing to rotate here",
    );
  }
  const stateText = await ports.rotation.getRotationState();
  return { record, state: stateText ? parseRotationState(stateText) : undefined, stateText };
}

async function readPublished(
  ports: Pick<RotationPorts, "s3">,
  record: SetupRecord,
): Promise<{ text: string | undefined; jwks: Jwks }> {
  const bucket = await ports.s3.observeBucket(record.bucket, {
    account: record.account,
    region: record.region,
    keys: [discoveryKeys.jwks],
  });
  if (!bucket.exists) {
    throw new IrsaError(
      "precondition",
      "BucketMissing",
      `the issuer bucket "${record.bucket}" does not exist; run 'kubectl irsa init' again first`,
    );
  }
  const text = bucket.objects[discoveryKeys.jwks];
  return { text, jwks: text === undefined ? { keys: [] } : parseJwks(text) };
}

async function known(pair: KeyPair | undefined): Promise<KnownKey | undefined> {
  return pair ? { pair, jwk: await jwkFromPublicPem(pair.publicPem) } : undefined;
}

/** The kid in a token's header. */
export function tokenKid(token: string): string {
  return String(decodeProtectedHeader(token).kid ?? "");
}

/** Executes a stage's actions in order. */
export async function applyRotationActions(
  actions: RotationAction[],
  ports: RotationPorts,
  options: { account: string; region: string; onAction?: (a: RotationAction) => void },
): Promise<void> {
  for (const a of actions) {
    options.onAction?.(a);
    switch (a.kind) {
      case "ApplyRotationState":
        await ports.rotation.putRotationState(serializeRotationState(a.state));
        break;
      case "ApplyPreviousKeySecret":
        await ports.rotation.applyPreviousKeySecret(a.key);
        break;
      case "DeletePreviousKeySecret":
        await ports.rotation.deletePreviousKeySecret();
        break;
      case "ApplyKeySecret":
        await ports.cluster.applyKeySecret(a.key);
        break;
      case "WriteKeyFile":
        await ports.files.write(a.path, a.content, a.mode);
        break;
      case "PutObject":
        await ports.s3.putObject(a.bucket, {
          account: options.account,
          region: options.region,
          key: a.key,
          body: a.body,
          contentType: "application/json",
        });
        break;
    }
  }
}

/** Options shared by every stage. */
export interface StageOptions {
  dryRun?: boolean;
  onAction?: (a: RotationAction) => void;
  /** The clock; tests pass their own. */
  now?: () => Date;
}

async function finish(
  ctx: RotationContext,
  plan: RotationPlan,
  ports: RotationPorts,
  options: StageOptions,
): Promise<void> {
  if (options.dryRun) return;
  await applyRotationActions(plan.actions, ports, {
    account: ctx.record.account,
    region: ctx.record.region,
    ...(options.onAction ? { onAction: options.onAction } : {}),
  });
}

/** `prepare`: obtain the new key and publish old and new together. */
export async function runPrepare(
  ports: RotationPorts,
  options: StageOptions & { force?: boolean; outDir?: string; kid?: string },
): Promise<{ context: RotationContext; plan: RotationPlan }> {
  const ctx = await loadRotationContext(ports);
  const keySource = ctx.record.keySource as "cluster" | "generate";
  if (options.outDir !== undefined && keySource !== "generate") {
    throw new IrsaError("invalid", "OutDirNeedsGenerate", "--out-dir only applies when init generated the key");
  }
  if (options.kid !== undefined && keySource !== "cluster") {
    throw new IrsaError("invalid", "KidNeedsCluster", "--kid only applies when the cluster's own keys are published");
  }
  const published = await readPublished(ports, ctx.record);
  const observed: PrepareObserved = {
    keySource,
    state: ctx.state,
    stateText: ctx.stateText,
    bucket: ctx.record.bucket,
    publishedText: published.text,
    published: published.jwks,
  };
  if (keySource === "generate") {
    const current = await known(await ports.cluster.getKeySecret());
    const previous = await known(await ports.rotation.getPreviousKeySecret());
    if (current) observed.currentKey = current;
    if (previous) observed.previousKey = previous;
    const candidate = await known(await generateRsaKeyPair());
    observed.candidateKey = candidate!;
    if (options.outDir !== undefined) {
      const dir = options.outDir.replace(/\/+$/, "") || "/";
      observed.files = {};
      for (const key of [current, candidate]) {
        if (!key) continue;
        const names = rotatedKeyFileNames(key.jwk.kid);
        for (const name of [names.privateName, names.publicName]) {
          observed.files[`${dir}/${name}`] = await ports.files.read(`${dir}/${name}`);
        }
      }
    }
  } else {
    const api = await ports.cluster.apiserverJwks();
    if (api) observed.apiserverJwks = api;
    observed.signingKid = tokenKid(await ports.rotation.mintToken(stsAudience));
  }
  const plan = planPrepare(observed, {
    now: (options.now?.() ?? new Date()).toISOString(),
    force: options.force ?? false,
    ...(options.outDir !== undefined ? { outDir: options.outDir } : {}),
    ...(options.kid !== undefined ? { kid: options.kid } : {}),
  });
  await finish(ctx, plan, ports, options);
  return { context: ctx, plan };
}

/** `verify`: a freshly minted token carries the new kid and verifies like STS; records the switch. */
export async function runVerify(
  ports: RotationPorts,
  options: StageOptions & { graceMs: number },
): Promise<{ context: RotationContext; plan: RotationPlan; chain: VerifiedChain }> {
  const ctx = await loadRotationContext(ports);
  const token = await ports.rotation.mintToken(stsAudience);
  // Planned before verifying, so a missing switch is reported as such rather than as a chain failure.
  const plan = planVerify({ state: ctx.state, stateText: ctx.stateText, tokenKid: tokenKid(token) }, {
    now: (options.now?.() ?? new Date()).toISOString(),
    graceMs: options.graceMs,
  });
  const chain = await ports.verifyToken(token);
  await finish(ctx, plan, ports, options);
  return { context: ctx, plan, chain };
}

/** `retire`: removes the old keys from the published JWKS when that is safe. */
export async function runRetire(
  ports: RotationPorts,
  options: StageOptions & { force?: boolean; graceMs?: number },
): Promise<{ context: RotationContext; plan: RotationPlan; retired: string[]; signingKid: string }> {
  const ctx = await loadRotationContext(ports);
  const published = await readPublished(ports, ctx.record);
  const signingKid = tokenKid(await ports.rotation.mintToken(stsAudience));
  const apiserverKids = ctx.record.keySource === "cluster"
    ? (await ports.cluster.apiserverJwks())?.keys.map((k) => k.kid) ?? []
    : undefined;
  const previousKeyStored = ctx.record.keySource === "generate"
    ? (await ports.rotation.getPreviousKeySecret()) !== undefined
    : undefined;
  const plan = planRetire({
    state: ctx.state,
    stateText: ctx.stateText,
    bucket: ctx.record.bucket,
    publishedText: published.text,
    published: published.jwks,
    signingKid,
    ...(apiserverKids ? { apiserverKids } : {}),
    ...(previousKeyStored !== undefined ? { previousKeyStored } : {}),
  }, {
    now: (options.now?.() ?? new Date()).toISOString(),
    force: options.force ?? false,
    ...(options.graceMs !== undefined ? { graceMs: options.graceMs } : {}),
  });
  const kept = new Set(plan.jwks.keys.map((k) => k.kid));
  const retired = published.jwks.keys.map((k) => k.kid).filter((k) => !kept.has(k));
  await finish(ctx, plan, ports, options);
  return { context: ctx, plan, retired, signingKid };
}
