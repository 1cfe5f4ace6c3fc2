// The kube-apiserver change that `init` prints. kubectl-irsa never edits the control plane itself: the flags
// below decide which key signs every ServiceAccount token and which issuer they carry, so a human applies them,
// and this module only has to get the order, the kept values and each distribution's spelling exactly right.

import { stringify } from "yaml";
import { invalid } from "./errors.ts";
import { validateIssuerUrl } from "./issuer.ts";
import { stsAudience } from "./names.ts";

import type { Distro } from "./distro.ts";
export { type Distro, distros } from "./distro.ts";

/** Key files of generate mode, as paths on the control-plane node(s). */
export interface GeneratedKeyFiles {
  /** The new public key (PKIX PEM), added as another `--service-account-key-file`. */
  publicKeyPath: string;
  /** The new private key, which becomes `--service-account-signing-key-file`. */
  privateKeyPath: string;
  /**
   * The apiserver's current `--service-account-key-file` values. They must stay, because tokens already issued
   * (and legacy tokens the controller-manager still signs with the old key) are verified with them. Defaults to
   * the distribution's well-known path; `raw` has none.
   */
  existingPublicKeyPaths?: string[];
}

/** What the apiserver looks like today and where the new issuer lives. */
export interface ApiserverChangeInput {
  distro: Distro;
  /** The S3 issuer URL; it becomes the first `--service-account-issuer`. */
  newIssuer: string;
  /** The apiserver's `--service-account-issuer` values today, first one first. */
  currentIssuers: string[];
  /** Where STS (and the apiserver's own discovery document) finds the JWKS: `<issuer>/keys.json`. */
  jwksUri: string;
  /** The apiserver's explicit `--api-audiences`; omit when the flag is not set. */
  apiAudiences?: string[];
  /** Only in generate mode: the new key pair to install. */
  keyFiles?: GeneratedKeyFiles;
}

/** The rendered change. */
export interface ApiserverChange {
  /** Every service-account flag the apiserver must end up with after the change, in order, as `--name=value`. */
  flags: string[];
  /** The exact text to paste for the distribution, ending with a newline. */
  snippet: string;
  /** Why each part is there and how to apply it; one sentence or short paragraph each. */
  notes: string[];
  /** True when the apiserver already signs with the new issuer, so re-running changes nothing about issuers. */
  issuerAlreadyFirst: boolean;
}

/** Facts gathered from the cluster that reveal its distribution. */
export interface DistroFacts {
  /** `gitVersion` from the apiserver's `/version`, for example `v1.31.4+k3s1`. */
  gitVersion: string;
  /** Whether `kube-system/kubeadm-config` exists. */
  hasKubeadmConfig: boolean;
  /** `spec.providerID` of the nodes (empty strings allowed). */
  nodeProviderIds: string[];
  /** Labels of a kube-apiserver mirror pod in kube-system, when one exists. */
  apiserverPodLabels?: Record<string, string>;
}

/**
 * Guesses the distribution from cheap cluster facts. The build suffix in `gitVersion` is the most reliable
 * marker (k3s and RKE2 stamp theirs), then kind's provider IDs, then kubeadm's ConfigMap; an apiserver that runs
 * as a static pod without kubeadm is hand-managed.
 */
export function detectDistro(facts: DistroFacts): Distro {
  if (facts.gitVersion.includes("+k3s")) return "k3s";
  if (facts.gitVersion.includes("+rke2")) return "rke2";
  if (facts.nodeProviderIds.some((id) => id.startsWith("kind://"))) return "kind";
  if (facts.hasKubeadmConfig) return "kubeadm";
  const labels = facts.apiserverPodLabels;
  if (labels?.["component"] === "kube-apiserver" && labels["tier"] === "control-plane") return "static-pod";
  return "raw";
}

type Arg = { name: string; value: string };

