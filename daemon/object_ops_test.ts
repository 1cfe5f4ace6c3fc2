// The finalizer writes against the fake API server: both carry a resourceVersion precondition, and a write made
// since the read turns into a retryable conflict instead of being overwritten.
import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import { IrsaError, isRetryable } from "../lib/errors.ts";
import { addFinalizer, removeFinalizer } from "./object_ops.ts";
import { irsaResource, type ObjectMetadata } from "./resources.ts";
import { fakeApiServer } from "./testdata/fake_world.ts";

const path = "/apis/irsa-manager.kkb0318.github.io/v1alpha1/namespaces/ns/irsas/app";
const finalizer = "irsa-manager.kkb0318.github.io/finalizers";

function world(finalizers: string[] | undefined) {
  const cluster = fakeApiServer({
    [path]: { metadata: { name: "app", namespace: "ns", uid: "u1", ...(finalizers ? { finalizers } : {}) } },
  });
  const read = () => structuredClone(cluster.object<{ metadata: ObjectMetadata }>(path)!.metadata);
  return { cluster, read };
}

Deno.test("addFinalizer() and removeFinalizer() test the resourceVersion they read", async (t) => {
  const cases = [
    { name: "add with no finalizer list", finalizers: undefined, op: addFinalizer, want: [finalizer] },
    {
      name: "add to another controller's list",
      finalizers: ["other/x"],
      op: addFinalizer,
      want: ["other/x", finalizer],
    },
    { name: "remove", finalizers: ["other/x", finalizer], op: removeFinalizer, want: ["other/x"] },
  ];
  for (const c of cases) {
    await t.step(`${c.name}: written when nothing changed since the read`, async () => {
      const { cluster, read } = world(c.finalizers);
      try {
        const meta = read();
        await c.op(cluster.kube, irsaResource, meta);
        const patch = cluster.writes[0]?.body as { op: string; path: string; value?: unknown }[];
        deepStrictEqual(patch[0], { op: "test", path: "/metadata/resourceVersion", value: meta.resourceVersion });
        deepStrictEqual(cluster.object<{ metadata: ObjectMetadata }>(path)?.metadata.finalizers, c.want);
      } finally {
        await cluster.close();
      }
    });
    await t.step(`${c.name}: a retryable conflict when the object changed since the read`, async () => {
      const { cluster, read } = world(c.finalizers);
      try {
        const stale = read();
        // Someone else writes in between (another controller's finalizer, a label, the deletion).
        await cluster.kube.patch({ ...irsaResource, namespace: "ns", name: "app" }, {
          metadata: { labels: { a: "b" } },
        });
        const before = structuredClone(cluster.object<{ metadata: ObjectMetadata }>(path)?.metadata.finalizers);
        await rejects(c.op(cluster.kube, irsaResource, stale), (e: unknown) => {
          ok(e instanceof IrsaError && e.kind === "conflict", String(e));
          ok(isRetryable(e), "retried with backoff after a fresh read");
          ok(e.message.includes("ns/app"), e.message);
          return true;
        });
        deepStrictEqual(cluster.object<{ metadata: ObjectMetadata }>(path)?.metadata.finalizers, before, "unchanged");
      } finally {
        await cluster.close();
      }
    });
  }
});

Deno.test("addFinalizer() does nothing when the finalizer is there, removeFinalizer() when it is not", async () => {
  const { cluster, read } = world([finalizer]);
  try {
    await addFinalizer(cluster.kube, irsaResource, read());
    await removeFinalizer(cluster.kube, irsaResource, { ...read(), finalizers: [] });
    equal(cluster.writes.length, 0);
  } finally {
    await cluster.close();
  }
});
