// The IRSASetup reconciler's deletion against the stateful fakes: it waits for every IRSA object (their cleanup
// needs the setup), then tears down provider -> objects -> bucket -> record; a failed read backs off, never skips.
import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import type { Condition } from "../lib/crds.ts";
import { serializeSetupRecord } from "../lib/setup_record.ts";
import { testSetup } from "../lib/testdata/setup_fixture.ts";
import { reconcileSetup } from "./reconcile_setup.ts";
import { fakeApiServer, fakeAws, memoryLogger } from "./testdata/fake_world.ts";

const group = "/apis/irsa-manager.kkb0318.github.io/v1alpha1";
const system = "irsa-manager-system";
const setupPath = (name: string) => `${group}/namespaces/${system}/irsasetups/${name}`;
const irsaPath = (ns: string, name: string) => `${group}/namespaces/${ns}/irsas/${name}`;
const recordPath = "/api/v1/namespaces/kube-system/configmaps/kubectl-irsa-setup";
const finalizer = "irsa-manager.kkb0318.github.io/finalizers";
const managedBy = { "kubectl-irsa/managed-by": "kubectl-irsa" };

function setupObject(name: string, created: string, deleting: boolean) {
  return {
    metadata: {
      name,
      namespace: system,
      uid: `uid-${name}`,
      generation: 1,
      creationTimestamp: created,
      finalizers: [finalizer],
      ...(deleting ? { deletionTimestamp: "2026-01-01T00:00:00Z" } : {}),
    },
    spec: { cleanup: true, mode: "selfhosted", discovery: { s3: { region: "eu-west-1", bucketName: "b" } } },
    status: { issuer: testSetup.issuer, providerArn: testSetup.providerArn },
  };
}

/** A cluster set up by `irsa-init` (being deleted) with `irsas` IRSA objects left, and its AWS side. */
function world(irsas: [string, string][], extra: Record<string, unknown> = {}) {
  const objects: Record<string, unknown> = {
    [setupPath("irsa-init")]: setupObject("irsa-init", "2025-01-01T00:00:00Z", true),
    [recordPath]: { metadata: { name: "kubectl-irsa-setup" }, data: { "setup.json": serializeSetupRecord(testSetup) } },
    ...extra,
  };
  for (const [ns, name] of irsas) {
    objects[irsaPath(ns, name)] = { metadata: { name, namespace: ns, uid: `irsa-${name}` }, spec: { cleanup: true } };
  }
  const kube = fakeApiServer(objects);
  const aws = fakeAws();
  aws.providers.set(testSetup.providerArn, { url: testSetup.issuer.slice("https://".length), tags: managedBy });
  aws.buckets.set("b", {
    region: "eu-west-1",
    tags: managedBy,
    objects: new Set([".well-known/openid-configuration", "keys.json"]),
  });
  const run = (name = "irsa-init") =>
    reconcileSetup(`${system}/${name}`, {
      kube: kube.kube,
      aws: () => Promise.resolve(aws.clients),
      log: memoryLogger(),
      resyncMs: 60_000,
      systemNamespace: "irsa-manager-system",
      now: () => new Date("2026-01-01T00:00:00Z"),
    });
  return { kube, aws, run };
}

function ready(o: unknown): Condition | undefined {
  return (o as { status?: { conditions?: Condition[] } } | undefined)?.status?.conditions?.find((c) =>
    c.type === "Ready"
  );
}

Deno.test("reconcileSetup() keeps its finalizer while IRSA objects exist: Ready=False DependentsExist", async () => {
  const { kube, aws, run } = world([[system, "a"], ["team", "b"]]);
  try {
    deepStrictEqual(await run(), { requeueAfterMs: 5_000 });
    const object = kube.object<{ metadata: { finalizers: string[] } }>(setupPath("irsa-init"));
    deepStrictEqual(object?.metadata.finalizers, [finalizer]);
    deepStrictEqual(aws.calls, [], "AWS untouched");
    ok(kube.object(recordPath), "the setup record stays for the IRSA cleanups");
    const r = ready(object);
    equal(r?.status, "False");
    equal(r?.reason, "DependentsExist");
    ok(r?.message.includes("2 IRSA objects") && r.message.includes(`${system}/a`), r?.message);
    const event = kube.writes.find((w) => w.path.endsWith("/events"))?.body as { type: string; reason: string };
    deepStrictEqual([event.type, event.reason], ["Warning", "DependentsExist"]);
  } finally {
    await kube.close();
  }
});

Deno.test("reconcileSetup() tears down provider -> objects -> bucket -> record once no IRSA object is left", async () => {
  const { kube, aws, run } = world([]);
  try {
    deepStrictEqual(await run(), {});
    deepStrictEqual(aws.writes(), ["DeleteOpenIDConnectProvider", "DeleteObject", "DeleteObject", "DeleteBucket"]);
    equal(aws.providers.size, 0);
    equal(aws.buckets.size, 0);
    const deletes = kube.writes.filter((w) => w.method === "DELETE").map((w) => w.path);
    deepStrictEqual(deletes, [recordPath]);
    equal(kube.object(setupPath("irsa-init")), undefined, "finalizer removed, the object goes");
  } finally {
    await kube.close();
  }
});

Deno.test("reconcileSetup() teardown: a failed read throws, keeps the finalizer and skips nothing", async (t) => {
  const cases = [
    {
      name: "the setup record",
      kube: (method: string, path: string) =>
        method === "GET" && path === recordPath
          ? Response.json({ kind: "Status", message: "etcd timeout", code: 500 }, { status: 500 })
          : undefined,
      aws: () => undefined,
    },
    {
      name: "the list of IRSA objects",
      kube: (method: string, path: string) =>
        method === "GET" && path === `${group}/irsas`
          ? Response.json({ kind: "Status", message: "etcd timeout", code: 503 }, { status: 503 })
          : undefined,
      aws: () => undefined,
    },
    {
      name: "the bucket's tags",
      kube: () => undefined,
      aws: (name: string) =>
        name === "GetBucketTagging"
          ? Object.assign(new Error("slow"), { name: "SlowDown", Code: "SlowDown", $metadata: { httpStatusCode: 503 } })
          : undefined,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const { kube, aws, run } = world([]);
      kube.fail = c.kube;
      aws.fail = c.aws;
      try {
        await rejects(run());
        const object = kube.object<{ metadata: { finalizers: string[] } }>(setupPath("irsa-init"));
        deepStrictEqual(object?.metadata.finalizers, [finalizer]);
        ok(!aws.writes().includes("DeleteBucket"), "the bucket stays");
        ok(kube.object(recordPath), "the record stays");
      } finally {
        await kube.close();
      }
    });
  }
});

Deno.test("reconcileSetup() deleting a refused duplicate leaves the active setup alone", async () => {
  const { kube, aws, run } = world([[system, "a"]], {
    [setupPath("irsa-init")]: setupObject("irsa-init", "2025-01-01T00:00:00Z", false),
    [setupPath("second")]: setupObject("second", "2025-06-01T00:00:00Z", true),
  });
  try {
    deepStrictEqual(await run("second"), {});
    equal(kube.object(setupPath("second")), undefined);
    deepStrictEqual(aws.writes(), []);
    ok(kube.object(recordPath));
  } finally {
    await kube.close();
  }
});
