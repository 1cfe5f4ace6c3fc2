import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { IrsaError } from "../lib/errors.ts";
import type { KubeClient } from "../lib/kube/client.ts";
import type { WebhookConfiguration } from "../lib/kube/webhook_reads.ts";
import { webhookObjects } from "../lib/names.ts";
import { defaultWebhookConfig, type ListedPod, missesCredentials, mutatePod } from "../lib/pod_mutation.ts";
import { applyJsonPatch } from "../lib/pod_mutation.ts";
import { FakeClock } from "./clock.ts";
import {
  createEvent,
  missedEventName,
  type MissedMutationEvent,
  missedMutationMessage,
  type MissedMutationPorts,
  MissedMutationScanner,
  namespaceSelection,
  runScanPasses,
  trimPod,
} from "./missed_mutations.ts";

const config = { ...defaultWebhookConfig };
const roleArn = "arn:aws:iam::111122223333:role/app";
const annotated = { "eks.amazonaws.com/role-arn": roleArn };

function pod(name: string, overrides: { uid?: string; sa?: string; spec?: Partial<ListedPod["spec"]> } = {}) {
  return {
    metadata: {
      name,
      namespace: "apps",
      uid: overrides.uid ?? `uid-${name}`,
      ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "web-5d8f", uid: "rs", controller: true }],
    },
    spec: { serviceAccountName: overrides.sa ?? "app", containers: [{ name: "main" }], ...overrides.spec },
  } as ListedPod;
}

/** What the webhook would have produced: the pod with its patch applied. */
function mutated(p: ListedPod): ListedPod {
  return applyJsonPatch(p, mutatePod(p, { roleArn }, config));
}

/** An Event store keyed by name, as the apiserver: a fixed name created twice is AlreadyExists. */
class FakeEvents {
  readonly byName = new Map<string, MissedMutationEvent>();
  creates = 0;
  fail = false;
  create = (event: MissedMutationEvent): Promise<"created" | "exists"> => {
    this.creates++;
    if (this.fail) return Promise.reject(new Error("apiserver down"));
    // generateName (today's code) would get a fresh name each time; a fixed name collides.
    const name = event.metadata.name || `${crypto.randomUUID()}`;
    if (this.byName.has(name)) return Promise.resolve("exists");
    this.byName.set(name, event);
    return Promise.resolve("created");
  };
}

function ports(
  pods: Map<string, ListedPod>,
  events: FakeEvents,
  sas: Map<string, Record<string, string>> = new Map([["apps/app", annotated]]),
  selection: (namespace: string) => Promise<boolean> = () => Promise.resolve(true),
): MissedMutationPorts {
  return {
    pods: () => [...pods.values()],
    serviceAccount: (namespace, name) => sas.get(`${namespace}/${name}`),
    namespaceSelection: () => selection,
    createEvent: events.create,
  };
}

const key = (p: ListedPod) => `${p.metadata.namespace}/${p.metadata.name}`;
const cache = (...list: ListedPod[]) => new Map(list.map((p) => [key(p), p]));

Deno.test("missedMutationMessage() tells a restart from a namespace the webhook never sees", () => {
  const p = pod("worker-1", { sa: "autoscaler" });
  p.metadata.namespace = "kube-system";
  const restart = missedMutationMessage(p, true);
  ok(restart.includes("restart it to get credentials"), restart);
  const outside = missedMutationMessage(p, false);
  ok(outside.includes("namespace kube-system is outside the pod identity webhook's namespaceSelector"), outside);
  ok(outside.includes("--webhook-skip-namespaces"), outside);
  equal(outside.includes("restart"), false);
});

