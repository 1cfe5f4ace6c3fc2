// `kubectl irsa init`: gather → plan → (apply) with lib/init.ts, then print the kube-apiserver change.
import { type BindingPolicy, validateBindingPolicy } from "../lib/binding_policy.ts";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { apiserverChange, detectDistro } from "../lib/apiserver_change.ts";
import { checkSignerDistro } from "../lib/distro.ts";
import { pathStyleS3Endpoint } from "../lib/aws/clients.ts";
import { iamPort } from "../lib/aws/iam_port.ts";
import { s3Port } from "../lib/aws/s3_port.ts";
import { stsPort } from "../lib/aws/sts_port.ts";
import { kmsPort } from "../lib/aws/kms_port.ts";
import { cloudFrontPort } from "../lib/aws/cloudfront_port.ts";
import { defaultServiceAccountKeyFiles } from "../lib/apiserver_change.ts";
import { signerDeployment } from "../lib/signer/deploy.ts";
import { signerSocketPath } from "../lib/names.ts";
import { defaultImage } from "../lib/install_manifests.ts";
import { version } from "./version.ts";
import {
  type FilePort,
  type InitPorts,
  type InitRequest,
  runInit as runInitCore,
  validateInitRequest,
} from "../lib/init.ts";
import { IrsaError, isIrsaError } from "../lib/errors.ts";
import { UsageError } from "./usage_error.ts";
import { describeInitAction, type InitAction } from "../lib/init_plan.ts";
import { clusterPort } from "../lib/kube/kube_port.ts";
import { lineDiff } from "../lib/text_diff.ts";
import { fetchIssuerThumbprint } from "../lib/thumbprint.ts";
import type { InitCommand } from "./args.ts";
import type { Io } from "./main.ts";
import { renderPlan } from "./dry_run.ts";
import { closeAws, openAws, openKube } from "./session.ts";
import { cliMessage } from "./remedy.ts";

