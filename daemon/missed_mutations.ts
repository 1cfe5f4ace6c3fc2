// Finds pods that run as a role-annotated ServiceAccount but lack the injected credentials (the webhook was
// down, skipped by failurePolicy Ignore, or the pod predates the annotation). Without this the AWS SDK silently
// falls back to node credentials; here every miss becomes a Warning Event on the pod's owner and a metric.
// Only the leader scans, from a pod cache: each pod is checked when it is added or changed, and a periodic pass
// over the cache catches ServiceAccounts annotated after their pods started. The Event's name is derived from the
// pod's UID, so a second replica or the next leader gets AlreadyExists instead of writing a duplicate.
import { IrsaError } from "../lib/errors.ts";
import { type LabelSelector, matchesLabelSelector } from "../lib/label_selector.ts";
import { awsEnv, osNodeSelector, podAnnotation, tokenMount, webhookObjects } from "../lib/names.ts";
import { type Container, type ListedPod, missesCredentials, type WebhookConfig } from "../lib/pod_mutation.ts";
import type { KubeClient } from "../lib/kube/client.ts";
import { readNamespaceLabels, readWebhookConfiguration, type WebhookConfiguration } from "../lib/kube/webhook_reads.ts";
import { type Clock, realClock, sleep } from "./clock.ts";
import { Informer } from "./informer.ts";
import type { Logger } from "./log.ts";
import type { DaemonMetrics } from "./metrics.ts";

export type { ListedPod };

/** The Event text for a missed pod: a restart helps only if the webhook selects the pod's namespace. */
export function missedMutationMessage(pod: ListedPod, namespaceSelected: boolean): string {
  const who = `Pod ${pod.metadata.name} runs as ServiceAccount ${pod.spec.serviceAccountName}, which has an IAM role ` +
    "annotation, but";
  return namespaceSelected
    ? `${who} was not mutated by the pod identity webhook; restart it to get credentials`
    : `${who} namespace ${pod.metadata.namespace} is outside the pod identity webhook's namespaceSelector, so it ` +
      "never gets credentials; run it in another namespace or reinstall with --webhook-skip-namespaces";
}

const credentialEnv = new Set<string>(Object.values(awsEnv));

function trimContainer(c: Container): Container {
  const out: Container = { name: c.name };
  if (c.env != null) out.env = c.env.filter((e) => credentialEnv.has(e.name)).map((e) => ({ name: e.name }));
  if (c.volumeMounts != null) {
    out.volumeMounts = c.volumeMounts.filter((m) => m.name === tokenMount.volume)
      .map((m) => ({ name: m.name, mountPath: m.mountPath }));
  }
  return out;
}

/**
 * The part of a pod the cache keeps: exactly what missesCredentials and the Event read, so thousands of cached
 * pods cost little. mutatePod, which missesCredentials runs, looks at env and mount names only (never values),
 * at whether the token volume exists, at our annotations and the skip label; the test proves the verdict is kept.
 */
export function trimPod(pod: ListedPod, config: Pick<WebhookConfig, "annotationPrefix">): ListedPod {
  const m = pod.metadata;
  const owner = eventOwner(pod);
  const metadata: ListedPod["metadata"] = { name: m.name, namespace: m.namespace, uid: m.uid };
  if (typeof m.resourceVersion === "string") metadata.resourceVersion = m.resourceVersion;
  const skip = m.labels?.[podAnnotation.skipLabel];
  if (skip !== undefined) metadata.labels = { [podAnnotation.skipLabel]: skip };
  const ours = Object.entries(m.annotations ?? {}).filter(([k]) => k.startsWith(`${config.annotationPrefix}/`));
  if (ours.length > 0) metadata.annotations = Object.fromEntries(ours);
  if (owner) {
    const { apiVersion, kind, name, uid, controller } = owner;
    metadata.ownerReferences = [{ apiVersion, kind, name, uid, ...(controller !== undefined ? { controller } : {}) }];
  }
  const s = pod.spec;
  const spec: ListedPod["spec"] = { containers: (s.containers ?? []).map(trimContainer) };
  if (s.serviceAccountName !== undefined) spec.serviceAccountName = s.serviceAccountName;
  if (s.initContainers != null) spec.initContainers = s.initContainers.map(trimContainer);
  if (s.volumes != null) {
    spec.volumes = s.volumes.filter((v) => v.name === tokenMount.volume).map((v) => ({ name: v.name }));
  }
  const os = osNodeSelector.filter((k) => s.nodeSelector?.[k] !== undefined);
  if (os.length > 0) spec.nodeSelector = Object.fromEntries(os.map((k) => [k, s.nodeSelector![k]!]));
  return { metadata, spec };
}

