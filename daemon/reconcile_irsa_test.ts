// The IRSA reconciler against an in-process fake API server and a fake IAM client: the refusal bind makes for a
// role annotation it does not own is the same lib decision here, shown as Ready=False, and nothing reaches AWS.
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import type { AwsClients } from "../lib/aws/clients.ts";
import type { Condition } from "../lib/crds.ts";
import { KubeClient } from "../lib/kube/client.ts";
import { serializeSetupRecord } from "../lib/setup_record.ts";
import type { Logger } from "./log.ts";
import { reconcileIrsa } from "./reconcile_irsa.ts";
import { testSetup } from "../lib/testdata/setup_fixture.ts";

const setup = testSetup;
const theirs = "arn:aws:iam::123456789012:role/someone-elses-role";
const irsaPath = "/apis/irsa-manager.kkb0318.github.io/v1alpha1/namespaces/irsa-manager-system/irsas/app";

/** A ServiceAccount annotated by hand (`kubectl annotate`): the role ARN belongs to another field manager. */
const handAnnotated = {
  metadata: {
    name: "app",
    namespace: "demo",
    annotations: { "eks.amazonaws.com/role-arn": theirs },
    managedFields: [{
      manager: "kubectl-annotate",
      operation: "Update",
      fieldsV1: { "f:metadata": { "f:annotations": { "f:eks.amazonaws.com/role-arn": {} } } },
    }],
  },
};

/** Serves the objects the reconciler reads and records every write it makes. */
function fakeApiServer(adopt: boolean) {
  const writes: { method: string; path: string; body: unknown }[] = [];
  const objects = new Map<string, unknown>([
    [irsaPath, {
      metadata: { name: "app", namespace: "irsa-manager-system", uid: "u1", generation: 1, resourceVersion: "1" },
      spec: {
        cleanup: true,
        serviceAccount: { name: "app", namespaces: ["demo"] },
        iamPolicies: ["AmazonS3FullAccess"],
        adopt,
      },
    }],
    ["/api/v1/namespaces/kube-system/configmaps/kubectl-irsa-setup", {
      data: { "setup.json": serializeSetupRecord(setup) },
    }],
    ["/api/v1/namespaces/demo", { metadata: { name: "demo" } }],
    ["/api/v1/namespaces/demo/serviceaccounts/app", handAnnotated],
  ]);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    if (req.method === "GET") {
      const object = objects.get(path);
      return object
        ? Response.json(object)
        : Response.json({ kind: "Status", message: "not found", code: 404 }, { status: 404 });
    }
    writes.push({ method: req.method, path, body: await req.json() });
    return Response.json({});
  });
  return { server, writes };
}

/** An IAM client that answers the reads bind makes and counts any other call as a write. */
function fakeAws() {
  const calls: string[] = [];
  const iam = {
    send(command: object) {
      const name = command.constructor.name.replace(/Command$/, "");
      calls.push(name);
      if (name === "GetPolicy") return Promise.resolve({ Policy: {} });
      if (name === "GetRole") return Promise.reject(Object.assign(new Error("no role"), { name: "NoSuchEntity" }));
      return Promise.resolve({});
    },
  };
  return { clients: { iam } as unknown as AwsClients, calls };
}

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

async function reconcile(adopt: boolean) {
  const { server, writes } = fakeApiServer(adopt);
  const aws = fakeAws();
  const kube = new KubeClient({
    server: `http://127.0.0.1:${server.addr.port}`,
    namespace: "default",
    contextName: "t",
  });
  try {
    const result = await reconcileIrsa("irsa-manager-system/app", {
      kube,
      aws: () => Promise.resolve(aws.clients),
      log: quiet,
      resyncMs: 60_000,
      now: () => new Date("2026-01-01T00:00:00Z"),
    });
    return { result, writes, awsCalls: aws.calls };
  } finally {
    kube.close();
    await server.shutdown();
  }
}

Deno.test("reconcileIrsa() refuses a role annotation it does not own: Ready=False AnnotationNotOwned, no AWS write", async () => {
  const { result, writes, awsCalls } = await reconcile(false);
  deepStrictEqual(awsCalls.filter((c) => !c.startsWith("Get") && !c.startsWith("List")), [], "no AWS write");
  ok(!awsCalls.includes("CreateRole"));
  // The ServiceAccount is left as it is; only the object's finalizer, status and Event are written.
  deepStrictEqual(writes.filter((w) => w.path.includes("/serviceaccounts/")), []);
  const status = writes.find((w) => w.path === `${irsaPath}/status`)?.body as {
    status: { conditions: Condition[] };
  };
  const ready = status.status.conditions.find((c) => c.type === "Ready");
  equal(ready?.status, "False");
  equal(ready?.reason, "AnnotationNotOwned");
  ok(ready?.message.includes(theirs) && ready.message.includes("spec.adopt"), ready?.message);
  const event = writes.find((w) => w.path.endsWith("/events"))?.body as { reason: string; type: string };
  deepStrictEqual([event.type, event.reason], ["Warning", "AnnotationNotOwned"]);
  // Terminal until the spec or the ServiceAccount changes: requeued at the resync, not retried with backoff.
  deepStrictEqual(result, { requeueAfterMs: 60_000 });
});

Deno.test("reconcileIrsa() with spec.adopt takes the annotation over and creates the role", async () => {
  const { writes, awsCalls } = await reconcile(true);
  ok(awsCalls.includes("CreateRole"), awsCalls.join(", "));
  const applied = writes.find((w) => w.path === "/api/v1/namespaces/demo/serviceaccounts/app")?.body as {
    metadata: { annotations: Record<string, string> };
  };
  equal(applied.metadata.annotations["eks.amazonaws.com/role-arn"], "arn:aws:iam::123456789012:role/irsa-b-demo_app");
  const status = writes.find((w) => w.path === `${irsaPath}/status`)?.body as { status: { conditions: Condition[] } };
  equal(status.status.conditions.find((c) => c.type === "Ready")?.status, "True");
});
