// The IRSA reconciler: the same lib/ code as `kubectl irsa bind`, for every namespace of the object, with the
// seed's finalizer, conditions and cleanup. Level-based: it reads fresh state on every call. What it bound is
// recorded in status (the inventory), so a spec edit removes what the spec no longer names and deletion cleans up
// even when the spec no longer resolves.
import { iamPort } from "../lib/aws/iam_port.ts";
import {
  applyBindActions,
  type BindPorts,
  gatherBind,
  gatherInventory,
  loadSetup,
  resolveBinding,
} from "../lib/bind.ts";
import {
  type Binding,
  type BindingInventory,
  bindingInventory,
  bindingRoleArn,
  describeBindAction,
  mergeInventories,
  planBind,
  planRemoveUndesired,
  undesiredInventory,
} from "../lib/bind_plan.ts";
import type { BindingScope } from "../lib/binding_policy.ts";
import { IrsaError, isIrsaError, isRetryable } from "../lib/errors.ts";
import { bindRequestOf, inventoryStatus, irsaInventory } from "../lib/irsa_spec.ts";
import type { KubeClient } from "../lib/kube/client.ts";
import { clusterPort } from "../lib/kube/kube_port.ts";
import { serviceAccountPort } from "../lib/kube/service_account_port.ts";
import { crdGroup, crdVersion, seedFinalizer, setupRecord } from "../lib/names.ts";
import { parseSetupRecord, type SetupRecord } from "../lib/setup_record.ts";
import type { AwsClients } from "../lib/aws/clients.ts";
import { setCondition } from "./conditions.ts";
import type { Logger } from "./log.ts";
import { addFinalizer, publishEvent, removeFinalizer, updateStatus } from "./object_ops.ts";
import { type IrsaObject, irsaResource } from "./resources.ts";
import { daemonMessage } from "./remedy.ts";
import type { PolicyExistenceCache } from "./policy_cache.ts";

/** What a reconciler needs. */
export interface ReconcileContext {
  kube: KubeClient;
  aws(): Promise<AwsClients>;
  log: Logger;
  /** Period of the controller's resync (the only resync); short requeues never wait longer. */
  resyncMs: number;
  now(): Date;
  /**
   * The daemon's namespace: its IRSA objects are the admin's (the seed's cross-namespace bindings); an object
   * anywhere else is a tenant's, held to the binding policy's tenant rules.
   */
  systemNamespace: string;
  /** Remembers which IAM policies exist, so reconciles of objects naming the same policy skip GetPolicy. */
  policyCache?: PolicyExistenceCache;
  /**
   * Aborted when leadership is lost: every external write checks it first and the reconcile stops with the
   * signal's reason, which the controller recognises by `signal.aborted` and does not count as a failure.
   */
  signal?: AbortSignal;
}

/**
 * Requeue after a delay; `{}` waits for the next change or resync. Thrown errors mean "retry with backoff";
 * a terminal failure is a False condition and `{}`.
 */
export interface ReconcileResult {
  requeueAfterMs?: number;
}

/** How soon an object whose setup is not ready yet is looked at again. */
const setupNotReadyRequeueMs = 30_000;

const apiVersion = `${crdGroup}/${crdVersion}`;

type Ready = { status: "True" | "False"; reason: string; message: string };