// Where each distribution keeps its own service-account verification keys today.
const defaultKeyFiles: Record<Distro, string[]> = {
  "kubeadm": ["/etc/kubernetes/pki/sa.pub"],
  "static-pod": ["/etc/kubernetes/pki/sa.pub"],
  "kind": ["/etc/kubernetes/pki/sa.pub"],
  "k3s": ["/var/lib/rancher/k3s/server/tls/service.key"],
  "rke2": ["/var/lib/rancher/rke2/server/tls/service.key"],
  "raw": [],
};

/** The distribution's well-known `--service-account-key-file` values (empty for raw). */
export function defaultServiceAccountKeyFiles(distro: Distro): string[] {
  return [...defaultKeyFiles[distro]];
}

// Directories the apiserver already sees, so key files inside them need no extra mount.
const mountedDirs: Partial<Record<Distro, string>> = {
  "kubeadm": "/etc/kubernetes/pki",
  "static-pod": "/etc/kubernetes/pki",
  "rke2": "/var/lib/rancher/rke2/server/tls",
};

const keyVolumeName = "irsa-keys";

function unique(values: Iterable<string>): string[] {
  return [...new Set(values)];
}

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

function isUnder(path: string, dir: string): boolean {
  return path.startsWith(dir + "/");
}

function checkPath(what: string, path: string): string {
  if (!path.startsWith("/") || path.endsWith("/") || /\s/.test(path)) {
    throw invalid("InvalidKeyPath", `${what} "${path}" must be an absolute file path on the control-plane node`);
  }
  return path;
}

/** Renders the apiserver change for one distribution; throws IrsaError invalid on a bad URL or path. */
export function apiserverChange(input: ApiserverChangeInput): ApiserverChange {
  const newIssuer = validateIssuerUrl(input.newIssuer);
  if (!input.jwksUri.startsWith("https://")) {
    throw invalid(
      "InvalidJwksUri",
      `JWKS URI "${input.jwksUri}" must start with https:// (kube-apiserver refuses others)`,
    );
  }
  const current = input.currentIssuers.map((i) => i.trim()).filter((i) => i !== "");
  const issuerAlreadyFirst = current[0] === newIssuer;
  // kind's config is only read when the cluster is created, so no token of an old issuer can exist then.
  const issuers = input.distro === "kind" ? [newIssuer] : unique([newIssuer, ...current]);

  const args: Arg[] = issuers.map((value) => ({ name: "service-account-issuer", value }));
  args.push({ name: "service-account-jwks-uri", value: input.jwksUri });

  let keyDirs: string[] = [];
  const keys = input.keyFiles;
  if (keys !== undefined) {
    const pub = checkPath("Public key path", keys.publicKeyPath);
    const priv = checkPath("Private key path", keys.privateKeyPath);
    const existing = (keys.existingPublicKeyPaths ?? defaultKeyFiles[input.distro]).map((p) =>
      checkPath("Existing key path", p)
    );
    if (input.distro !== "kind") {
      for (const value of unique([...existing, pub])) args.push({ name: "service-account-key-file", value });
      args.push({ name: "service-account-signing-key-file", value: priv });
      const seen = mountedDirs[input.distro];
      keyDirs = unique([pub, priv].filter((p) => seen === undefined || !isUnder(p, seen)).map(dirname));
    }
  }

  const flags = args.map((a) => `--${a.name}=${a.value}`);
  const notes = [
    ...issuerNotes(input.distro, issuers, current, issuerAlreadyFirst),
    ...audienceNotes(input.apiAudiences, newIssuer),
    `--service-account-jwks-uri makes the apiserver's own /.well-known/openid-configuration point at ${input.jwksUri}, ` +
    "so that file must list every key in --service-account-key-file; kubectl irsa publishes them there.",
    ...(keys === undefined ? [] : keyNotes(input.distro, keys)),
    ...distroNotes(input.distro, { args, issuers, keyDirs, generate: keys !== undefined }),
  ];
  return { flags, snippet: render(input.distro, args, keyDirs, keys), notes, issuerAlreadyFirst };
}

