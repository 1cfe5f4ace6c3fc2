// The IRSA reconciler against an in-process fake API server and a fake IAM client: the refusal bind makes for a
// role annotation it does not own is the same lib decision here, shown as Ready=False, and nothing reaches AWS.
import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import type { AwsClients } from "../lib/aws/clients.ts";
import type { Condition } from "../lib/crds.ts";
import { KubeClient } from "../lib/kube/client.ts";
import { serializeSetupRecord } from "../lib/setup_record.ts";
import type { Logger } from "./log.ts";
import { reconcileIrsa } from "./reconcile_irsa.ts";
import { testSetup } from "../lib/testdata/setup_fixture.ts";
import { type Binding, bindingTrustPolicy, roleOwnershipTags, serviceAccountAnnotations } from "../lib/bind_plan.ts";
import {
  awsErrorOf,
  fakeApiServer as fakeCluster,
  fakeAws as fakeWorldAws,
  type FakeRole,
  memoryLogger,
} from "./testdata/fake_world.ts";

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
    call(name: string) {
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
      systemNamespace: "irsa-manager-system",
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
  // Terminal until the spec or the ServiceAccount changes: no backoff, and no requeue of its own (the
  // controller's periodic resync is the only one).
  deepStrictEqual(result, {});
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

// ---- Failure, deletion and edits, against the stateful fakes of testdata/fake_world.ts ----

const system = "irsa-manager-system";
const objectPath = `/apis/irsa-manager.kkb0318.github.io/v1alpha1/namespaces/${system}/irsas/app`;
const recordPath = "/api/v1/namespaces/kube-system/configmaps/kubectl-irsa-setup";
const saPath = (ns: string, name = "app") => `/api/v1/namespaces/${ns}/serviceaccounts/${name}`;
const s3Full = "arn:aws:iam::aws:policy/AmazonS3FullAccess";
const arnOf = (role: string) => `arn:aws:iam::123456789012:role/${role}`;

/** The binding an IRSA spec of ServiceAccount "app" stands for. */
function bindingFor(namespaces: string[], roleName: string): Binding {
  return { serviceAccount: "app", namespaces, roleName, rolePath: "/", policyArns: [s3Full], tags: {}, adopt: false };
}

/** A ServiceAccount as bind leaves it for `binding`: our annotations, owned by our field manager. */
function boundServiceAccount(ns: string, binding: Binding, options: { created?: boolean } = {}) {
  const annotations: Record<string, string> = serviceAccountAnnotations(setup, binding);
  if (options.created) annotations["irsa.kubectl.io/created-by"] = "kubectl-irsa";
  return {
    metadata: {
      name: "app",
      namespace: ns,
      uid: `sa-${ns}`,
      annotations: { ...annotations, "example.com/team": "theirs" },
      managedFields: [{
        manager: "kubectl-irsa",
        operation: "Apply",
        fieldsV1: {
          "f:metadata": { "f:annotations": Object.fromEntries(Object.keys(annotations).map((k) => [`f:${k}`, {}])) },
        },
      }],
    },
  };
}

/** An IAM role as bind leaves it for `binding` (ours unless `tags` says otherwise). */
function boundRole(binding: Binding, tags: Record<string, string> = roleOwnershipTags(setup, binding)): FakeRole {
  return {
    name: binding.roleName,
    path: "/",
    trustPolicy: bindingTrustPolicy(setup, binding),
    tags,
    attached: [...binding.policyArns],
    inline: {},
  };
}

/** An IRSA object whose status records that `previous` was bound. */
function irsaObject(spec: Record<string, unknown>, previous?: Binding, extra: Record<string, unknown> = {}) {
  return {
    metadata: {
      name: "app",
      namespace: system,
      uid: "u1",
      generation: 2,
      finalizers: ["irsa-manager.kkb0318.github.io/finalizers"],
      ...extra,
    },
    spec: { cleanup: true, iamPolicies: ["AmazonS3FullAccess"], ...spec },
    ...(previous
      ? {
        status: {
          conditions: [{
            type: "Ready",
            status: "True",
            reason: "IRSAReady",
            message: "bound",
            observedGeneration: 1,
            lastTransitionTime: "2025-12-31T00:00:00Z",
          }],
          roleArn: arnOf(previous.roleName),
          serviceAccounts: previous.namespaces.map((namespace) => ({ name: "app", namespace })),
        },
      }
      : {}),
  };
}

/** A world with the setup record, the namespaces and `objects`, and the IAM roles given. */
function world(objects: Record<string, unknown>, roles: FakeRole[] = []) {
  const kube = fakeCluster({
    [recordPath]: { metadata: { name: "kubectl-irsa-setup" }, data: { "setup.json": serializeSetupRecord(setup) } },
    "/api/v1/namespaces/demo": { metadata: { name: "demo" } },
    "/api/v1/namespaces/other": { metadata: { name: "other" } },
    ...objects,
  });
  const aws = fakeWorldAws();
  for (const r of roles) aws.roles.set(r.name, r);
  const log = memoryLogger();
  const run = (signal?: AbortSignal) =>
    reconcileIrsa(`${system}/app`, {
      kube: kube.kube,
      aws: () => Promise.resolve(aws.clients),
      log,
      resyncMs: 60_000,
      systemNamespace: "irsa-manager-system",
      now: () => new Date("2026-01-01T00:00:00Z"),
      ...(signal ? { signal } : {}),
    });
  return { kube, aws, log, run };
}

function ready(o: unknown): Condition | undefined {
  return (o as { status?: { conditions?: Condition[] } } | undefined)?.status?.conditions?.find((c) =>
    c.type === "Ready"
  );
}

function events(kube: ReturnType<typeof fakeCluster>): { type: string; reason: string; message: string }[] {
  return kube.writes.filter((w) => w.path.endsWith("/events")).map((w) => w.body as never);
}

Deno.test("reconcileIrsa() cleanup: a failed read of the setup record throws, keeps the finalizer and removes nothing", async () => {
  const bound = bindingFor(["demo"], "app-role");
  const { kube, aws, run } = world({
    [objectPath]: irsaObject(
      { serviceAccount: { name: "app", namespaces: ["demo"] }, iamRole: { name: "app-role" } },
      bound,
      {
        deletionTimestamp: "2026-01-01T00:00:00Z",
      },
    ),
    [saPath("demo")]: boundServiceAccount("demo", bound),
  }, [boundRole(bound)]);
  kube.fail = (method, path) =>
    method === "GET" && path === recordPath
      ? Response.json({ kind: "Status", message: "etcd timeout", code: 500 }, { status: 500 })
      : undefined;
  try {
    await rejects(run());
    const object = kube.object<{ metadata: { finalizers?: string[] } }>(objectPath);
    deepStrictEqual(object?.metadata.finalizers, ["irsa-manager.kkb0318.github.io/finalizers"], "finalizer kept");
    deepStrictEqual(aws.writes(), [], "no AWS write");
    ok(aws.roles.has("app-role"));
    ok(
      kube.object<{ metadata: { annotations: Record<string, string> } }>(saPath("demo"))?.metadata
        .annotations["eks.amazonaws.com/role-arn"],
    );
    equal(ready(object)?.status, "False");
    equal(ready(object)?.reason, "CleanupFailed");
    ok(ready(object)?.message.includes("HTTP 500"), ready(object)?.message);
    deepStrictEqual(events(kube).map((e) => [e.type, e.reason]), [["Warning", "CleanupFailed"]]);
  } finally {
    await kube.close();
  }
});

Deno.test("reconcileIrsa() cleanup: a failed read of the role throws and keeps the finalizer", async () => {
  const bound = bindingFor(["demo"], "app-role");
  const { kube, aws, run } = world({
    [objectPath]: irsaObject(
      { serviceAccount: { name: "app", namespaces: ["demo"] }, iamRole: { name: "app-role" } },
      bound,
      {
        deletionTimestamp: "2026-01-01T00:00:00Z",
      },
    ),
    [saPath("demo")]: boundServiceAccount("demo", bound),
  }, [boundRole(bound)]);
  aws.fail = (name) => name === "GetRole" ? awsErrorOf("ServiceFailure", 500, "ServiceFailureException") : undefined;
  try {
    await rejects(run());
    ok(kube.object(objectPath), "the object stays");
    deepStrictEqual(aws.writes(), []);
    equal(ready(kube.object(objectPath))?.reason, "CleanupFailed");
  } finally {
    await kube.close();
  }
});

Deno.test("reconcileIrsa() cleanup goes by the inventory in status", async (t) => {
  const bound = bindingFor(["demo", "other"], "app-role");
  const cases = [
    {
      name: "a spec that no longer resolves still removes the recorded role and ServiceAccounts",
      // No namespace left: resolveBinding refuses it, the status still knows what was bound.
      spec: { serviceAccount: { name: "app", namespaces: [] }, iamRole: { name: "app-role" } },
      record: true,
      role: boundRole(bound),
      roleGone: true,
    },
    {
      name: "a setup record that was deleted: the role with our tags naming the inventory still goes",
      spec: { serviceAccount: { name: "app", namespaces: ["demo", "other"] }, iamRole: { name: "app-role" } },
      record: false,
      role: boundRole(bound),
      roleGone: true,
    },
    {
      name: "a setup record that was deleted: a foreign role of the same name stays",
      spec: { serviceAccount: { name: "app", namespaces: ["demo", "other"] }, iamRole: { name: "app-role" } },
      record: false,
      role: boundRole(bound, { owner: "someone-else" }),
      roleGone: false,
    },
    {
      name: "a role that is not ours stays",
      spec: { serviceAccount: { name: "app", namespaces: ["demo", "other"] }, iamRole: { name: "app-role" } },
      record: true,
      role: boundRole(bound, { "kubectl-irsa/managed-by": "kubectl-irsa", "kubectl-irsa/cluster": "elsewhere" }),
      roleGone: false,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const { kube, aws, run } = world({
        [objectPath]: irsaObject(c.spec, bound, { deletionTimestamp: "2026-01-01T00:00:00Z" }),
        [saPath("demo")]: boundServiceAccount("demo", bound),
        [saPath("other")]: boundServiceAccount("other", bound, { created: true }),
      }, [c.role]);
      if (!c.record) kube.objects.delete(recordPath);
      try {
        deepStrictEqual(await run(), {});
        equal(kube.object(objectPath), undefined, "the finalizer is removed and the object goes");
        equal(aws.roles.has("app-role"), !c.roleGone);
        // Our annotations leave the ServiceAccount we did not create; the one we created goes.
        deepStrictEqual(
          kube.object<{ metadata: { annotations?: Record<string, string> } }>(saPath("demo"))?.metadata.annotations,
          { "example.com/team": "theirs" },
        );
        equal(kube.object(saPath("other")), undefined);
      } finally {
        await kube.close();
      }
    });
  }
});

