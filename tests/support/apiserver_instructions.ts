// Follows the kube-apiserver change that `kubectl irsa init` prints, the way an admin would: read the numbered
// steps from the text output, apply each one literally to a configuration file in the distribution's own format,
// then work out the flags the distribution would pass to kube-apiserver from the edited file. The merge rules
// below model kubeadm, k3s/RKE2 and kind themselves (from their source), not kubectl-irsa's renderer, so a step
// that reads well but drops a flag shows up as a wrong flag list. Everything here is pure.
import { parse, stringify } from "yaml";

/** The distributions whose configuration formats are modelled. */
export type ConfigFormat = "raw" | "static-pod" | "kubeadm" | "k3s" | "rke2" | "kind";

/** One numbered step of the printed change. */
export type Step =
  | { kind: "prepend" | "replace" | "append"; flag: string; entries: string; ifNone?: string }
  | { kind: "keep"; flag: string }
  | { kind: "add-to"; path: string; entries: string }
  | { kind: "kind-delete-args"; names: string[] }
  | { kind: "kind-add-patches"; entries: string }
  | { kind: "kind-add-mounts"; entries: string }
  | { kind: "kind-create" };

/** The printed change, read back. */
export interface PrintedChange {
  distro: string;
  /** The first line: where the flags live. */
  where: string;
  steps: Step[];
  /** The "afterwards" list, as `--name=value` (`<unchanged>` for values kept as they are). */
  result: string[];
  notes: string[];
}

const indent = "    "; // the CLI indents the steps under the heading
const blockIndent = "     "; // and the steps indent the lines to paste

/** Reads the apiserver change from `kubectl irsa init`'s (or `rotate-key prepare`'s) text output. */
export function readPrintedChange(stdout: string): PrintedChange {
  const lines = stdout.split("\n");
  const head = lines.findIndex((l) => /^Apply this kube-apiserver change \((.+)\):$/.test(l));
  if (head < 0) throw new Error(`no "Apply this kube-apiserver change" heading in:\n${stdout}`);
  const distro = lines[head]!.match(/\((.+)\)/)![1]!;
  const body: string[] = [];
  let i = head + 1;
  for (; i < lines.length && !lines[i]!.startsWith("- "); i++) {
    const l = lines[i]!;
    if (l !== "" && !l.startsWith(indent)) throw new Error(`unexpected line in the change: ${JSON.stringify(l)}`);
    body.push(l.slice(indent.length));
  }
  const notes: string[] = [];
  for (; i < lines.length; i++) if (lines[i]!.startsWith("- ")) notes.push(lines[i]!.slice(2));
  while (body[0] === "") body.shift();
  return { distro, ...parseSteps(body), notes };
}