function eventOwner(pod: ListedPod) {
  return pod.metadata.ownerReferences?.find((o) => o.controller) ?? pod.metadata.ownerReferences?.[0];
}

/** Longest Event name: a DNS subdomain. */
const maxNameLength = 253;

/**
 * The Event's name, fixed by the pod's UID: `<owner or pod>.irsa-<uid>`. The owner's name comes first, as
 * kubectl's event names start with the involved object's; the full UID keeps pods of one owner apart.
 */
export function missedEventName(pod: ListedPod): string {
  const suffix = `.irsa-${pod.metadata.uid.toLowerCase()}`;
  const base = (eventOwner(pod)?.name ?? pod.metadata.name).slice(0, maxNameLength - suffix.length)
    .replace(/[^a-z0-9]+$/, "");
  return `${base || "pod"}${suffix}`;
}

/** A core/v1 Event as the scan writes it. */
export interface MissedMutationEvent {
  apiVersion: "v1";
  kind: "Event";
  metadata: { name: string; namespace: string };
  involvedObject: { apiVersion: string; kind: string; name: string; uid: string; namespace: string };
  reason: "MissingAwsCredentials";
  message: string;
  type: "Warning";
  source: { component: string };
  firstTimestamp: string;
  lastTimestamp: string;
  count: number;
}

/** The Event reporting a missed pod, on its controller (or first owner), else on the pod. Pure. */
export function missedMutationEvent(pod: ListedPod, namespaceSelected: boolean, now: Date): MissedMutationEvent {
  const owner = eventOwner(pod);
  const namespace = pod.metadata.namespace;
  const at = now.toISOString();
  return {
    apiVersion: "v1",
    kind: "Event",
    metadata: { name: missedEventName(pod), namespace },
    involvedObject: owner
      ? { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name, uid: owner.uid, namespace }
      : { apiVersion: "v1", kind: "Pod", name: pod.metadata.name, uid: pod.metadata.uid, namespace },
    reason: "MissingAwsCredentials",
    message: missedMutationMessage(pod, namespaceSelected),
    type: "Warning",
    source: { component: "kubectl-irsa" },
    firstTimestamp: at,
    lastTimestamp: at,
    count: 1,
  };
}

/** The reads that decide whether our webhook selects a namespace. */
export interface SelectionReads {
  webhookConfiguration(): Promise<WebhookConfiguration | undefined>;
  namespaceLabels(namespace: string): Promise<Record<string, string> | undefined>;
}

/** Whether our webhook's namespaceSelector selects a namespace; reads each object at most once (one pass). */
export function namespaceSelection(reads: SelectionReads): (namespace: string) => Promise<boolean> {
  let selector: Promise<LabelSelector | undefined> | undefined;
  const labels = new Map<string, Promise<Record<string, string> | undefined>>();
  return async (namespace) => {
    selector ??= reads.webhookConfiguration()
      .then((c) => c?.webhooks?.find((w) => w.name === webhookObjects.webhookName)?.namespaceSelector);
    if (!labels.has(namespace)) labels.set(namespace, reads.namespaceLabels(namespace));
    return matchesLabelSelector(await selector, (await labels.get(namespace)) ?? {});
  };
}

/** What the scan reads and writes. */
export interface MissedMutationPorts {
  /** The cached pods. */
  pods(): Iterable<ListedPod>;
  /** A cached ServiceAccount's annotations; undefined when it is not cached. */
  serviceAccount(namespace: string, name: string): Record<string, string> | undefined;
  /** A fresh namespace selection, taken once per pass. */
  namespaceSelection(): (namespace: string) => Promise<boolean>;
  /** Creates the Event; "exists" when one of that name already exists (409 AlreadyExists). */
  createEvent(event: MissedMutationEvent): Promise<"created" | "exists">;
}

