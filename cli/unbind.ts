// `kubectl irsa unbind sa NAME`: undo a binding in one namespace without touching what is not ours.
import { stringify as toYaml } from "yaml";
import { iamPort } from "../lib/aws/iam_port.ts";
import { type BindPorts, loadSetup, runUnbind as runUnbindCore } from "../lib/bind.ts";
import { bindActionDiff, describeBindAction } from "../lib/bind_plan.ts";
import { isIrsaError } from "../lib/errors.ts";
import { clusterPort } from "../lib/kube/kube_port.ts";
import { serviceAccountPort } from "../lib/kube/service_account_port.ts";
import { validateDnsLabel, validateDnsSubdomain } from "../lib/validate.ts";
import type { UnbindCommand } from "./args.ts";
import { renderPlan } from "./dry_run.ts";
import type { Io } from "./main.ts";
import { closeAws, openAws, openKube } from "./session.ts";
import { UsageError } from "./usage_error.ts";
import { cliMessage } from "./remedy.ts";

/** Runs `kubectl irsa unbind`. */
export async function runUnbind(cmd: UnbindCommand, io: Io): Promise<number> {
  const kube = await openKube(cmd.flags);
  try {
    const namespace = cmd.flags.namespaces[0] ?? kube.namespace;
    try {
      validateDnsLabel("namespace", namespace);
      validateDnsSubdomain("ServiceAccount name", cmd.serviceAccount);
    } catch (e) {
      if (isIrsaError(e, "invalid")) throw new UsageError(cliMessage(e), "unbind");
      throw e;
    }
    const cluster = clusterPort(kube);
    const setup = await loadSetup({ setupRecord: () => cluster.getSetupRecord() });
    const aws = await openAws(cmd.flags, io, { command: "unbind", defaultRegion: setup.region });
    try {
      const ports: BindPorts = {
        iam: iamPort(aws.clients),
        serviceAccounts: serviceAccountPort(kube),
        setupRecord: () => cluster.getSetupRecord(),
      };
      const dryRun = cmd.flags.dryRun;
      const { actions, warnings, roleName } = await runUnbindCore(
        { namespace, serviceAccount: cmd.serviceAccount, keepRole: cmd.keepRole },
        ports,
        { dryRun, onAction: (a) => io.err(`• ${describeBindAction(a)}\n`) },
      );
      for (const w of warnings) io.err(`warning: ${w}\n`);
      const result = {
        dryRun,
        serviceAccount: { namespace, name: cmd.serviceAccount },
        roleName: roleName ?? null,
        actions: actions.map((a) => ({ kind: a.kind, description: describeBindAction(a) })),
      };
      if (cmd.flags.output === "json") io.out(JSON.stringify(result, null, 2) + "\n");
      else if (cmd.flags.output === "yaml") io.out(toYaml(result));
      else if (dryRun) io.out(renderPlan(actions, describeBindAction, bindActionDiff));
      else io.out(`serviceaccount/${cmd.serviceAccount} in ${namespace} unbound (${actions.length} changes)\n`);
      return 0;
    } finally {
      // Also on failure: tests assert that bad input made no AWS write.
      await closeAws(aws, io, cmd.flags);
    }
  } finally {
    kube.close();
  }
}
