// Leader election on a coordination.k8s.io Lease, ported from client-go's tools/leaderelection: a lease held by
// another replica expires by the time WE have seen it unchanged (never by its renewTime, so clock skew cannot make
// two leaders), the leader steps down as soon as it has not renewed within the renew deadline (shorter than the
// lease, so it stops before anyone may take over), every request has its own timeout, and the lease is released on
// a clean stop so the other replica takes over at once.
import { IrsaError } from "../lib/errors.ts";
import type { KubeClient, RequestOptions } from "../lib/kube/client.ts";
import { type Clock, realClock, sleep } from "./clock.ts";
import type { Logger } from "./log.ts";

/** Timing of the election (client-go's LeaseDuration, RenewDeadline and RetryPeriod). */
export interface LeaderElectionTiming {
  /** How long others wait, on their own clock, for a lease they see unchanged before they take it. */
  leaseDurationMs: number;
  /** How long the leader keeps retrying a renewal before it steps down; below the lease duration. */
  renewDeadlineMs: number;
  /** The pause between two attempts to acquire or renew. */
  retryPeriodMs: number;
}

/** client-go's (and kube-controller-manager's) defaults. */
export const defaultLeaderElectionTiming: LeaderElectionTiming = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
};

/** client-go's JitterFactor for acquire retries, so replicas started together do not retry in lockstep. */
const jitterFactor = 1.2;

/**
 * The timing for a lease of `leaseDurationMs`: given values win, the rest scale like client-go's defaults (renew
 * deadline 2/3 and retry period 2/15 of the lease: 10 s and 2 s for 15 s). Pure.
 */
export function leaderElectionTiming(
  leaseDurationMs: number,
  given: { renewDeadlineMs?: number | undefined; retryPeriodMs?: number | undefined } = {},
): LeaderElectionTiming {
  return {
    leaseDurationMs,
    renewDeadlineMs: given.renewDeadlineMs ?? Math.round(leaseDurationMs * 2 / 3),
    retryPeriodMs: given.retryPeriodMs ?? Math.round(leaseDurationMs * 2 / 15),
  };
}

/** What is wrong with `timing` (client-go's NewLeaderElector checks), or undefined. Pure. */
export function leaderElectionTimingProblem(timing: LeaderElectionTiming): string | undefined {
  if (timing.renewDeadlineMs >= timing.leaseDurationMs) return "the renew deadline must be shorter than the lease";
  if (timing.renewDeadlineMs <= jitterFactor * timing.retryPeriodMs) {
    return `the renew deadline must be longer than ${jitterFactor} times the retry period`;
  }
  if (timing.retryPeriodMs <= 0) return "the retry period must be positive";
  return undefined;
}

