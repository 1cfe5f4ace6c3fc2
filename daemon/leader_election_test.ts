import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { IrsaError } from "../lib/errors.ts";
import type { RequestOptions } from "../lib/kube/client.ts";
import { FakeClock } from "./clock.ts";
import {
  leaderElectionTiming,
  leaderElectionTimingProblem,
  leaseIsFree,
  type LeaseRecord,
  type ObservedLease,
  observeLease,
  runWithLeaderElection,
} from "./leader_election.ts";
import type { Logger } from "./log.ts";

Deno.test("observeLease() and leaseIsFree() expire another's lease by our own observation only", async (t) => {
  const wall = Date.parse("2026-01-01T00:00:00Z");
  const at = (ms: number) => new Date(wall + ms).toISOString().replace(/(\.\d{3})Z$/, "$1000Z");
  const other = (renewTime: string, extra: LeaseRecord = {}): LeaseRecord => ({
    holderIdentity: "b",
    leaseDurationSeconds: 15,
    renewTime,
    leaseTransitions: 3,
    ...extra,
  });
  const seen = (record: LeaseRecord, atMs: number): ObservedLease => ({ record, at: atMs });
  const cases: {
    name: string;
    previous?: ObservedLease;
    read: LeaseRecord;
    now: number;
    want: { free: boolean; at: number };
  }[] = [
    { name: "no lease record", read: {}, now: 0, want: { free: true, at: 0 } },
    { name: "a released lease", read: other(at(0), { holderIdentity: "" }), now: 5, want: { free: true, at: 5 } },
    {
      name: "our own lease",
      previous: seen(other(at(0)), 0),
      read: other(at(0), { holderIdentity: "a" }),
      now: 1,
      want: { free: true, at: 1 },
    },
    {
      name: "first sight of another's lease starts our clock, though its renewTime is an hour old",
      read: other(at(-3_600_000)),
      now: 100,
      want: { free: false, at: 100 },
    },
    {
      name: "unchanged for less than the lease duration",
      previous: seen(other(at(0)), 1000),
      read: other(at(0)),
      now: 15_999,
      want: { free: false, at: 1000 },
    },
    {
      name: "unchanged for the lease duration",
      previous: seen(other(at(0)), 1000),
      read: other(at(0)),
      now: 16_000,
      want: { free: true, at: 1000 },
    },
    {
      name: "a renewTime far in the future does not extend the lease",
      previous: seen(other(at(3_600_000)), 0),
      read: other(at(3_600_000)),
      now: 15_000,
      want: { free: true, at: 0 },
    },
    {
      name: "a renewal restarts our clock even when it claims a time in the past (skewed holder)",
      previous: seen(other(at(-3_600_000)), 0),
      read: other(at(-3_598_000)),
      now: 20_000,
      want: { free: false, at: 20_000 },
    },
    {
      name: "any change of the record counts, such as a new transition",
      previous: seen(other(at(0)), 0),
      read: other(at(0), { leaseTransitions: 4 }),
      now: 20_000,
      want: { free: false, at: 20_000 },
    },
    {
      name: "the holder's own shorter lease duration is honoured",
      previous: seen(other(at(0), { leaseDurationSeconds: 5 }), 0),
      read: other(at(0), { leaseDurationSeconds: 5 }),
      now: 5000,
      want: { free: true, at: 0 },
    },
    {
      name: "a record without a duration waits our own",
      previous: seen(other(at(0), { leaseDurationSeconds: 0 }), 0),
      read: other(at(0), { leaseDurationSeconds: 0 }),
      now: 9999,
      want: { free: false, at: 0 },
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const observed = observeLease(c.previous, c.read, c.now);
      const free = leaseIsFree(observed, { identity: "a", now: c.now, leaseDurationMs: 10_000 });
      deepStrictEqual({ free, at: observed.at }, c.want);
    });
  }
});

