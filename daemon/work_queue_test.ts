import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { backoffDelay, defaultBackoff, WorkQueue } from "./work_queue.ts";

Deno.test("WorkQueue de-duplicates, re-queues keys changed while processing, and closes", async () => {
  const q = new WorkQueue();
  q.add("a");
  q.add("b");
  q.add("a");
  equal(q.depth, 2);
  const first = await q.get();
  equal(first, "a");
  q.add("a"); // changed while processing
  equal(q.depth, 1, "not queued twice while processing");
  q.done("a");
  deepStrictEqual([await q.get(), await q.get()], ["b", "a"]);
  const pending = q.get();
  q.close();
  equal(await pending, undefined);
});

Deno.test("WorkQueue hands a key to a waiting worker at once", async () => {
  const q = new WorkQueue();
  const waiting = q.get();
  q.add("x");
  equal(await waiting, "x");
  q.done("x");
  q.close();
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

Deno.test("WorkQueue.addRateLimited() retries later and forget() resets", async () => {
  const q = new WorkQueue({ baseMs: 10, maxMs: 1000, jitter: 0 });
  equal(q.addRateLimited("k"), 10);
  equal(q.addRateLimited("k"), 20);
  equal(q.failures("k"), 2);
  const started = Date.now();
  equal(await q.get(), "k");
  ok(Date.now() - started >= 15);
  q.done("k");
  q.forget("k");
  equal(q.failures("k"), 0);
  q.close();
});