function issuerNotes(distro: Distro, issuers: string[], current: string[], alreadyFirst: boolean): string[] {
  const notes: string[] = [];
  const newIssuer = issuers[0] ?? "";
  if (distro === "kind") return notes;
  if (alreadyFirst) {
    notes.push(
      `The apiserver already signs tokens with issuer ${newIssuer}; the flags below restate the current setup.`,
    );
  } else {
    notes.push(
      `kube-apiserver signs new tokens with the first --service-account-issuer (${newIssuer}) and accepts all of them. ` +
        "The old issuers stay as further flags so tokens issued before the change keep working; removing them " +
        "later invalidates every token issued under them (projected tokens can live up to a year).",
    );
  }
  if (current.length === 0) {
    notes.push(
      "No current issuer was given. If the apiserver has a --service-account-issuer today, add it after the new " +
        "one, or pods' existing tokens stop working.",
    );
  }
  return notes;
}

function audienceNotes(apiAudiences: string[] | undefined, newIssuer: string): string[] {
  const notes = [
    `Do not add ${stsAudience} to --api-audiences. Pods get tokens for AWS from their own projected volume with ` +
    `that audience; listing it would let those tokens authenticate to the Kubernetes API as well.`,
  ];
  if (apiAudiences === undefined) {
    notes.push(
      "Leave --api-audiences unset. Without it kube-apiserver accepts every --service-account-issuer as an " +
        "audience (the flag's help still says a single issuer, which predates multiple issuers), so tokens issued " +
        `for the old default audience stay valid and new default tokens carry ${newIssuer} and the old issuers.`,
    );
  } else {
    notes.push(
      `Keep --api-audiences=${apiAudiences.join(",")} as it is: token audiences do not depend on the issuer.`,
    );
    if (apiAudiences.includes(stsAudience)) {
      notes.push(
        `Remove ${stsAudience} from --api-audiences (older IRSA guides advise it): with it, any token meant for ` +
          "AWS is also accepted by the Kubernetes API.",
      );
    }
  }
  notes.push(
    `New tokens carry iss=${newIssuer}. Systems outside the apiserver that verify in-cluster tokens against a fixed ` +
      "issuer (for example Vault's Kubernetes or JWT auth) must accept it before you restart the apiserver.",
  );
  return notes;
}

function keyNotes(distro: Distro, keys: GeneratedKeyFiles): string[] {
  const where = distro === "kind" ? "on the machine running kind" : "on every control-plane node";
  const notes = [
    `Put ${keys.publicKeyPath} and ${keys.privateKeyPath} ${where} first; keep the private key readable by root ` +
    "only (mode 0600).",
  ];
  if (distro === "kind") return notes;
  notes.push(
    "The existing --service-account-key-file values stay: tokens already issued are signed with the old key, " +
      "and dropping it broke node joins in amazon-eks-pod-identity-webhook#29. New tokens are signed with the new " +
      "private key; keys.json must hold both public keys before the apiserver restarts.",
  );
  if (keys.existingPublicKeyPaths === undefined) {
    const assumed = defaultKeyFiles[distro];
    notes.push(
      assumed.length === 0
        ? "Add your apiserver's current --service-account-key-file values before the new one; they are not known here."
        : `Assumed the current --service-account-key-file is ${assumed.join(", ")} (the ${distro} default); ` +
          "check the running apiserver and adjust.",
    );
  }
  return notes;
}

