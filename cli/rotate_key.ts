// `kubectl irsa rotate-key prepare|verify|retire|status`: one stage per run, gather → plan → (apply) with
// lib/rotate_key.ts, then print what happened and what to do next.
import { stringify as toYaml } from "yaml";
import {
  apiserverChange,
  defaultServiceAccountKeyFiles,
  detectDistro,
  type Distro,
  type FlagEdit,
} from "../lib/apiserver_change.ts";
import { type S3Port, s3Port } from "../lib/aws/s3_port.ts";
import { clusterPort } from "../lib/kube/kube_port.ts";
import { rotationKubePort } from "../lib/kube/rotation_port.ts";
import { lineDiff } from "../lib/text_diff.ts";
import {
  loadRotationContext,
  type RotationContext,
  type RotationPorts,
  runPrepare,
  runRetire,
  runVerify,
} from "../lib/rotate_key.ts";
import {
  defaultRetireGraceMs,
  describeRotationAction,
  formatDuration,
  rotatedKeyFileNames,
  type RotationAction,
  type RotationPlan,
  rotationStatus,
  serializeRotationState,
} from "../lib/rotation.ts";
import { verifyLikeSts } from "../lib/web_identity.ts";
import type { RotateKeyCommand } from "./args.ts";
import { renderPlan } from "./dry_run.ts";
import { localFiles } from "./init.ts";
import type { Io } from "./main.ts";
import { type AwsSession, closeAws, openAws, openKube } from "./session.ts";

/** Runs `kubectl irsa rotate-key <stage>`. */
export async function runRotateKey(cmd: RotateKeyCommand, io: Io): Promise<number> {
  const kube = await openKube(cmd.flags);
  let aws: AwsSession | undefined;
  const caPath = cmd.flags.caBundle ?? io.env.get("AWS_CA_BUNDLE");
  const caPem = caPath ? await Deno.readTextFile(caPath).catch(() => undefined) : undefined;
  // STS fetches without credentials and trusts public CAs; the extra CA only serves private test endpoints.
  const issuerClient = Deno.createHttpClient(caPem ? { caCerts: [caPem] } : {});
  try {
    const cluster = clusterPort(kube);
    const rotation = rotationKubePort(kube);
    const ctx = await loadRotationContext({ cluster, rotation });
    const needsS3 = cmd.stage === "prepare" || cmd.stage === "retire";
    if (needsS3) aws = await openAws(cmd.flags, io, { command: "rotate-key", defaultRegion: ctx.record.region });
    const ports: RotationPorts = {
      s3: aws ? s3Port(aws.clients) : unusedS3,
      cluster,
      rotation,
      files: localFiles,
      verifyToken: (token) =>
        verifyLikeSts(token, {
          fetcher: (url) => fetch(url, { client: issuerClient, signal: AbortSignal.timeout(10_000) }),
        }),
    };
    const progress = { onAction: (a: RotationAction) => io.err(`• ${describeRotationAction(a)}\n`) };
    const dryRun = cmd.flags.dryRun;
    switch (cmd.stage) {
      case "status":
        return status(cmd, io, ctx);
      case "prepare": {
        const { plan } = await runPrepare(ports, {
          dryRun,
          ...progress,
          force: cmd.force,
          ...(cmd.outDir !== undefined ? { outDir: cmd.outDir } : {}),
          ...(cmd.kid !== undefined ? { kid: cmd.kid } : {}),
        });
        done(io, plan, dryRun);
        const distro = cmd.distro ?? detectDistro(await cluster.distroFacts());
        return print(cmd, io, plan, prepareResult(cmd, ctx, plan, distro));
      }
      case "verify": {
        const graceMs = cmd.graceMs ?? defaultRetireGraceMs;
        const { plan, chain } = await runVerify(ports, { dryRun, ...progress, graceMs });
        done(io, plan, dryRun);
        return print(cmd, io, plan, {
          stage: "verify",
          dryRun,
          newKid: plan.state.newKid,
          tokenKid: chain.kid,
          issuer: chain.issuer,
          jwksUri: chain.jwksUri,
          switchedAt: plan.state.switchedAt,
          retireAllowedAt: plan.state.retireAfter,
          actions: plan.actions.map(describeRotationAction),
        });
      }
      case "retire": {
        const { plan, retired, signingKid } = await runRetire(ports, {
          dryRun,
          ...progress,
          force: cmd.force,
          ...(cmd.graceMs !== undefined ? { graceMs: cmd.graceMs } : {}),
        });
        done(io, plan, dryRun);
        return print(cmd, io, plan, {
          stage: "retire",
          dryRun,
          signingKid,
          retiredKids: retired,
          publishedKids: plan.jwks.keys.map((k) => k.kid),
          actions: plan.actions.map(describeRotationAction),
        });
      }
    }
    throw new Error(`unknown rotate-key stage ${cmd.stage satisfies never}`);
  } finally {
    issuerClient.close();
    if (aws) await closeAws(aws, io, cmd.flags);
    kube.close();
  }
}

