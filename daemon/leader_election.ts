// Leader election on a coordination.k8s.io Lease, as client-go does it: acquire when the lease is free or
// expired, renew well inside its duration, and release on shutdown so the other replica takes over at once.
import { IrsaError } from "../lib/errors.ts";
import type { KubeClient } from "../lib/kube/client.ts";
import type { Logger } from "./log.ts";

/** Timing of the election. */
export interface LeaseTiming {
  leaseDurationSeconds: number;
  renewEveryMs: number;
  retryEveryMs: number;
}

/** client-go's defaults scaled down: a 15 s lease renewed every 5 s. */
export const defaultLeaseTiming: LeaseTiming = { leaseDurationSeconds: 15, renewEveryMs: 5000, retryEveryMs: 2000 };

interface Lease {
  metadata: { resourceVersion?: string };
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/** Whether the lease may be taken by `identity` at `now`. Pure. */
export function leaseIsFree(lease: Lease["spec"] | undefined, identity: string, now: Date): boolean {
  if (!lease?.holderIdentity || lease.holderIdentity === identity) return true;
  const renewed = lease.renewTime ? Date.parse(lease.renewTime) : 0;
  return renewed + (lease.leaseDurationSeconds ?? 0) * 1000 < now.getTime();
}

const microTime = (d: Date) => d.toISOString().replace(/(\.\d{3})Z$/, "$1000Z");

/**
 * Runs `lead` while this process holds the lease; `lead` receives a signal that aborts when leadership is lost or
 * the process stops. Returns after `stop` aborts and the lease was released.
 */
export async function runWithLeaderElection(
  kube: KubeClient,
  options: { namespace: string; name: string; identity: string; timing?: LeaseTiming; log: Logger; stop: AbortSignal },
  lead: (signal: AbortSignal) => Promise<void>,
): Promise<void> {
  const timing = options.timing ?? defaultLeaseTiming;
  const ref = { group: "coordination.k8s.io", resource: "leases", namespace: options.namespace, name: options.name };
  const path = `/apis/coordination.k8s.io/v1/namespaces/${options.namespace}/leases/${options.name}`;
  const tryAcquireOrRenew = async (): Promise<boolean> => {
    const now = new Date();
    const lease = await kube.get<Lease>(ref);
    if (!lease) {
      try {
        await kube.create({ group: "coordination.k8s.io", resource: "leases", namespace: options.namespace }, {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: options.name, namespace: options.namespace },
          spec: {
            holderIdentity: options.identity,
            leaseDurationSeconds: timing.leaseDurationSeconds,
            acquireTime: microTime(now),
            renewTime: microTime(now),
            leaseTransitions: 0,
          },
        });
        return true;
      } catch (e) {
        if (e instanceof IrsaError && e.kind === "conflict") return false;
        throw e;
      }
    }
    if (!leaseIsFree(lease.spec, options.identity, now)) return false;
    const taking = lease.spec?.holderIdentity !== options.identity;
    try {
      await kube.request("PUT", path, {
        body: {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: {
            name: options.name,
            namespace: options.namespace,
            resourceVersion: lease.metadata.resourceVersion,
          },
          spec: {
            holderIdentity: options.identity,
            leaseDurationSeconds: timing.leaseDurationSeconds,
            acquireTime: taking ? microTime(now) : lease.spec?.acquireTime ?? microTime(now),
            renewTime: microTime(now),
            leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + (taking ? 1 : 0),
          },
        },
      });
      return true;
    } catch (e) {
      if (e instanceof IrsaError && e.kind === "conflict") return false; // someone else wrote first
      throw e;
    }
  };

  while (!options.stop.aborted) {
    let acquired = false;
    try {
      acquired = await tryAcquireOrRenew();
    } catch (e) {
      options.log.warn("Leader election failed", { error: e });
    }
    if (!acquired) {
      await sleep(timing.retryEveryMs, options.stop);
      continue;
    }
    options.log.info("Became leader", { lease: `${options.namespace}/${options.name}`, identity: options.identity });
    const leadership = new AbortController();
    const onStop = () => leadership.abort();
    options.stop.addEventListener("abort", onStop, { once: true });
    const leading = lead(leadership.signal);
    // Renew until stopped or until a renewal fails for longer than the lease lasts.
    let lastRenew = Date.now();
    while (!leadership.signal.aborted) {
      await sleep(timing.renewEveryMs, leadership.signal);
      if (leadership.signal.aborted) break;
      try {
        if (await tryAcquireOrRenew()) lastRenew = Date.now();
        else leadership.abort();
      } catch (e) {
        options.log.warn("Lease renewal failed", { error: e });
        if (Date.now() - lastRenew > timing.leaseDurationSeconds * 1000) leadership.abort();
      }
    }
    await leading;
    options.stop.removeEventListener("abort", onStop);
    if (options.stop.aborted) {
      await release().catch((e) => options.log.warn("Releasing the lease failed", { error: e }));
      options.log.info("Released leadership");
      return;
    }
    options.log.warn("Lost leadership");
  }

  async function release(): Promise<void> {
    const lease = await kube.get<Lease>(ref);
    if (lease?.spec?.holderIdentity !== options.identity) return;
    await kube.request("PUT", path, {
      body: {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: options.name, namespace: options.namespace, resourceVersion: lease.metadata.resourceVersion },
        spec: { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1 },
      },
    });
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
