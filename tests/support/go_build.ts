// Builds the real servers the tests run against (etcd, the Kubernetes control plane and node, containerd), the
// upstream amazon-eks-pod-identity-webhook peer, and the distribution tools (krew, validate-krew-manifest,
// actionlint, helm) from Go modules, and caches them per version, so only the first run pays for the build.
import { cacheDir, runChecked } from "./proc.ts";

/** Versions of the Go-built test servers. Change one here and the next run rebuilds it. */
export const serverVersions = {
  kubernetes: "v1.36.3",
  etcd: "v3.6.16",
  /** github.com/containerd/containerd/v2: 2.2 is the last line that runs on cgroup v1 hosts like these. */
  containerd: "v2.2.9",
  /**
   * github.com/aws/amazon-eks-pod-identity-webhook, the peer for differential tests and benchmarks. v0.6.17 still
   * answers with an admission/v1beta1 AdmissionReview that has no apiVersion/kind: it decodes a v1 request, but
   * kube-apiserver rejects its reply to one, so register it with `admissionReviewVersions: ["v1beta1"]` (which
   * kube-apiserver 1.36 still sends) or read only `.response` when posting to it directly. Newer tags and commits
   * are not served by the module proxy this project can reach.
   */
  podIdentityWebhook: "v0.6.17",
  /** sigs.k8s.io/krew: `krew` itself and `validate-krew-manifest`, the validator the krew-index CI runs. */
  krew: "v0.4.3",
  /**
   * The seed operator (kkb0318/irsa-manager, ../shared/peers/irsa-manager at this commit), the peer of the daemon
   * benchmark; built from the copy there, since the module proxy does not serve it. Not part of `all`: only the
   * benchmark runs it.
   */
  irsaManager: "f1775f8",
  /** github.com/rhysd/actionlint, the linter for .github/workflows. */
  actionlint: "v1.7.12",
  /** helm.sh/helm/v3, for linting and rendering charts/kubectl-irsa. */
  helm: "v3.22.0",
} as const;

const goRoot = new URL("../go/", import.meta.url).pathname;
const peersRoot = new URL("../../../shared/peers/", import.meta.url).pathname;

interface GoTool {
  /** Binary name in the cache. */
  name: string;
  version: string;
  /** Folder under tests/go holding the small module. */
  moduleDir: string;
  /** Package to build. */
  pkg: string;
  ldflags: string;
  /**
   * Tools of one group share a module and flags and are built by one `go build` invocation (which compiles the
   * shared packages once): asking for any of them builds every missing one of the group.
   */
  group?: string;
  tags?: string;
  env?: Record<string, string>;
}

/** The Kubernetes commands built from the kube-apiserver module, in one `go build`. */
export const kubernetesCommands = [
  "kube-apiserver",
  "kubectl",
  "kubelet",
  "kube-controller-manager",
  "kube-scheduler",
  "kube-proxy",
] as const;

const containerdTags = "no_btrfs no_devmapper no_zfs static_build osusergo netgo urfave_cli_no_docs";