Deno.test("trimPod() keeps the verdict of missesCredentials", async (t) => {
  const busy = pod("busy", {
    spec: {
      containers: [{
        name: "main",
        image: "example/app:1",
        env: [{ name: "LOG", value: "x".repeat(1000) }, { name: "AWS_REGION", value: "eu-west-1" }],
        volumeMounts: [{ name: "data", mountPath: "/data" }],
      }],
      volumes: [{ name: "data", emptyDir: {} }],
      nodeSelector: { "kubernetes.io/os": "windows", zone: "a" },
    },
  });
  const allEnv = pod("all-env", {
    spec: {
      containers: [{
        name: "main",
        env: [{ name: "AWS_ROLE_ARN", value: roleArn }, { name: "AWS_REGION", value: "x" }, {
          name: "AWS_STS_REGIONAL_ENDPOINTS",
          value: "regional",
        }],
      }],
    },
  });
  const skipLabel = pod("skip-label");
  skipLabel.metadata.labels = { "eks.amazonaws.com/skip-pod-identity-webhook": "", app: "x" };
  const skipContainer = mutated(pod("skip-container", { spec: { containers: [{ name: "main" }, { name: "side" }] } }));
  skipContainer.spec.containers[1] = { name: "side" };
  skipContainer.metadata.annotations = { "eks.amazonaws.com/skip-containers": "side", other: "x" };
  const initOnly = pod("init", { spec: { initContainers: [{ name: "setup", env: null, volumeMounts: null }] } });
  const cases: { name: string; pod: ListedPod }[] = [
    { name: "an unmutated pod with env, mounts and volumes of its own", pod: busy },
    { name: "the same pod mutated by the webhook", pod: mutated(busy) },
    { name: "a pod setting every credential variable itself", pod: allEnv },
    { name: "that pod mutated (volume only)", pod: mutated(allEnv) },
    { name: "a pod with the opt-out label", pod: skipLabel },
    { name: "a mutated pod whose unmutated container is skipped by annotation", pod: skipContainer },
    {
      name: "the same without the annotation",
      pod: { ...skipContainer, metadata: { ...skipContainer.metadata, annotations: {} } },
    },
    { name: "a pod with init containers and null lists", pod: initOnly },
    { name: "that pod mutated", pod: mutated(initOnly) },
    { name: "a pod without a volumes list", pod: pod("bare") },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      for (const sa of [annotated, {}, undefined]) {
        equal(missesCredentials(trimPod(c.pod, config), sa, config), missesCredentials(c.pod, sa, config));
      }
    });
  }
  await t.step("the verdicts differ across the table, so the table can catch a bad trim", () => {
    const verdicts = new Set(cases.map((c) => missesCredentials(c.pod, annotated, config)));
    equal(verdicts.size, 2);
  });
});

Deno.test("trimPod() drops env values, foreign mounts and volumes, labels and owners it does not need", () => {
  const p = mutated(pod("web-1", {
    spec: {
      containers: [{
        name: "main",
        image: "example/app:1",
        env: [{ name: "SECRET", value: "s3cr3t" }],
        volumeMounts: [{ name: "data", mountPath: "/data" }],
      }],
      volumes: [{ name: "data", emptyDir: {} }],
    },
  }));
  p.metadata.resourceVersion = "42";
  p.metadata.labels = { app: "web" };
  p.metadata.ownerReferences!.unshift({ apiVersion: "v1", kind: "Other", name: "x", uid: "o" });
  deepStrictEqual(trimPod(p, config), {
    metadata: {
      name: "web-1",
      namespace: "apps",
      uid: "uid-web-1",
      resourceVersion: "42",
      ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "web-5d8f", uid: "rs", controller: true }],
    },
    spec: {
      serviceAccountName: "app",
      containers: [{
        name: "main",
        env: [{ name: "AWS_ROLE_ARN" }, { name: "AWS_WEB_IDENTITY_TOKEN_FILE" }],
        volumeMounts: [{ name: "aws-iam-token", mountPath: "/var/run/secrets/eks.amazonaws.com/serviceaccount" }],
      }],
      volumes: [{ name: "aws-iam-token" }],
    },
  });
});

Deno.test("missedEventName() is fixed by the pod's UID and a valid Event name", async (t) => {
  const dns = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
  const orphan = pod("solo");
  delete orphan.metadata.ownerReferences;
  const long = pod("x");
  long.metadata.ownerReferences![0]!.name = "a".repeat(240) + "-b";
  const cases: { name: string; pod: ListedPod; want?: string }[] = [
    { name: "named after the controller", pod: pod("web-1", { uid: "1234-ab" }), want: "web-5d8f.irsa-1234-ab" },
    { name: "named after the pod without owner", pod: orphan, want: "solo.irsa-uid-solo" },
    { name: "a long owner name is cut to 253 characters", pod: long },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const name = missedEventName(c.pod);
      if (c.want) equal(name, c.want);
      ok(name.length <= 253 && dns.test(name), name);
      equal(missedEventName(structuredClone(c.pod)), name, "deterministic");
    });
  }
  await t.step("two pods of one owner get two names", () => {
    ok(missedEventName(pod("a", { uid: "1" })) !== missedEventName(pod("b", { uid: "2" })));
  });
});