Deno.test("reconcileIrsa() after a namespace is dropped removes what it bound there and narrows the trust", async (t) => {
  const before = bindingFor(["demo", "other"], "app-role");
  const after = bindingFor(["demo"], "app-role");
  const cases = [
    { name: "a ServiceAccount it annotated loses our annotations, keeps its own", created: false },
    { name: "a ServiceAccount it created is deleted", created: true },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const { kube, aws, run } = world({
        [objectPath]: irsaObject({
          serviceAccount: { name: "app", namespaces: ["demo"] },
          iamRole: { name: "app-role" },
        }, before),
        [saPath("demo")]: boundServiceAccount("demo", before),
        [saPath("other")]: boundServiceAccount("other", before, { created: c.created }),
      }, [boundRole(before)]);
      try {
        deepStrictEqual(await run(), {});
        const other = kube.object<{ metadata: { annotations?: Record<string, string> } }>(saPath("other"));
        if (c.created) equal(other, undefined);
        else deepStrictEqual(other?.metadata.annotations, { "example.com/team": "theirs" });
        equal(aws.roles.get("app-role")?.trustPolicy, bindingTrustPolicy(setup, after));
        equal(aws.roles.get("app-role")?.tags["kubectl-irsa/service-account"], "demo/app");
        const object = kube.object<{ status: { serviceAccounts: unknown[] } }>(objectPath);
        deepStrictEqual(object?.status.serviceAccounts, [{ name: "app", namespace: "demo" }], "the new inventory");
        equal(ready(object)?.status, "True");
      } finally {
        await kube.close();
      }
    });
  }
  await t.step("a dropped namespace's ServiceAccount now bound to another role is left as it is", async () => {
    const theirs = bindingFor(["other"], "their-role");
    const { kube, run } = world({
      [objectPath]: irsaObject(
        { serviceAccount: { name: "app", namespaces: ["demo"] }, iamRole: { name: "app-role" } },
        before,
      ),
      [saPath("demo")]: boundServiceAccount("demo", before),
      [saPath("other")]: boundServiceAccount("other", theirs),
    }, [boundRole(before)]);
    try {
      deepStrictEqual(await run(), {});
      const other = kube.object<{ metadata: { annotations: Record<string, string> } }>(saPath("other"));
      equal(other?.metadata.annotations["eks.amazonaws.com/role-arn"], arnOf("their-role"));
    } finally {
      await kube.close();
    }
  });
});

