// Faults injected from the host into the real node: a network blackhole between a pod and a host port (packets
// dropped, nothing refused or reset), SIGKILL of a container's process, and the memory a container's cgroup
// charged, read from the kernel rather than from the program.
import { runChecked } from "./proc.ts";

/** The nftables table the blackholes live in; removed with the last one. */
const faultTable = "kirsa-fault";

/** A blackhole in place; `remove()` restores the traffic (idempotent). */
export interface Blackhole {
  remove(): Promise<void>;
}

/**
 * Drops every packet between `podIp` and `hostIp:port` in both directions, so a TCP connection neither
 * progresses nor closes: the client sees a half-open connection, as when a network path dies silently. Pod
 * traffic to a Service address is DNAT'ed before the input hook, so this also cuts the `kubernetes` Service.
 */
export async function blackhole(podIp: string, hostIp: string, port: number): Promise<Blackhole> {
  const rules = `table inet ${faultTable} {
  chain input {
    type filter hook input priority -20; policy accept;
    ip saddr ${podIp} ip daddr ${hostIp} tcp dport ${port} counter drop
  }
  chain output {
    type filter hook output priority -20; policy accept;
    ip daddr ${podIp} ip saddr ${hostIp} tcp sport ${port} counter drop
  }
}
`;
  const file = await Deno.makeTempFile({ prefix: "kirsa-fault-", suffix: ".nft" });
  try {
    await Deno.writeTextFile(file, rules);
    await runChecked(["nft", "-f", file]);
  } finally {
    await Deno.remove(file).catch(() => {});
  }
  let removed = false;
  return {
    async remove() {
      if (removed) return;
      removed = true;
      await runChecked(["nft", "delete", "table", "inet", faultTable]);
    },
  };
}

/** Packets a blackhole dropped so far (0 when none is in place). */
export async function blackholeDrops(): Promise<number> {
  const out = await runChecked(["nft", "list", "table", "inet", faultTable]).catch(() => "");
  return [...out.matchAll(/counter packets (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
}

/** What the kernel charged a process's memory cgroup, in bytes. */
export interface CgroupMemory {
  /** The cgroup's path; a process that has exited reads as the root ("/"), so compare it between samples. */
  path: string;
  usage: number;
  /** The high-water mark since the cgroup was made (cgroup v1 max_usage_in_bytes; v2 memory.peak when present). */
  peak: number;
  limit: number;
  /** Times the limit was hit (v1 failcnt; v2 the "max" event count). */
  limitHits: number;
  /** The process's own resident high-water mark (VmHWM), bytes. */
  vmHwm: number;
}

/** Reads the memory cgroup of `pid` (cgroup v1 or v2) and the process's VmHWM. */
export async function cgroupMemory(pid: number): Promise<CgroupMemory> {
  const lines = (await Deno.readTextFile(`/proc/${pid}/cgroup`)).split("\n");
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const vmHwm = Number(status.match(/^VmHWM:\s*(\d+) kB/m)?.[1] ?? 0) * 1024;
  const read = async (path: string) => Number((await Deno.readTextFile(path).catch(() => "0")).trim().split("\n")[0]);
  const v1 = lines.find((l) => l.split(":")[1]?.split(",").includes("memory"));
  if (v1) {
    const path = v1.split(":")[2] ?? "/";
    const dir = `/sys/fs/cgroup/memory${path}`;
    return {
      path,
      usage: await read(`${dir}/memory.usage_in_bytes`),
      peak: await read(`${dir}/memory.max_usage_in_bytes`),
      limit: await read(`${dir}/memory.limit_in_bytes`),
      limitHits: await read(`${dir}/memory.failcnt`),
      vmHwm,
    };
  }
  const v2 = lines.find((l) => l.startsWith("0::"));
  const path = v2?.slice(3) || "/";
  const dir = `/sys/fs/cgroup${path}`;
  const events = await Deno.readTextFile(`${dir}/memory.events`).catch(() => "");
  const limitText = (await Deno.readTextFile(`${dir}/memory.max`).catch(() => "max")).trim();
  return {
    path,
    usage: await read(`${dir}/memory.current`),
    peak: await read(`${dir}/memory.peak`),
    limit: limitText === "max" ? Infinity : Number(limitText),
    limitHits: Number(events.match(/^max (\d+)/m)?.[1] ?? 0),
    vmHwm,
  };
}
