// A real single-node cluster on this machine (../shared/REALNODE.md): a Linux bridge whose host address is the
// node IP, containerd with runc and the CNI bridge plugin, kubelet, kube-controller-manager, kube-scheduler and
// kube-proxy (nftables). Pod traffic never leaves the machine: a guard table drops anything forwarded between
// the bridge and another interface. Everything started is stopped by PID and everything changed on the host is
// restored; a marker file records the host's state before the first change, so a run that died is undone by the
// next one.
import { stringify as toYaml } from "yaml";
import { type CertifiedKey, issueCertificate } from "../../lib/pki.ts";
import { ensureBinary } from "./go_build.ts";
import {
  cgroupHierarchies,
  fixedHostPaths,
  type HostSnapshot,
  hostSnapshot,
  nodeSysctls,
  readSysctl,
  writeSysctl,
} from "./host_state.ts";
import { nodeImageArchives, nodeImages } from "./node_images.ts";
import { holdNodeLock } from "./node_lock.ts";
import { runChecked } from "./proc.ts";
import { freePort, ServerProcess } from "./server_process.ts";

/** The node's network: pods and the host address share one /24 on the bridge; Services route onto it. */
export const nodeNetwork = {
  bridge: "kirsa0",
  hostIp: "10.213.0.1",
  podCidr: "10.213.0.0/24",
  serviceCidr: "10.0.0.0/24",
  /** The `kubernetes` Service's ClusterIP (first address of the service range). */
  kubernetesServiceIp: "10.0.0.1",
  nodeName: "kirsa-node",
  /** cgroupRoot of the kubelet, created in every v1 hierarchy. */
  cgroupRoot: "kirsa-node",
  guardTable: "kirsa-guard",
} as const;

/** Where the state before the first change is kept until stop restores it. */
const markerPath = "/run/kubectl-irsa-node.json";

interface Marker {
  dir: string;
  before: HostSnapshot;
}

async function sh(argv: string[]): Promise<string> {
  return await runChecked(argv);
}