Deno.test("reconcileIrsa() after a role rename deletes the old role once the new one is bound, only if ours", async (t) => {
  const before = bindingFor(["demo"], "old-role");
  const cases = [
    { name: "our old role goes, its policies detached first", tags: roleOwnershipTags(setup, before), gone: true },
    { name: "a foreign old role stays", tags: { owner: "someone-else" }, gone: false },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const { kube, aws, log, run } = world({
        [objectPath]: irsaObject({
          serviceAccount: { name: "app", namespaces: ["demo"] },
          iamRole: { name: "new-role" },
        }, before),
        [saPath("demo")]: boundServiceAccount("demo", before),
      }, [boundRole(before, c.tags)]);
      try {
        deepStrictEqual(await run(), {});
        ok(aws.roles.has("new-role"));
        equal(aws.roles.has("old-role"), !c.gone);
        const sa = kube.object<{ metadata: { annotations: Record<string, string> } }>(saPath("demo"));
        equal(sa?.metadata.annotations["eks.amazonaws.com/role-arn"], arnOf("new-role"));
        const writes = aws.writes();
        if (c.gone) {
          deepStrictEqual(writes.slice(-2), ["DetachRolePolicy", "DeleteRole"]);
          ok(writes.indexOf("CreateRole") < writes.indexOf("DeleteRole"), "bound before the old one goes");
        } else {
          ok(!writes.includes("DeleteRole") && !writes.includes("DetachRolePolicy"), writes.join(", "));
          ok(log.lines.some((l) => l.level === "warn" && l.msg.includes("old-role")));
        }
        equal(kube.object<{ status: { roleArn: string } }>(objectPath)?.status.roleArn, arnOf("new-role"));
      } finally {
        await kube.close();
      }
    });
  }
});

