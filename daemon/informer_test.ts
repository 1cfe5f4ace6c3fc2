// The informer at the request/watch seam: a fake source whose list pages and watch streams the test controls, and
// a fake clock for the inactivity deadline and the backoff.
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { IrsaError } from "../lib/errors.ts";
import type { RequestOptions, ResourceRef, WatchEvent, WatchOptions } from "../lib/kube/client.ts";
import { FakeClock, flush } from "./clock.ts";
import { Informer, type InformerSource } from "./informer.ts";

interface Obj {
  metadata: { name: string; namespace: string; resourceVersion: string };
  spec?: { big: string };
}

const obj = (name: string, resourceVersion: string, spec?: Obj["spec"]): Obj => ({
  metadata: { name, namespace: "ns", resourceVersion },
  ...(spec ? { spec } : {}),
});

interface Page {
  items: Obj[];
  metadata: { resourceVersion: string; continue?: string };
}

/** One watch stream: events the test pushes, ended or failed when the test says so, or when its signal aborts. */
class Stream {
  readonly #queue: (WatchEvent<unknown> | "end" | Error)[] = [];
  #wake: (() => void) | undefined;
  constructor(
    readonly resourceVersion: string | undefined,
    readonly signal: AbortSignal,
    /** Ignores its signal, as a stream stuck in a read that nothing interrupts would. */
    readonly deaf = false,
  ) {
    signal.addEventListener("abort", () => this.#wake?.(), { once: true });
  }
  push(type: WatchEvent<unknown>["type"], object: unknown): void {
    this.#queue.push({ type, object });
    this.#wake?.();
  }
  end(): void {
    this.#queue.push("end");
    this.#wake?.();
  }
  fail(e: Error): void {
    this.#queue.push(e);
    this.#wake?.();
  }
  async *events(): AsyncGenerator<WatchEvent<unknown>> {
    for (;;) {
      // Like KubeClient.watch: an aborted signal ends the stream quietly.
      if (this.signal.aborted && !this.deaf) return;
      const next = this.#queue.shift();
      if (next === "end") return;
      if (next instanceof Error) throw next;
      if (next) {
        yield next;
        continue;
      }
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }
}

class FakeSource implements InformerSource {
  readonly lists: Record<string, string | undefined>[] = [];
  readonly watches: Stream[] = [];
  /** Answers the next list request; the default repeats the last page. */
  pages: ((query: Record<string, string | undefined>) => Page | Error)[] = [];
  watchErrors: Error[] = [];
  deaf = false;

  request<R>(_method: string, _path: string, options?: RequestOptions): Promise<R> {
    const query = options?.query ?? {};
    this.lists.push(query);
    const answer = (this.pages.length > 1 ? this.pages.shift()! : this.pages[0]!)(query);
    return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer as R);
  }

  watch<R>(_ref: ResourceRef, options?: WatchOptions): AsyncIterable<WatchEvent<R>> {
    const error = this.watchErrors.shift();
    if (error) {
      // Fails on the first next(), as KubeClient.watch does when the request fails.
      return { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(error) }) };
    }
    const stream = new Stream(
      options?.resourceVersion,
      options?.signal ?? new AbortController().signal,
      this.deaf,
    );
    this.watches.push(stream);
    return stream.events() as AsyncIterable<WatchEvent<R>>;
  }

  get lastWatch(): Stream {
    return this.watches.at(-1)!;
  }
}

const ref: ResourceRef = { resource: "things" };
const page = (resourceVersion: string, ...items: Obj[]): () => Page => () => ({ items, metadata: { resourceVersion } });

/** Starts an informer on a fake source and clock; `stop()` ends it and waits for run() to return. */
async function start(
  source: FakeSource,
  options: { watchInactivityMs?: number; transform?: (o: Obj) => Obj; pageSize?: number } = {},
) {
  const clock = new FakeClock();
  const informer = new Informer<Obj>(source, ref, { clock, ...options });
  const changes: [string, Obj | undefined, Obj | undefined][] = [];
  informer.onChange((key, object, old) => changes.push([key, object, old]));
  const errors: unknown[] = [];
  const controller = new AbortController();
  const running = informer.run(controller.signal, (e) => errors.push(e));
  await clock.advance(0);
  return {
    clock,
    informer,
    changes,
    errors,
    async stop() {
      controller.abort();
      await running;
    },
  };
}

