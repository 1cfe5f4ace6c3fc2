// One real node per machine: the kubelet's paths, the bridge and the cgroup are fixed. Two test runs on one machine
// (a developer's and CI's, or two checkouts) would otherwise tear down each other's node, and the second run's
// "host as before" snapshot would hold the first run's node. An flock is released by the kernel when its holder
// dies, even by kill -9, so a free lock also proves that a leftover marker belongs to a dead run.

/** The default lock file; /run is cleared at boot, as the node's state is. */
export const nodeLockPath = "/run/kubectl-irsa-node.lock";

/** A held node lock; `release()` is idempotent. */
export interface NodeLock {
  release(): void;
}

const held = new Map<string, { file: Deno.FsFile; count: number }>();

/**
 * Takes the machine-wide node lock, waiting (with a note on stderr naming the holder) while another process holds
 * it. Re-entrant within one process, so the sandbox and `withNodeSandbox` can both hold it.
 */
export async function holdNodeLock(
  options: { path?: string; timeoutMs?: number; pollMs?: number; say?: (m: string) => void } = {},
): Promise<NodeLock> {
  const path = options.path ?? nodeLockPath;
  const say = options.say ?? ((m: string) => console.error(m));
  const mine = held.get(path);
  if (mine) {
    mine.count++;
    return once(() => drop(path));
  }
  const file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o644 });
  const deadline = Date.now() + (options.timeoutMs ?? 3_600_000);
  let noted = false;
  while (!(await file.tryLock(true))) {
    if (!noted) {
      const holder = (await Deno.readTextFile(path).catch(() => "")).trim() || "unknown";
      say(`node: waiting for the real node of another run on this machine (pid ${holder}, lock ${path})`);
      noted = true;
    }
    if (Date.now() > deadline) {
      file.close();
      throw new Error(`node: another run has held ${path} for too long`);
    }
    await new Promise((r) => setTimeout(r, options.pollMs ?? 1_000));
  }
  await file.truncate(0);
  await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
  held.set(path, { file, count: 1 });
  return once(() => drop(path));
}

function drop(path: string): void {
  const entry = held.get(path);
  if (!entry || --entry.count > 0) return;
  held.delete(path);
  entry.file.truncateSync(0);
  entry.file.unlockSync();
  entry.file.close();
}

function once(release: () => void): NodeLock {
  let done = false;
  return {
    release() {
      if (done) return;
      done = true;
      release();
    },
  };
}