Deno.test("reconcileIrsa() retries by AWS error code: ConcurrentModification (409) backs off, NoSuchEntity is terminal", async (t) => {
  const cases = [
    {
      name: "ConcurrentModification with HTTP 409 throws for backoff, reason IRSAFailedRoleUpdate",
      error: awsErrorOf("ConcurrentModification", 409, "ConcurrentModificationException"),
      throws: true,
      reason: "IRSAFailedRoleUpdate",
    },
    {
      name: "Throttling that outlasted the SDK's retries throws for backoff",
      error: awsErrorOf("Throttling", 400),
      throws: true,
      reason: "IRSAFailedRoleUpdate",
    },
    {
      name: "NoSuchEntity is terminal: Ready=False with its reason, no requeue of its own",
      error: awsErrorOf("NoSuchEntity", 404, "NoSuchEntityException"),
      throws: false,
      reason: "NoSuchEntity",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const { kube, aws, run } = world({
        [objectPath]: irsaObject({
          serviceAccount: { name: "app", namespaces: ["demo"] },
          iamRole: { name: "app-role" },
        }),
      });
      aws.fail = (name) => name === "AttachRolePolicy" ? c.error : undefined;
      try {
        if (c.throws) await rejects(run());
        else deepStrictEqual(await run(), {});
        const r = ready(kube.object(objectPath));
        equal(r?.status, "False");
        equal(r?.reason, c.reason);
      } finally {
        await kube.close();
      }
    });
  }
});

Deno.test("reconcileIrsa() stops before the next write once its signal aborts (leadership lost)", async () => {
  const { kube, aws, run } = world({
    [objectPath]: irsaObject({ serviceAccount: { name: "app", namespaces: ["demo"] }, iamRole: { name: "app-role" } }),
  });
  const leadership = new AbortController();
  aws.fail = (name) => {
    if (name === "CreateRole") leadership.abort(); // lost while the call was in flight
    return undefined;
  };
  try {
    const writesBefore = kube.writes.length;
    await rejects(run(leadership.signal), (e: unknown) => (e as Error).name === "AbortError");
    deepStrictEqual(aws.writes(), ["CreateRole"], "nothing after the abort");
    // The finalizer was there already; after the abort nothing is written, not even a status or an Event.
    deepStrictEqual(kube.writes.slice(writesBefore), []);
  } finally {
    await kube.close();
  }
});

Deno.test("reconcileIrsa() returns {} on success: the controller's resync is the only one", async () => {
  const { kube, run } = world({
    [objectPath]: irsaObject({ serviceAccount: { name: "app", namespaces: ["demo"] }, iamRole: { name: "app-role" } }),
  });
  try {
    deepStrictEqual(await run(), {});
    equal(ready(kube.object(objectPath))?.reason, "IRSAReady");
  } finally {
    await kube.close();
  }
});