Deno.test("MissedMutationScanner.scan() reports each missed pod once", async (t) => {
  const events = new FakeEvents();
  const pods = cache(pod("missed-1"), pod("missed-2"), mutated(pod("ok")), pod("plain", { sa: "plain" }));
  const missed: string[] = [];
  const scanner = new MissedMutationScanner(ports(pods, events), {
    config,
    onMiss: (p) => missed.push(p.metadata.name),
  });

  await t.step("two passes over the same pods create one Event per missed pod", async () => {
    equal(await scanner.scan(), 2);
    equal(await scanner.scan(), 0);
    deepStrictEqual([...events.byName.keys()].sort(), ["web-5d8f.irsa-uid-missed-1", "web-5d8f.irsa-uid-missed-2"]);
    deepStrictEqual(missed.sort(), ["missed-1", "missed-2"]);
    equal(events.creates, 2, "a reported pod is not sent again");
    const e = events.byName.get("web-5d8f.irsa-uid-missed-1")!;
    deepStrictEqual(e.involvedObject, {
      apiVersion: "apps/v1",
      kind: "ReplicaSet",
      name: "web-5d8f",
      uid: "rs",
      namespace: "apps",
    });
    equal(e.reason, "MissingAwsCredentials");
  });

  await t.step("a restarted daemon or the next leader finds the Events and writes none", async () => {
    const missedAgain: string[] = [];
    const next = new MissedMutationScanner(ports(pods, events), {
      config,
      onMiss: (p) => missedAgain.push(p.metadata.name),
    });
    equal(await next.scan(), 0);
    equal(events.byName.size, 2);
    deepStrictEqual(missedAgain, [], "AlreadyExists is not a new miss");
    equal(next.reported.size, 2, "and is remembered, so the next pass sends nothing");
    await next.scan();
    equal(events.creates, 4);
  });

  await t.step("a pod recreated under the same name with a new UID is reported again", async () => {
    pods.set("apps/missed-1", pod("missed-1", { uid: "uid-missed-1b" }));
    equal(await scanner.scan(), 1);
    ok(events.byName.has("web-5d8f.irsa-uid-missed-1b"));
    ok(!scanner.reported.has("uid-missed-1"), "the gone UID is forgotten");
  });
});

Deno.test("MissedMutationScanner.scan() reports a pod whose ServiceAccount was annotated after it started", async () => {
  const events = new FakeEvents();
  const sas = new Map<string, Record<string, string>>([["apps/app", {}]]);
  const scanner = new MissedMutationScanner(ports(cache(pod("early")), events, sas), { config });
  equal(await scanner.scan(), 0);
  sas.set("apps/app", annotated);
  equal(await scanner.scan(), 1);
});

Deno.test("MissedMutationScanner retries a pod whose Event could not be written", async () => {
  const events = new FakeEvents();
  const errors: unknown[] = [];
  const scanner = new MissedMutationScanner(ports(cache(pod("p")), events), {
    config,
    onError: (e) => errors.push(e),
  });
  events.fail = true;
  equal(await scanner.scan(), 0);
  equal(errors.length, 1);
  events.fail = false;
  equal(await scanner.scan(), 1);
});