Deno.test("leaderElectionTiming() scales client-go's defaults and leaderElectionTimingProblem() checks them", async (t) => {
  const cases = [
    { name: "15 s lease", lease: 15_000, given: {}, want: [15_000, 10_000, 2_000], problem: undefined },
    { name: "6 s lease", lease: 6_000, given: {}, want: [6_000, 4_000, 800], problem: undefined },
    {
      name: "given values win",
      lease: 60_000,
      given: { renewDeadlineMs: 30_000, retryPeriodMs: 5_000 },
      want: [60_000, 30_000, 5_000],
      problem: undefined,
    },
    {
      name: "deadline not below the lease",
      lease: 10_000,
      given: { renewDeadlineMs: 10_000 },
      want: [10_000, 10_000, 1_333],
      problem: /shorter than the lease/,
    },
    {
      name: "retry too long for the deadline",
      lease: 15_000,
      given: { retryPeriodMs: 9_000 },
      want: [15_000, 10_000, 9_000],
      problem: /1.2 times/,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const timing = leaderElectionTiming(c.lease, c.given);
      deepStrictEqual([timing.leaseDurationMs, timing.renewDeadlineMs, timing.retryPeriodMs], c.want);
      const problem = leaderElectionTimingProblem(timing);
      if (c.problem) ok(problem && c.problem.test(problem), problem);
      else equal(problem, undefined);
    });
  }
});

interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name?: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
  spec?: LeaseRecord;
}

/** An API server holding one Lease: resourceVersion preconditions, 409 on conflict, and failure modes. */
class FakeLeaseApi {
  lease: Lease | undefined;
  /** "hang": requests resolve only when aborted (a half-open connection); "fail": 500s. */
  mode: "ok" | "hang" | "fail" = "ok";
  /** Requests waiting in "hang" mode and not aborted yet. */
  hanging = 0;
  /** Writes by the replica under test: [monotonic time, method, holder]. */
  readonly writes: [number, string, string | undefined][] = [];
  #rv = 0;

  constructor(readonly clock: FakeClock) {}