function distroNotes(
  distro: Distro,
  c: { args: Arg[]; issuers: string[]; keyDirs: string[]; generate: boolean },
): string[] {
  const manifest = "/etc/kubernetes/manifests/kube-apiserver.yaml";
  switch (distro) {
    case "kubeadm": {
      const notes = [
        "Merge this into the cluster's ClusterConfiguration (kubectl -n kube-system get configmap kubeadm-config " +
        "-o jsonpath='{.data.ClusterConfiguration}'), keeping its other extraArgs. It needs kubeadm 1.31 or later " +
        "(v1beta4): v1beta3's extraArgs map cannot repeat a flag; convert with 'kubeadm config migrate' or use " +
        "--distro static-pod instead.",
        "Listing a flag in extraArgs replaces kubeadm's default for it, which is why the old issuer" +
        (c.generate ? " and key file are" : " is") + " listed again.",
        `On every control-plane node: back up ${manifest} outside /etc/kubernetes/manifests, run 'kubeadm init ` +
        "phase control-plane apiserver --config <file>' and diff the result (the kubelet restarts the apiserver " +
        "when the file changes). Then run 'kubeadm init phase upload-config kubeadm --config <file>' so joins and " +
        "upgrades keep the change.",
      ];
      // kubeadm before kubernetes/kubeadm#3261 sorted repeated extraArgs by value, which can move another issuer
      // in front of ours and silently keep the old issuer in every new token.
      const sortedFirst = [...c.issuers].sort()[0];
      if (c.issuers.length > 1 && sortedFirst !== c.issuers[0]) {
        notes.push(
          `Warning: kubeadm releases without the fix for kubernetes/kubeadm#3261 sort repeated extraArgs by value and ` +
            `would put ${sortedFirst} first. Check that the first --service-account-issuer in ${manifest} is ` +
            `${c.issuers[0]}; if not, fix the order by hand (see --distro static-pod) or upgrade kubeadm to a ` +
            "recent patch release (the fix is backported to 1.32 and later).",
        );
      } else if (c.issuers.length > 1) {
        notes.push(`Check that the first --service-account-issuer in ${manifest} is ${c.issuers[0]}.`);
      }
      if (c.keyDirs.length > 0) {
        notes.push(
          `extraVolumes mounts ${
            c.keyDirs.join(", ")
          } read-only into the apiserver pod; kubeadm only mounts /etc/kubernetes/pki.`,
        );
      }
      return notes;
    }
    case "static-pod":
      return [
        `In ${manifest} on every control-plane node, delete the existing --service-account-issuer, ` +
        "--service-account-jwks-uri" +
        (c.generate ? ", --service-account-key-file and --service-account-signing-key-file" : "") +
        " lines and put these in their place: the new issuer must come before every other " +
        "--service-account-issuer line, and the old values are already included.",
        "Edit a copy outside /etc/kubernetes/manifests and move it back; the kubelet restarts the apiserver " +
        "when the file changes, and stray backup files in that directory are started as pods too.",
        ...(c.keyDirs.length > 0
          ? [`Add the volumeMounts and volumes entries so the apiserver can read ${c.keyDirs.join(", ")}.`]
          : []),
      ];
    case "k3s":
    case "rke2": {
      const path = `/etc/rancher/${distro}/config.yaml`;
      const service = distro === "k3s" ? "k3s" : "rke2-server";
      return [
        `Add these to ${path} on every server node; if the file already has kube-apiserver-arg` +
        (distro === "rke2" && c.keyDirs.length > 0 ? " or kube-apiserver-extra-mount" : "") +
        ", merge the entries into that list. Values given there replace the built-in ones with the same name, " +
        "which is why the old values are repeated.",
        `Then run 'systemctl restart ${service}' on each server node, one at a time.`,
        ...(distro === "rke2" && c.keyDirs.length > 0
          ? ["kube-apiserver-extra-mount makes the key directory visible inside RKE2's apiserver static pod."]
          : []),
      ];
    }
    case "kind":
      return [
        "kind reads this only when a cluster is created: save it as a file and run 'kind create cluster --config " +
        "<file>'. A new cluster has no tokens of an old issuer, so only the new issuer is set (kind patches " +
        "kubeadm's v1beta3 extraArgs map, which cannot repeat a flag).",
        ...(c.generate
          ? [
            "The key pair is mounted as the node's /etc/kubernetes/pki/sa.key and sa.pub, which kubeadm adopts " +
            "instead of generating its own, so the apiserver and controller-manager both sign with it. hostPath is " +
            "a path on the machine running kind.",
          ]
          : [
            "A recreated cluster gets a new signing key: run 'kubectl irsa init' again afterwards so keys.json holds " +
            "it, or use generate mode so the key is fixed up front.",
          ]),
        "To change a running kind cluster instead, use --distro static-pod and edit the manifest inside the node " +
        "('docker exec -it <cluster>-control-plane ...').",
      ];
    case "raw":
      return [
        "Pass these flags to kube-apiserver in place of its current --service-account-* flags (the old values are " +
        "included), keeping the new issuer before every other --service-account-issuer, and restart it.",
      ];
  }
}