function tools(): GoTool[] {
  const k = serverVersions.kubernetes;
  const stamp = [
    `-X k8s.io/component-base/version.gitVersion=${k}`,
    `-X k8s.io/component-base/version.gitMajor=${k.slice(1).split(".")[0]}`,
    `-X k8s.io/component-base/version.gitMinor=${k.split(".")[1]}`,
    `-X k8s.io/component-base/version.gitTreeState=clean`,
  ].join(" ");
  const c = serverVersions.containerd;
  const containerdStamp = `-s -w -X github.com/containerd/containerd/v2/version.Version=${c}`;
  return [
    ...kubernetesCommands.map((name) => ({
      name,
      version: k,
      moduleDir: `${goRoot}kube-apiserver`,
      pkg: `k8s.io/kubernetes/cmd/${name}`,
      ldflags: `-s -w ${stamp}`,
      group: "kubernetes",
      env: { CGO_ENABLED: "0" },
    })),
    ...["containerd", "ctr"].map((name) => ({
      name,
      version: c,
      moduleDir: `${goRoot}containerd`,
      pkg: `github.com/containerd/containerd/v2/cmd/${name}`,
      ldflags: containerdStamp,
      group: "containerd",
      tags: containerdTags,
      env: { CGO_ENABLED: "0" },
    })),
    {
      name: "containerd-shim-runc-v2",
      version: c,
      moduleDir: `${goRoot}containerd`,
      pkg: "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2",
      ldflags: containerdStamp,
      tags: `${containerdTags} no_grpc`,
      env: { CGO_ENABLED: "0" },
    },
    {
      name: "etcd",
      version: serverVersions.etcd,
      moduleDir: `${goRoot}etcd`,
      pkg: "go.etcd.io/etcd/server/v3",
      ldflags: `-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=${serverVersions.etcd}`,
    },
    {
      name: "pod-identity-webhook",
      version: serverVersions.podIdentityWebhook,
      moduleDir: `${goRoot}pod-identity-webhook`,
      pkg: "github.com/aws/amazon-eks-pod-identity-webhook",
      // main.webhookVersion is what `--version` prints; upstream's Makefile leaves it at a placeholder.
      ldflags: `-s -w -X main.webhookVersion=${serverVersions.podIdentityWebhook}`,
    },
    {
      name: "krew",
      version: serverVersions.krew,
      moduleDir: `${goRoot}krew`,
      pkg: "sigs.k8s.io/krew/cmd/krew",
      // Stamped like upstream's hack/make-binaries.sh. A stamped tag enables krew's random upgrade check against
      // GitHub; callers set KREW_NO_UPGRADE_CHECK=1.
      ldflags: `-s -w -X sigs.k8s.io/krew/internal/version.gitTag=${serverVersions.krew}`,
    },
    {
      name: "validate-krew-manifest",
      version: serverVersions.krew,
      moduleDir: `${goRoot}krew`,
      pkg: "sigs.k8s.io/krew/cmd/validate-krew-manifest",
      ldflags: "-s -w",
    },
    {
      name: "irsa-manager",
      version: serverVersions.irsaManager,
      moduleDir: `${peersRoot}irsa-manager`,
      pkg: "./cmd",
      ldflags: "-s -w",
      env: { CGO_ENABLED: "0" },
    },
    {
      name: "actionlint",
      version: serverVersions.actionlint,
      moduleDir: `${goRoot}actionlint`,
      pkg: "github.com/rhysd/actionlint/cmd/actionlint",
      ldflags: `-s -w -X github.com/rhysd/actionlint.version=${serverVersions.actionlint}`,
    },
    {
      name: "helm",
      version: serverVersions.helm,
      moduleDir: `${goRoot}helm`,
      pkg: "helm.sh/helm/v3/cmd/helm",
      // Stamped like upstream's Makefile, whose Kubernetes version is that of its client-go (v0.37 -> 1.37): it is
      // what `helm template` and `helm lint` assume for .Capabilities.KubeVersion and API deprecations.
      ldflags: [
        "-s -w",
        `-X helm.sh/helm/v3/internal/version.version=${serverVersions.helm}`,
        "-X helm.sh/helm/v3/internal/version.gitTreeState=clean",
        ...["pkg/lint/rules", "pkg/chartutil"].flatMap((p) => [
          `-X helm.sh/helm/v3/${p}.k8sVersionMajor=1`,
          `-X helm.sh/helm/v3/${p}.k8sVersionMinor=37`,
        ]),
      ].join(" "),
    },
  ];
}

/** Names of the tools `ensureBinary` builds. */
export type GoToolName =
  | (typeof kubernetesCommands)[number]
  | "etcd"
  | "containerd"
  | "ctr"
  | "containerd-shim-runc-v2"
  | "pod-identity-webhook"
  | "krew"
  | "validate-krew-manifest"
  | "actionlint"
  | "irsa-manager"
  | "helm";