function parseSteps(body: string[]): { where: string; steps: Step[]; result: string[] } {
  const where = body[0] ?? "";
  const steps: Step[] = [];
  const result: string[] = [];
  let i = 1;
  const takeBlock = (): string => {
    const out: string[] = [];
    while (i < body.length && body[i]!.startsWith(blockIndent)) out.push(body[i++]!.slice(blockIndent.length));
    if (out.length === 0) throw new Error(`a step without lines to paste before ${JSON.stringify(body[i])}`);
    return out.join("\n") + "\n";
  };
  const flag = (ref: string) => ref.replace(/^--/, "");
  while (i < body.length) {
    const line = body[i++]!;
    let m: RegExpMatchArray | null;
    if (line === "") continue;
    if (
      (m = line.match(
        /^\d+\. Put (?:this|these) before the first (\S+) (?:flag|entry) and keep every existing one after it:$/,
      ))
    ) {
      steps.push({ kind: "prepend", flag: flag(m[1]!), entries: takeBlock() });
    } else if (
      (m = line.match(/^\d+\. Delete every (\S+) (?:flag|entry) and put (?:this|these) in (?:its|their) place:$/))
    ) {
      steps.push({ kind: "replace", flag: flag(m[1]!), entries: takeBlock() });
    } else if ((m = line.match(/^\d+\. Keep every (\S+) (?:flag|entry) and add (?:this|these) after the last one:$/))) {
      steps.push({ kind: "append", flag: flag(m[1]!), entries: takeBlock() });
    } else if ((m = line.match(/^\d+\. Keep every (\S+) (?:flag|entry) as it is\.(?: \(With none, .+\.\))?$/))) {
      steps.push({ kind: "keep", flag: flag(m[1]!) });
    } else if ((m = line.match(/^ {3}If there is no (\S+) (?:flag|entry) yet, add these instead:$/))) {
      const last = steps[steps.length - 1];
      if (!last || (last.kind !== "prepend" && last.kind !== "append") || last.flag !== flag(m[1]!)) {
        throw new Error(`"If there is no" without its step: ${line}`);
      }
      last.ifNone = takeBlock();
    } else if (
      /^\d+\. Add to extraMounts of every node with role: control-plane \(create it if it is missing\):$/.test(line)
    ) {
      steps.push({ kind: "kind-add-mounts", entries: takeBlock() });
    } else if ((m = line.match(/^\d+\. Add to (\S+) \(create it if it is missing\):$/))) {
      steps.push({ kind: "add-to", path: m[1]!, entries: takeBlock() });
    } else if (
      (m = line.match(
        /^\d+\. Delete (.+) from apiServer\.extraArgs in every kubeadmConfigPatches entry of kind ClusterConfiguration\.$/,
      ))
    ) {
      steps.push({ kind: "kind-delete-args", names: m[1]!.split(/, | and /) });
    } else if (/^\d+\. Add these to kubeadmConfigPatches \(create it if it is missing\);.*:$/.test(line)) {
      steps.push({ kind: "kind-add-patches", entries: takeBlock() });
    } else if (/^\d+\. Create the cluster from it: .*$/.test(line)) {
      steps.push({ kind: "kind-create" });
    } else if (
      /^(Afterwards kube-apiserver runs|The new cluster's kube-apiserver then runs) with these service-account flags:$/
        .test(line)
    ) {
      for (const r of takeBlock().trimEnd().split("\n")) result.push(r.split("  (")[0]!);
    } else {
      throw new Error(`a line of the change that no rule follows: ${JSON.stringify(line)}`);
    }
  }
  return { where, steps, result };
}

/** The flag an argument sets: `--name=value` → name (undefined for the binary and positional words). */
export function argName(arg: string): string | undefined {
  return arg.startsWith("--") ? arg.slice(2).split("=")[0] : undefined;
}

/** Edits a list of items following one flag step; `nameOf` says which flag an item sets. */
function editList<T>(list: T[], step: Step & { flag: string }, nameOf: (item: T) => string | undefined, items: {
  entries: T[];
  ifNone?: T[];
}): void {
  const at = list.flatMap((item, i) => (nameOf(item) === step.flag ? [i] : []));
  switch (step.kind) {
    case "keep":
      return;
    case "prepend":
      if (at.length === 0) list.push(...(items.ifNone ?? items.entries));
      else list.splice(at[0]!, 0, ...items.entries);
      return;
    case "append":
      if (at.length === 0) list.push(...(items.ifNone ?? items.entries));
      else list.splice(at[at.length - 1]! + 1, 0, ...items.entries);
      return;
    case "replace": {
      const first = at[0] ?? list.length;
      for (const i of [...at].reverse()) list.splice(i, 1);
      list.splice(Math.min(first, list.length), 0, ...items.entries);
      return;
    }
  }
}

function yamlList<T>(text: string): T[] {
  const v = parse(text);
  if (!Array.isArray(v)) throw new Error(`expected a YAML list to paste, got:\n${text}`);
  return v as T[];
}

/** Walks `a.b[0].c` in a YAML document, creating missing maps; returns the list at the end (created if missing). */
function listAt(doc: Record<string, unknown>, path: string): unknown[] {
  const parts = path.split(".").flatMap((p) => {
    const m = p.match(/^([^[]+)((?:\[\d+\])*)$/);
    if (!m) throw new Error(`unreadable path ${path}`);
    return [m[1]!, ...[...m[2]!.matchAll(/\[(\d+)\]/g)].map((x) => Number(x[1]))];
  });
  let node: Record<string | number, unknown> = doc;
  for (const [i, key] of parts.entries()) {
    const last = i === parts.length - 1;
    if (node[key] === undefined || node[key] === null) node[key] = last || typeof parts[i + 1] === "number" ? [] : {};
    node = node[key] as Record<string | number, unknown>;
  }
  if (!Array.isArray(node)) throw new Error(`${path} is not a list`);
  return node;
}

/** Applies the printed steps literally to one configuration file; returns the edited file. */
export function applyPrintedChange(format: ConfigFormat, file: string, change: PrintedChange): string {
  if (format === "kind") return applyKindSteps(file, change.steps);
  if (format === "raw") {
    const args = file.trimEnd().split("\n");
    for (const step of change.steps) {
      if (step.kind === "add-to" || !("flag" in step)) throw new Error(`a raw flag list has no ${step.kind} step`);
      const lines = (t: string | undefined) => t?.trimEnd().split("\n");
      editList(args, step, argName, {
        entries: "entries" in step ? lines(step.entries)! : [],
        ...("ifNone" in step && step.ifNone ? { ifNone: lines(step.ifNone)! } : {}),
      });
    }
    return args.join("\n") + "\n";
  }
  const doc = parse(file) as Record<string, unknown>;
  const list = format === "static-pod"
    ? listAt(doc, "spec.containers[0].command") as string[]
    : format === "kubeadm"
    ? listAt(doc, "apiServer.extraArgs") as { name: string; value: string }[]
    : listAt(doc, "kube-apiserver-arg") as string[];
  const nameOf = format === "static-pod"
    ? (a: unknown) => argName(a as string)
    : format === "kubeadm"
    ? (a: unknown) => (a as { name: string }).name
    : (a: unknown) => (a as string).split("=")[0]!.replace(/[+-]$/, "");
  for (const step of change.steps) {
    if (step.kind === "add-to") {
      listAt(doc, step.path).push(...yamlList(step.entries));
      continue;
    }
    if (!("flag" in step)) throw new Error(`${format} has no ${step.kind} step`);
    editList(list as unknown[], step, nameOf, {
      entries: "entries" in step ? yamlList(step.entries) : [],
      ...("ifNone" in step && step.ifNone ? { ifNone: yamlList(step.ifNone) } : {}),
    });
  }
  return stringify(doc);
}

function applyKindSteps(file: string, steps: Step[]): string {
  const doc = parse(file) as Record<string, unknown>;
  for (const step of steps) {
    switch (step.kind) {
      case "kind-delete-args": {
        const patches = (doc.kubeadmConfigPatches ?? []) as string[];
        doc.kubeadmConfigPatches = patches.map((text) => {
          const patch = parse(text) as { kind?: string; apiServer?: { extraArgs?: unknown } };
          const args = patch?.apiServer?.extraArgs;
          if (patch?.kind !== "ClusterConfiguration" || !args) return text;
          patch.apiServer!.extraArgs = Array.isArray(args)
            ? args.filter((a: { name: string }) => !step.names.includes(a.name))
            : Object.fromEntries(Object.entries(args).filter(([k]) => !step.names.includes(k)));
          return stringify(patch);
        });
        break;
      }
      case "kind-add-patches":
        listAt(doc, "kubeadmConfigPatches").push(...yamlList(step.entries));
        break;
      case "kind-add-mounts": {
        const nodes = (doc.nodes ?? [{ role: "control-plane" }]) as Record<string, unknown>[];
        doc.nodes = nodes;
        for (const node of nodes) {
          if (node.role === "control-plane") listAt(node, "extraMounts").push(...yamlList(step.entries));
        }
        break;
      }
      case "kind-create":
        break;
      default:
        throw new Error(`a kind configuration has no ${step.kind} step`);
    }
  }
  return stringify(doc);
}

const defaultIssuer = "https://kubernetes.default.svc.cluster.local";

// kubeadm's own service-account flags (cmd/kubeadm/app/phases/controlplane/manifests.go).
const kubeadmServiceAccount = [
  `--service-account-issuer=${defaultIssuer}`,
  "--service-account-key-file=/etc/kubernetes/pki/sa.pub",
  "--service-account-signing-key-file=/etc/kubernetes/pki/sa.key",
];

// k3s's (and RKE2's, which runs k3s's control-plane code) in pkg/daemons/control/server.go.
function k3sServiceAccount(program: "k3s" | "rke2"): string[] {
  const tls = `/var/lib/rancher/${program}/server/tls`;
  return [
    `--service-account-issuer=${defaultIssuer}`,
    `--service-account-key-file=${tls}/service.key`,
    `--service-account-signing-key-file=${tls}/service.current.key`,
    `--api-audiences=${defaultIssuer},${program}`,
  ];
}

/** The files a distribution's apiserver reads its service-account keys from when nothing overrides them. */
export function builtInKeyPaths(format: ConfigFormat): { keyFile: string; signingKeyFile: string } {
  const sa = format === "k3s" || format === "rke2" ? k3sServiceAccount(format) : kubeadmServiceAccount;
  const value = (name: string) => sa.find((a) => argName(a) === name)!.split("=")[1]!;
  return { keyFile: value("service-account-key-file"), signingKeyFile: value("service-account-signing-key-file") };
}

function splitArg(arg: string): [string, string] {
  const body = arg.replace(/^--/, "");
  const i = body.indexOf("=");
  return i < 0 ? [body, "true"] : [body.slice(0, i), body.slice(i + 1)];
}

// kubeadm: an extraArgs name replaces the built-in flag of that name; repeated names keep their order, and the
// command is sorted by name (BuildArgumentListFromMap after kubernetes/kubeadm#3261).
function kubeadmArgs(builtIn: string[], extraArgs: { name: string; value: string }[]): string[] {
  const byName = new Map<string, string[]>();
  for (const a of builtIn) {
    const [k, v] = splitArg(a);
    byName.set(k, [...(byName.get(k) ?? []), v]);
  }
  const overridden = new Set<string>();
  for (const { name, value } of extraArgs) {
    if (!overridden.has(name)) byName.set(name, []);
    overridden.add(name);
    byName.get(name)!.push(String(value));
  }
  return [...byName.keys()].sort().flatMap((k) => byName.get(k)!.map((v) => `--${k}=${v}`));
}

// k3s's util.GetArgs: `name=value` replaces the built-in value (repeats accumulate), `name+=` appends to it and
// `name-=` prepends; the result is sorted by name.
function k3sArgs(builtIn: string[], extra: string[]): string[] {
  const initial = new Map(builtIn.map(splitArg));
  const multi = new Map<string, string[]>();
  for (const raw of extra) {
    const [arg, value] = splitArg(raw);
    const clean = arg.replace(/[+-]+$/, "");
    const init = initial.get(clean);
    const existing = multi.get(clean) ?? [];
    let next: string[];
    if (arg.endsWith("+")) next = [...(init === undefined ? [] : [init]), ...existing, value];
    else if (arg.endsWith("-")) next = [value, ...(init === undefined ? [] : [init]), ...existing];
    else next = [...existing, value];
    initial.delete(clean);
    multi.set(clean, next);
  }
  for (const [k, v] of initial) multi.set(k, [v]);
  return [...multi.keys()].sort().flatMap((k) => multi.get(k)!.map((v) => `--${k}=${v}`));
}

/** kind's node: where its files come from (extraMounts, hostPath → containerPath). */
export interface KindNodeMount {
  hostPath: string;
  containerPath: string;
}

/**
 * The kube-apiserver arguments a distribution runs from this configuration file, and for kind the control-plane
 * node's mounts. `base` is what the distribution derives from its other settings (etcd, certificates, ports).
 */
export function apiserverArgs(
  format: ConfigFormat,
  file: string,
  base: string[],
): { args: string[]; mounts: KindNodeMount[] } {
  switch (format) {
    case "raw":
      return { args: file.trimEnd().split("\n").slice(1), mounts: [] };
    case "static-pod": {
      const pod = parse(file) as { spec: { containers: { command: string[] }[] } };
      return { args: pod.spec.containers[0]!.command.slice(1), mounts: [] };
    }
    case "kubeadm": {
      const config = parse(file) as {
        apiVersion: string;
        apiServer?: { extraArgs?: { name: string; value: string }[] };
      };
      if (config.apiVersion !== "kubeadm.k8s.io/v1beta4") throw new Error(`kubeadm config ${config.apiVersion}`);
      return { args: kubeadmArgs([...base, ...kubeadmServiceAccount], config.apiServer?.extraArgs ?? []), mounts: [] };
    }
    case "k3s":
    case "rke2": {
      const config = (parse(file) ?? {}) as { "kube-apiserver-arg"?: string[] };
      return { args: k3sArgs([...base, ...k3sServiceAccount(format)], config["kube-apiserver-arg"] ?? []), mounts: [] };
    }
    case "kind":
      return kindArgs(file, base);
  }
}

// kind (1.36 node images, kind with kubernetes-sigs/kind#4173) generates a kubeadm v1beta4 configuration, applies
// every kubeadmConfigPatches entry of kind ClusterConfiguration that has no apiVersion or v1beta4, converting a
// map-form extraArgs to the list form, and appends patched extraArgs to its own.
function kindArgs(file: string, base: string[]): { args: string[]; mounts: KindNodeMount[] } {
  const cluster = parse(file) as {
    kind: string;
    nodes?: { role: string; extraMounts?: KindNodeMount[] }[];
    kubeadmConfigPatches?: string[];
  };
  if (cluster.kind !== "Cluster") throw new Error(`kind config of kind ${cluster.kind}`);
  const extraArgs: { name: string; value: string }[] = [];
  for (const text of cluster.kubeadmConfigPatches ?? []) {
    const patch = parse(text) as { apiVersion?: string; kind?: string; apiServer?: { extraArgs?: unknown } };
    if (patch?.kind !== "ClusterConfiguration") continue;
    if (patch.apiVersion !== undefined && patch.apiVersion !== "kubeadm.k8s.io/v1beta4") continue;
    const args = patch.apiServer?.extraArgs;
    if (Array.isArray(args)) extraArgs.push(...args);
    else if (args) extraArgs.push(...Object.entries(args).map(([name, value]) => ({ name, value: String(value) })));
  }
  const controlPlane = (cluster.nodes ?? [{ role: "control-plane" }]).find((n) => n.role === "control-plane");
  return {
    args: kubeadmArgs([...base, ...kubeadmServiceAccount], extraArgs),
    mounts: controlPlane?.extraMounts ?? [],
  };
}

/** The initial configuration file of each distribution, holding `base` (raw, static-pod) and one unrelated flag. */
export function initialConfig(format: ConfigFormat, base: string[]): string {
  const sa = kubeadmServiceAccount;
  switch (format) {
    case "raw":
      return ["/usr/local/bin/kube-apiserver", ...base, ...sa, "--profiling=false"].join("\n") + "\n";
    case "static-pod":
      return stringify({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "kube-apiserver", namespace: "kube-system", labels: { component: "kube-apiserver" } },
        spec: {
          hostNetwork: true,
          containers: [{
            name: "kube-apiserver",
            image: "registry.k8s.io/kube-apiserver:v1.36.3",
            command: ["kube-apiserver", ...base, ...sa, "--profiling=false"],
            volumeMounts: [{ mountPath: "/etc/kubernetes/pki", name: "k8s-certs", readOnly: true }],
          }],
          volumes: [{ hostPath: { path: "/etc/kubernetes/pki", type: "DirectoryOrCreate" }, name: "k8s-certs" }],
        },
      });
    case "kubeadm":
      return stringify({
        apiVersion: "kubeadm.k8s.io/v1beta4",
        kind: "ClusterConfiguration",
        kubernetesVersion: "v1.36.3",
        networking: { dnsDomain: "cluster.local", serviceSubnet: "10.0.0.0/24" },
        apiServer: { extraArgs: [{ name: "profiling", value: "false" }] },
      });
    case "k3s":
    case "rke2":
      return stringify({ "write-kubeconfig-mode": "0600", "kube-apiserver-arg": ["profiling=false"] });
    case "kind":
      return stringify({
        kind: "Cluster",
        apiVersion: "kind.x-k8s.io/v1alpha4",
        nodes: [{ role: "control-plane" }, { role: "worker" }],
        kubeadmConfigPatches: ['kind: ClusterConfiguration\napiServer:\n  extraArgs:\n    profiling: "false"\n'],
      });
  }
}