Deno.test("MissedMutationScanner.changed() checks a new pod without waiting for a pass", async (t) => {
  await t.step("only after the ServiceAccount cache has synced", async () => {
    const events = new FakeEvents();
    let synced!: () => void;
    const ready = new Promise<void>((r) => synced = r);
    const p = pod("new");
    const scanner = new MissedMutationScanner(ports(cache(p), events), { config, ready });
    scanner.changed(key(p), p);
    await new Promise((r) => setTimeout(r, 0));
    equal(events.creates, 0);
    synced();
    await scanner.idle();
    equal(events.byName.size, 1);
  });

  await t.step("a check and a pass at once send one create", async () => {
    const events = new FakeEvents();
    const p = pod("racy");
    let misses = 0;
    const scanner = new MissedMutationScanner(ports(cache(p), events), { config, onMiss: () => misses++ });
    scanner.changed(key(p), p);
    await scanner.scan();
    await scanner.idle();
    equal(events.creates, 1);
    equal(misses, 1);
  });

  await t.step("a deleted pod's UID is forgotten", async () => {
    const events = new FakeEvents();
    const p = pod("gone");
    const scanner = new MissedMutationScanner(ports(cache(p), events), { config });
    scanner.changed(key(p), p);
    await scanner.idle();
    ok(scanner.reported.has("uid-gone"));
    scanner.changed(key(p), undefined, p);
    ok(!scanner.reported.has("uid-gone"));
  });

  await t.step("nothing is written once leadership is lost", async () => {
    const events = new FakeEvents();
    const stop = new AbortController();
    const p = pod("late");
    const scanner = new MissedMutationScanner(ports(cache(p), events), { config, signal: stop.signal });
    stop.abort();
    scanner.changed(key(p), p);
    await scanner.scan();
    await scanner.idle();
    equal(events.creates, 0);
  });
});

Deno.test("namespaceSelection() reads the webhook configuration and each namespace once per pass", async () => {
  const reads = { config: 0, namespaces: 0 };
  const configuration: WebhookConfiguration = {
    metadata: { name: webhookObjects.configuration },
    webhooks: [{
      name: webhookObjects.webhookName,
      clientConfig: {},
      namespaceSelector: { matchExpressions: [{ key: "hidden", operator: "DoesNotExist" }] },
    }],
  };
  const selection = () =>
    namespaceSelection({
      webhookConfiguration: () => (reads.config++, Promise.resolve(configuration)),
      namespaceLabels: (ns) => (reads.namespaces++, Promise.resolve(ns === "apps" ? { hidden: "true" } : {})),
    });
  const events = new FakeEvents();
  const pods = cache(pod("a"), pod("b"));
  const scanner = new MissedMutationScanner({ ...ports(pods, events), namespaceSelection: selection }, { config });
  equal(await scanner.scan(), 2);
  deepStrictEqual(reads, { config: 1, namespaces: 1 });
  ok(events.byName.get("web-5d8f.irsa-uid-a")!.message.includes("outside the pod identity webhook's"));
  pods.set("apps/c", pod("c"));
  equal(await scanner.scan(), 1);
  deepStrictEqual(reads, { config: 2, namespaces: 2 }, "a new pass reads again");
});

Deno.test("runScanPasses() waits for the caches, passes every interval and stops with its signal", async () => {
  const clock = new FakeClock();
  const stop = new AbortController();
  let passes = 0;
  let synced!: () => void;
  const done = runScanPasses({ scan: () => Promise.resolve(passes++) }, {
    synced: new Promise<void>((r) => synced = r),
    intervalMs: 60_000,
    signal: stop.signal,
    clock,
  });
  await clock.advance(120_000);
  equal(passes, 0, "no pass before the caches have synced");
  synced();
  await clock.advance(0);
  equal(passes, 1);
  await clock.advance(60_000);
  equal(passes, 2);
  stop.abort();
  await done;
  await clock.advance(600_000);
  equal(passes, 2);
  equal(clock.pending, 0);
});

Deno.test("createEvent() reads a 409 as an Event another leader wrote", async (t) => {
  const cases: { name: string; error?: Error; want: "created" | "exists" | "throws" }[] = [
    { name: "created", want: "created" },
    { name: "AlreadyExists", error: new IrsaError("conflict", "Http409", "exists (HTTP 409)"), want: "exists" },
    { name: "forbidden", error: new IrsaError("denied", "Http403", "no (HTTP 403)"), want: "throws" },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const kube = { create: () => c.error ? Promise.reject(c.error) : Promise.resolve({}) } as unknown as KubeClient;
      const event = { metadata: { name: "x", namespace: "apps" } } as MissedMutationEvent;
      equal(await createEvent(kube, event).catch(() => "throws"), c.want);
    });
  }
});
