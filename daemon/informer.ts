// A list-and-watch cache of one resource type (client-go's reflector and store): the daemon's informers
// (ServiceAccounts for the webhook, pods for the missed-mutation scan, the IRSA and IRSASetup objects for the
// reconcilers). It lists in pages, watches from the listed resourceVersion, and re-watches from the last one it saw
// when a stream ends or falls silent; only an expired resourceVersion (410) costs a relist. Listeners get the key,
// the new object and the one it replaced, so reconcilers stay level-based and predicates can compare.
import { IrsaError } from "../lib/errors.ts";
import {
  type RequestOptions,
  resourcePath,
  type ResourceRef,
  type WatchEvent,
  type WatchOptions,
} from "../lib/kube/client.ts";
import { type Clock, realClock, sleep, type Timer } from "./clock.ts";

/** The metadata every cached object has. */
export interface ObjectMeta {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
}

/** `namespace/name`, or `name` for cluster-scoped objects. */
export function objectKey(o: ObjectMeta): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

/** What an informer needs of the API; KubeClient is one. */
export interface InformerSource {
  /** The list request: GET on the collection, with `limit` and `continue`. */
  request<R>(method: string, path: string, options?: RequestOptions): Promise<R>;
  /** A watch stream that ends when the server closes it or `signal` aborts. */
  watch<R>(ref: ResourceRef, options?: WatchOptions): AsyncIterable<WatchEvent<R>>;
}

/** Tuning of an informer; every field has a default. */
export interface InformerOptions<T> {
  clock?: Clock;
  /**
   * How long a watch may stay silent, bookmarks included, before it is abandoned and re-opened from the last
   * resourceVersion: a connection that died without a FIN or RST otherwise stalls the cache until TCP gives up.
   */
  watchInactivityMs?: number;
  /**
   * Trims each object before it is stored (client-go's SetTransform), so a large cache costs little memory. It
   * must keep metadata.name, namespace and resourceVersion.
   */
  transform?: (object: T) => T;
  /** Objects per list page. */
  pageSize?: number;
}

/**
 * The apiserver's watch cache sends a bookmark about every minute and 2 s before the watch's deadline when
 * allowWatchBookmarks is set (cacher's nextBookmarkTime), so two minutes of silence means one was missed.
 * An idle resource after an apiserver restart can go without bookmarks for longer; that costs a cheap re-watch.
 */
export const defaultWatchInactivityMs = 120_000;
/** client-go's reflector page size. */
const defaultPageSize = 500;
/** client-go's reflector backoff: 800 ms doubling to 30 s; we start lower, as before. */
const initialBackoffMs = 500;
const maxBackoffMs = 30_000;
/** client-go's reflector treats a watch that ends sooner than this without an event as a failure. */
const shortWatchMs = 1_000;

interface ListPage<T> {
  items: T[];
  metadata: { resourceVersion: string; continue?: string };
}

/** How a watch ended when it did not fail. */
type WatchEnd = "closed" | "silent" | "expired" | "stopped";

/** A cache of one resource, kept current by a watch. */
export class Informer<T extends ObjectMeta> {
  readonly #source: InformerSource;
  readonly #ref: ResourceRef;
  readonly #clock: Clock;
  readonly #inactivityMs: number;
  readonly #transform: (object: T) => T;
  readonly #pageSize: number;
  readonly #store = new Map<string, T>();
  readonly #listeners: ((key: string, object: T | undefined, old: T | undefined) => void)[] = [];
  #synced = false;
  #syncWaiters: (() => void)[] = [];
  #onError: (e: unknown) => void = () => {};

  constructor(source: InformerSource, ref: ResourceRef, options: InformerOptions<T> = {}) {
    this.#source = source;
    this.#ref = ref;
    this.#clock = options.clock ?? realClock;
    this.#inactivityMs = options.watchInactivityMs ?? defaultWatchInactivityMs;
    this.#transform = options.transform ?? ((o) => o);
    this.#pageSize = options.pageSize ?? defaultPageSize;
  }

