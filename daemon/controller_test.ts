import { deepStrictEqual, equal } from "node:assert/strict";
import { CallBudget } from "./call_budget.ts";
import { FakeClock, flush } from "./clock.ts";
import {
  type ControlledObject,
  type ControllerMetrics,
  type InformerSource,
  runController,
  shouldEnqueue,
  trimForCache,
} from "./controller.ts";
import type { Logger } from "./log.ts";
import type { ReconcileResult } from "./reconcile_irsa.ts";

type Obj = ControlledObject & { status?: string; finalizers?: string[] };

function obj(name: string, generation: number, extra: Partial<Obj["metadata"]> & Omit<Obj, "metadata"> = {}): Obj {
  const { deletionTimestamp, status, finalizers } = extra;
  return {
    metadata: { name, namespace: "ns", generation, ...(deletionTimestamp ? { deletionTimestamp } : {}) },
    ...(status ? { status } : {}),
    ...(finalizers ? { finalizers } : {}),
  };
}

/** An informer driven by the test: emit() changes the cache like a watch event, sync() ends the first list. */
class FakeInformer implements InformerSource<Obj> {
  readonly store = new Map<string, Obj>();
  readonly #listeners: ((key: string, object: Obj | undefined, old: Obj | undefined) => void)[] = [];
  #synced!: () => void;
  readonly #sync = new Promise<void>((resolve) => this.#synced = resolve);

