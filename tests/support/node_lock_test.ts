import { equal } from "node:assert/strict";
import { holdNodeLock } from "./node_lock.ts";

const moduleUrl = new URL("./node_lock.ts", import.meta.url).href;

/** A child process that takes the lock, says so on stdout, and holds it until killed. */
async function childHolding(path: string): Promise<Deno.ChildProcess> {
  const code = `import { holdNodeLock } from ${JSON.stringify(moduleUrl)};
await holdNodeLock({ path: ${JSON.stringify(path)} });
console.log("held");
setInterval(() => {}, 1000);`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-lock", code],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  equal(new TextDecoder().decode(value).trim(), "held");
  reader.releaseLock();
  return child;
}

Deno.test("the node lock waits while another process holds it, names the holder, and is free once it is killed", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/node.lock`;
  const child = await childHolding(path);
  try {
    const notes: string[] = [];
    let acquired = false;
    const waiting = holdNodeLock({ path, pollMs: 20, say: (m) => notes.push(m) }).then((lock) => {
      acquired = true;
      return lock;
    });
    await new Promise((r) => setTimeout(r, 300));
    equal(acquired, false, "the lock was taken while another process held it");
    equal(notes.length, 1);
    equal(notes[0]!.includes(`pid ${child.pid}`), true, notes[0]);
    // kill -9: the kernel releases the flock with the process.
    child.kill("SIGKILL");
    const lock = await waiting;
    equal(acquired, true);
    equal((await Deno.readTextFile(path)).trim(), String(Deno.pid));
    lock.release();
    equal(await Deno.readTextFile(path), "");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    await child.stdout.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the node lock is re-entrant within a process and free only after the last release", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/node.lock`;
  try {
    const outer = await holdNodeLock({ path });
    const inner = await holdNodeLock({ path });
    inner.release();
    inner.release(); // idempotent: does not drop the outer hold
    const probe = await Deno.open(path, { read: true, write: true });
    equal(await probe.tryLock(true), false, "the outer hold was dropped by the inner release");
    outer.release();
    equal(await probe.tryLock(true), true, "the lock stayed held after the last release");
    probe.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the node lock gives up with a clear error after its timeout", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/node.lock`;
  const child = await childHolding(path);
  try {
    const error = await holdNodeLock({ path, pollMs: 10, timeoutMs: 100, say: () => {} }).then(
      () => undefined,
      (e: Error) => e.message,
    );
    equal(error, `node: another run has held ${path} for too long`);
  } finally {
    child.kill("SIGKILL");
    await child.status;
    await child.stdout.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