/** Checks pods for missed mutations and reports each missed pod once, by UID. */
export class MissedMutationScanner {
  readonly #ports: MissedMutationPorts;
  readonly #config: WebhookConfig;
  readonly #clock: Clock;
  readonly #onMiss: (pod: ListedPod, event: MissedMutationEvent) => void;
  readonly #onError: (e: unknown, pod: ListedPod) => void;
  readonly #ready: Promise<void>;
  readonly #signal: AbortSignal | undefined;
  /** UIDs of pods with an Event, ours or an earlier leader's; a UID is added before its create is sent. */
  readonly #reported = new Set<string>();
  /** Changed pods waiting for a check, by key: the latest version wins. */
  readonly #pending = new Map<string, ListedPod>();
  #draining = false;
  #selected: (namespace: string) => Promise<boolean>;

  constructor(
    ports: MissedMutationPorts,
    options: {
      config: WebhookConfig;
      clock?: Clock;
      /** Resolves when the ServiceAccount cache has synced; changed pods wait for it. */
      ready?: Promise<void>;
      /** Stops the checks of changed pods: no Event is written after leadership is lost. */
      signal?: AbortSignal;
      /** A new Event was created (not when an earlier leader's exists). */
      onMiss?: (pod: ListedPod, event: MissedMutationEvent) => void;
      onError?: (e: unknown, pod: ListedPod) => void;
    },
  ) {
    this.#ports = ports;
    this.#config = options.config;
    this.#clock = options.clock ?? realClock;
    this.#ready = options.ready ?? Promise.resolve();
    this.#signal = options.signal;
    this.#onMiss = options.onMiss ?? (() => {});
    this.#onError = options.onError ?? (() => {});
    this.#selected = ports.namespaceSelection();
  }

  /** UIDs reported so far (for tests). */
  get reported(): ReadonlySet<string> {
    return this.#reported;
  }