  /** Another replica (or kubectl) writes the lease. */
  set(spec: LeaseRecord | undefined, labels?: Record<string, string>): void {
    const base = this.lease ?? { metadata: { name: "lease", namespace: "ns" } };
    this.lease = {
      ...base,
      metadata: { ...base.metadata, resourceVersion: String(++this.#rv), ...(labels ? { labels } : {}) },
      ...(spec ? { spec } : {}),
    };
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    await Promise.resolve();
    const signal = options.signal;
    if (signal?.aborted) throw signal.reason;
    if (this.mode === "hang") {
      this.hanging++;
      return await new Promise<T>((_, reject) => {
        signal?.addEventListener("abort", () => {
          this.hanging--;
          reject(signal.reason);
        }, { once: true });
      });
    }
    if (this.mode === "fail") throw new IrsaError("unavailable", "InternalError", `${method} ${path}: 500`);
    const body = options.body as Lease | undefined;
    if (method === "GET") {
      if (!this.lease) throw new IrsaError("not-found", "NotFound", 'leases "lease" not found');
      return structuredClone(this.lease) as T;
    }
    if (method === "POST") {
      if (this.lease) throw new IrsaError("conflict", "AlreadyExists", 'leases "lease" already exists');
    } else if (method === "PUT") {
      if (!this.lease) throw new IrsaError("not-found", "NotFound", 'leases "lease" not found');
      if (body?.metadata.resourceVersion !== this.lease.metadata.resourceVersion) {
        throw new IrsaError("conflict", "Conflict", "the object has been modified");
      }
    } else throw new Error(`unexpected ${method} ${path}`);
    this.writes.push([this.clock.monotonic(), method, body?.spec?.holderIdentity]);
    this.lease = undefined;
    this.set(body?.spec);
    return structuredClone(this.lease) as T;
  }

  // The KubeClient methods the previous implementation called.
  get<T>(): Promise<T | undefined> {
    return this.request<T>("GET", "").catch((e) => {
      if (e instanceof IrsaError && e.kind === "not-found") return undefined;
      throw e;
    });
  }
  create<T>(_ref: unknown, object: unknown): Promise<T> {
    return this.request<T>("POST", "", { body: object });
  }
}

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** Starts an election for "me" and records what lead() saw. `drainMs`: how long lead() takes to return. */
function elect(api: FakeLeaseApi, options: { drainMs?: number; ignoreSignal?: boolean } = {}) {
  const clock = api.clock;
  const stop = new AbortController();
  const state: {
    ledAt?: number;
    abortedAt?: number;
    returnedAt?: number;
    result?: string;
  } = {};
  const done = runWithLeaderElection(api, {
    namespace: "ns",
    name: "lease",
    identity: "me",
    log: quiet,
    stop: stop.signal,
    clock,
    random: () => 0,
  }, async (signal) => {
    state.ledAt = clock.monotonic();
    if (options.ignoreSignal) return await new Promise<void>(() => {});
    await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    state.abortedAt = clock.monotonic();
    if (options.drainMs) await new Promise<void>((resolve) => clock.after(options.drainMs!, resolve));
    state.returnedAt = clock.monotonic();
  }).then((r) => {
    state.result = r;
  });
  return { stop, state, done };
}

const held = (api: FakeLeaseApi) => api.lease?.spec?.holderIdentity;

Deno.test("runWithLeaderElection() acquires a free lease and renews it every retry period", async (t) => {
  await t.step("no lease yet: created with us as holder", async () => {
    const api = new FakeLeaseApi(new FakeClock());
    const e = elect(api);
    await api.clock.advance(0);
    equal(e.state.ledAt, 0);
    equal(held(api), "me");
    equal(api.lease?.spec?.leaseTransitions, 0);
    equal(api.lease?.spec?.leaseDurationSeconds, 15);
    equal(api.lease?.spec?.renewTime, "2026-01-01T00:00:00.000000Z");
    await api.clock.advance(2000);
    equal(api.lease?.spec?.renewTime, "2026-01-01T00:00:02.000000Z", "renewed after one retry period");
    equal(api.lease?.spec?.acquireTime, "2026-01-01T00:00:00.000000Z", "acquireTime kept on renewal");
    e.stop.abort();
    await api.clock.advance(0);
    await e.done;
  });
  await t.step("a released lease: taken at once, one more transition", async () => {
    const api = new FakeLeaseApi(new FakeClock());
    api.set({
      holderIdentity: "",
      leaseDurationSeconds: 1,
      leaseTransitions: 4,
      renewTime: "2020-01-01T00:00:00.000000Z",
    });
    const e = elect(api);
    await api.clock.advance(0);
    equal(e.state.ledAt, 0);
    deepStrictEqual([held(api), api.lease?.spec?.leaseTransitions], ["me", 5]);
    e.stop.abort();
    await api.clock.advance(0);
    await e.done;
  });
});

Deno.test("runWithLeaderElection() never takes a lease whose holder keeps renewing, whatever its clock says", async () => {
  const api = new FakeLeaseApi(new FakeClock());
  // The holder's clock is an hour behind: every renewTime it writes is long "expired" by ours.
  const renew = () =>
    api.set({
      holderIdentity: "other",
      leaseDurationSeconds: 15,
      renewTime: new Date(api.clock.now() - 3_600_000).toISOString(),
      leaseTransitions: 1,
    });
  renew();
  const e = elect(api);
  for (let i = 0; i < 30; i++) {
    await api.clock.advance(2000);
    renew();
  }
  equal(e.state.ledAt, undefined, "did not lead");
  equal(held(api), "other");
  deepStrictEqual(api.writes, [], "never wrote the lease");
  e.stop.abort();
  await api.clock.advance(0);
  await e.done;
  equal(e.state.result, "stopped");
  equal(held(api), "other", "does not release a lease it does not hold");
});

Deno.test("runWithLeaderElection() takes the lease once its holder stopped renewing for a lease duration of our observation", async (t) => {
  for (const skewMs of [3_600_000, -3_600_000]) {
    await t.step(`holder's renewTime ${skewMs > 0 ? "an hour ahead" : "an hour behind"}`, async () => {
      const api = new FakeLeaseApi(new FakeClock());
      api.set({
        holderIdentity: "other",
        leaseDurationSeconds: 15,
        renewTime: new Date(api.clock.now() + skewMs).toISOString(),
        leaseTransitions: 1,
      });
      const e = elect(api); // first sight at monotonic 0
      await api.clock.advance(14_999);
      equal(e.state.ledAt, undefined, "not before a lease duration of our observation");
      await api.clock.advance(2_000);
      equal(e.state.ledAt, 16_000, "at the first retry after it");
      deepStrictEqual([held(api), api.lease?.spec?.leaseTransitions], ["me", 2]);
      e.stop.abort();
      await api.clock.advance(0);
      await e.done;
    });
  }
});

Deno.test("runWithLeaderElection() gives up an acquire attempt that hangs and tries again", async () => {
  const api = new FakeLeaseApi(new FakeClock());
  api.mode = "hang";
  const e = elect(api);
  await api.clock.advance(5000); // max(1 s, renew deadline / 2)
  equal(api.hanging, 0, "the hung request was aborted");
  api.mode = "ok";
  await api.clock.advance(2000);
  equal(e.state.ledAt, 7000);
  e.stop.abort();
  await api.clock.advance(0);
  await e.done;
});

Deno.test("runWithLeaderElection() steps down at the renew deadline when renewals hang, before the lease ends", async () => {
  const api = new FakeLeaseApi(new FakeClock());
  const e = elect(api);
  await api.clock.advance(2000); // acquired at 0, renewed at 2 s
  equal(api.lease?.spec?.renewTime, "2026-01-01T00:00:02.000000Z");
  api.mode = "hang"; // a half-open connection: requests never answer
  await api.clock.advance(9_999);
  equal(e.state.abortedAt, undefined, "still leading just before the renew deadline");
  await api.clock.advance(1);
  equal(e.state.abortedAt, 12_000, "the renew deadline after the start of the last renewal");
  ok(e.state.abortedAt! < 2000 + 15_000, "before anyone may take the lease");
  await api.clock.advance(0);
  equal(api.hanging, 0, "the hung renewal was aborted");
  await e.done;
  equal(e.state.result, "lost");
});

Deno.test("runWithLeaderElection() rides out failed renewals shorter than the renew deadline, not longer ones", async () => {
  const api = new FakeLeaseApi(new FakeClock());
  const e = elect(api);
  await api.clock.advance(0);
  api.mode = "fail";
  await api.clock.advance(6000); // renewals at 2, 4, 6 s fail
  api.mode = "ok";
  await api.clock.advance(2000); // 8 s succeeds
  equal(e.state.abortedAt, undefined, "kept leading");
  equal(api.lease?.spec?.renewTime, "2026-01-01T00:00:08.000000Z");
  api.mode = "fail";
  await api.clock.advance(9_999);
  equal(e.state.abortedAt, undefined);
  await api.clock.advance(1);
  equal(e.state.abortedAt, 18_000, "10 s after the last successful renewal started");
  await e.done;
  equal(e.state.result, "lost");
});

Deno.test("runWithLeaderElection() steps down at once when a renewal finds another holder", async (t) => {
  await t.step("another replica took the lease: conflict, then its record", async () => {
    const api = new FakeLeaseApi(new FakeClock());
    const e = elect(api);
    await api.clock.advance(1000);
    api.set({ holderIdentity: "other", leaseDurationSeconds: 15, renewTime: "2026-01-01T00:00:01.000000Z" });
    await api.clock.advance(1000);
    equal(e.state.abortedAt, 2000, "at the first renewal after");
    await e.done;
    equal(e.state.result, "lost");
    equal(held(api), "other", "its lease untouched");
  });
  await t.step("an unrelated write (a label) is no loss", async () => {
    const api = new FakeLeaseApi(new FakeClock());
    const e = elect(api);
    await api.clock.advance(1000);
    api.set(api.lease?.spec, { team: "a" });
    await api.clock.advance(1000);
    equal(e.state.abortedAt, undefined);
    equal(api.lease?.spec?.renewTime, "2026-01-01T00:00:02.000000Z");
    e.stop.abort();
    await api.clock.advance(0);
    await e.done;
  });
});

Deno.test("runWithLeaderElection() waits a bounded time for lead() after losing leadership", async () => {
  const api = new FakeLeaseApi(new FakeClock());
  const e = elect(api, { ignoreSignal: true });
  await api.clock.advance(0);
  api.mode = "hang";
  await api.clock.advance(10_000);
  equal(e.state.result, undefined, "waits for lead() to return");
  await api.clock.advance(5_000);
  equal(e.state.result, "lost", "then gives up, so the daemon exits");
});

Deno.test("runWithLeaderElection() keeps renewing while lead() finishes on stop, then releases the lease", async () => {
  const api = new FakeLeaseApi(new FakeClock());
  const e = elect(api, { drainMs: 20_000 }); // longer than the lease
  await api.clock.advance(3000);
  e.stop.abort();
  await api.clock.advance(19_999);
  equal(e.state.result, undefined);
  equal(held(api), "me");
  equal(api.lease?.spec?.renewTime, "2026-01-01T00:00:22.000000Z", "renewed while lead() finished its work");
  await api.clock.advance(1);
  await e.done;
  deepStrictEqual([e.state.returnedAt, e.state.result], [23_000, "stopped"]);
  deepStrictEqual(api.writes.at(-1), [23_000, "PUT", ""], "released after lead() returned");
  deepStrictEqual([api.lease?.spec?.leaseDurationSeconds, api.lease?.spec?.leaseTransitions], [1, 0]);
});

Deno.test("runWithLeaderElection() bounds the release when the API server does not answer", async () => {
  const api = new FakeLeaseApi(new FakeClock());
  const e = elect(api);
  await api.clock.advance(0);
  api.mode = "hang";
  e.stop.abort();
  await api.clock.advance(5000);
  await e.done;
  equal(e.state.result, "stopped");
  equal(api.hanging, 0);
});
