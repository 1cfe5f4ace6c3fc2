// `kubectl irsa list`: annotated ServiceAccounts, their roles and whether the role still trusts them.
import { stringify as toYaml } from "yaml";
import { validateRoleArn } from "../lib/arn.ts";
import { iamPort, type ObservedRole } from "../lib/aws/iam_port.ts";
import { loadSetup } from "../lib/bind.ts";
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

/** The state of one binding. */
export type BindingState = "ok" | "drifted" | "missing role" | "invalid annotation";

/** One row of `list`. */
export interface BindingRow {
  namespace: string;
  serviceAccount: string;
  roleArn: string;
  policies: string[];
  state: BindingState;
  /** Why the state is not ok. */
  detail?: string;
}

/** Decides a row's state from the role IAM holds. Pure. */
export function bindingState(
  setup: SetupRecord,
  sa: { namespace: string; name: string; audience: string },
  role: ObservedRole | undefined,
): { state: BindingState; detail?: string } {
  if (!role) return { state: "missing role", detail: "the annotated role does not exist" };
  const decision = evaluateTrust(role.trustPolicy, {
    principalArn: setup.providerArn,
    action: "sts:AssumeRoleWithWebIdentity",
    issuerHostPath: issuerHostPath(setup.issuer),
    claims: { sub: subjectOf({ namespace: sa.namespace, serviceAccount: sa.name }), aud: sa.audience },
  });
  if (!decision.allowed) {
    return { state: "drifted", detail: decision.reasons.join("; ") || "the trust policy does not allow it" };
  }
  return { state: "ok" };
}

/** Runs `kubectl irsa list`. */
export async function runList(cmd: ListCommand, io: Io): Promise<number> {
  const kube = await openKube(cmd.flags);
  try {
    const cluster = clusterPort(kube);
    const setup = await loadSetup({ setupRecord: () => cluster.getSetupRecord() });
    const namespace = cmd.flags.allNamespaces ? undefined : (cmd.flags.namespaces[0] ?? kube.namespace);
    const accounts = await serviceAccountPort(kube).listAnnotated(namespace);
    const aws = await openAws(cmd.flags, io, { command: "list", defaultRegion: setup.region });
    try {
      const iam = iamPort(aws.clients);
      const roles = new Map<string, Promise<ObservedRole | undefined>>();
      const rows: BindingRow[] = [];
      for (const sa of accounts) {
        const roleArn = sa.annotations[saAnnotation.roleArn]!;
        let name: string;
        try {
          name = validateRoleArn(roleArn).name;
        } catch (e) {
          if (!isIrsaError(e, "invalid")) throw e;
          rows.push({
            namespace: sa.namespace,
            serviceAccount: sa.name,
            roleArn,
            policies: [],
            state: "invalid annotation",
            detail: e.message,
          });
          continue;
        }
        if (!roles.has(name)) roles.set(name, iam.getRole(name));
        const role = await roles.get(name)!;
        const audience = sa.annotations[saAnnotation.audience] ?? stsAudience;
        const { state, detail } = bindingState(setup, { namespace: sa.namespace, name: sa.name, audience }, role);
        rows.push({
          namespace: sa.namespace,
          serviceAccount: sa.name,
          roleArn,
          policies: role?.attachedPolicyArns ?? [],
          state,
          ...(detail !== undefined ? { detail } : {}),
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
