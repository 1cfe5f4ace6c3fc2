// `kubectl irsa list`: annotated ServiceAccounts, their roles, and whether bind would change anything (drift).
import { stringify as toYaml } from "yaml";
import { validateRoleArn } from "../lib/arn.ts";
import { iamPort, type ObservedRole } from "../lib/aws/iam_port.ts";
import { loadSetup } from "../lib/bind.ts";
import {
  type Binding,
  bindingDrift,
  type BindObserved,
  type ObservedServiceAccount,
  recordedBinding,
} from "../lib/bind_plan.ts";
import { isIrsaError } from "../lib/errors.ts";
import { issuerHostPath } from "../lib/issuer.ts";
import { clusterPort } from "../lib/kube/kube_port.ts";
import { serviceAccountPort } from "../lib/kube/service_account_port.ts";
import { saAnnotation, stsAudience } from "../lib/names.ts";
import { evaluateTrust } from "../lib/policy_eval.ts";
import type { SetupRecord } from "../lib/setup_record.ts";
import { subjectOf } from "../lib/trust_policy.ts";
import type { ListCommand } from "./args.ts";
import type { Io } from "./main.ts";
import { closeAws, openAws, openKube } from "./session.ts";
import { cliMessage } from "./remedy.ts";

/**
 * The state of one annotated ServiceAccount. With a binding record: "ok" when bind would change nothing, "drifted"
 * (naming each part) when it would, "missing role" when it would create the role, "conflict" when it would refuse.
 * Without one: "unmanaged" when kubectl-irsa did not set the annotation.
 */
export type BindingState = "ok" | "drifted" | "missing role" | "conflict" | "invalid annotation" | "unmanaged";

/** One row of `list`. */
export interface BindingRow {
  namespace: string;
  serviceAccount: string;
  roleArn: string;
  policies: string[];
  state: BindingState;
  /** Why the state is not ok. */
  detail?: string;
  /** For a drifted binding: each part that differs from the recorded binding, as bind would change it. */
  drift?: string[];
}

type RowState = Pick<BindingRow, "state" | "detail" | "drift">;

/** The state of a ServiceAccount that records its binding: the plan bind would make against what exists. Pure. */
export function recordedState(setup: SetupRecord, binding: Binding, observed: BindObserved): RowState {
  const { actions, drift, conflict } = bindingDrift(setup, binding, observed);
  if (conflict) return { state: "conflict", detail: cliMessage(conflict) };
  if (actions.length === 0) return { state: "ok" };
  const state = actions.some((a) => a.kind === "CreateRole") ? "missing role" : "drifted";
  return { state, detail: drift.join("; "), drift };
}

/**
 * The state of a ServiceAccount without a binding record: annotated by someone else ("unmanaged"), or bound by a
 * kubectl-irsa that recorded nothing yet, where only the trust policy can be checked. Pure.
 */
export function unrecordedState(
  setup: SetupRecord,
  sa: { namespace: string; name: string; audience: string; ours: boolean },
  role: ObservedRole | undefined,
): RowState {
  const trust = role
    ? evaluateTrust(role.trustPolicy, {
      principalArn: setup.providerArn,
      action: "sts:AssumeRoleWithWebIdentity",
      issuerHostPath: issuerHostPath(setup.issuer),
      claims: { sub: subjectOf({ namespace: sa.namespace, serviceAccount: sa.name }), aud: sa.audience },
    })
    : undefined;
  const why = trust?.reasons.join("; ") || "the trust policy does not allow it";
  if (!sa.ours) {
    const roleSays = !role
      ? "the role does not exist"
      : trust?.allowed
      ? "the role trusts it"
      : `the role does not trust it: ${why}`;
    return {
      state: "unmanaged",
      detail: `the role annotation was not set by kubectl-irsa (bind --adopt takes it over); ${roleSays}`,
    };
  }
  if (!role) return { state: "missing role", detail: "the annotated role does not exist" };
  if (!trust?.allowed) return { state: "drifted", detail: why, drift: [why] };
  return {
    state: "ok",
    detail:
      "bound before kubectl-irsa recorded bindings, so only the trust policy was checked; rerun bind to record it",
  };
}