/** Local files for the CLI: reads tolerate a missing file, writes create the directory and force the mode. */
export const localFiles: FilePort = {
  async read(path) {
    try {
      return await Deno.readTextFile(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
  },
  async write(path, content, mode) {
    await Deno.mkdir(path.replace(/\/[^/]*$/, "") || "/", { recursive: true });
    await Deno.writeTextFile(path, content, { mode });
    await Deno.chmod(path, mode); // mode only applies on create; an overwritten file keeps its old bits otherwise
  },
};

/** Runs `kubectl irsa init`. */
export async function runInit(cmd: InitCommand, io: Io): Promise<number> {
  // Read and checked before any connection: a bad file is a usage error.
  const bindingPolicy = cmd.bindingPolicyFile === undefined
    ? undefined
    : await readBindingPolicy(cmd.bindingPolicyFile);
  const aws = await openAws(cmd.flags, io, { command: "init" });
  const request: InitRequest = {
    bucket: cmd.bucket,
    region: aws.clients.region,
    keySource: cmd.keySource,
    force: cmd.force,
    noThumbprint: cmd.noThumbprint,
    ...(cmd.issuerUrl !== undefined ? { issuerUrl: cmd.issuerUrl } : {}),
    ...(cmd.outDir !== undefined ? { outDir: cmd.outDir } : {}),
    ...(cmd.kmsKeys !== undefined ? { kmsKeys: cmd.kmsKeys } : {}),
    ...(cmd.hosting !== undefined ? { hosting: cmd.hosting } : {}),
    ...(bindingPolicy !== undefined ? { bindingPolicy } : {}),
  };
  const endpoint = pathStyleS3Endpoint(aws.clients.config);
  if (endpoint) request.pathStyleEndpoint = endpoint;
  try {
    validateInitRequest(request);
  } catch (e) {
    aws.clients.destroy();
    if (isIrsaError(e, "invalid")) throw new UsageError(cliMessage(e), "init");
    throw e;
  }
  let kube;
  try {
    kube = await openKube(cmd.flags);
  } catch (e) {
    aws.clients.destroy();
    throw e;
  }
  try {
    const cluster = clusterPort(kube);
    const ports: InitPorts = {
      sts: stsPort(aws.clients),
      s3: s3Port(aws.clients),
      iam: iamPort(aws.clients),
      cluster,
      files: localFiles,
      thumbprint: (issuer) => fetchIssuerThumbprint(issuer, aws.caBundlePem ? { caPem: aws.caBundlePem } : {}),
      ...(request.keySource === "kms" ? { kms: kmsPort(aws.clients) } : {}),
      ...(request.hosting === "cloudfront" ? { cloudfront: cloudFrontPort(aws.clients) } : {}),
    };
    // The signer's apiserver change exists for some distributions only: found out before anything is written.
    let distro = cmd.distro;
    if (request.keySource === "kms") {
      distro ??= detectDistro(await cluster.distroFacts());
      // Found on the cluster, not in the arguments: a failed precondition (exit 1), before any AWS call.
      try {
        checkSignerDistro(distro);
      } catch (e) {
        if (!isIrsaError(e, "invalid")) throw e;
        throw new IrsaError("precondition", e.reason, `${e.message} (--distro static-pod or raw)`);
      }
    }
    const dryRun = cmd.flags.dryRun;
    const { gathered, plan } = await runInitCore(request, ports, {
      dryRun,
      onAction: (a) => io.err(`• ${describeInitAction(a)}\n`),
    });
    for (const w of plan.warnings) io.err(`warning: ${w}\n`);
    if (!dryRun) {
      io.err(
        plan.actions.length === 0
          ? "Everything is up to date; nothing was changed\n"
          : `Done: ${plan.actions.length} changes\n`,
      );
    }

    distro ??= detectDistro(await cluster.distroFacts());
    const keyFiles = gathered.desired.keyFiles;
    const change = apiserverChange({
      distro,
      newIssuer: plan.record.issuer,
      currentIssuers: gathered.currentIssuers,
      jwksUri: plan.record.jwksUri,
      ...(keyFiles ? { keyFiles: { publicKeyPath: keyFiles.publicPath, privateKeyPath: keyFiles.privatePath } } : {}),
      ...(gathered.desired.keySource === "generate" && !keyFiles
        ? {
          keyFiles: {
            publicKeyPath: "/etc/kubernetes/pki/irsa-manager.pub",
            privateKeyPath: "/etc/kubernetes/pki/irsa-manager.key",
            inSecretOnly: true,
          },
        }
        : {}),
      ...(gathered.desired.keySource === "kms" ? { signer: { socketPath: signerSocketPath } } : {}),
    });
    // The signer lists the distribution's current public keys too, so tokens signed before the switch verify.
    const signer = gathered.desired.keySource === "kms"
      ? signerDeployment({
        distro,
        kmsKeys: (gathered.desired.kmsKeys ?? []).map((k) => k.key),
        region: request.region,
        socketPath: signerSocketPath,
        image: defaultImage(version),
        verifyKeyFiles: defaultServiceAccountKeyFiles(distro),
      })
      : undefined;

    const result = {
      dryRun,
      issuer: plan.record.issuer,
      jwksUri: plan.record.jwksUri,
      providerArn: plan.record.providerArn,
      bucket: plan.record.bucket,
      region: plan.record.region,
      account: plan.record.account,
      partition: plan.record.partition,
      keySource: plan.record.keySource,
      keyIds: plan.jwks.keys.map((k) => k.kid),
      actions: plan.actions.map((a) => ({ kind: a.kind, description: describeInitAction(a) })),
      warnings: plan.warnings,
      apiserver: {
        distro,
        flags: change.flags,
        resultingFlags: change.resultingFlags,
        edits: change.edits,
        snippet: change.snippet,
        notes: change.notes,
      },
      ...(signer ? { signer } : {}),
    };
    if (cmd.flags.output === "json") io.out(JSON.stringify(result, null, 2) + "\n");
    else if (cmd.flags.output === "yaml") io.out(toYaml(result));
    else io.out(renderText(result, plan.actions, dryRun));
    return 0;
  } finally {
    kube.close();
    await closeAws(aws, io, cmd.flags);
  }
}

function renderText(
  r: {
    issuer: string;
    jwksUri: string;
    providerArn: string;
    keyIds: string[];
    apiserver: { distro: string; snippet: string; notes: string[] };
    signer?: { path: string; content: string; notes: string[] };
  },
  actions: InitAction[],
  dryRun: boolean,
): string {
  const lines: string[] = [];
  if (dryRun) lines.push(renderPlan(actions, describeInitAction, actionDiff));
  lines.push(
    `Issuer:         ${r.issuer}`,
    `JWKS:           ${r.jwksUri} (key IDs: ${r.keyIds.join(", ")})`,
    `OIDC provider:  ${r.providerArn}`,
    "",
    ...(r.signer
      ? [
        `First run the KMS-backed signer on every control-plane node: put this in ${r.signer.path}:`,
        "",
        ...r.signer.content.replace(/\n$/, "").split("\n").map((l) => `    ${l}`),
        "",
        ...r.signer.notes.map((n) => `- ${n}`),
        "",
      ]
      : []),
    `Apply this kube-apiserver change (${r.apiserver.distro}):`,
    "",
    ...r.apiserver.snippet.replace(/\n$/, "").split("\n").map((l) => `    ${l}`),
    "",
    ...r.apiserver.notes.map((n) => `- ${n}`),
  );
  return lines.join("\n") + "\n";
}

/** The content diff shown under an action in a dry run; never shows key material. */
function actionDiff(a: InitAction): string[] {
  switch (a.kind) {
    case "PutObject":
      return lineDiff(a.before ?? "", a.body);
    case "PutBucketPolicy":
      return lineDiff(
        a.before ? JSON.stringify(JSON.parse(a.before), null, 2) : "",
        JSON.stringify(JSON.parse(a.policy), null, 2),
      );
    case "ApplySetupRecord":
      return lineDiff(a.before ?? "", JSON.stringify(a.record, null, 2));
    default:
      return [];
  }
}

/** The binding policy of `--binding-policy FILE`, checked; any problem is a usage error naming the file. */
async function readBindingPolicy(path: string): Promise<BindingPolicy> {
  let text;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new UsageError(`cannot read --binding-policy file "${path}": ${(e as Error).message}`, "init");
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (e) {
    throw new UsageError(`--binding-policy file "${path}" is not YAML or JSON: ${(e as Error).message}`, "init");
  }
  if (value === null || value === undefined) value = {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new UsageError(`--binding-policy file "${path}" must hold a mapping of policy fields`, "init");
  }
  try {
    validateBindingPolicy(value as BindingPolicy, `--binding-policy file "${path}"`);
  } catch (e) {
    if (isIrsaError(e, "invalid")) throw new UsageError(cliMessage(e), "init");
    throw e;
  }
  return value as BindingPolicy;
}