function render(distro: Distro, args: Arg[], keyDirs: string[], keys: GeneratedKeyFiles | undefined): string {
  const flagLines = args.map((a) => `--${a.name}=${a.value}`);
  const volumeName = (i: number) => (i === 0 ? keyVolumeName : `${keyVolumeName}-${i + 1}`);
  switch (distro) {
    case "raw":
      return flagLines.join("\n") + "\n";
    case "kubeadm": {
      const apiServer: Record<string, unknown> = { extraArgs: args.map((a) => ({ name: a.name, value: a.value })) };
      if (keyDirs.length > 0) {
        // Directory, not DirectoryOrCreate: an empty directory created by the kubelet would hide a wrong path.
        apiServer["extraVolumes"] = keyDirs.map((dir, i) => ({
          name: volumeName(i),
          hostPath: dir,
          mountPath: dir,
          readOnly: true,
          pathType: "Directory",
        }));
      }
      return stringify({ apiVersion: "kubeadm.k8s.io/v1beta4", kind: "ClusterConfiguration", apiServer });
    }
    case "static-pod": {
      const parts = [
        "# spec.containers[0].command:\n" + indent(stringify(flagLines), 4),
      ];
      if (keyDirs.length > 0) {
        const mounts = keyDirs.map((dir, i) => ({ mountPath: dir, name: volumeName(i), readOnly: true }));
        const volumes = keyDirs.map((dir, i) => ({ hostPath: { path: dir, type: "Directory" }, name: volumeName(i) }));
        parts.push("# spec.containers[0].volumeMounts:\n" + indent(stringify(mounts), 4));
        parts.push("# spec.volumes:\n" + indent(stringify(volumes), 2));
      }
      return parts.join("");
    }
    case "k3s":
    case "rke2": {
      const config: Record<string, string[]> = { "kube-apiserver-arg": flagLines.map((f) => f.slice(2)) };
      if (distro === "rke2" && keyDirs.length > 0) {
        config["kube-apiserver-extra-mount"] = keyDirs.map((dir) => `${dir}:${dir}:ro`);
      }
      return stringify(config);
    }
    case "kind": {
      const extraArgs: Record<string, string> = {};
      for (const a of args) extraArgs[a.name] = a.value;
      const patch = stringify({ kind: "ClusterConfiguration", apiServer: { extraArgs } });
      const node: Record<string, unknown> = { role: "control-plane" };
      if (keys !== undefined) {
        node["extraMounts"] = [
          { hostPath: keys.publicKeyPath, containerPath: "/etc/kubernetes/pki/sa.pub", readOnly: true },
          { hostPath: keys.privateKeyPath, containerPath: "/etc/kubernetes/pki/sa.key", readOnly: true },
        ];
      }
      return stringify({
        kind: "Cluster",
        apiVersion: "kind.x-k8s.io/v1alpha4",
        nodes: [node],
        kubeadmConfigPatches: [patch],
      });
    }
  }
}

function indent(text: string, spaces: number): string {
  const pad = " ".repeat(spaces);
  return text.split("\n").map((l) => (l === "" ? l : pad + l)).join("\n");
}
