// The Prometheus text format (0.0.4) for the daemon's few metrics: counters, a gauge, histograms, and the process
// figures collected at scrape time. Our own rather than prom-client: that package is CommonJS, and starting Deno's
// CommonJS loader for it cost the daemon about 11 MiB of resident memory. Output matches prom-client's for the same
// operations (daemon/prometheus_test.ts keeps prom-client as the oracle).

type Labels<L extends string> = Partial<Record<L, string | number>>;

interface Metric {
  text(): string | Promise<string>;
}

/** Metrics scraped together. */
export class Registry {
  readonly contentType = "text/plain; version=0.0.4; charset=utf-8";
  readonly #metrics: Metric[] = [];
  readonly #names = new Set<string>();

  register(name: string, metric: Metric): void {
    if (this.#names.has(name)) throw new Error(`metric ${name} is already registered`);
    this.#names.add(name);
    this.#metrics.push(metric);
  }

  async metrics(): Promise<string> {
    return (await Promise.all(this.#metrics.map((m) => m.text()))).join("\n");
  }
}

interface Config<L extends string> {
  name: string;
  help: string;
  labelNames?: readonly L[];
  registers?: Registry[];
}

const escapeHelp = (s: string) => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
const escapeValue = (s: string) => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');

function labelText(labels: Record<string, string | number>, extra?: [string, string]): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeValue(String(v))}"`);
  if (extra) pairs.unshift(`${extra[0]}="${extra[1]}"`);
  return pairs.length ? `{${pairs.join(",")}}` : "";
}

function formatValue(v: number): string {
  return v === Infinity ? "+Inf" : v === -Infinity ? "-Inf" : Number.isNaN(v) ? "NaN" : String(v);
}

/** One series per label set, keyed by the label values in labelNames order. */
abstract class Series<L extends string, V> implements Metric {
  readonly #name: string;
  readonly #help: string;
  readonly #type: string;
  readonly #labelNames: readonly string[];
  protected readonly series = new Map<string, { labels: Record<string, string | number>; value: V }>();

