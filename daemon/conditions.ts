import type { Condition } from "../lib/crds.ts";

// Status conditions as controller-runtime keeps them: one per type, lastTransitionTime changes only when the
// status does. Pure; the caller passes the clock.

export type { Condition };

/** Returns `conditions` with `next` set, keeping lastTransitionTime when the status did not change. */
export function setCondition(
  conditions: Condition[] | undefined,
  next: Omit<Condition, "lastTransitionTime">,
  now: Date,
): Condition[] {
  const list = conditions ?? [];
  const old = list.find((c) => c.type === next.type);
  const lastTransitionTime = old && old.status === next.status
    ? old.lastTransitionTime
    : now.toISOString().replace(/\.\d+Z$/, "Z");
  return [...list.filter((c) => c.type !== next.type), { ...next, lastTransitionTime }];
}

/**
 * True when an object's Ready condition is True for its current generation: what a previous run reconciled and
 * nobody edited since, so a restart only needs to check it for drift.
 */
export function readyAtGeneration(object: {
  metadata: { generation?: number; deletionTimestamp?: string };
  status?: { conditions?: Condition[] };
}): boolean {
  if (object.metadata.deletionTimestamp) return false;
  const ready = object.status?.conditions?.find((c) => c.type === "Ready");
  return ready?.status === "True" && ready.observedGeneration === (object.metadata.generation ?? 0);
}