// verify and status never touch S3; a call here would be a bug, so it fails loudly.
const unusedS3 = new Proxy({}, {
  get: () => () => Promise.reject(new Error("rotate-key: this stage does not use S3")),
}) as S3Port;

function done(io: Io, plan: RotationPlan, dryRun: boolean): void {
  if (dryRun) return;
  io.err(plan.actions.length === 0 ? "Nothing to change\n" : `Done: ${plan.actions.length} changes\n`);
}

function status(cmd: RotateKeyCommand, io: Io, ctx: RotationContext): number {
  const s = rotationStatus(ctx.state, new Date().toISOString(), cmd.graceMs);
  if (cmd.flags.output === "json") io.out(JSON.stringify(s, null, 2) + "\n");
  else if (cmd.flags.output === "yaml") io.out(toYaml(s));
  else {
    const lines = [`Stage:          ${s.stage}`];
    if (s.keySource) lines.push(`Key source:     ${s.keySource}`);
    if (s.newKid) lines.push(`New key:        ${s.newKid}`);
    if (s.oldKids.length) lines.push(`Old keys:       ${s.oldKids.join(", ")}`);
    if (s.preparedAt) lines.push(`Prepared:       ${s.preparedAt}`);
    if (s.switchedAt) lines.push(`Switched:       ${s.switchedAt}`);
    if (s.retireAllowedAt) lines.push(`Retire from:    ${s.retireAllowedAt}`);
    if (s.retiredAt) lines.push(`Retired:        ${s.retiredAt}`);
    lines.push(`Next:           ${s.next}`);
    io.out(lines.join("\n") + "\n");
  }
  return 0;
}

type PrepareResult = {
  stage: "prepare";
  dryRun: boolean;
  resumed: boolean;
  keySource: string;
  newKid: string;
  oldKids: string[];
  publishedKids: string[];
  keyFiles?: { publicPath: string; privatePath: string };
  actions: string[];
  apiserver: {
    distro: Distro;
    flags: string[];
    resultingFlags: string[];
    edits: FlagEdit[];
    snippet: string;
    notes: string[];
  };
};