/** Runs `kubectl irsa list`. */
export async function runList(cmd: ListCommand, io: Io): Promise<number> {
  const kube = await openKube(cmd.flags);
  try {
    const cluster = clusterPort(kube);
    const setup = await loadSetup({ setupRecord: () => cluster.getSetupRecord() });
    const namespace = cmd.flags.allNamespaces ? undefined : (cmd.flags.namespaces[0] ?? kube.namespace);
    const serviceAccounts = serviceAccountPort(kube);
    const accounts = await serviceAccounts.listAnnotated(namespace);
    // A binding spans namespaces: its other ServiceAccounts are read once, whether listed here or not.
    const observedSa = new Map<string, Promise<ObservedServiceAccount>>(
      accounts.map((sa) => [
        `${sa.namespace}/${sa.name}`,
        Promise.resolve({ exists: true, annotations: sa.annotations, ownedAnnotations: sa.ownedAnnotations }),
      ]),
    );
    const serviceAccount = (ns: string, name: string) => {
      const key = `${ns}/${name}`;
      if (!observedSa.has(key)) observedSa.set(key, serviceAccounts.get(ns, name));
      return observedSa.get(key)!;
    };
    const aws = await openAws(cmd.flags, io, { command: "list", defaultRegion: setup.region });
    try {
      const iam = iamPort(aws.clients);
      const roles = new Map<string, Promise<ObservedRole | undefined>>();
      const role = (name: string) => {
        if (!roles.has(name)) roles.set(name, iam.getRole(name));
        return roles.get(name)!;
      };
      const rows: BindingRow[] = [];
      for (const sa of accounts) {
        const roleArn = sa.annotations[saAnnotation.roleArn]!;
        const row = { namespace: sa.namespace, serviceAccount: sa.name, roleArn };
        let name: string;
        let binding: Binding | undefined;
        try {
          name = validateRoleArn(roleArn).name;
          binding = recordedBinding(sa.name, sa.namespace, await serviceAccount(sa.namespace, sa.name));
        } catch (e) {
          if (!isIrsaError(e, "invalid")) throw e;
          rows.push({ ...row, policies: [], state: "invalid annotation", detail: cliMessage(e) });
          continue;
        }
        if (binding) {
          const observed: BindObserved = { role: await role(binding.roleName), serviceAccounts: {} };
          for (const ns of binding.namespaces) observed.serviceAccounts[ns] = await serviceAccount(ns, sa.name);
          rows.push({
            ...row,
            policies: observed.role?.attachedPolicyArns ?? [],
            ...recordedState(setup, binding, observed),
          });
          continue;
        }
        const observedRole = await role(name);
        const audience = sa.annotations[saAnnotation.audience] ?? stsAudience;
        const ours = sa.ownedAnnotations.includes(saAnnotation.roleArn);
        rows.push({
          ...row,
          policies: observedRole?.attachedPolicyArns ?? [],
          ...unrecordedState(setup, { namespace: sa.namespace, name: sa.name, audience, ours }, observedRole),
        });
      }
      io.out(renderRows(rows, cmd.flags.output, cmd.flags.allNamespaces));
      return 0;
    } finally {
      // Also on failure: tests assert that bad input made no AWS write.
      await closeAws(aws, io, cmd.flags);
    }
  } finally {
    kube.close();
  }
}

function renderRows(rows: BindingRow[], output: ListCommand["flags"]["output"], allNamespaces: boolean): string {
  if (output === "json") return JSON.stringify({ items: rows }, null, 2) + "\n";
  if (output === "yaml") return toYaml({ items: rows });
  if (output === "name") return rows.map((r) => `serviceaccount/${r.serviceAccount}\n`).join("");
  if (rows.length === 0) return "";
  const wide = output === "wide";
  const header = [
    ...(allNamespaces ? ["NAMESPACE"] : []),
    "SERVICEACCOUNT",
    "ROLE ARN",
    ...(wide ? ["POLICIES"] : []),
    "STATE",
    ...(wide ? ["DETAIL"] : []),
  ];
  const table = rows.map((r) => [
    ...(allNamespaces ? [r.namespace] : []),
    r.serviceAccount,
    r.roleArn,
    ...(wide ? [r.policies.map((p) => p.replace(/^arn:[^:]+:iam::aws:policy\//, "")).join(",") || "-"] : []),
    r.state,
    ...(wide ? [r.detail ?? ""] : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  return [header, ...table].map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join("   ").trimEnd()).join("\n") +
    "\n";
}
