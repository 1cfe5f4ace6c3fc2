// The IRSA reconciler: the same lib/ code as `kubectl irsa bind`, for every namespace of the object, with the
// seed's finalizer, conditions and cleanup. Level-based: it reads fresh state on every call.
import { iamPort } from "../lib/aws/iam_port.ts";
import { applyBindActions, type BindPorts, gatherBind, loadSetup, resolveBinding } from "../lib/bind.ts";
import { bindingRoleArn, describeBindAction, planBind, planRemoveBinding } from "../lib/bind_plan.ts";
import { IrsaError } from "../lib/errors.ts";
import { bindRequestOf } from "../lib/irsa_spec.ts";
import type { KubeClient } from "../lib/kube/client.ts";
import { clusterPort } from "../lib/kube/kube_port.ts";
import { serviceAccountPort } from "../lib/kube/service_account_port.ts";
import { crdGroup, crdVersion, seedFinalizer } from "../lib/names.ts";
import type { AwsClients } from "../lib/aws/clients.ts";
import { setCondition } from "./conditions.ts";
import type { Logger } from "./log.ts";
import { addFinalizer, publishEvent, removeFinalizer, updateStatus } from "./object_ops.ts";
import { type IrsaObject, irsaResource } from "./resources.ts";
import { daemonMessage } from "./remedy.ts";

/** What a reconciler needs. */
export interface ReconcileContext {
  kube: KubeClient;
  aws(): Promise<AwsClients>;
  log: Logger;
  /** Period of the level-based resync, which also repairs drift made in AWS. */
  resyncMs: number;
  now(): Date;
}

/** Requeue after a delay; thrown errors mean "retry with backoff". */
export interface ReconcileResult {
  requeueAfterMs?: number;
}

const apiVersion = `${crdGroup}/${crdVersion}`;

/** Reconciles the IRSA object `namespace/name`. */
export async function reconcileIrsa(key: string, ctx: ReconcileContext): Promise<ReconcileResult> {
  const [namespace, name] = key.split("/") as [string, string];
  const { kube } = ctx;
  const object = await kube.get<IrsaObject>({ ...irsaResource, namespace, name });
  if (!object) return {};
  const meta = object.metadata;
  const cluster = clusterPort(kube);
  const ports = async (): Promise<BindPorts> => ({
    iam: iamPort(await ctx.aws()),
    serviceAccounts: serviceAccountPort(kube),
    setupRecord: () => cluster.getSetupRecord(),
  });

  if (meta.deletionTimestamp) {
    if (!meta.finalizers?.includes(seedFinalizer)) return {};
    if (object.spec.cleanup) {
      // Cleanup tolerates a bind that never ran: every step reads first and skips what is absent. A spec that
      // never resolved never reached AWS, so there is nothing to remove.
      const setup = await loadSetup({ setupRecord: () => cluster.getSetupRecord() }).catch(() => undefined);
      let binding;
      try {
        binding = setup ? resolveBinding(setup, bindRequestOf(object.spec)) : undefined;
      } catch {
        binding = undefined;
      }
      if (setup && binding) {
        const p = await ports();
        const role = await p.iam.getRole(binding.roleName);
        const serviceAccounts: Record<string, Awaited<ReturnType<typeof p.serviceAccounts.get>>> = {};
        for (const ns of binding.namespaces) {
          serviceAccounts[ns] = await p.serviceAccounts.get(ns, binding.serviceAccount);
        }
        const { actions, warnings } = planRemoveBinding(setup, binding, { role, serviceAccounts });
        for (const w of warnings) ctx.log.warn(w, { kind: "IRSA", namespace, name });
        await applyBindActions(actions, p, {
          onAction: (a) => ctx.log.info(describeBindAction(a), { kind: "IRSA", namespace, name }),
        });
      }
    }
    await removeFinalizer(kube, irsaResource, meta);
    return {};
  }

  const conditions = object.status?.conditions;
  const setStatus = async (
    ready: { status: "True" | "False"; reason: string; message: string },
    extra: Record<string, unknown> = {},
  ) => {
    const status = {
      ...object.status,
      ...extra,
      conditions: setCondition(
        conditions,
        { type: "Ready", ...ready, observedGeneration: meta.generation ?? 0 },
        ctx.now(),
      ),
    };
    const before = conditions?.find((c) => c.type === "Ready");
    if (await updateStatus(kube, irsaResource, meta, object.status, status) && before?.status !== ready.status) {
      await publishEvent(kube, { apiVersion, kind: "IRSA", meta }, {
        type: ready.status === "True" ? "Normal" : "Warning",
        reason: ready.reason,
        message: ready.message,
      }).catch((e) => ctx.log.warn("Publishing an Event failed", { error: e }));
    }
  };

  let setup;
  try {
    setup = await loadSetup({ setupRecord: () => cluster.getSetupRecord() });
  } catch (e) {
    if (!(e instanceof IrsaError) || e.kind !== "precondition") throw e;
    await setStatus({ status: "False", reason: "SetupNotReady", message: daemonMessage(e) });
    return { requeueAfterMs: Math.min(ctx.resyncMs, 30_000) };
  }
  let binding;
  try {
    binding = resolveBinding(setup, bindRequestOf(object.spec));
  } catch (e) {
    if (!(e instanceof IrsaError)) throw e;
    // A spec that cannot work is terminal until it is edited; the resync looks again.
    await setStatus({ status: "False", reason: "InvalidSpec", message: daemonMessage(e) });
    return { requeueAfterMs: ctx.resyncMs };
  }

  await addFinalizer(kube, irsaResource, meta);
  const roleArn = bindingRoleArn(setup, binding);
  try {
    const p = await ports();
    const observed = await gatherBind(binding, p);
    const actions = planBind(setup, binding, observed);
    await applyBindActions(actions, p, {
      onAction: (a) => ctx.log.info(describeBindAction(a), { kind: "IRSA", namespace, name, roleArn }),
    });
  } catch (e) {
    const terminal = e instanceof IrsaError && ["invalid", "conflict", "not-found"].includes(e.kind);
    // Terminal failures carry their own reason (RoleNotOwned, PolicyNotFound, ...); AWS failures the seed's.
    const reason = terminal ? (e as IrsaError).reason : "IRSAFailedRoleUpdate";
    await setStatus({ status: "False", reason, message: daemonMessage(e) });
    if (terminal) return { requeueAfterMs: ctx.resyncMs };
    throw e;
  }
  await setStatus(
    { status: "True", reason: "IRSAReady", message: `ServiceAccounts are bound to ${roleArn}` },
    { roleArn, serviceAccounts: binding.namespaces.map((ns) => ({ name: binding.serviceAccount, namespace: ns })) },
  );
  return { requeueAfterMs: ctx.resyncMs };
}