/** Reconciles the IRSA object `namespace/name`. */
export async function reconcileIrsa(key: string, ctx: ReconcileContext): Promise<ReconcileResult> {
  const [namespace, name] = key.split("/") as [string, string];
  const { kube } = ctx;
  const object = await kube.get<IrsaObject>({ ...irsaResource, namespace, name });
  if (!object) return {};
  const meta = object.metadata;
  const cluster = clusterPort(kube);
  const fields = { kind: "IRSA", namespace, name };
  const scope = bindingScope(namespace, ctx);
  const checkpoint = () => ctx.signal?.throwIfAborted();
  const ports = async (): Promise<BindPorts> => ({
    iam: ctx.policyCache ? ctx.policyCache.wrap(iamPort(await ctx.aws())) : iamPort(await ctx.aws()),
    serviceAccounts: serviceAccountPort(kube),
    setupRecord: () => cluster.getSetupRecord(),
  });

  const setStatus = async (ready: Ready, extra: Record<string, unknown> = {}) => {
    checkpoint();
    const conditions = object.status?.conditions;
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
    const changed = before?.status !== ready.status || before?.reason !== ready.reason;
    if (await updateStatus(kube, irsaResource, meta, object.status, status) && changed) {
      checkpoint();
      await publishEvent(kube, { apiVersion, kind: "IRSA", meta }, {
        type: ready.status === "True" ? "Normal" : "Warning",
        reason: ready.reason,
        message: ready.message,
      }).catch((e) => ctx.log.warn("Publishing an Event failed", { ...fields, error: e }));
    }
  };

  if (meta.deletionTimestamp) {
    if (!meta.finalizers?.includes(seedFinalizer)) return {};
    if (object.spec.cleanup) {
      try {
        await cleanup(object, ctx, ports, scope);
      } catch (e) {
        if (ctx.signal?.aborted) throw e;
        // Never "nothing to clean": the finalizer stays until a cleanup has seen everything and removed it.
        await setStatus({ status: "False", reason: "CleanupFailed", message: `cleanup failed: ${daemonMessage(e)}` })
          .catch((s) => ctx.log.warn("Writing the status failed", { ...fields, error: s }));
        throw e;
      }
    }
    checkpoint();
    await removeFinalizer(kube, irsaResource, meta);
    return {};
  }

  let setup;
  try {
    setup = await loadSetup({ setupRecord: () => cluster.getSetupRecord() });
  } catch (e) {
    if (!isIrsaError(e, "precondition")) throw e;
    await setStatus({ status: "False", reason: "SetupNotReady", message: daemonMessage(e) });
    return { requeueAfterMs: Math.min(ctx.resyncMs, setupNotReadyRequeueMs) };
  }
  let binding;
  try {
    binding = resolveBinding(setup, bindRequestOf(object.spec), scope);
  } catch (e) {
    if (!(e instanceof IrsaError)) throw e;
    // A spec that cannot work, or that the binding policy refuses (its own reason: NamespaceNotAllowed,
    // PolicyRefused...), is terminal until it is edited; the resync looks again.
    const reason = e.kind === "denied" ? e.reason : "InvalidSpec";
    await setStatus({ status: "False", reason, message: daemonMessage(e) });
    return {};
  }

  checkpoint();
  await addFinalizer(kube, irsaResource, meta);
  const roleArn = bindingRoleArn(setup, binding);
  try {
    const p = await ports();
    const observed = await gatherBind(binding, p);
    const actions = planBind(setup, binding, observed, scope);
    // What the last successful bind recorded and this spec no longer names goes, after the new binding is in place.
    const previous = irsaInventory(object.status);
    if (object.spec.cleanup) {
      const stale = await gatherInventory(undesiredInventory(previous, binding), p);
      const removal = planRemoveUndesired(setup, { inventory: previous, desired: binding, scope }, stale);
      for (const w of removal.warnings) ctx.log.warn(w, fields);
      actions.push(...removal.actions);
    } else if (undesiredInventory(previous, binding).roleNames.length > 0) {
      ctx.log.info("Keeping the previous role: spec.cleanup is false", { ...fields, roles: previous.roleNames });
    }
    await applyBindActions(actions, p, {
      onAction: (a) => ctx.log.info(describeBindAction(a), { ...fields, roleArn }),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
  } catch (e) {
    if (ctx.signal?.aborted) throw e;
    // Retryable (throttling, a concurrent change, an outage) backs off under the seed's reason; anything else
    // carries its own reason (RoleNotOwned, PolicyNotFound, NoSuchEntity...) and waits for an edit or the resync.
    const retry = isRetryable(e);
    const reason = !retry && e instanceof IrsaError ? e.reason : "IRSAFailedRoleUpdate";
    await setStatus({ status: "False", reason, message: daemonMessage(e) });
    if (retry) throw e;
    return {};
  }
  await setStatus(
    { status: "True", reason: "IRSAReady", message: `ServiceAccounts are bound to ${roleArn}` },
    inventoryStatus(roleArn, bindingInventory(binding)),
  );
  return {};
}

/**
 * Removes what the object bound: everything its status records plus what its spec names, so a bind that failed
 * before writing the status is cleaned up too. Every read that fails throws; only a setup record that does not
 * exist together with an empty inventory means there is nothing to clean.
 */
async function cleanup(
  object: IrsaObject,
  ctx: ReconcileContext,
  ports: () => Promise<BindPorts>,
  scope: BindingScope,
): Promise<void> {
  const fields = { kind: "IRSA", namespace: object.metadata.namespace, name: object.metadata.name };
  const text = await clusterPort(ctx.kube).getSetupRecord();
  const setup = text === undefined ? undefined : parseSetupRecord({ [setupRecord.key]: text });
  const inventory = mergeInventories(irsaInventory(object.status), specInventory(setup, object, scope));
  if (inventory.roleNames.length === 0 && inventory.serviceAccounts.length === 0) return;
  if (!setup) ctx.log.warn("The setup record is gone; cleaning up by the inventory in status", fields);
  const p = await ports();
  const observed = await gatherInventory(inventory, p);
  const { actions, warnings } = planRemoveUndesired(setup, { inventory, desired: undefined, scope }, observed);
  for (const w of warnings) ctx.log.warn(w, fields);
  await applyBindActions(actions, p, {
    onAction: (a) => ctx.log.info(describeBindAction(a), fields),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
}

/** Whose binding an object in `namespace` is: the admin's in the daemon's namespace, else that tenant's. */
export function bindingScope(namespace: string, ctx: Pick<ReconcileContext, "systemNamespace">): BindingScope {
  return namespace === ctx.systemNamespace ? {} : { tenantNamespace: namespace };
}

/** What the spec names, as far as it resolves: without a setup only the names the spec spells out. */
function specInventory(setup: SetupRecord | undefined, object: IrsaObject, scope: BindingScope): BindingInventory {
  const req = bindRequestOf(object.spec);
  let binding: Pick<Binding, "roleName" | "serviceAccount" | "namespaces"> | undefined;
  try {
    binding = setup ? resolveBinding(setup, req, scope) : undefined;
  } catch {
    binding = undefined; // a spec that never resolved never reached AWS
  }
  if (binding) return bindingInventory(binding);
  if (setup || !req.serviceAccount) return { roleNames: [], serviceAccounts: [] };
  return {
    roleNames: req.roleName ? [req.roleName] : [],
    serviceAccounts: [...new Set(req.namespaces)].map((namespace) => ({ namespace, name: req.serviceAccount })),
  };
}