/** The spec fields of a Lease that leader election reads and writes (client-go's LeaderElectionRecord). */
export interface LeaseRecord {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease {
  metadata: { name?: string; namespace?: string; resourceVersion?: string };
  spec?: LeaseRecord;
}

/** The lease record last seen and when, on this replica's monotonic clock (client-go's observedRecord/Time). */
export interface ObservedLease {
  record: LeaseRecord;
  /** Monotonic milliseconds when `record` was first seen as it is. */
  at: number;
}

function sameRecord(a: LeaseRecord, b: LeaseRecord): boolean {
  return (a.holderIdentity ?? "") === (b.holderIdentity ?? "") &&
    (a.leaseDurationSeconds ?? 0) === (b.leaseDurationSeconds ?? 0) &&
    (a.acquireTime ?? "") === (b.acquireTime ?? "") &&
    (a.renewTime ?? "") === (b.renewTime ?? "") &&
    (a.leaseTransitions ?? 0) === (b.leaseTransitions ?? 0);
}

/**
 * The observation after reading `record` at monotonic `now`: the clock restarts whenever the record differs from
 * the last one seen (a renewal, whatever time it claims), and keeps running while it stays the same. Pure.
 */
export function observeLease(observed: ObservedLease | undefined, record: LeaseRecord, now: number): ObservedLease {
  return observed && sameRecord(observed.record, record) ? observed : { record, at: now };
}

/**
 * Whether `identity` may write the observed lease at monotonic `now`: nobody holds it, we do, or the holder has
 * left it unchanged for a whole lease duration of our observation. Pure.
 */
export function leaseIsFree(
  observed: ObservedLease,
  options: { identity: string; now: number; leaseDurationMs: number },
): boolean {
  const holder = observed.record.holderIdentity;
  if (!holder || holder === options.identity) return true;
  // The holder's own promise, as client-go's isLeaseValid reads it; ours when the record has none.
  const seconds = observed.record.leaseDurationSeconds ?? 0;
  const durationMs = seconds > 0 ? seconds * 1000 : options.leaseDurationMs;
  return observed.at + durationMs <= options.now;
}

/** How leader election ended: `stop` aborted, or leadership was lost (the daemon must exit non-zero). */
export type LeaderElectionEnd = "stopped" | "lost";

/** Options of runWithLeaderElection(). */
export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  timing?: LeaderElectionTiming;
  log: Logger;
  stop: AbortSignal;
  clock?: Clock;
  /** How long lead() may take to return after leadership was lost (default 5 s). */
  lostGraceMs?: number;
  /** Random numbers in [0, 1) for the acquire jitter (default Math.random). */
  random?: () => number;
}

/** The slice of KubeClient used here: `request`, as it takes a signal. */
export type LeaseClient = Pick<KubeClient, "request">;

const microTime = (ms: number) => new Date(ms).toISOString().replace(/(\.\d{3})Z$/, "$1000Z");

/**
 * Runs `lead` while this process holds the lease. `lead` receives a signal that aborts when leadership is lost or
 * `stop` aborts, and must cancel its work. On `stop` the lease is renewed until `lead` returns, then released:
 * "stopped". On loss `lead` is given `lostGraceMs` to return: "lost", and the caller exits non-zero.
 */
