// Writes the reconcilers make on their own objects: finalizer, status (only when it changed) and Events.
import type { KubeClient, ResourceRef } from "../lib/kube/client.ts";
import { IrsaError } from "../lib/errors.ts";
import { seedFinalizer } from "../lib/names.ts";
import type { ObjectMetadata } from "./resources.ts";

function objectRef(collection: ResourceRef, meta: ObjectMetadata): ResourceRef {
  return { ...collection, namespace: meta.namespace, name: meta.name };
}

/**
 * Adds the seed's finalizer; must happen before anything is created outside the cluster. The JSON patch tests
 * the resourceVersion the reconcile read (controller-runtime's optimistic lock), also when there is no finalizer
 * list yet: a write made since then fails the patch instead of being overwritten, and the retry reads it.
 */
export async function addFinalizer(kube: KubeClient, collection: ResourceRef, meta: ObjectMetadata): Promise<void> {
  if (meta.finalizers?.includes(seedFinalizer)) return;
  const add = meta.finalizers
    ? { op: "add", path: "/metadata/finalizers/-", value: seedFinalizer }
    : { op: "add", path: "/metadata/finalizers", value: [seedFinalizer] };
  await patchFinalizers(kube, objectRef(collection, meta), [resourceVersionTest(meta), add]);
}

/** Removes the seed's finalizer so the object can go; guarded by the resourceVersion read, like addFinalizer. */
export async function removeFinalizer(kube: KubeClient, collection: ResourceRef, meta: ObjectMetadata): Promise<void> {
  const index = meta.finalizers?.indexOf(seedFinalizer) ?? -1;
  if (index < 0) return;
  await patchFinalizers(kube, objectRef(collection, meta), [
    resourceVersionTest(meta),
    { op: "test", path: `/metadata/finalizers/${index}`, value: seedFinalizer },
    { op: "remove", path: `/metadata/finalizers/${index}` },
  ]);
}

function resourceVersionTest(meta: ObjectMetadata) {
  // Every object read from the apiserver has one; without it the precondition would silently be gone.
  if (!meta.resourceVersion) throw new Error(`${meta.namespace}/${meta.name} has no metadata.resourceVersion`);
  return { op: "test", path: "/metadata/resourceVersion", value: meta.resourceVersion };
}

/**
 * Sends a finalizer patch. The apiserver answers a failed `test` with 422 (it wraps the JSON-patch error as
 * StatusReasonInvalid; handlers/patch.go) and a storage conflict with 409: both mean "changed since read", a
 * conflict that the retry with backoff resolves by reading again.
 */
async function patchFinalizers(kube: KubeClient, ref: ResourceRef, ops: unknown[]): Promise<void> {
  try {
    await kube.patch(ref, ops, "json");
  } catch (e) {
    if (e instanceof IrsaError && (e.reason === "Http422" || e.reason === "Http409")) {
      throw new IrsaError(
        "conflict",
        "Conflict",
        `${ref.namespace}/${ref.name} changed since it was read; its finalizers are written again after a fresh read`,
        { cause: e, retryable: true },
      );
    }
    throw e;
  }
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