  /**
   * Calls `listener` with the key of every change, the object now cached (undefined after a delete) and the one
   * cached before (undefined on add; on delete, the object's last state if it was never cached).
   */
  onChange(listener: (key: string, object: T | undefined, old: T | undefined) => void): void {
    this.#listeners.push(listener);
  }

  /** The cached object, if any. */
  get(key: string): T | undefined {
    return this.#store.get(key);
  }

  /** Every cached object. */
  list(): T[] {
    return [...this.#store.values()];
  }

  /** True once the first list has been loaded. */
  get synced(): boolean {
    return this.#synced;
  }

  /** Resolves once the first list has been loaded. */
  waitForSync(): Promise<void> {
    return this.#synced ? Promise.resolve() : new Promise((resolve) => this.#syncWaiters.push(resolve));
  }

  /**
   * Lists and watches until `signal` aborts. Failures are reported to `onError` and retried with backoff; a watch
   * that ends or falls silent is re-opened from the last resourceVersion, and only a 410 relists.
   */
  async run(signal: AbortSignal, onError: (e: unknown) => void = () => {}): Promise<void> {
    this.#onError = onError;
    let backoff = initialBackoffMs;
    let resourceVersion: string | undefined;
    while (!signal.aborted) {
      try {
        if (resourceVersion === undefined) {
          resourceVersion = await this.#relist(signal);
          backoff = initialBackoffMs;
        }
        const started = this.#clock.monotonic();
        const watched = await this.#watch(resourceVersion, signal);
        if (watched.end === "expired") {
          // Gone from the server's history: start over from a fresh list at once, as client-go does.
          resourceVersion = undefined;
          continue;
        }
        resourceVersion = watched.resourceVersion;
        if (watched.end === "stopped") return;
        if (watched.events > 0) backoff = initialBackoffMs;
        else if (watched.end === "closed" && this.#clock.monotonic() - started < shortWatchMs) {
          throw new IrsaError(
            "unavailable",
            "WatchClosed",
            `watch ${resourcePath(this.#ref)}: the server closed the stream at once`,
          );
        }
      } catch (e) {
        if (signal.aborted) return;
        onError(e);
        // A watch that could not be opened for a passing reason resumes where it was; anything else relists.
        if (!watchRetriable(e)) resourceVersion = undefined;
        await sleep(this.#clock, backoff, signal);
        backoff = Math.min(backoff * 2, maxBackoffMs);
      }
    }
  }

  /** Lists every page, then replaces the cache in one step; returns the list's resourceVersion. */
  async #relist(signal: AbortSignal): Promise<string> {
    const items: T[] = [];
    let cont: string | undefined;
    let paged = true;
    let page: ListPage<T>;
    for (;;) {
      try {
        page = await this.#source.request<ListPage<T>>("GET", resourcePath(this.#ref), {
          query: paged ? { limit: String(this.#pageSize), continue: cont } : {},
          signal,
        });
      } catch (e) {
        // The continue token expired between pages: one full list instead (client-go's pager, FullListIfExpired).
        if (cont === undefined || !isExpired(e)) throw e;
        items.length = 0;
        cont = undefined;
        paged = false;
        continue;
      }
      for (const o of page.items) items.push(this.#transform(o));
      cont = page.metadata.continue || undefined;
      if (cont === undefined) break;
    }

    const fresh = new Map(items.map((o) => [objectKey(o), o]));
    for (const [key, old] of this.#store) {
      if (!fresh.has(key)) {
        this.#store.delete(key);
        this.#emit(key, undefined, old);
      }
    }
    for (const [key, o] of fresh) {
      const old = this.#store.get(key);
      this.#store.set(key, o);
      if (old?.metadata.resourceVersion !== o.metadata.resourceVersion) this.#emit(key, o, old);
    }
    if (!this.#synced) {
      this.#synced = true;
      for (const w of this.#syncWaiters.splice(0)) w();
    }
    return page.metadata.resourceVersion;
  }

  /** One watch from `from`; ends when the stream does, falls silent, expires or `signal` aborts. */
  async #watch(
    from: string,
    signal: AbortSignal,
  ): Promise<{ end: WatchEnd; resourceVersion: string; events: number }> {
    let resourceVersion = from;
    let events = 0;
    const stream = new AbortController();
    // Each step races a promise of its own: racing one promise that stays pending for the whole watch would add a
    // reaction to it per event, and every reaction keeps its event alive until the watch ends (minutes of events).
    let interruption: "silent" | "stopped" | undefined;
    let wake: ((why: "silent" | "stopped") => void) | undefined;
    const interrupt = (why: "silent" | "stopped") => {
      interruption ??= why;
      wake?.(interruption);
    };
    const onStop = () => interrupt("stopped");
    signal.addEventListener("abort", onStop, { once: true });
    let timer: Timer | undefined;
    const arm = () => {
      timer?.cancel();
      timer = this.#clock.after(this.#inactivityMs, () => interrupt("silent"));
    };
    arm();
    // client-go's reflector spreads watch deadlines over 5 to 10 minutes so replicas do not re-watch in step.
    const timeoutSeconds = 300 + Math.floor(Math.random() * 300);
    const iterator = this.#source.watch<T>(this.#ref, { resourceVersion: from, signal: stream.signal, timeoutSeconds })[
      Symbol.asyncIterator
    ]();
    const result = (end: WatchEnd) => ({ end, resourceVersion, events });
    try {
      for (;;) {
        // Raced, so a stream that never honours its signal is still left behind.
        const next = iterator.next();
        next.catch(() => {});
        const interrupted = Promise.withResolvers<"silent" | "stopped">();
        if (interruption) interrupted.resolve(interruption);
        wake = interrupted.resolve;
        const step = await Promise.race([next, interrupted.promise]);
        wake = undefined;
        if (step === "stopped") return result("stopped");
        if (step === "silent") {
          this.#onError(
            new IrsaError(
              "unavailable",
              "WatchSilent",
              `watch ${resourcePath(this.#ref)}: no event or bookmark for ${
                this.#inactivityMs / 1000
              }s; watching again from resourceVersion ${resourceVersion}`,
            ),
          );
          return result("silent");
        }
        if (step.done) return result("closed");
        arm();
        const event = step.value;
        if (event.type === "ERROR") {
          const status = event.object as unknown as { code?: number; message?: string };
          if (status.code === 410) return result("expired");
          throw new IrsaError(
            "unavailable",
            "WatchError",
            `watch ${resourcePath(this.#ref)}: ${status.message ?? JSON.stringify(event.object)}`,
          );
        }
        const rv = event.object.metadata?.resourceVersion;
        if (rv) resourceVersion = rv;
        if (event.type === "BOOKMARK") continue;
        events++;
        const o = this.#transform(event.object);
        const key = objectKey(o);
        const old = this.#store.get(key);
        if (event.type === "DELETED") {
          this.#store.delete(key);
          this.#emit(key, undefined, old ?? o);
        } else {
          this.#store.set(key, o);
          this.#emit(key, o, old);
        }
      }
    } catch (e) {
      if (signal.aborted) return result("stopped");
      if (isExpired(e)) return result("expired");
      throw e;
    } finally {
      timer?.cancel();
      signal.removeEventListener("abort", onStop);
      stream.abort();
      iterator.return?.()?.catch(() => {});
    }
  }

  #emit(key: string, object: T | undefined, old: T | undefined): void {
    for (const l of this.#listeners) {
      try {
        l(key, object, old);
      } catch (e) {
        this.#onError(e);
      }
    }
  }
}

function reasonOf(e: unknown): string | undefined {
  return e instanceof IrsaError ? e.reason : undefined;
}

/** The resourceVersion or continue token is older than the server's history. */
function isExpired(e: unknown): boolean {
  return reasonOf(e) === "Http410";
}

/**
 * Failures after which the watch resumes from the same resourceVersion (client-go's isWatchErrorRetriable:
 * connection refused, throttled), or the stream broke mid-way (the reflector treats that as an ordinary end).
 */
function watchRetriable(e: unknown): boolean {
  const reason = reasonOf(e);
  if (reason === undefined) return !(e instanceof SyntaxError); // a stream that broke off; garbage relists
  return reason === "ApiServerUnreachable" || reason === "RequestTimeout" || reason === "Http429" ||
    reason === "WatchClosed";
}
