// `kubectl irsa bind sa NAME`: IAM role with trust policy and policies, annotated ServiceAccount(s).
import { stringify as toYaml } from "yaml";
import { iamPort } from "../lib/aws/iam_port.ts";
import { type BindPorts, loadSetup, resolveBinding, runBind as runBindCore, validateBindRequest } from "../lib/bind.ts";
import { bindActionDiff, type Binding, bindingRoleArn, describeBindAction } from "../lib/bind_plan.ts";
import { isIrsaError } from "../lib/errors.ts";
import { irsaManifest } from "../lib/irsa_spec.ts";
import { clusterPort } from "../lib/kube/kube_port.ts";
import { serviceAccountPort } from "../lib/kube/service_account_port.ts";
import { type BindCommand, bindRequest } from "./args.ts";
import { renderPlan } from "./dry_run.ts";
import type { Io } from "./main.ts";
import { closeAws, openAws, openKube } from "./session.ts";
import { UsageError } from "./usage_error.ts";
import { cliMessage } from "./remedy.ts";

/** Runs `kubectl irsa bind`. */
export async function runBind(cmd: BindCommand, io: Io): Promise<number> {
  let inlinePolicy: string | undefined;
  if (cmd.inlinePolicyFile !== undefined) {
    try {
      inlinePolicy = await Deno.readTextFile(cmd.inlinePolicyFile);
    } catch (e) {
      throw new UsageError(
        `cannot read --inline-policy file "${cmd.inlinePolicyFile}": ${(e as Error).message}`,
        "bind",
      );
    }
  }
  // The parser checked the flags; the inline policy's content is known only now. Both before any connection.
  usageOf(() => validateBindRequest(bindRequest(cmd, cmd.namespaces, inlinePolicy)));
  const kube = await openKube(cmd.flags);
  try {
    const request = bindRequest(cmd, cmd.namespaces.length > 0 ? cmd.namespaces : [kube.namespace], inlinePolicy);
    const cluster = clusterPort(kube);
    const setup = await loadSetup({ setupRecord: () => cluster.getSetupRecord() });
    const binding: Binding = usageOf(() => resolveBinding(setup, request));
    if (cmd.flags.dryRun && (cmd.flags.output === "yaml" || cmd.flags.output === "json")) {
      // For GitOps: the IRSA custom resource that makes the daemon do the same; no AWS call, nothing changed.
      const manifest = irsaManifest(binding);
      io.out(cmd.flags.output === "json" ? JSON.stringify(manifest, null, 2) + "\n" : toYaml(manifest));
      return 0;
    }

    const aws = await openAws(cmd.flags, io, { command: "bind", defaultRegion: setup.region });
    try {
      const serviceAccounts = serviceAccountPort(kube);
      const ports: BindPorts = {
        iam: iamPort(aws.clients),
        serviceAccounts,
        setupRecord: () => cluster.getSetupRecord(),
      };
      const dryRun = cmd.flags.dryRun;
      const { actions } = await runBindCore(request, ports, {
        dryRun,
        onAction: (a) => io.err(`• ${describeBindAction(a)}\n`),
      });
      const roleArn = bindingRoleArn(setup, binding);
      if (!dryRun) {
        io.err(
          actions.length === 0
            ? "Everything is up to date; nothing was changed\n"
            : `Done: ${actions.length} changes\n`,
        );
        for (const ns of binding.namespaces) {
          const pods = await serviceAccounts.podsUsing(ns, binding.serviceAccount);
          if (pods.length > 0) {
            io.err(
              `warning: pods running as ${ns}/${binding.serviceAccount} get credentials only after a restart: ${
                pods.join(", ")
              }\n`,
            );
          }
        }
      }
      const result = {
        dryRun,
        roleName: binding.roleName,
        roleArn,
        serviceAccounts: binding.namespaces.map((namespace) => ({ namespace, name: binding.serviceAccount })),
        policies: binding.policyArns,
        actions: actions.map((a) => ({ kind: a.kind, description: describeBindAction(a) })),
      };
      if (cmd.flags.output === "json") io.out(JSON.stringify(result, null, 2) + "\n");
      else if (cmd.flags.output === "yaml") io.out(toYaml(result));
      else {
        if (dryRun) io.out(renderPlan(actions, describeBindAction, bindActionDiff) + "\n");
        for (const sa of result.serviceAccounts) io.out(`serviceaccount/${sa.name} in ${sa.namespace} -> ${roleArn}\n`);
        io.out(`policies: ${binding.policyArns.join(", ") || "none"}${binding.inlinePolicy ? " + inline" : ""}\n`);
      }
      return 0;
    } finally {
      // Also on failure: tests assert that bad input made no AWS write.
      await closeAws(aws, io, cmd.flags);
    }
  } finally {
    kube.close();
  }
}

/** Runs a check whose "invalid" errors are usage errors of bind. */
function usageOf<T>(check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (isIrsaError(e, "invalid")) throw new UsageError(cliMessage(e), "bind");
    throw e;
  }
}