  constructor(type: string, config: Config<L>) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(config.name)) throw new Error(`invalid metric name ${config.name}`);
    this.#name = config.name;
    this.#help = config.help;
    this.#type = type;
    this.#labelNames = config.labelNames ?? [];
  }

  /** Called last by each subclass's constructor, once its own fields are set. */
  protected start(registers: Registry[] = []): void {
    // prom-client shows an unlabelled series at 0 before its first change.
    if (this.#labelNames.length === 0) this.entry({});
    for (const r of registers) r.register(this.#name, this);
  }

  protected abstract initial(): V;
  protected abstract lines(name: string, labels: Record<string, string | number>, value: V): string[];

  protected entry(labels: Labels<L>): { labels: Record<string, string | number>; value: V } {
    for (const k of Object.keys(labels)) {
      if (!this.#labelNames.includes(k)) throw new Error(`metric ${this.#name} has no label ${k}`);
    }
    const key = this.#labelNames.map((n) => String(labels[n as L] ?? "")).join("\0");
    let e = this.series.get(key);
    if (!e) {
      e = { labels: labels as Record<string, string | number>, value: this.initial() };
      this.series.set(key, e);
    }
    return e;
  }

  text(): string {
    const head = `# HELP ${this.#name} ${escapeHelp(this.#help)}\n# TYPE ${this.#name} ${this.#type}\n`;
    return head + [...this.series.values()].flatMap((e) => this.lines(this.#name, e.labels, e.value))
      .map((l) => `${l}\n`).join("");
  }
}

function split<L extends string>(a?: Labels<L> | number, b?: number): [Labels<L>, number | undefined] {
  return typeof a === "number" ? [{}, a] : [a ?? {}, b];
}

export class Counter<L extends string = never> extends Series<L, { n: number }> {
  constructor(config: Config<L>) {
    super("counter", config);
    this.start(config.registers);
  }
  protected initial() {
    return { n: 0 };
  }
  protected lines(name: string, labels: Record<string, string | number>, v: { n: number }) {
    return [`${name}${labelText(labels)} ${formatValue(v.n)}`];
  }
  /** Adds `value` (default 1); counters only go up. */
  inc(labels?: Labels<L> | number, value?: number): void {
    const [l, v = 1] = split(labels, value);
    if (!(v >= 0)) throw new Error(`a counter cannot be increased by ${v}`);
    this.entry(l).value.n += v;
  }
}

export class Gauge<L extends string = never> extends Series<L, { n: number }> {
  constructor(config: Config<L>) {
    super("gauge", config);
    this.start(config.registers);
  }
  protected initial() {
    return { n: 0 };
  }
  protected lines(name: string, labels: Record<string, string | number>, v: { n: number }) {
    return [`${name}${labelText(labels)} ${formatValue(v.n)}`];
  }
  set(labels: Labels<L> | number, value?: number): void {
    const [l, v] = split(labels, value);
    this.entry(l).value.n = v ?? 0;
  }
}

/** prom-client's (and the Go client's) default buckets, in seconds. */
export const defaultBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface HistogramValue {
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram<L extends string = never> extends Series<L, HistogramValue> {
  readonly #buckets: number[];

  constructor(config: Config<L> & { buckets?: number[] }) {
    super("histogram", config);
    this.#buckets = [...(config.buckets ?? defaultBuckets)].sort((a, b) => a - b);
    this.start(config.registers);
  }
  protected initial(): HistogramValue {
    return { counts: this.#buckets.map(() => 0), sum: 0, count: 0 };
  }
  protected lines(name: string, labels: Record<string, string | number>, v: HistogramValue) {
    return [
      ...this.#buckets.map((b, i) => `${name}_bucket${labelText(labels, ["le", formatValue(b)])} ${v.counts[i]}`),
      `${name}_bucket${labelText(labels, ["le", "+Inf"])} ${v.count}`,
      `${name}_sum${labelText(labels)} ${formatValue(v.sum)}`,
      `${name}_count${labelText(labels)} ${v.count}`,
    ];
  }
  observe(labels: Labels<L> | number, value?: number): void {
    const [l, v] = split(labels, value);
    if (v === undefined || Number.isNaN(v)) throw new Error(`a histogram cannot observe ${v}`);
    const e = this.entry(l).value;
    this.#buckets.forEach((b, i) => {
      if (v <= b) e.counts[i]!++;
    });
    e.sum += v;
    e.count++;
  }
}

/** The process figures prom-client's default metrics give, read from /proc at scrape time (Linux). */
export function registerProcessMetrics(registry: Registry, clock: () => number = Date.now): void {
  const startSeconds = Math.round(clock() / 1000 - performance.now() / 1000);
  const gauge = (name: string, help: string, value: () => Promise<number | undefined> | number | undefined) => {
    registry.register(name, {
      async text() {
        const v = await value();
        const type = name.endsWith("_total") ? "counter" : "gauge";
        return `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${v === undefined ? "" : `${name} ${v}\n`}`;
      },
    });
  };
  const stat = async () => {
    const text = await Deno.readTextFile("/proc/self/stat").catch(() => undefined);
    if (!text) return undefined;
    const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { user: Number(f[11]) / 100, system: Number(f[12]) / 100 }; // USER_HZ is 100 on Linux
  };
  const status = async (field: string) => {
    const text = await Deno.readTextFile("/proc/self/status").catch(() => "");
    const kb = text.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  };
  gauge("process_cpu_user_seconds_total", "Total user CPU time spent in seconds.", async () => (await stat())?.user);
  gauge(
    "process_cpu_system_seconds_total",
    "Total system CPU time spent in seconds.",
    async () => (await stat())?.system,
  );
  gauge("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", async () => {
    const s = await stat();
    return s && Math.round((s.user + s.system) * 100) / 100;
  });
  gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", () => startSeconds);
  gauge("process_resident_memory_bytes", "Resident memory size in bytes.", () => status("VmRSS"));
  gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", () => status("VmSize"));
  gauge("process_open_fds", "Number of open file descriptors.", async () => {
    let n = 0;
    try {
      for await (const _ of Deno.readDir("/proc/self/fd")) n++;
    } catch {
      return undefined;
    }
    return n;
  });
  gauge("process_max_fds", "Maximum number of open file descriptors.", async () => {
    const text = await Deno.readTextFile("/proc/self/limits").catch(() => "");
    const max = text.match(/^Max open files\s+(\d+)/m)?.[1];
    return max === undefined ? undefined : Number(max);
  });
  gauge("nodejs_heap_size_total_bytes", "Process heap size from V8 in bytes.", () => Deno.memoryUsage().heapTotal);
  gauge("nodejs_heap_size_used_bytes", "Process heap size used from V8 in bytes.", () => Deno.memoryUsage().heapUsed);
  gauge("nodejs_external_memory_bytes", "V8 external memory size in bytes.", () => Deno.memoryUsage().external);
}
