// The real node's harness under the fault it must survive: a test run killed with -9 while a pod runs leaves its
// servers, the container, its network namespace, mounts, cgroups and the bridge behind; the next sandbox finds the
// marker, stops those processes by PID and restores the host before it starts, and its own stop leaves the host
// exactly as it was before either.
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { hostSnapshot } from "../support/host_state.ts";
import { nodeNetwork } from "../support/node.ts";
import { startSandbox } from "../support/sandbox.ts";

const repoRoot = new URL("../../", import.meta.url).pathname;

// Started as its own process so it can be killed with -9: a sandbox with a node and one running pod.
const child = `
import { startSandbox } from "./tests/support/sandbox.ts";
import { nodeImages } from "./tests/support/node_images.ts";
const s = await startSandbox({ node: true });
const pod = {
  apiVersion: "v1", kind: "Pod", metadata: { name: "sleeper", namespace: "default" },
  spec: { containers: [{ name: "c", image: nodeImages.s3Echoer, imagePullPolicy: "Never", command: ["sleep", "3600"] }] },
};
await waitFor(async () => (await s.adminFetch("/api/v1/namespaces/default/serviceaccounts/default")).ok);
const r = await s.adminFetch("/api/v1/namespaces/default/pods", {
  method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(pod),
});
if (!r.ok) throw new Error(await r.text());
await waitFor(async () => (await (await s.adminFetch("/api/v1/namespaces/default/pods/sleeper")).json()).status.phase === "Running");
console.log("READY " + s.dir);
await new Promise(() => {});
async function waitFor(f) {
  for (let i = 0; i < 600; i++) { if (await f().catch(() => false)) return; await new Promise((r) => setTimeout(r, 200)); }
  throw new Error("timeout");
}
`;

async function processesNaming(dir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const cmdline = await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "");
    if (cmdline.includes(dir)) found.push(cmdline.split("\0")[0]!.split("/").pop()!);
  }
  return found.sort();
}

Deno.test({
  name: "a sandbox killed with -9 while a pod runs is undone by the next one",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const before = await hostSnapshot(nodeNetwork.cgroupRoot);
    const proc = new Deno.Command(Deno.execPath(), {
      args: ["eval", "--ext=js", child],
      cwd: repoRoot,
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    const deadline = Date.now() + 240_000;
    while (!out.includes("\n") && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      out += value;
    }
    const dead = out.match(/READY (\S+)/)?.[1];
    ok(dead, `the child sandbox did not start: ${out}`);
    Deno.kill(proc.pid, "SIGKILL");
    await proc.status;
    await reader.cancel();

    const left = await processesNaming(dead);
    for (const server of ["containerd", "etcd", "kube-apiserver", "kubelet"]) {
      ok(left.some((n) => n.startsWith(server)), `${server} outlived the killed run: ${left.join(", ")}`);
    }
    ok(left.some((n) => n.startsWith("containerd-shim-runc-v2")), "the pod's shim outlived it");
    const dirty = await hostSnapshot(nodeNetwork.cgroupRoot);
    ok(dirty.links.includes(nodeNetwork.bridge));
    ok(dirty.mounts.some((m) => m.startsWith(dead)), "the pod's mounts outlived it");

    const sandbox = await startSandbox({ node: true });
    try {
      deepStrictEqual(await processesNaming(dead), [], "the killed run's processes are stopped");
      const nodes = await (await sandbox.adminFetch("/api/v1/nodes")).json() as { items: unknown[] };
      equal(nodes.items.length, 1);
    } finally {
      await sandbox.stop();
    }
    await Deno.remove(dead, { recursive: true }).catch(() => {});
    deepStrictEqual(await hostSnapshot(nodeNetwork.cgroupRoot), before);
  },
});
