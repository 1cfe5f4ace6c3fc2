// Writes the reconcilers make on their own objects: finalizer, status (only when it changed) and Events.
import type { KubeClient, ResourceRef } from "../lib/kube/client.ts";
import { seedFinalizer } from "../lib/names.ts";
import type { ObjectMetadata } from "./resources.ts";

function objectRef(collection: ResourceRef, meta: ObjectMetadata): ResourceRef {
  return { ...collection, namespace: meta.namespace, name: meta.name };
}

/** Adds the seed's finalizer; must happen before anything is created outside the cluster. */
export async function addFinalizer(kube: KubeClient, collection: ResourceRef, meta: ObjectMetadata): Promise<void> {
  if (meta.finalizers?.includes(seedFinalizer)) return;
  const ops = meta.finalizers
    ? [{ op: "test", path: "/metadata/resourceVersion", value: meta.resourceVersion }, {
      op: "add",
      path: "/metadata/finalizers/-",
      value: seedFinalizer,
    }]
    : [{ op: "add", path: "/metadata/finalizers", value: [seedFinalizer] }];
  await kube.patch(objectRef(collection, meta), ops, "json");
}

/** Removes the seed's finalizer so the object can go. */
export async function removeFinalizer(kube: KubeClient, collection: ResourceRef, meta: ObjectMetadata): Promise<void> {
  const index = meta.finalizers?.indexOf(seedFinalizer) ?? -1;
  if (index < 0) return;
  await kube.patch(objectRef(collection, meta), [
    { op: "test", path: `/metadata/finalizers/${index}`, value: seedFinalizer },
    { op: "remove", path: `/metadata/finalizers/${index}` },
  ], "json");
}

/** Writes `status` through the status subresource when it differs from `current`. Returns true if written. */
export async function updateStatus(
  kube: KubeClient,
  collection: ResourceRef,
  meta: ObjectMetadata,
  current: unknown,
  status: Record<string, unknown>,
): Promise<boolean> {
  if (JSON.stringify(current ?? {}) === JSON.stringify(status)) return false;
  await kube.patch({ ...objectRef(collection, meta), subresource: "status" }, { status }, "merge");
  return true;
}

/** Publishes a Kubernetes Event on an object. Failures are the caller's to log, never to fail the reconcile. */
export async function publishEvent(
  kube: KubeClient,
  target: { apiVersion: string; kind: string; meta: ObjectMetadata },
  event: { type: "Normal" | "Warning"; reason: string; message: string },
): Promise<void> {
  const now = new Date().toISOString();
  await kube.create({ resource: "events", namespace: target.meta.namespace }, {
    apiVersion: "v1",
    kind: "Event",
    metadata: { generateName: `${target.meta.name}.`, namespace: target.meta.namespace },
    involvedObject: {
      apiVersion: target.apiVersion,
      kind: target.kind,
      name: target.meta.name,
      namespace: target.meta.namespace,
      uid: target.meta.uid,
    },
    reason: event.reason,
    message: event.message.slice(0, 1024),
    type: event.type,
    source: { component: "kubectl-irsa" },
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
  });
}