  /** An informer listener: checks an added or changed pod soon; a deleted pod's UID is forgotten. */
  changed(key: string, pod: ListedPod | undefined, old?: ListedPod): void {
    if (pod === undefined) {
      this.#pending.delete(key);
      if (old) this.#reported.delete(old.metadata.uid);
      return;
    }
    if (this.#reported.has(pod.metadata.uid) || this.#signal?.aborted) return;
    this.#pending.set(key, pod);
    if (this.#draining) return;
    this.#draining = true;
    void this.#drain();
  }

  /** Resolves when no changed pod waits for a check (for tests). */
  async idle(): Promise<void> {
    while (this.#draining) await new Promise((r) => setTimeout(r, 0));
  }

  async #drain(): Promise<void> {
    try {
      await this.#ready;
      for (;;) {
        const next = this.#pending.entries().next();
        if (this.#signal?.aborted) this.#pending.clear();
        if (next.done || this.#signal?.aborted) return;
        const [key, pod] = next.value;
        this.#pending.delete(key);
        // Nothing may escape: this promise is not awaited, and a rejection would end the process.
        await this.#check(pod).catch((e) => this.#onError(e, pod));
      }
    } finally {
      this.#draining = false;
    }
  }

  /**
   * One pass over the cache: re-reads the namespace selection, forgets UIDs no longer cached (a delete the
   * listener missed) and checks every pod. Returns the number of Events created.
   */
  async scan(): Promise<number> {
    this.#selected = this.#ports.namespaceSelection();
    let created = 0;
    for (const pod of this.#ports.pods()) {
      if (this.#signal?.aborted) break;
      if (await this.#check(pod)) created++;
    }
    // Against the cache as it is now: a pod added during the pass may have been reported by a listener check.
    const live = new Set([...this.#ports.pods()].map((p) => p.metadata.uid));
    for (const uid of this.#reported) if (!live.has(uid)) this.#reported.delete(uid);
    return created;
  }

  /** True when this call created the pod's Event. Errors go to onError; the pod is checked again later. */
  async #check(pod: ListedPod): Promise<boolean> {
    const uid = pod.metadata.uid;
    if (this.#reported.has(uid)) return false;
    if (!pod.spec.serviceAccountName) return false; // the webhook leaves such pods alone by design
    const sa = this.#ports.serviceAccount(pod.metadata.namespace, pod.spec.serviceAccountName);
    if (!missesCredentials(pod, sa, this.#config)) return false;
    this.#reported.add(uid); // before any await: a concurrent check of the same pod stops above
    try {
      const selected = await this.#selected(pod.metadata.namespace).catch(() => true);
      if (this.#signal?.aborted) {
        this.#reported.delete(uid); // no longer the leader: the next one reports it
        return false;
      }
      const event = missedMutationEvent(pod, selected, new Date(this.#clock.now()));
      if (await this.#ports.createEvent(event) === "exists") return false;
      this.#onMiss(pod, event);
      return true;
    } catch (e) {
      this.#reported.delete(uid);
      this.#onError(e, pod);
      return false;
    }
  }
}

/** The periodic pass: once the caches have synced, then every `intervalMs`, until `signal` aborts. */
export async function runScanPasses(
  scanner: Pick<MissedMutationScanner, "scan">,
  options: {
    synced: Promise<unknown>;
    intervalMs: number;
    signal: AbortSignal;
    clock?: Clock;
    onError?: (e: unknown) => void;
  },
): Promise<void> {
  const clock = options.clock ?? realClock;
  const { signal } = options;
  const aborted = new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
  await Promise.race([options.synced, aborted]);
  while (!signal.aborted) {
    try {
      await scanner.scan();
    } catch (e) {
      options.onError?.(e);
    }
    await sleep(clock, options.intervalMs, signal);
  }
}

/** The production Event sink: a 409 on create means the Event exists. */
export async function createEvent(kube: KubeClient, event: MissedMutationEvent): Promise<"created" | "exists"> {
  try {
    await kube.create({ resource: "events", namespace: event.metadata.namespace }, event);
    return "created";
  } catch (e) {
    if (e instanceof IrsaError && e.kind === "conflict") return "exists";
    throw e;
  }
}

/**
 * The leader's scan: a trimmed pod informer feeds the scanner, plus a pass every `intervalMs` for ServiceAccounts
 * annotated later. Returns when `signal` aborts (leadership lost or shutdown); the pod cache goes with it.
 */
export async function watchMissedMutations(
  kube: KubeClient,
  options: {
    serviceAccounts: {
      get(key: string): { metadata: { annotations?: Record<string, string> } } | undefined;
      waitForSync(): Promise<void>;
    };
    config: WebhookConfig;
    intervalMs: number;
    signal: AbortSignal;
    log: Logger;
    metrics: Pick<DaemonMetrics, "missedMutations">;
    clock?: Clock;
    watchInactivityMs?: number;
  },
): Promise<void> {
  const { config, log, signal } = options;
  const pods = new Informer<ListedPod>(kube, { resource: "pods" }, {
    transform: (p) => trimPod(p, config),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.watchInactivityMs !== undefined ? { watchInactivityMs: options.watchInactivityMs } : {}),
  });
  const scanner = new MissedMutationScanner({
    pods: () => pods.list(),
    serviceAccount: (namespace, name) => options.serviceAccounts.get(`${namespace}/${name}`)?.metadata.annotations,
    namespaceSelection: () =>
      namespaceSelection({
        webhookConfiguration: () => readWebhookConfiguration(kube),
        namespaceLabels: (namespace) => readNamespaceLabels(kube, namespace),
      }),
    createEvent: (event) => createEvent(kube, event),
  }, {
    config,
    ...(options.clock ? { clock: options.clock } : {}),
    ready: options.serviceAccounts.waitForSync(),
    signal,
    onMiss: (pod) => {
      options.metrics.missedMutations.inc();
      log.warn("Pod runs without the AWS credentials its ServiceAccount asks for", {
        namespace: pod.metadata.namespace,
        name: pod.metadata.name,
      });
    },
    onError: (e, pod) =>
      log.warn("Cannot report a pod that missed the webhook", {
        namespace: pod.metadata.namespace,
        name: pod.metadata.name,
        error: e,
      }),
  });
  pods.onChange((key, pod, old) => scanner.changed(key, pod, old));
  await Promise.all([
    pods.run(signal, (e) => log.warn("Pod watch failed", { error: e })),
    runScanPasses(scanner, {
      synced: Promise.all([pods.waitForSync(), options.serviceAccounts.waitForSync()]),
      intervalMs: options.intervalMs,
      signal,
      ...(options.clock ? { clock: options.clock } : {}),
      onError: (e) => log.warn("Scanning pods for missed mutations failed", { error: e }),
    }),
  ]);
}
