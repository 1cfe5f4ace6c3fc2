import { deepStrictEqual, equal } from "node:assert/strict";
import { FakeClock } from "./clock.ts";
import { backoffDelay, defaultBackoff, WorkQueue } from "./work_queue.ts";

const noJitter = { baseMs: 10, maxMs: 1000, jitter: 0 };

/** Every key the queue hands out without waiting, each marked done. */
async function drain(q: WorkQueue): Promise<string[]> {
  const keys: string[] = [];
  while (q.depth > 0) {
    const key = await q.get();
    if (key === undefined) break;
    keys.push(key);
    q.done(key);
  }
  return keys;
}

Deno.test("WorkQueue.shutDown() stops handing out queued keys at once", async () => {
  const clock = new FakeClock();
  const q = new WorkQueue({ clock });
  for (let i = 0; i < 10; i++) q.add(`ns/k${i}`);
  q.addAfter("ns/later", 1000);
  q.shutDown();
  equal(await q.get(), undefined, "queued keys are cancelled, not drained");
  equal(clock.pending, 0, "timers cancelled");
  q.add("ns/new");
  q.addAfter("ns/new", 10);
  q.addRateLimited("ns/new");
  equal(clock.pending, 0, "addAfter after shutDown sets no timer");
  await clock.advance(10_000);
  equal(await q.get(), undefined);
});

Deno.test("WorkQueue.shutDown() releases waiting getters with undefined", async () => {
  const q = new WorkQueue({ clock: new FakeClock() });
  const waiting = [q.get(), q.get()];
  q.shutDown();
  deepStrictEqual(await Promise.all(waiting), [undefined, undefined]);
});

Deno.test("WorkQueue.addAfter() keeps the earliest deadline for a key", async (t) => {
  const cases = [
    { name: "30 s after 5 min fires at 30 s", delays: [300_000, 30_000] },
    { name: "5 min after 30 s is ignored", delays: [30_000, 300_000] },
    { name: "the same deadline twice fires once", delays: [30_000, 30_000] },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const clock = new FakeClock();
      const q = new WorkQueue({ clock });
      for (const ms of c.delays) q.addAfter("ns/a", ms);
      await clock.advance(29_999);
      equal(q.depth, 0);
      await clock.advance(1);
      deepStrictEqual(await drain(q), ["ns/a"]);
      await clock.advance(600_000);
      equal(q.depth, 0, "the replaced or ignored deadline does not fire as well");
      equal(clock.pending, 0);
    });
  }
});

Deno.test("WorkQueue re-queues a key added while processing once, after done()", async () => {
  const q = new WorkQueue({ clock: new FakeClock() });
  q.add("ns/a");
  equal(await q.get(), "ns/a");
  q.add("ns/a");
  q.add("ns/a");
  equal(q.depth, 0, "not handed out while processing");
  q.done("ns/a");
  deepStrictEqual(await drain(q), ["ns/a"]);
  equal(q.depth, 0);
});

Deno.test("WorkQueue never holds a key twice", async () => {
  const clock = new FakeClock();
  const q = new WorkQueue({ clock });
  q.add("ns/a");
  q.add("ns/b");
  q.add("ns/a");
  q.addAfter("ns/a", 5);
  await clock.advance(5);
  equal(q.depth, 2);
  deepStrictEqual(await drain(q), ["ns/a", "ns/b"]);
});

Deno.test("WorkQueue hands a key to a waiting getter at once, also from a timer", async () => {
  const clock = new FakeClock();
  const q = new WorkQueue({ clock });
  const waiting = q.get();
  q.add("ns/x");
  equal(await waiting, "ns/x");
  q.done("ns/x");
  const later = q.get();
  q.addAfter("ns/y", 100);
  await clock.advance(100);
  equal(await later, "ns/y");
});

Deno.test("WorkQueue.addRateLimited() backs off more per failure and forget() resets", async () => {
  const clock = new FakeClock();
  const q = new WorkQueue({ clock, backoff: noJitter });
  for (const want of [10, 20, 40]) {
    equal(q.addRateLimited("ns/k"), want);
    await clock.advance(want - 1);
    equal(q.depth, 0, `not before ${want} ms`);
    await clock.advance(1);
    deepStrictEqual(await drain(q), ["ns/k"]);
  }
  equal(q.failures("ns/k"), 3);
  q.forget("ns/k");
  equal(q.failures("ns/k"), 0);
  equal(q.addRateLimited("ns/k"), 10);
});

Deno.test("WorkQueue.addRateLimited() does not push back an earlier pending requeue", async () => {
  const clock = new FakeClock();
  const q = new WorkQueue({ clock, backoff: { baseMs: 1000, maxMs: 1000, jitter: 0 } });
  q.addAfter("ns/k", 30);
  q.addRateLimited("ns/k");
  await clock.advance(30);
  deepStrictEqual(await drain(q), ["ns/k"]);
});

Deno.test("backoffDelay() doubles per failure up to the cap, within the jitter", async (t) => {
  const cases = [
    { failures: 1, random: 0.5, want: 500 },
    { failures: 2, random: 0.5, want: 1000 },
    { failures: 5, random: 0.5, want: 8000 },
    { failures: 30, random: 0.5, want: 300_000 },
    { failures: 1, random: 0, want: 400 },
    { failures: 1, random: 1, want: 600 },
  ];
  for (const c of cases) {
    await t.step(
      `${c.failures} failures, random ${c.random}`,
      () => equal(backoffDelay(c.failures, defaultBackoff, () => c.random), c.want),
    );
  }
});