Deno.test("a silent watch is abandoned after watchInactivityMs and re-opened from the last resourceVersion", async (t) => {
  for (const deaf of [false, true]) {
    await t.step(deaf ? "a stream that ignores its signal" : "a stream that honours its signal", async () => {
      const source = new FakeSource();
      source.deaf = deaf;
      source.pages = [page("10", obj("a", "9"))];
      const { clock, errors, stop } = await start(source, { watchInactivityMs: 120_000 });
      try {
        equal(source.watches.length, 1);
        equal(source.lastWatch.resourceVersion, "10");
        source.lastWatch.push("MODIFIED", obj("a", "11"));
        await clock.advance(119_000);
        equal(source.watches.length, 1, "still within the deadline");
        await clock.advance(1_000);
        ok(source.watches[0]!.signal.aborted, "the silent request is aborted");
        equal(source.watches.length, 2, "watched again");
        equal(source.lastWatch.resourceVersion, "11", "from the last resourceVersion seen");
        equal(source.lists.length, 1, "no relist");
        equal((errors[0] as IrsaError).reason, "WatchSilent");
      } finally {
        await stop();
      }
    });
  }
});

Deno.test("bookmarks reset the inactivity deadline and advance the resourceVersion", async () => {
  const source = new FakeSource();
  source.pages = [page("10")];
  const { clock, changes, stop } = await start(source, { watchInactivityMs: 120_000 });
  try {
    await clock.advance(100_000);
    source.lastWatch.push("BOOKMARK", { metadata: { resourceVersion: "20" } });
    await clock.advance(100_000);
    equal(source.watches.length, 1, "the bookmark counted as activity");
    await clock.advance(20_000);
    equal(source.watches.length, 2);
    equal(source.lastWatch.resourceVersion, "20");
    deepStrictEqual(changes, [], "a bookmark is not a change");
  } finally {
    await stop();
  }
});

Deno.test("a watch the server closes is re-opened from the last resourceVersion without a relist", async () => {
  const source = new FakeSource();
  source.pages = [page("10")];
  const { clock, stop } = await start(source);
  try {
    source.lastWatch.push("ADDED", obj("a", "12"));
    await clock.advance(60_000);
    source.lastWatch.end();
    await clock.advance(0);
    equal(source.watches.length, 2);
    equal(source.lastWatch.resourceVersion, "12");
    equal(source.lists.length, 1);
  } finally {
    await stop();
  }
});

Deno.test("a 410 relists and emits deletes for vanished objects", async (t) => {
  const cases = [
    { name: "an ERROR event with code 410", expire: (s: Stream) => s.push("ERROR", { kind: "Status", code: 410 }) },
    {
      name: "a stream that fails with HTTP 410",
      expire: (s: Stream) => s.fail(new IrsaError("unavailable", "Http410", "watch: too old resource version")),
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const source = new FakeSource();
      const a1 = obj("a", "5"), b = obj("b", "6"), a2 = obj("a", "30"), d = obj("d", "31");
      source.pages = [page("10", a1, b), page("40", a2, d)];
      const { clock, changes, informer, stop } = await start(source);
      try {
        changes.length = 0;
        c.expire(source.lastWatch);
        await clock.advance(0);
        equal(source.lists.length, 2, "relisted at once, no backoff");
        deepStrictEqual(changes, [["ns/b", undefined, b], ["ns/a", a2, a1], ["ns/d", d, undefined]]);
        deepStrictEqual(informer.list().map((o) => o.metadata.name).sort(), ["a", "d"]);
        equal(source.lastWatch.resourceVersion, "40", "watching from the new list");
      } finally {
        await stop();
      }
    });
  }
});

Deno.test("listeners get the new object and the one it replaced", async () => {
  const source = new FakeSource();
  source.pages = [page("10")];
  const { clock, changes, stop } = await start(source);
  try {
    const x1 = obj("x", "11"), x2 = obj("x", "12"), x3 = obj("x", "13");
    source.lastWatch.push("ADDED", x1);
    source.lastWatch.push("MODIFIED", x2);
    source.lastWatch.push("DELETED", x3);
    await clock.advance(0);
    deepStrictEqual(changes, [["ns/x", x1, undefined], ["ns/x", x2, x1], ["ns/x", undefined, x2]]);
  } finally {
    await stop();
  }
});

Deno.test("the transform trims listed and watched objects before they are stored", async () => {
  const source = new FakeSource();
  source.pages = [page("10", obj("a", "9", { big: "x".repeat(1000) }))];
  const transform = (o: Obj): Obj => ({ metadata: o.metadata });
  const { clock, changes, informer, stop } = await start(source, { transform });
  try {
    source.lastWatch.push("ADDED", obj("b", "11", { big: "y".repeat(1000) }));
    await clock.advance(0);
    deepStrictEqual(informer.get("ns/a"), obj("a", "9"));
    deepStrictEqual(informer.get("ns/b"), obj("b", "11"));
    ok(changes.every(([, o]) => o?.spec === undefined), "listeners see the trimmed object");
  } finally {
    await stop();
  }
});

