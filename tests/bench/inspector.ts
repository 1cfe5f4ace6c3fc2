// A Chrome DevTools Protocol client for a Deno process started with --inspect: CPU profiles and sampling heap
// profiles, summed by module (an npm package, or one of our files), so a benchmark can say where the time and
// the memory go. Deno has no --cpu-prof; the inspector's Profiler domain is what it offers instead.

/** A connected inspector session. */
export interface Inspector {
  send<T = unknown>(method: string, params?: Record<string, unknown>): Promise<T>;
  close(): void;
}

/** Connects to the inspector listening on `port`. */
export async function connectInspector(port: number): Promise<Inspector> {
  let url: string | undefined;
  for (let i = 0; i < 100 && !url; i++) {
    try {
      const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json() as {
        webSocketDebuggerUrl: string;
      }[];
      url = list[0]?.webSocketDebuggerUrl;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  if (!url) throw new Error(`no inspector on port ${port}`);
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let next = 1;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data as string) as { id?: number; result?: unknown; error?: { message: string } };
    if (msg.id === undefined) return;
    const p = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.error) p?.reject(new Error(msg.error.message));
    else p?.resolve(msg.result);
  };
  return {
    send<T>(method: string, params: Record<string, unknown> = {}) {
      const id = next++;
      ws.send(JSON.stringify({ id, method, params }));
      return new Promise<T>((resolve, reject) => pending.set(id, { resolve: resolve as (v: unknown) => void, reject }));
    },
    close: () => ws.close(),
  };
}

/** The module a script URL belongs to: `npm:<package>`, `node:<builtin>`, a file of ours, or "(native)". */
export function moduleOf(url: string): string {
  if (!url) return "(native/V8)";
  const npm = url.match(/registry\.npmjs\.org\/((?:@[^/]+\/)?[^/]+)\//);
  if (npm) return `npm:${npm[1]}`;
  if (url.startsWith("node:") || url.startsWith("ext:")) return url.split("/").slice(0, 2).join("/");
  const ours = url.match(/\/work\/[^/]+\/(.+)$/) ?? url.match(/file:\/\/.*\/((?:lib|daemon|cli|signer)\/.+)$/);
  return ours ? ours[1]! : url;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

/** Self time by module from a CPU profile, largest first, as [module, share] pairs. */
export function cpuByModule(profile: { nodes: ProfileNode[]; samples: number[] }): [string, number][] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map<string, number>();
  for (const id of profile.samples) {
    const node = byId.get(id)!;
    const name = node.callFrame.url ? moduleOf(node.callFrame.url) : `(${node.callFrame.functionName || "native"})`;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  const total = profile.samples.length || 1;
  return [...counts].map(([m, n]) => [m, n / total] as [string, number]).sort((a, b) => b[1] - a[1]);
}

interface HeapNode {
  callFrame: { url: string; functionName: string };
  selfSize: number;
  children: HeapNode[];
}

/** Live bytes by allocating module from a sampling heap profile, largest first. */
export function heapByModule(profile: { head: HeapNode }): [string, number][] {
  const sizes = new Map<string, number>();
  const walk = (n: HeapNode, inherited: string) => {
    const own = n.callFrame.url ? moduleOf(n.callFrame.url) : inherited;
    if (n.selfSize) sizes.set(own, (sizes.get(own) ?? 0) + n.selfSize);
    for (const c of n.children) walk(c, own);
  };
  walk(profile.head, "(root)");
  return [...sizes].sort((a, b) => b[1] - a[1]);
}
