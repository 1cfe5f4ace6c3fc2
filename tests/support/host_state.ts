// What a real node changes on the host, read so it can be restored and compared: host-wide sysctls, links,
// routes, nftables tables, mounts, the node's cgroups and the kubelet's and containerd's fixed paths.
import { runChecked } from "./proc.ts";

/**
 * Sysctls the node's pieces set host-wide: the kubelet's kernel defaults (protectKernelDefaults off still sets
 * them), ip_forward (the CNI bridge plugin), route_localnet and conntrack limits (kube-proxy).
 */
export const nodeSysctls = [
  "vm.overcommit_memory",
  "vm.panic_on_oom",
  "kernel.panic",
  "kernel.panic_on_oops",
  "kernel.keys.root_maxkeys",
  "kernel.keys.root_maxbytes",
  "net.ipv4.ip_forward",
  "net.ipv4.conf.all.route_localnet",
  "net.netfilter.nf_conntrack_max",
  "net.netfilter.nf_conntrack_tcp_timeout_established",
  "net.netfilter.nf_conntrack_tcp_timeout_close_wait",
] as const;

/** Paths the kubelet, containerd and CNI use whatever their root folders are. */
export const fixedHostPaths = [
  "/var/lib/kubelet",
  "/var/log/containers",
  "/var/log/pods",
  "/var/lib/cni",
  "/run/containerd",
  "/run/netns",
  "/usr/libexec/kubernetes",
  "/etc/cni",
  "/opt/cni",
] as const;

/** cgroup v1 hierarchies and the unified mount, as mounted on these hosts. */
export async function cgroupHierarchies(): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir("/sys/fs/cgroup")) {
    if (e.isDirectory) out.push(`/sys/fs/cgroup/${e.name}`);
  }
  return out.sort();
}

/** A comparable picture of the host; equal before start and after stop when the node restored everything. */
export interface HostSnapshot {
  sysctls: Record<string, string>;
  links: string[];
  routes: string[];
  nftTables: string[];
  mounts: string[];
  cgroups: string[];
  fixedPaths: string[];
}

/** Reads a sysctl, or undefined where the kernel has no such key. */
export async function readSysctl(key: string): Promise<string | undefined> {
  return await Deno.readTextFile(`/proc/sys/${key.replaceAll(".", "/")}`).then((t) => t.trim(), () => undefined);
}

/** Writes a sysctl (silently absent keys are skipped). */
export async function writeSysctl(key: string, value: string): Promise<void> {
  await Deno.writeTextFile(`/proc/sys/${key.replaceAll(".", "/")}`, value).catch(() => {});
}

/** Takes the host snapshot; `cgroupName` is the node's cgroupRoot (for example `kirsa-node`). */
export async function hostSnapshot(cgroupName: string): Promise<HostSnapshot> {
  const sysctls: Record<string, string> = {};
  for (const key of nodeSysctls) {
    const v = await readSysctl(key);
    if (v !== undefined) sysctls[key] = v;
  }
  // Link names and state only: counters and the kernel's index change by themselves.
  const links = (await runChecked(["ip", "-o", "link", "show"]))
    .split("\n").filter(Boolean).map((l) => l.split(":")[1]!.trim().split("@")[0]!).sort();
  const routes = (await runChecked(["ip", "route", "show", "table", "all"])).split("\n").filter(Boolean).sort();
  const nftTables = (await runChecked(["nft", "list", "tables"])).split("\n").filter(Boolean).sort();
  const mounts = (await Deno.readTextFile("/proc/self/mountinfo")).split("\n").filter(Boolean)
    .map((l) => l.split(" ")[4]!).sort();
  const cgroups: string[] = [];
  for (const h of await cgroupHierarchies()) {
    if (await Deno.stat(`${h}/${cgroupName}`).then(() => true, () => false)) cgroups.push(`${h}/${cgroupName}`);
  }
  const fixedPaths: string[] = [];
  for (const p of fixedHostPaths) {
    if (await Deno.lstat(p).then(() => true, () => false)) fixedPaths.push(p);
  }
  return { sysctls, links, routes, nftTables, mounts, cgroups, fixedPaths };
}