async function trySh(argv: string[]): Promise<void> {
  await runChecked(argv).catch(() => {});
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

/** Mount points at or under `prefix`, deepest first. */
async function mountsUnder(prefix: string): Promise<string[]> {
  const all = (await Deno.readTextFile("/proc/self/mountinfo")).split("\n").filter(Boolean)
    .map((l) => l.split(" ")[4]!.replace(/\\040/g, " "));
  return [...new Set(all.filter((m) => m === prefix || m.startsWith(`${prefix}/`)))]
    .sort((a, b) => b.length - a.length);
}

async function unmountUnder(prefix: string): Promise<void> {
  for (const m of await mountsUnder(prefix)) {
    await runChecked(["umount", m]).catch(() => trySh(["umount", "-l", m]));
  }
}

/** PIDs in a cgroup folder and its children. */
async function cgroupPids(path: string): Promise<number[]> {
  const pids = (await Deno.readTextFile(`${path}/cgroup.procs`).catch(() => "")).split("\n").filter(Boolean)
    .map(Number);
  try {
    for await (const e of Deno.readDir(path)) if (e.isDirectory) pids.push(...await cgroupPids(`${path}/${e.name}`));
  } catch { /* gone */ }
  return pids;
}

/** rmdir of a cgroup folder's children, deepest first, then of itself; true when it is gone. */
async function rmdirTree(path: string): Promise<boolean> {
  try {
    for await (const e of Deno.readDir(path)) if (e.isDirectory) await rmdirTree(`${path}/${e.name}`);
  } catch { /* gone */ }
  return await Deno.remove(path).then(() => true, (e) => e instanceof Deno.errors.NotFound);
}

/**
 * Removes a cgroup folder and its children (cgroupfs folders go with rmdir only, and only once empty): processes
 * left in it (containers of a run that died) are killed, and a killed process leaves its cgroups only when it has
 * exited, which takes a while on a loaded machine, so this retries for up to 20 s.
 */
async function removeCgroup(path: string): Promise<void> {
  if (!(await exists(path))) return;
  for (let attempt = 0; attempt < 100; attempt++) {
    for (const pid of await cgroupPids(path)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    if (await rmdirTree(path)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  console.error(`node: could not remove cgroup ${path}: still busy after 20 s`);
}

/**
 * PIDs of processes whose command line names the run folder: every server the sandbox started (their flags point
 * into it) and containerd's shims (their socket is in it).
 */
async function processesOfRun(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    const cmdline = await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "");
    if (cmdline.includes(dir)) pids.push(Number(e.name));
  }
  return pids;
}

/** Undoes every host change the marker's run could have made. Idempotent. */
async function restoreHost(marker: Marker): Promise<void> {
  const before = marker.before;
  // A run that died (kill -9) left its servers running: stop them first, by PID.
  const orphans = await processesOfRun(marker.dir);
  for (const pid of orphans) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
  if (orphans.length > 0) await new Promise((r) => setTimeout(r, 500));
  await unmountUnder(marker.dir);
  for (const p of ["/run/containerd", "/run/netns", "/var/lib/kubelet"]) await unmountUnder(p);
  // Network namespaces the CNI made for sandboxes the kubelet did not tear down (their veth ends go with them).
  const netns: string[] = [];
  try {
    for await (const e of Deno.readDir("/run/netns")) if (e.name.startsWith("cni-")) netns.push(e.name);
  } catch { /* none */ }
  for (const name of netns) await trySh(["ip", "netns", "delete", name]);
  if (!before.links.includes(nodeNetwork.bridge)) await trySh(["ip", "link", "delete", nodeNetwork.bridge]);
  const tables = (await sh(["nft", "list", "tables"])).split("\n").filter(Boolean);
  for (const t of tables) {
    if (!before.nftTables.includes(t)) await trySh(["nft", "delete", ...t.split(" ")]);
  }
  for (const h of await cgroupHierarchies()) {
    if (!before.cgroups.includes(`${h}/${nodeNetwork.cgroupRoot}`)) {
      await removeCgroup(`${h}/${nodeNetwork.cgroupRoot}`);
    }
  }
  for (const [key, value] of Object.entries(before.sysctls)) {
    if ((await readSysctl(key)) !== value) await writeSysctl(key, value);
  }
  for (const p of fixedHostPaths) {
    if (!before.fixedPaths.includes(p)) await Deno.remove(p, { recursive: true }).catch(() => {});
  }
  await Deno.remove(markerPath).catch(() => {});
}

/** Restores sysctls the node's pieces set host-wide (the kubelet sets its kernel defaults once at start). */
async function restoreSysctls(before: HostSnapshot): Promise<void> {
  for (const key of nodeSysctls) {
    const want = before.sysctls[key];
    // ip_forward stays on while pods run: Service traffic between pods is forwarded.
    if (want === undefined || key === "net.ipv4.ip_forward") continue;
    if ((await readSysctl(key)) !== want) await writeSysctl(key, want);
  }
}

/** The host side of the node, set up before the control plane so it can bind to the node IP. */
export interface NodeHost {
  ip: string;
  /** Restores everything on the host; called by the sandbox after every process is stopped. */
  restore(): Promise<void>;
  before: HostSnapshot;
}

/**
 * Takes the machine's node lock, then creates the bridge with the node IP, the guard table and the Service route.
 * Undoes what a run that died left first.
 */
export async function prepareNodeHost(dir: string): Promise<NodeHost> {
  // Held until restore(): a marker found under the lock is a dead run's, never a live one's.
  const lock = await holdNodeLock();
  try {
    return await setUpHost(dir, () => lock.release());
  } catch (e) {
    lock.release();
    throw e;
  }
}

async function setUpHost(dir: string, release: () => void): Promise<NodeHost> {
  const stale = await Deno.readTextFile(markerPath).then((t) => JSON.parse(t) as Marker, () => undefined);
  if (stale) {
    console.error(`node: restoring the host after an earlier run that did not stop (${stale.dir})`);
    await restoreHost(stale);
  }
  const before = await hostSnapshot(nodeNetwork.cgroupRoot);
  const marker: Marker = { dir, before };
  await Deno.writeTextFile(markerPath, JSON.stringify(marker));
  const n = nodeNetwork;
  try {
    await sh(["ip", "link", "add", n.bridge, "type", "bridge"]);
    await sh(["ip", "addr", "add", `${n.hostIp}/24`, "dev", n.bridge]);
    await sh(["ip", "link", "set", n.bridge, "up"]);
    // Service addresses are reached through the bridge only; kube-proxy's DNAT picks the endpoint.
    await sh(["ip", "route", "add", n.serviceCidr, "dev", n.bridge]);
    // Nothing forwarded between the bridge and any other interface, in either direction (REALNODE trap 4).
    const rules = `table inet ${n.guardTable} {
  chain forward {
    type filter hook forward priority -10; policy accept;
    iifname "${n.bridge}" oifname != "${n.bridge}" counter drop
    oifname "${n.bridge}" iifname != "${n.bridge}" counter drop
  }
}
`;
    await Deno.writeTextFile(`${dir}/guard.nft`, rules);
    await sh(["nft", "-f", `${dir}/guard.nft`]);
  } catch (e) {
    await restoreHost(marker);
    throw e;
  }
  return { ip: n.hostIp, before, restore: () => restoreHost(marker).finally(release) };
}

/** What the node needs from the control plane the sandbox started. */
export interface NodeContext {
  dir: string;
  ca: CertifiedKey;
  caPath: string;
  apiserverUrl: string;
  /** The key kube-controller-manager signs legacy ServiceAccount tokens with. */
  serviceAccountKeyFile: string;
  adminFetch(path: string, init?: RequestInit): Promise<Response>;
  kubeconfig(user: CertifiedKey): string;
  host: NodeHost;
  say(message: string): void;
}

/** A running node. */
export interface RunningNode {
  name: string;
  ip: string;
  images: typeof nodeImages;
  /** Seconds from starting containerd to the node Ready. */
  startSeconds: number;
  containerdAddress: string;
  /** Runs `ctr` against the node's containerd in the k8s.io namespace. */
  ctr(args: string[]): Promise<string>;
  /** Stops pods, the node's processes, and unmounts what they mounted; the sandbox then restores the host. */
  stop(): Promise<void>;
}

/** Starts containerd, imports the images, then kube-controller-manager, kube-scheduler, kubelet, kube-proxy. */
export async function startNode(ctx: NodeContext): Promise<RunningNode> {
  const started = performance.now();
  const n = nodeNetwork;
  const d = `${ctx.dir}/node`;
  for (const sub of ["containerd", "cni/net.d", "kubelet/pki", "bin"]) {
    await Deno.mkdir(`${d}/${sub}`, { recursive: true });
  }
  const bins = {
    containerd: await ensureBinary("containerd"),
    ctr: await ensureBinary("ctr"),
    shim: await ensureBinary("containerd-shim-runc-v2"),
    kubelet: await ensureBinary("kubelet"),
    kcm: await ensureBinary("kube-controller-manager"),
    scheduler: await ensureBinary("kube-scheduler"),
    proxy: await ensureBinary("kube-proxy"),
  };
  // containerd finds the shim by its name on PATH.
  await Deno.symlink(bins.shim, `${d}/bin/containerd-shim-runc-v2`);
  const processes: ServerProcess[] = [];
  const write = async (name: string, text: string) => {
    await Deno.writeTextFile(`${d}/${name}`, text, { mode: 0o600 });
    return `${d}/${name}`;
  };
  const sock = `${d}/containerd/containerd.sock`;
  const ctr = (args: string[]) => runChecked([bins.ctr, "--address", sock, "-n", "k8s.io", ...args]);

  const stopProcesses = async () => {
    for (const p of processes.reverse()) await p.stop(10_000);
    processes.length = 0;
  };

  try {
    // cgroupRoot in every v1 hierarchy, cpuset values copied from the parent (REALNODE trap 2).
    for (const h of await cgroupHierarchies()) {
      if (h.endsWith("/unified")) continue;
      const path = `${h}/${n.cgroupRoot}`;
      await Deno.mkdir(path, { recursive: true });
      if (h.endsWith("/cpuset")) {
        for (const f of ["cpuset.cpus", "cpuset.mems"]) {
          await Deno.writeTextFile(`${path}/${f}`, await Deno.readTextFile(`${h}/${f}`));
        }
      }
    }

    await Deno.writeTextFile(
      `${d}/cni/net.d/10-kirsa.conflist`,
      JSON.stringify({
        cniVersion: "1.0.0",
        name: "kirsa",
        plugins: [{
          type: "bridge",
          bridge: n.bridge,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: "host-local",
            ranges: [[{ subnet: n.podCidr, gateway: n.hostIp }]],
            routes: [{ dst: "0.0.0.0/0" }],
            dataDir: `${d}/cni/ipam`,
          },
        }, { type: "loopback" }],
      }),
    );
    const containerdConfig = await write(
      "containerd/config.toml",
      `version = 3
root = "${d}/containerd/root"
state = "${d}/containerd/state"
disabled_plugins = [
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.blockfile", "io.containerd.snapshotter.v1.erofs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing", "io.containerd.nri.v1.nri",
]

[grpc]
  address = "${sock}"

[ttrpc]
  address = "${sock}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "${d}/containerd/opt"

[plugins."io.containerd.cri.v1.runtime"]
  # These hosts' containers lack CAP_SYS_RESOURCE: runc cannot write a negative oom_score_adj (REALNODE trap 1).
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "${d}/cni/net.d"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "${nodeImages.pause}"

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`,
    );
    const containerd = ServerProcess.start("containerd", [bins.containerd, "--config", containerdConfig], {
      logPath: `${ctx.dir}/containerd.log`,
      env: { PATH: `${d}/bin:/usr/sbin:/usr/bin:/sbin:/bin` },
    });
    processes.push(containerd);
    await containerd.waitReady(async () => {
      await ctr(["version"]);
      return true;
    }, 30_000);
    ctx.say("containerd ready");

    const images = await nodeImageArchives();
    for (const image of images) await ctr(["images", "import", "--local", image.path]);
    ctx.say(`imported ${images.map((i) => i.ref).join(", ")}`);

    const cert = async (cn: string, organizations: string[] = []) =>
      await issueCertificate(ctx.ca, cn, { usage: { kind: "client", organizations } });
    const kubeconfigFor = async (name: string, cn: string, orgs: string[] = []) =>
      await write(`${name}.kubeconfig`, ctx.kubeconfig(await cert(cn, orgs)));

    const kcm = ServerProcess.start("kube-controller-manager", [
      bins.kcm,
      `--kubeconfig=${await kubeconfigFor("kcm", "system:kube-controller-manager")}`,
      "--secure-port=0",
      "--leader-elect=false",
      `--root-ca-file=${ctx.caPath}`,
      `--service-account-private-key-file=${ctx.serviceAccountKeyFile}`,
      "--use-service-account-credentials=true",
      // No cloud, and the node's pod range comes from the CNI config (REALNODE trap 10).
      "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-route",
      `--service-cluster-ip-range=${n.serviceCidr}`,
      "--cluster-name=kirsa",
    ], { logPath: `${ctx.dir}/kube-controller-manager.log` });
    processes.push(kcm);

    const scheduler = ServerProcess.start("kube-scheduler", [
      bins.scheduler,
      `--kubeconfig=${await kubeconfigFor("scheduler", "system:kube-scheduler")}`,
      "--secure-port=0",
      "--leader-elect=false",
    ], { logPath: `${ctx.dir}/kube-scheduler.log` });
    processes.push(scheduler);

    const serving = await issueCertificate(ctx.ca, n.nodeName, {
      usage: { kind: "server", dnsNames: [n.nodeName], ipAddresses: [n.hostIp] },
    });
    const kubeletPort = freePort();
    const kubeletConfig = await write(
      "kubelet/config.yaml",
      toYaml({
        apiVersion: "kubelet.config.k8s.io/v1beta1",
        kind: "KubeletConfiguration",
        // These hosts are cgroup v1 (REALNODE trap 2).
        failCgroupV1: false,
        cgroupDriver: "cgroupfs",
        cgroupRoot: `/${n.cgroupRoot}`,
        address: n.hostIp,
        port: kubeletPort,
        readOnlyPort: 0,
        healthzBindAddress: "127.0.0.1",
        healthzPort: freePort(),
        tlsCertFile: await write("kubelet/pki/kubelet.pem", serving.certPem),
        tlsPrivateKeyFile: await write("kubelet/pki/kubelet.key", serving.keyPem),
        authentication: {
          anonymous: { enabled: false },
          webhook: { enabled: true },
          x509: { clientCAFile: ctx.caPath },
        },
        authorization: { mode: "Webhook" },
        containerRuntimeEndpoint: `unix://${sock}`,
        // Imported images are never collected (REALNODE trap 7); eviction only when the machine is really full.
        imageGCHighThresholdPercent: 100,
        imageGCLowThresholdPercent: 99,
        evictionHard: { "memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%" },
        failSwapOn: false,
        podLogsDir: `${d}/kubelet/pod-logs`,
        volumePluginDir: `${d}/kubelet/volume-plugins`,
        clusterDomain: "cluster.local",
        // No cluster DNS: pods get a resolver on the node IP where nothing listens, so a lookup fails at once
        // instead of timing out against the host's resolver behind the guard.
        resolvConf: await write("kubelet/resolv.conf", `nameserver ${n.hostIp}\n`),
        serializeImagePulls: false,
        maxPods: 60,
        shutdownGracePeriod: "0s",
      }),
    );
    const kubelet = ServerProcess.start("kubelet", [
      bins.kubelet,
      `--config=${kubeletConfig}`,
      `--kubeconfig=${await kubeconfigFor("kubelet", `system:node:${n.nodeName}`, ["system:nodes"])}`,
      `--root-dir=${d}/kubelet/root`,
      `--cert-dir=${d}/kubelet/pki`,
      `--node-ip=${n.hostIp}`,
      `--hostname-override=${n.nodeName}`,
    ], { logPath: `${ctx.dir}/kubelet.log`, env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } });
    processes.push(kubelet);

    const proxyConfig = await write(
      "kube-proxy.yaml",
      toYaml({
        apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
        kind: "KubeProxyConfiguration",
        mode: "nftables",
        clientConnection: { kubeconfig: await kubeconfigFor("kube-proxy", "system:kube-proxy") },
        hostnameOverride: n.nodeName,
        clusterCIDR: n.podCidr,
        detectLocalMode: "ClusterCIDR",
        nodePortAddresses: [`${n.hostIp}/32`],
        healthzBindAddress: `127.0.0.1:${freePort()}`,
        metricsBindAddress: `127.0.0.1:${freePort()}`,
        // Conntrack sysctls are host-wide: leave them alone (REALNODE trap 9).
        conntrack: {
          maxPerCore: 0,
          min: 0,
          tcpEstablishedTimeout: "0s",
          tcpCloseWaitTimeout: "0s",
          udpTimeout: "0s",
          udpStreamTimeout: "0s",
        },
      }),
    );
    const proxy = ServerProcess.start("kube-proxy", [bins.proxy, `--config=${proxyConfig}`], {
      logPath: `${ctx.dir}/kube-proxy.log`,
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
    });
    processes.push(proxy);

    await kubelet.waitReady(async () => {
      const r = await ctx.adminFetch(`/api/v1/nodes/${n.nodeName}`);
      if (!r.ok) {
        await r.body?.cancel();
        return false;
      }
      const node = await r.json() as {
        spec?: { taints?: unknown[] };
        status?: { conditions?: { type: string; status: string }[] };
      };
      const ready = node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
      // The node lifecycle controller removes the not-ready taint shortly after Ready.
      return ready && (node.spec?.taints ?? []).length === 0;
    }, 120_000);
    await restoreSysctls(ctx.host.before);
    const startSeconds = (performance.now() - started) / 1000;
    ctx.say(`node ${n.nodeName} Ready at ${n.hostIp} in ${startSeconds.toFixed(1)} s`);

    return {
      name: n.nodeName,
      ip: n.hostIp,
      images: nodeImages,
      startSeconds,
      containerdAddress: sock,
      ctr,
      async stop() {
        // Controllers first, so nothing recreates the pods deleted next.
        for (const p of [kcm, scheduler]) await p.stop();
        await deleteAllPods(ctx);
        await kubelet.stop(15_000);
        await killShims(`${d}/containerd/state`);
        await stopProcesses();
        await unmountUnder(d);
        await restoreSysctls(ctx.host.before);
      },
    };
  } catch (e) {
    await stopProcesses();
    await killShims(`${d}/containerd/state`);
    await unmountUnder(d);
    throw e;
  }
}