function prepareResult(cmd: RotateKeyCommand, ctx: RotationContext, plan: RotationPlan, distro: Distro): PrepareResult {
  const s = plan.state;
  const base = {
    stage: "prepare" as const,
    dryRun: cmd.flags.dryRun,
    resumed: plan.resumed,
    keySource: s.keySource,
    newKid: s.newKid,
    oldKids: s.oldKids,
    publishedKids: plan.jwks.keys.map((k) => k.kid),
    actions: plan.actions.map(describeRotationAction),
  };
  const next = "Then run 'kubectl irsa rotate-key verify': it checks that new tokens carry the new key and verify " +
    "like STS, and records the switch; 'kubectl irsa rotate-key retire' removes the old keys after the grace period.";
  if (s.keySource === "cluster") {
    return {
      ...base,
      apiserver: {
        distro,
        flags: [],
        resultingFlags: [],
        edits: [],
        snippet: "",
        notes: [
          `keys.json now holds the new key ${s.newKid} next to the old ones, so tokens signed with either verify.`,
          "Now make the kube-apiserver sign with the new key: set --service-account-signing-key-file to the new " +
          "private key, keep every --service-account-key-file (old and new: tokens already issued are signed with " +
          "the old key) and restart it. Do the same for the controller-manager's --service-account-private-key-file.",
          next,
        ],
      },
    };
  }
  const dir = (cmd.outDir ?? "/etc/kubernetes/pki").replace(/\/+$/, "") || "/";
  const names = rotatedKeyFileNames(s.newKid);
  const keyFiles = s.keyFiles ??
    { publicPath: `${dir}/${names.publicName}`, privatePath: `${dir}/${names.privateName}` };
  // The old key's file: where the last rotation put it, else where init did.
  const oldPublic = ctx.state?.stage === "retired" && ctx.state.keyFiles
    ? ctx.state.keyFiles.publicPath
    : `${dir}/irsa-manager.pub`;
  // kind's configuration only creates clusters; a running one is rotated in the node's static-pod manifest.
  const rendered: Distro = distro === "kind" ? "static-pod" : distro;
  const change = apiserverChange({
    distro: rendered,
    newIssuer: ctx.record.issuer,
    currentIssuers: [ctx.record.issuer, ...ctx.record.previousIssuers],
    jwksUri: ctx.record.jwksUri,
    keyFiles: {
      publicKeyPath: keyFiles.publicPath,
      privateKeyPath: keyFiles.privatePath,
      existingPublicKeyPaths: [...defaultServiceAccountKeyFiles(distro), oldPublic],
      ...(cmd.outDir === undefined ? { inSecretOnly: true } : {}),
    },
  });
  const notes = [
    `keys.json now holds the new key ${s.newKid} next to the old ones, so tokens signed with either verify.`,
    ...(cmd.outDir === undefined ? ["The old key stays in Secret kube-system/irsa-manager-key-previous."] : []),
    ...(distro === "kind"
      ? ["On kind, edit the manifest inside each control-plane node ('docker exec -it <cluster>-control-plane ...')."]
      : []),
    `The old key's file is assumed at ${oldPublic}; keep every --service-account-key-file the apiserver has now.`,
    // Audiences and issuers do not change in a rotation; only the key notes apply.
    ...change.notes.filter((n) => !n.includes("--api-audiences") && !n.startsWith("The apiserver already signs")),
    next,
  ];
  return {
    ...base,
    keyFiles,
    apiserver: {
      distro: rendered,
      flags: change.flags,
      resultingFlags: change.resultingFlags,
      edits: change.edits,
      snippet: change.snippet,
      notes,
    },
  };
}

function print(cmd: RotateKeyCommand, io: Io, plan: RotationPlan, result: Record<string, unknown>): number {
  if (cmd.flags.output === "json") io.out(JSON.stringify(result, null, 2) + "\n");
  else if (cmd.flags.output === "yaml") io.out(toYaml(result));
  else io.out(renderText(cmd, plan, result));
  return 0;
}

function renderText(cmd: RotateKeyCommand, plan: RotationPlan, r: Record<string, unknown>): string {
  const lines: string[] = [];
  if (cmd.flags.dryRun) lines.push(renderPlan(plan.actions, describeRotationAction, actionDiff).replace(/\n$/, ""));
  const s = plan.state;
  switch (cmd.stage) {
    case "prepare": {
      const p = r as unknown as PrepareResult;
      lines.push(
        `New key:        ${s.newKid}${plan.resumed ? " (resumed)" : ""}`,
        `Old keys:       ${s.oldKids.join(", ") || "none"}`,
        `Published:      ${p.publishedKids.join(", ")}`,
      );
      if (p.apiserver.snippet) {
        lines.push(
          "",
          `Apply this kube-apiserver change (${p.apiserver.distro}):`,
          "",
          ...p.apiserver.snippet.replace(/\n$/, "").split("\n").map((l) => `    ${l}`),
        );
      }
      lines.push("", ...p.apiserver.notes.map((n) => `- ${n}`));
      break;
    }
    case "verify":
      lines.push(
        `✓ a freshly minted token carries the new key ${s.newKid} and verifies like STS against ${r.jwksUri}`,
        `Switched:       ${s.switchedAt ?? "(not recorded: dry run)"}`,
        `Retire from:    ${s.retireAfter ?? "-"} (grace ${formatDuration(cmd.graceMs ?? defaultRetireGraceMs)})`,
        "Next:           kubectl irsa rotate-key retire",
      );
      break;
    case "retire":
      lines.push(
        `Retired:        ${(r.retiredKids as string[]).join(", ") || "none (already retired)"}`,
        `Published:      ${(r.publishedKids as string[]).join(", ")}`,
        `Signing key:    ${r.signingKid}`,
      );
      break;
    case "status":
      break;
  }
  return lines.join("\n") + "\n";
}

function actionDiff(a: RotationAction): string[] {
  switch (a.kind) {
    case "PutObject":
      return lineDiff(a.before ?? "", a.body);
    case "ApplyRotationState":
      return lineDiff(a.before ?? "", serializeRotationState(a.state));
    default:
      return [];
  }
}