function binaryPath(tool: GoTool): string {
  return `${cacheDir()}/bin/${tool.name}-${tool.version}`;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** Path of the cached binary for a tool, built on first use (with the missing rest of its group). */
export async function ensureBinary(name: GoToolName): Promise<string> {
  const all = tools();
  const tool = all.find((t) => t.name === name)!;
  const bin = binaryPath(tool);
  if (await exists(bin)) return bin;
  const batch: GoTool[] = [];
  for (const t of all) {
    if (t === tool || (tool.group !== undefined && t.group === tool.group)) {
      if (!(await exists(binaryPath(t)))) batch.push(t);
    }
  }
  await Deno.mkdir(`${cacheDir()}/bin`, { recursive: true });
  const out = await Deno.makeTempDir({ dir: `${cacheDir()}/bin`, prefix: "build-" });
  const names = batch.map((t) => t.name).join(", ");
  const started = performance.now();
  console.error(`harness: building ${names} ${tool.version} from Go modules (first run only, may take 10-20 min)`);
  try {
    // With several packages `go build -o DIR/` writes one binary per main package into DIR.
    await runChecked([
      "go",
      "build",
      "-trimpath",
      ...(tool.tags ? ["-tags", tool.tags] : []),
      "-ldflags",
      tool.ldflags,
      "-o",
      batch.length > 1 ? `${out}/` : `${out}/${tool.name}`,
      ...batch.map((t) => t.pkg),
    ], {
      cwd: tool.moduleDir,
      progress: `build ${names}`,
      env: { ...Deno.env.toObject(), ...(tool.env ?? {}) },
    });
    const seconds = Math.round((performance.now() - started) / 1000);
    for (const t of batch) {
      await Deno.rename(`${out}/${t.name}`, binaryPath(t));
      // Kept for `deno task bench`, which reports the cold build time without rebuilding.
      await Deno.writeTextFile(
        `${binaryPath(t)}.build.json`,
        JSON.stringify({ seconds, with: batch.map((b) => b.name), builtAt: new Date().toISOString() }) + "\n",
      );
    }
    console.error(`harness: built ${names} ${tool.version} in ${seconds}s`);
  } finally {
    await Deno.remove(out, { recursive: true }).catch(() => {});
  }
  return bin;
}

/**
 * Rewrites tests/go/kube-apiserver/go.mod for a Kubernetes version: k8s.io/kubernetes replaces its staging
 * modules with local paths, which a dependent module cannot see, so every staging replace is turned into the
 * published v0.x module of the same release.
 */
export async function generateKubeApiserverModule(version: string): Promise<void> {
  const dir = `${goRoot}kube-apiserver`;
  const info = JSON.parse(
    await runChecked(["go", "mod", "download", "-json", `k8s.io/kubernetes@${version}`], { cwd: goRoot }),
  ) as { GoMod: string };
  const upstream = await Deno.readTextFile(info.GoMod);
  const staging = stagingModules(upstream);
  const goLine = upstream.match(/^go (\S+)$/m)?.[1] ?? "1.26";
  const minor = `v0.${version.slice(1).split(".").slice(1).join(".")}`;
  const replaces = staging.map((m) => `\t${m} => ${m} ${minor}`).join("\n");
  await Deno.writeTextFile(
    `${dir}/go.mod`,
    `module kubectl-irsa.test/kube-apiserver\n\ngo ${goLine}\n\nreplace (\n${replaces}\n)\n`,
  );
  await Deno.remove(`${dir}/go.sum`).catch(() => {});
  for (const cmd of kubernetesCommands) {
    await runChecked(["go", "get", "-tool", `k8s.io/kubernetes/cmd/${cmd}@${version}`], {
      cwd: dir,
      progress: `go get ${cmd}`,
    });
  }
}

/** Writes tests/go/containerd/go.mod: containerd, ctr and the runc shim as tools of one small module. */
export async function generateContainerdModule(): Promise<void> {
  const dir = `${goRoot}containerd`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/go.mod`, "module kubectl-irsa.test/containerd\n\ngo 1.26.0\n");
  await Deno.remove(`${dir}/go.sum`).catch(() => {});
  for (const cmd of ["containerd", "ctr", "containerd-shim-runc-v2"]) {
    await runChecked([
      "go",
      "get",
      "-tool",
      `github.com/containerd/containerd/v2/cmd/${cmd}@${serverVersions.containerd}`,
    ], {
      cwd: dir,
      progress: `go get ${cmd}`,
    });
  }
}

/** Module paths that a Kubernetes go.mod replaces with ./staging directories. */
export function stagingModules(goMod: string): string[] {
  const found = [...goMod.matchAll(/^\s*(k8s\.io\/[\w.-]+)\s+=>\s+\.\/staging\//gm)].map((m) => m[1]!);
  return [...new Set(found)].sort();
}

if (import.meta.main) {
  // `go_build.ts` builds the servers, `go_build.ts all` every test tool (kubectl only when asked by name),
  // `go_build.ts NAME...` the named ones, `go_build.ts generate [VERSION]` regenerates the kube-apiserver module.
  const [cmd, ...rest] = Deno.args;
  if (cmd === "generate") await generateKubeApiserverModule(rest[0] ?? serverVersions.kubernetes);
  else if (cmd === "generate-containerd") await generateContainerdModule();
  else {
    const known = tools().map((t) => t.name);
    const names = cmd === undefined
      ? ["etcd", "kube-apiserver"]
      : cmd === "all"
      ? known.filter((n) => n !== "kubectl" && n !== "irsa-manager")
      : [cmd, ...rest];
    for (const name of names) {
      if (!known.includes(name)) throw new Error(`unknown tool "${name}"; known: ${known.join(", ")}`);
      console.log(await ensureBinary(name as Parameters<typeof ensureBinary>[0]));
    }
  }
}