Deno.test("the relist reads pages of pageSize and fills the cache only once all have arrived", async () => {
  const source = new FakeSource();
  const clock = new FakeClock();
  const informer = new Informer<Obj>(source, ref, { clock, pageSize: 2 });
  const changes: string[] = [];
  informer.onChange((key) => changes.push(key));
  const seenBetweenPages: number[] = [];
  const paged = (items: Obj[], next?: string) => () => {
    seenBetweenPages.push(informer.list().length + changes.length);
    return { items, metadata: { resourceVersion: "50", ...(next ? { continue: next } : {}) } };
  };
  source.pages = [
    paged([obj("a", "1"), obj("b", "2")], "c1"),
    paged([obj("c", "3"), obj("d", "4")], "c2"),
    paged([obj("e", "5")]),
  ];
  const controller = new AbortController();
  const running = informer.run(controller.signal);
  try {
    await clock.advance(0);
    deepStrictEqual(source.lists, [
      { limit: "2", continue: undefined },
      { limit: "2", continue: "c1" },
      { limit: "2", continue: "c2" },
    ]);
    deepStrictEqual(seenBetweenPages, [0, 0, 0], "nothing stored or emitted before the last page");
    deepStrictEqual(informer.list().map((o) => o.metadata.name), ["a", "b", "c", "d", "e"]);
    equal(changes.length, 5);
    ok(informer.synced);
    equal(source.lastWatch.resourceVersion, "50");
  } finally {
    controller.abort();
    await running;
  }
});

Deno.test("an expired continue token falls back to one full list", async () => {
  const source = new FakeSource();
  source.pages = [
    () => ({ items: [obj("a", "1")], metadata: { resourceVersion: "50", continue: "c1" } }),
    () => new IrsaError("unavailable", "Http410", "The provided continue parameter is too old"),
    page("60", obj("a", "1"), obj("b", "2")),
  ];
  const { informer, stop } = await start(source, { pageSize: 1 });
  try {
    deepStrictEqual(source.lists.at(-1), {}, "no limit, no continue");
    deepStrictEqual(informer.list().map((o) => o.metadata.name), ["a", "b"]);
    equal(source.lastWatch.resourceVersion, "60");
  } finally {
    await stop();
  }
});

Deno.test("a watch that cannot be opened for a passing reason resumes from its resourceVersion after backoff", async (t) => {
  const cases = [
    {
      name: "unreachable",
      error: new IrsaError("unavailable", "ApiServerUnreachable", "connection refused"),
      relist: 1,
    },
    { name: "throttled", error: new IrsaError("unavailable", "Http429", "too many requests"), relist: 1 },
    { name: "forbidden relists", error: new IrsaError("denied", "Http403", "forbidden"), relist: 2 },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const source = new FakeSource();
      source.pages = [page("10", obj("a", "9"))];
      const { clock, errors, stop } = await start(source);
      try {
        source.lastWatch.push("MODIFIED", obj("a", "11"));
        await clock.advance(0);
        source.watchErrors = [c.error];
        source.lastWatch.end();
        await clock.advance(0);
        equal(errors.length, 1, "reported");
        equal(source.watches.length, 1, "waiting out the backoff");
        await clock.advance(500);
        equal(source.watches.length, 2);
        equal(source.lists.length, c.relist);
        equal(source.lastWatch.resourceVersion, c.relist === 1 ? "11" : "10");
      } finally {
        await stop();
      }
    });
  }
});

Deno.test("a long watch does not keep the events it has replaced alive", async () => {
  // Needs a full GC on demand: the test tasks pass --v8-flags=--expose-gc.
  const gc = (globalThis as { gc?: () => void }).gc;
  ok(gc, "run with --v8-flags=--expose-gc (deno task ok and deno task test do)");
  const source = new FakeSource();
  source.pages = [page("1")];
  const clock = new FakeClock();
  const informer = new Informer<Obj>(source, ref, { clock, watchInactivityMs: 120_000 });
  const controller = new AbortController();
  const running = informer.run(controller.signal);
  await clock.advance(0);
  const refs: WeakRef<Obj>[] = [];
  try {
    for (let rv = 2; rv < 202; rv++) {
      const o = obj("a", String(rv), { big: "x".repeat(1000) + rv });
      refs.push(new WeakRef(o));
      source.lastWatch.push("MODIFIED", o);
    }
    while (informer.list()[0]?.metadata.resourceVersion !== "201") await flush();
    for (let i = 0; i < 3; i++) {
      gc();
      await flush();
    }
    const alive = refs.filter((r) => r.deref() !== undefined).length;
    ok(alive <= 2, `${alive} of 200 replaced events are still reachable`);
    equal(source.watches.length, 1, "all in one watch");
  } finally {
    controller.abort();
    await running;
  }
});

Deno.test("run() returns when the signal aborts, leaving no timer behind", async () => {
  const source = new FakeSource();
  source.pages = [page("10")];
  const { clock, stop } = await start(source);
  await stop();
  ok(source.lastWatch.signal.aborted);
  equal(clock.pending, 0);
  await flush();
});