export async function runWithLeaderElection(
  kube: LeaseClient,
  options: LeaderElectionOptions,
  lead: (signal: AbortSignal) => Promise<void>,
): Promise<LeaderElectionEnd> {
  const { identity, log, stop } = options;
  const timing = options.timing ?? defaultLeaderElectionTiming;
  const clock = options.clock ?? realClock;
  const random = options.random ?? Math.random;
  const lostGraceMs = options.lostGraceMs ?? 5000;
  // controller-runtime's heuristic: a single hung request must not use up the whole renew deadline.
  const attemptTimeoutMs = Math.max(1000, Math.round(timing.renewDeadlineMs / 2));
  // Rounded up: others wait at least as long as we promise, never less.
  const leaseDurationSeconds = Math.max(1, Math.ceil(timing.leaseDurationMs / 1000));
  const lease = `${options.namespace}/${options.name}`;
  const collection = `/apis/coordination.k8s.io/v1/namespaces/${options.namespace}/leases`;
  const path = `${collection}/${options.name}`;

  let observed: ObservedLease | undefined;
  /** The resourceVersion of the lease last read or written, for the leader's renewal without a read. */
  let resourceVersion: string | undefined;
  let reportedLeader: string | undefined;

  const observe = (l: Lease, now: number) => {
    observed = observeLease(observed, l.spec ?? {}, now);
    resourceVersion = l.metadata.resourceVersion;
    const holder = observed.record.holderIdentity ?? "";
    if (holder !== reportedLeader) {
      reportedLeader = holder;
      if (holder && holder !== identity) log.info("New leader observed", { lease, holder });
    }
  };

  const read = async (signal: AbortSignal): Promise<Lease | undefined> => {
    try {
      return await kube.request<Lease>("GET", path, { signal });
    } catch (e) {
      if (e instanceof IrsaError && e.kind === "not-found") return undefined;
      throw e;
    }
  };

  const write = (method: "POST" | "PUT", record: LeaseRecord, rv: string | undefined, signal: AbortSignal) => {
    const metadata = { name: options.name, namespace: options.namespace, ...(rv ? { resourceVersion: rv } : {}) };
    const body = { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata, spec: record };
    const request: RequestOptions = { body, signal };
    return kube.request<Lease>(method, method === "POST" ? collection : path, request);
  };

  const isConflict = (e: unknown) => e instanceof IrsaError && e.kind === "conflict";

  /** client-go's tryAcquireOrRenew: true when we hold the lease after it, false when another does. */
  const tryAcquireOrRenew = async (signal: AbortSignal): Promise<boolean> => {
    const now = clock.now();
    const started = clock.monotonic();
    const ours = (base: LeaseRecord | undefined, holding: boolean): LeaseRecord => ({
      holderIdentity: identity,
      leaseDurationSeconds,
      acquireTime: holding ? base?.acquireTime ?? microTime(now) : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: (base?.leaseTransitions ?? 0) + (holding ? 0 : 1),
    });
    // 1. The leader renews on the resourceVersion it last saw; a conflict means someone wrote since: read.
    if (observed?.record.holderIdentity === identity && resourceVersion) {
      try {
        observe(await write("PUT", ours(observed.record, true), resourceVersion, signal), started);
        return true;
      } catch (e) {
        if (!isConflict(e)) throw e;
      }
    }
    // 2. Read it, or create it when there is none.
    const current = await read(signal);
    if (!current) {
      try {
        observe(await write("POST", { ...ours(undefined, false), leaseTransitions: 0 }, undefined, signal), started);
        return true;
      } catch (e) {
        if (isConflict(e)) return false; // another replica created it first
        throw e;
      }
    }
    observe(current, started);
    const seen = observed!;
    if (!leaseIsFree(seen, { identity, now: started, leaseDurationMs: timing.leaseDurationMs })) return false;
    // 3. Take or renew it, on the resourceVersion just read.
    try {
      const holding = seen.record.holderIdentity === identity;
      observe(await write("PUT", ours(seen.record, holding), resourceVersion, signal), started);
      return true;
    } catch (e) {
      if (isConflict(e)) return false; // someone else wrote first
      throw e;
    }
  };

  /** Runs `fn` with a signal that aborts after the attempt timeout (or with `parent`); the timer never outlives it. */
  const timed = async <R>(message: string, parent: AbortSignal | undefined, fn: (s: AbortSignal) => Promise<R>) => {
    const timeout = new AbortController();
    const timer = clock.after(attemptTimeoutMs, () => timeout.abort(new DOMException(message, "TimeoutError")));
    try {
      return await fn(parent ? AbortSignal.any([parent, timeout.signal]) : timeout.signal);
    } finally {
      timer.cancel();
    }
  };

  /** One attempt with its own timeout; the request is aborted when it fires or `parent` aborts. */
  const attempt = (parent: AbortSignal): Promise<boolean> =>
    timed("The lease request timed out", parent, tryAcquireOrRenew);

  /** Retries until we hold the lease; the monotonic start of the winning attempt, or undefined when stopped. */
  const acquire = async (): Promise<number | undefined> => {
    while (!stop.aborted) {
      const started = clock.monotonic();
      try {
        if (await attempt(stop)) return started;
      } catch (e) {
        if (!stop.aborted) log.warn("Leader election failed", { lease, error: e });
      }
      await sleep(clock, timing.retryPeriodMs * (1 + jitterFactor * random()), stop);
    }
    return undefined;
  };

  /**
   * Renews every retry period until `until` aborts ("stopped"), or steps down at once ("lost", `leadership`
   * aborted) when another holds the lease or no renewal has succeeded for the renew deadline since the start of
   * the last successful one: a hung request cannot delay that, the deadline is a timer of its own.
   */
  const renew = (since: number, leadership: AbortController, until: AbortSignal) =>
    new Promise<LeaderElectionEnd>((resolve) => {
      const loop = new AbortController();
      const end = (how: LeaderElectionEnd) => {
        deadline.cancel();
        loop.abort();
        if (how === "lost") leadership.abort();
        resolve(how);
      };
      const onDeadline = () => {
        log.error("Leader election lost: no renewal succeeded within the renew deadline", {
          lease,
          renewDeadlineMs: timing.renewDeadlineMs,
        });
        end("lost");
      };
      let deadline = clock.after(since + timing.renewDeadlineMs - clock.monotonic(), onDeadline);
      const onUntil = () => end("stopped");
      if (until.aborted) return onUntil();
      until.addEventListener("abort", onUntil, { once: true });
      loop.signal.addEventListener("abort", () => until.removeEventListener("abort", onUntil), { once: true });
      (async () => {
        while (!loop.signal.aborted) {
          await sleep(clock, timing.retryPeriodMs, loop.signal);
          if (loop.signal.aborted) return;
          const started = clock.monotonic();
          try {
            if (await attempt(loop.signal)) {
              deadline.cancel();
              deadline = clock.after(started + timing.renewDeadlineMs - clock.monotonic(), onDeadline);
            } else if (!loop.signal.aborted) {
              log.error("Leader election lost: another replica holds the lease", {
                lease,
                holder: observed?.record.holderIdentity,
              });
              end("lost");
            }
          } catch (e) {
            if (!loop.signal.aborted) log.warn("Lease renewal failed", { lease, error: e });
          }
        }
      })();
    });

  /** client-go's release: an empty holder and a 1 s lease, only while the lease still names us; bounded. */
  const release = async (): Promise<void> => {
    try {
      await timed("Releasing the lease timed out", undefined, async (signal) => {
        const current = await read(signal);
        if (current?.spec?.holderIdentity !== identity) return;
        const now = microTime(clock.now());
        const record: LeaseRecord = {
          holderIdentity: "",
          leaseDurationSeconds: 1,
          acquireTime: now,
          renewTime: now,
          leaseTransitions: current.spec.leaseTransitions ?? 0,
        };
        await write("PUT", record, current.metadata.resourceVersion, signal);
        log.info("Released leadership", { lease, identity });
      });
    } catch (e) {
      log.warn("Releasing the lease failed", { lease, error: e });
    }
  };

  const acquiredAt = await acquire();
  if (acquiredAt === undefined) return "stopped";
  log.info("Became leader", { lease, identity });
  const leadership = new AbortController();
  const onStop = () => leadership.abort();
  stop.addEventListener("abort", onStop, { once: true });
  const renewing = new AbortController();
  const renewal = renew(acquiredAt, leadership, renewing.signal);
  const leading = (async () => {
    try {
      await lead(leadership.signal);
    } catch (e) {
      log.error("Leading failed", { lease, error: e });
    }
  })();
  const first = await Promise.race([leading.then(() => "returned" as const), renewal]);
  stop.removeEventListener("abort", onStop);
  if (first === "lost") {
    // client-go's controllers exit on a lost lease (OnStoppedLeading: klog.Fatal), and controller-runtime's manager
    // returns an error so main exits: in-flight work is cancelled, and whatever ignores the signal dies with the
    // process before the other replica (waiting a lease duration) may start. We wait briefly for a clean return.
    const grace = new AbortController();
    const drained = await Promise.race([
      leading.then(() => true),
      sleep(clock, lostGraceMs, grace.signal).then(() => false),
    ]);
    grace.abort();
    if (!drained) log.warn("The controllers did not stop after leadership was lost", { lease, lostGraceMs });
    return "lost";
  }
  // lead() returned: `stop` aborted, or it ended by itself (a failure: the daemon should exit non-zero). Either
  // way its work is over, so the lease can be released (controller-runtime's LeaderElectionReleaseOnCancel).
  renewing.abort();
  await release();
  if (stop.aborted) return "stopped";
  log.error("The controllers stopped while leading", { lease });
  return "lost";
}
