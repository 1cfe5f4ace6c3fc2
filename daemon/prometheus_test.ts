// prom-client (test-only) is the oracle: the same operations on both registries give the same text.
import { equal, ok, throws } from "node:assert/strict";
import * as prom from "prom-client";
import { Counter, Gauge, Histogram, registerProcessMetrics, Registry } from "./prometheus.ts";

/** Builds the same metrics on a registry of each kind and applies the same operations. */
function scenario<C, G, H>(
  make: {
    counter(c: { name: string; help: string; labelNames?: string[] }): C;
    gauge(c: { name: string; help: string }): G;
    histogram(c: { name: string; help: string; labelNames?: string[]; buckets?: number[] }): H;
  },
  apply: {
    counter(m: C, labels?: Record<string, string>, v?: number): void;
    gauge(m: G, v: number): void;
    observe(m: H, v: number, labels?: Record<string, string>): void;
  },
  steps: boolean,
): void {
  const labelled = make.counter({
    name: "a_total",
    help: "Help with a \\ backslash\nand a newline.",
    labelNames: ["x", "y"],
  });
  const plain = make.counter({ name: "b_total", help: "Plain." });
  const gauge = make.gauge({ name: "depth", help: "A gauge." });
  const byKind = make.histogram({ name: "h_seconds", help: "Default buckets.", labelNames: ["kind"] });
  const custom = make.histogram({ name: "latency_seconds", help: "Own buckets.", buckets: [0.001, 0.1, 1] });
  make.counter({ name: "never_total", help: "Labelled, never used.", labelNames: ["result"] });
  if (!steps) return;
  apply.counter(labelled, { x: 'quote " backslash \\ newline \n', y: "1" });
  apply.counter(labelled, { y: "2", x: "order follows the call" }, 2.5);
  apply.counter(labelled, { x: 'quote " backslash \\ newline \n', y: "1" });
  apply.counter(plain);
  apply.gauge(gauge, 7);
  apply.gauge(gauge, 3);
  for (const v of [0, 0.005, 0.3, 11, 0.3]) apply.observe(byKind, v, { kind: "IRSA" });
  apply.observe(byKind, 0.02, { kind: "IRSASetup" });
  for (const v of [0.0005, 0.001, 0.05, 2]) apply.observe(custom, v);
}

async function both(steps: boolean): Promise<[string, string]> {
  const ours = new Registry();
  const theirs = new prom.Registry();
  scenario({
    counter: (c) => new Counter({ ...c, registers: [ours] }),
    gauge: (c) => new Gauge({ ...c, registers: [ours] }),
    histogram: (c) => new Histogram({ ...c, registers: [ours] }),
  }, {
    counter: (m, l, v) => l ? m.inc(l as never, v) : m.inc(),
    gauge: (m, v) => m.set(v),
    observe: (m, v, l) => l ? m.observe(l as never, v) : m.observe(v),
  }, steps);
  scenario({
    counter: (c) => new prom.Counter({ ...c, registers: [theirs] }),
    gauge: (c) => new prom.Gauge({ ...c, registers: [theirs] }),
    histogram: (c) => new prom.Histogram({ ...c, registers: [theirs] }),
  }, {
    counter: (m, l, v) => l ? m.inc(l, v) : m.inc(),
    gauge: (m, v) => m.set(v),
    observe: (m, v, l) => l ? m.observe(l, v) : m.observe(v),
  }, steps);
  return [await ours.metrics(), await theirs.metrics()];
}

Deno.test("the registry writes what prom-client writes: before any change and after the same operations", async () => {
  for (const steps of [false, true]) {
    const [ours, theirs] = await both(steps);
    equal(ours, theirs);
  }
  equal(new Registry().contentType, new prom.Registry().contentType);
});

Deno.test("metrics refuse what prom-client refuses: unknown labels, negative counts, a name twice", () => {
  const r = new Registry();
  const c = new Counter<"result">({ name: "x_total", help: "x", labelNames: ["result"], registers: [r] });
  throws(() => c.inc({ other: "a" } as never), /has no label other/);
  throws(() => c.inc({ result: "a" }, -1), /cannot be increased by -1/);
  throws(() => new Gauge({ name: "x_total", help: "again", registers: [r] }), /already registered/);
  throws(() => new Gauge({ name: "bad-name", help: "x" }), /invalid metric name/);
  throws(() => new Histogram({ name: "h", help: "h" }).observe(Number.NaN), /cannot observe NaN/);
});

Deno.test("process metrics are read at scrape time and are plausible", async () => {
  const r = new Registry();
  registerProcessMetrics(r);
  const value = (text: string, name: string) => Number(text.match(new RegExp(`^${name} (\\S+)$`, "m"))?.[1]);
  const first = await r.metrics();
  ok(value(first, "process_resident_memory_bytes") > 10 * 2 ** 20, "RSS above 10 MiB");
  ok(value(first, "process_virtual_memory_bytes") >= value(first, "process_resident_memory_bytes"));
  ok(value(first, "process_open_fds") > 2);
  ok(value(first, "process_max_fds") >= value(first, "process_open_fds"));
  ok(value(first, "nodejs_heap_size_used_bytes") > 0);
  ok(value(first, "nodejs_heap_size_total_bytes") >= value(first, "nodejs_heap_size_used_bytes"));
  ok(Math.abs(value(first, "process_start_time_seconds") - Date.now() / 1000) < 3600);
  ok(first.includes("# TYPE process_cpu_seconds_total counter\n"));
  // Burn some CPU: the counter read at the next scrape is higher.
  const cpu0 = value(first, "process_cpu_seconds_total");
  for (const end = performance.now() + 300; performance.now() < end;) Math.sqrt(Math.random());
  ok(value(await r.metrics(), "process_cpu_seconds_total") > cpu0, "CPU seconds grow between scrapes");
});
