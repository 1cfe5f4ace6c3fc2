// A list-and-watch cache of one resource type: the daemon's informers (ServiceAccounts for the webhook, the
// IRSA and IRSASetup objects for the reconcilers). It relists when a watch expires and tells listeners the key of
// every object that changed, so reconcilers stay level-based.
import { type KubeClient, resourcePath, type ResourceRef } from "../lib/kube/client.ts";

/** The metadata every cached object has. */
export interface ObjectMeta {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
}

/** `namespace/name`, or `name` for cluster-scoped objects. */
export function objectKey(o: ObjectMeta): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

/** A cache of one resource, kept current by a watch. */
export class Informer<T extends ObjectMeta> {
  readonly #kube: KubeClient;
  readonly #ref: ResourceRef;
  readonly #store = new Map<string, T>();
  readonly #listeners: ((key: string, object: T | undefined) => void)[] = [];
  #synced = false;
  #syncWaiters: (() => void)[] = [];

  constructor(kube: KubeClient, ref: ResourceRef) {
    this.#kube = kube;
    this.#ref = ref;
  }

  /** Calls `listener` with the key (and current object, undefined after delete) of every change. */
  onChange(listener: (key: string, object: T | undefined) => void): void {
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

  /** Lists and watches until `signal` aborts; retries with a short backoff on errors. */
  async run(signal: AbortSignal, onError: (e: unknown) => void = () => {}): Promise<void> {
    let backoff = 500;
    while (!signal.aborted) {
      try {
        const resourceVersion = await this.#relist();
        backoff = 500;
        await this.#watch(resourceVersion, signal);
      } catch (e) {
        if (signal.aborted) return;
        onError(e);
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 10_000);
      }
    }
  }

  async #relist(): Promise<string> {
    const page = await this.#kube.request<{ items: T[]; metadata: { resourceVersion: string } }>(
      "GET",
      resourcePath(this.#ref),
    );
    const fresh = new Map(page.items.map((o) => [objectKey(o), o]));
    for (const key of this.#store.keys()) {
      if (!fresh.has(key)) {
        this.#store.delete(key);
        this.#emit(key, undefined);
      }
    }
    for (const [key, o] of fresh) {
      const old = this.#store.get(key);
      this.#store.set(key, o);
      if (old?.metadata.resourceVersion !== o.metadata.resourceVersion) this.#emit(key, o);
    }
    if (!this.#synced) {
      this.#synced = true;
      for (const w of this.#syncWaiters.splice(0)) w();
    }
    return page.metadata.resourceVersion;
  }

  async #watch(resourceVersion: string, signal: AbortSignal): Promise<void> {
    let rv = resourceVersion;
    while (!signal.aborted) {
      for await (const event of this.#kube.watch<T>(this.#ref, { resourceVersion: rv, signal })) {
        if (event.type === "ERROR") {
          const status = event.object as unknown as { code?: number };
          if (status.code === 410) return; // expired: relist
          throw new Error(`watch error ${JSON.stringify(event.object)}`);
        }
        const o = event.object;
        if (o.metadata.resourceVersion) rv = o.metadata.resourceVersion;
        if (event.type === "BOOKMARK") continue;
        const key = objectKey(o);
        if (event.type === "DELETED") {
          this.#store.delete(key);
          this.#emit(key, undefined);
        } else {
          this.#store.set(key, o);
          this.#emit(key, o);
        }
      }
    }
  }

  #emit(key: string, o: T | undefined): void {
    for (const l of this.#listeners) l(key, o);
  }
}