/** Deletes every pod and waits until the kubelet has torn them down (CNI DEL, unmounts). */
async function deleteAllPods(ctx: NodeContext): Promise<void> {
  const list = async () => {
    const r = await ctx.adminFetch("/api/v1/pods");
    if (!r.ok) {
      await r.body?.cancel();
      return [];
    }
    return ((await r.json()) as { items: { metadata: { name: string; namespace: string } }[] }).items;
  };
  for (const p of await list()) {
    const r = await ctx.adminFetch(`/api/v1/namespaces/${p.metadata.namespace}/pods/${p.metadata.name}`, {
      method: "DELETE",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ gracePeriodSeconds: 1 }),
    });
    await r.body?.cancel();
  }
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && (await list()).length > 0) await new Promise((r) => setTimeout(r, 250));
}

/** Kills the runc shims (and so their containers) by the PIDs containerd recorded. */
async function killShims(stateDir: string): Promise<void> {
  const taskDir = `${stateDir}/io.containerd.runtime.v2.task`;
  const pids: number[] = [];
  const walk = async (dir: string) => {
    const entries: Deno.DirEntry[] = [];
    try {
      for await (const e of Deno.readDir(dir)) entries.push(e);
    } catch { /* no such folder */ }
    for (const e of entries) {
      if (e.isDirectory) await walk(`${dir}/${e.name}`);
      else if (e.name === "shim.pid" || e.name === "init.pid") {
        const pid = Number((await Deno.readTextFile(`${dir}/${e.name}`).catch(() => "")).trim());
        if (pid > 1) pids.push(pid);
      }
    }
  };
  await walk(taskDir);
  for (const pid of pids) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
  if (pids.length > 0) await new Promise((r) => setTimeout(r, 300));
}