  onChange(listener: (key: string, object: Obj | undefined, old: Obj | undefined) => void): void {
    this.#listeners.push(listener);
  }
  list(): Obj[] {
    return [...this.store.values()];
  }
  waitForSync(): Promise<void> {
    return this.#sync;
  }
  run(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
  }
  sync(): void {
    this.#synced();
  }
  emit(next: Obj | undefined, key = `ns/${next?.metadata.name}`): void {
    const old = this.store.get(key);
    if (next) this.store.set(key, next);
    else this.store.delete(key);
    for (const l of this.#listeners) l(key, next, old);
  }
}

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function fakeMetrics(): { metrics: ControllerMetrics; results: Record<string, number> } {
  const results: Record<string, number> = {};
  const metrics = {
    reconciles: { inc: (l: { result: string }) => results[l.result] = (results[l.result] ?? 0) + 1 },
    reconcileDuration: { observe() {} },
    queueDepth: { set() {} },
  } as unknown as ControllerMetrics;
  return { metrics, results };
}

/** Starts a controller on a fake informer and clock, counting reconciles per key. */
function start(options: {
  reconcile?: (key: string, signal: AbortSignal) => Promise<ReconcileResult>;
  resyncMs?: number;
  concurrency?: number;
  /** AWS calls per second for background checks; every reconcile charges `callsPerReconcile` to it. */
  budget?: number;
  callsPerReconcile?: number;
  upToDate?: (o: ControlledObject) => boolean;
}) {
  const clock = new FakeClock();
  const budget = options.budget === undefined ? undefined : new CallBudget(options.budget, clock);
  const informer = new FakeInformer();
  const stop = new AbortController();
  const counts = new Map<string, number>();
  const resyncMs = options.resyncMs ?? 3_600_000;
  const { metrics, results } = fakeMetrics();
  const reconcile = options.reconcile ?? (() => Promise.resolve({ requeueAfterMs: resyncMs }));
  const running = runController({
    kind: "IRSA",
    informer,
    reconcile: (key, signal) => {
      counts.set(key, (counts.get(key) ?? 0) + 1);
      budget?.charge(options.callsPerReconcile ?? 4);
      return reconcile(key, signal);
    },
    concurrency: options.concurrency ?? 2,
    resyncMs,
    signal: stop.signal,
    log: quiet,
    metrics,
    clock,
    ...(budget ? { budget } : {}),
    ...(options.upToDate ? { upToDate: options.upToDate } : {}),
  });
  const total = () => [...counts.values()].reduce((a, b) => a + b, 0);
  return { clock, informer, stop, counts, total, results, running };
}

Deno.test("shouldEnqueue() passes adds, deletes, spec changes and the start of deletion only", async (t) => {
  const cases: { name: string; old: Obj | undefined; next: Obj | undefined; want: boolean }[] = [
    { name: "add", old: undefined, next: obj("a", 1), want: true },
    { name: "delete", old: obj("a", 1), next: undefined, want: true },
    { name: "spec change (generation)", old: obj("a", 1), next: obj("a", 2), want: true },
    { name: "status-only write", old: obj("a", 1), next: obj("a", 1, { status: "Ready" }), want: false },
    { name: "finalizer-only write", old: obj("a", 1), next: obj("a", 1, { finalizers: ["f"] }), want: false },
    { name: "relist with no change", old: obj("a", 1), next: obj("a", 1), want: false },
    {
      name: "deletion starts without a generation bump",
      old: obj("a", 1),
      next: obj("a", 1, { deletionTimestamp: "2026-01-01T00:00:00Z" }),
      want: true,
    },
    {
      name: "finalizer removed while deleting",
      old: obj("a", 2, { deletionTimestamp: "2026-01-01T00:00:00Z", finalizers: ["f"] }),
      next: obj("a", 2, { deletionTimestamp: "2026-01-01T00:00:00Z" }),
      want: false,
    },
  ];
  for (const c of cases) await t.step(c.name, () => equal(shouldEnqueue(c.old, c.next), c.want));
});

Deno.test("trimForCache() drops managedFields and the last-applied copy, keeps what reconcilers read", () => {
  const object = {
    metadata: {
      name: "a",
      namespace: "n",
      generation: 3,
      resourceVersion: "9",
      finalizers: ["irsa.kubectl-irsa.io/cleanup"],
      labels: { team: "x" },
      annotations: { "kubectl.kubernetes.io/last-applied-configuration": "{...}", keep: "1" },
      managedFields: [{ manager: "kubectl", fieldsV1: { "f:spec": {} } }],
    },
    spec: { serviceAccount: { name: "app" } },
    status: { conditions: [] },
  };
  deepStrictEqual(trimForCache(object), {
    metadata: {
      name: "a",
      namespace: "n",
      generation: 3,
      resourceVersion: "9",
      finalizers: ["irsa.kubectl-irsa.io/cleanup"],
      labels: { team: "x" },
      annotations: { keep: "1" },
    },
    spec: { serviceAccount: { name: "app" } },
    status: { conditions: [] },
  });
  equal(object.metadata.managedFields.length, 1, "the informer's input is not changed");
  deepStrictEqual(trimForCache({ metadata: { name: "b" } }), { metadata: { name: "b" } });
});

Deno.test("runController() starts workers only after the informer's first sync", async () => {
  const c = start({});
  c.informer.emit(obj("a", 1));
  c.informer.emit(obj("b", 1));
  await flush();
  equal(c.total(), 0);
  c.informer.sync();
  await flush();
  deepStrictEqual(Object.fromEntries(c.counts), { "ns/a": 1, "ns/b": 1 });
  c.stop.abort();
  await c.running;
});

Deno.test("runController() reconciles spec changes and deletions, never its own status or finalizer writes", async (t) => {
  const c = start({});
  c.informer.emit(obj("a", 1));
  c.informer.sync();
  await flush();
  equal(c.total(), 1);
  const steps: { name: string; next: Obj | undefined; want: number }[] = [
    { name: "status-only update makes 0 reconciles", next: obj("a", 1, { status: "Ready" }), want: 0 },
    { name: "finalizer-only update makes 0 reconciles", next: obj("a", 1, { finalizers: ["f"] }), want: 0 },
    { name: "generation change makes 1 reconcile", next: obj("a", 2), want: 1 },
    { name: "deletion start makes 1 reconcile", next: obj("a", 2, { deletionTimestamp: "x" }), want: 1 },
    { name: "delete makes 1 reconcile", next: undefined, want: 1 },
  ];
  for (const s of steps) {
    await t.step(s.name, async () => {
      const before = c.total();
      c.informer.emit(s.next, "ns/a");
      await flush();
      equal(c.total() - before, s.want);
    });
  }
  c.stop.abort();
  await c.running;
});

Deno.test("runController() resyncs each object exactly once per period", async () => {
  const resyncMs = 60_000;
  const c = start({ resyncMs });
  for (const n of ["a", "b", "c"]) c.informer.emit(obj(n, 1));
  c.informer.sync();
  await c.clock.advance(20_000);
  c.informer.emit(obj("d", 1)); // first reconciled off the resync beat: its own requeue timer would double it
  await c.clock.advance(3 * resyncMs - 20_000);
  deepStrictEqual(Object.fromEntries(c.counts), { "ns/a": 4, "ns/b": 4, "ns/c": 4, "ns/d": 4 });
  c.stop.abort();
  await c.running;
});

Deno.test("runController() honours a requeue shorter than the resync period", async () => {
  const c = start({ resyncMs: 300_000, reconcile: () => Promise.resolve({ requeueAfterMs: 30_000 }) });
  c.informer.emit(obj("a", 1));
  c.informer.sync();
  await c.clock.advance(30_000);
  equal(c.counts.get("ns/a"), 2);
  c.stop.abort();
  await c.running;
});

Deno.test("runController() backs off a failed reconcile and counts the error", async () => {
  let calls = 0;
  const c = start({ reconcile: () => ++calls === 1 ? Promise.reject(new Error("boom")) : Promise.resolve({}) });
  c.informer.emit(obj("a", 1));
  c.informer.sync();
  await flush();
  equal(c.counts.get("ns/a"), 1);
  await c.clock.advance(1_000); // the first backoff is 500 ms ±20 %
  equal(c.counts.get("ns/a"), 2);
  deepStrictEqual(c.results, { error: 1, success: 1 });
  c.stop.abort();
  await c.running;
});

Deno.test("runController() cancels on abort: the in-flight reconcile sees it, queued keys are not reconciled", async () => {
  let seenAborted: boolean | undefined;
  let settled = false;
  const c = start({
    concurrency: 1,
    reconcile: (_key, signal) =>
      new Promise((_resolve, reject) => {
        signal.addEventListener("abort", () => {
          seenAborted = signal.aborted;
          // Cleanup still takes a moment after the abort: runController must wait for it.
          c.clock.after(1_000, () => {
            settled = true;
            reject(signal.reason);
          });
        }, { once: true });
      }),
  });
  for (let i = 0; i < 11; i++) c.informer.emit(obj(`k${i}`, 1));
  c.informer.sync();
  await flush();
  equal(c.total(), 1, "one in flight, 10 queued");
  let resolved = false;
  c.running.then(() => resolved = true);
  c.stop.abort();
  await flush();
  equal(seenAborted, true);
  equal(resolved, false, "waits for the in-flight reconcile");
  await c.clock.advance(1_000);
  await c.running;
  equal(settled, true);
  equal(c.total(), 1, "no further key reconciled");
  deepStrictEqual(c.results, {}, "a cancelled reconcile is neither an error nor backed off");
  equal(c.clock.pending, 0, "no retry or resync timer left");
});

Deno.test("runController() with a budget: a resync of many objects stays within the AWS calls per second", async () => {
  const resyncMs = 60_000;
  const c = start({ resyncMs, budget: 2, callsPerReconcile: 4 });
  for (let i = 0; i < 100; i++) c.informer.emit(obj(`k${i}`, 1));
  c.informer.sync();
  await flush();
  equal(c.total(), 100, "new objects are user work: all reconciled at once, whatever the budget");
  await c.clock.advance(resyncMs); // the budget's debt (400 calls) is paid 200 s later; the resync waits
  equal(c.total(), 100);
  await c.clock.advance(200_000);
  const afterDebt = c.total();
  await c.clock.advance(100_000);
  // 2 calls/s for 100 s at 4 calls a check: 50 checks, one more from the saved-up second.
  const checks = c.total() - afterDebt;
  equal(checks >= 49 && checks <= 51, true, `${checks} background checks in 100 s`);
  c.stop.abort();
  await c.running;
});

Deno.test("runController() with a budget: user-triggered work is served before background checks", async () => {
  const c = start({ resyncMs: 10_000, budget: 4, callsPerReconcile: 4, concurrency: 1 });
  for (let i = 0; i < 20; i++) c.informer.emit(obj(`k${i}`, 1));
  c.informer.sync();
  await c.clock.advance(30_000); // debt paid: background checks trickle at one a second
  const before = c.total();
  const k19 = c.counts.get("ns/k19") ?? 0;
  c.informer.emit(obj("new", 1));
  c.informer.emit(obj("k19", 2)); // an edit of the object the sweep reaches last
  await flush();
  equal(c.counts.get("ns/new"), 1, "a new object does not wait for the budget");
  equal(c.counts.get("ns/k19"), k19 + 1, "nor does an edit");
  equal(c.total() - before, 2, "no background check ran in between");
  c.stop.abort();
  await c.running;
});

Deno.test("runController() with a budget: objects already reconciled at start wait for the budget, others do not", async () => {
  const upToDate = (o: ControlledObject) => (o as Obj).status === "Ready";
  const c = start({ resyncMs: 3_600_000, budget: 4, callsPerReconcile: 4, upToDate });
  for (let i = 0; i < 10; i++) c.informer.emit(obj(`ready${i}`, 1, { status: "Ready" }));
  c.informer.emit(obj("pending", 1));
  c.informer.sync();
  await flush();
  deepStrictEqual(
    Object.fromEntries(c.counts),
    { "ns/pending": 1, "ns/ready0": 1 },
    "one check on the saved-up second",
  );
  await c.clock.advance(5_000);
  equal(c.total(), 7, "then one a second");
  await c.clock.advance(10_000);
  equal(c.total(), 11, "each once, then nothing until the resync");
  await c.clock.advance(60_000);
  equal(c.total(), 11);
  c.informer.emit(obj("later", 1, { status: "Ready" }));
  await flush();
  equal(c.counts.get("ns/later"), 1, "after the start an add is user work even with a status");
  c.stop.abort();
  await c.running;
});

Deno.test("runController() with a budget of 0: no background checks, user work still served", async () => {
  const c = start({ resyncMs: 1_000, budget: 0, upToDate: () => true });
  c.informer.emit(obj("a", 1));
  c.informer.sync();
  await c.clock.advance(60_000);
  equal(c.total(), 0, "the object found reconciled is never checked again");
  c.informer.emit(obj("a", 2));
  await flush();
  equal(c.total(), 1);
  c.stop.abort();
  await c.running;
  equal(c.clock.pending, 0);
});

Deno.test("runController() with a budget stops while a background check is queued behind a slow reconcile", async () => {
  let release!: () => void;
  const c = start({
    resyncMs: 1_000,
    budget: 100,
    concurrency: 1,
    reconcile: (key) => key === "ns/slow" ? new Promise((r) => release = () => r({})) : Promise.resolve({}),
  });
  c.informer.emit(obj("a", 1));
  c.informer.sync();
  await c.clock.advance(1_000); // the resync releases ns/a
  c.informer.emit(obj("slow", 1));
  await c.clock.advance(1_000);
  c.stop.abort();
  release();
  await c.running;
  equal(c.clock.pending, 0);
});
