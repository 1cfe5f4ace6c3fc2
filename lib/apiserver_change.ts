// The kube-apiserver change that `init` prints. kubectl-irsa never edits the control plane itself: the flags
// below decide which key signs every ServiceAccount token and which issuer they carry, so a human applies them,
// and this module only has to get the order, the kept values and each distribution's spelling exactly right.

import { toYaml, type YamlValue } from "./yaml_emit.ts";
import { invalid } from "./errors.ts";
import { validateIssuerUrl } from "./issuer.ts";
import { keySecret, stsAudience } from "./names.ts";

import type { Distro } from "./distro.ts";
export { type Distro, distros } from "./distro.ts";
import { checkSignerDistro } from "./distro.ts";

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
  /** True when the key pair was not written to files, only to the key Secret: the notes say how to extract it. */
  inSecretOnly?: boolean;
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
  /** Only in kms mode: the signer's socket, which replaces every key file flag. */
  signer?: { socketPath: string };
}

/**
 * What the change does to one kube-apiserver flag, wherever the distribution keeps its flags. Every flag of the
 * service-account group gets one, so nothing is left to guess: a flag is kept, extended or replaced, never
 * dropped by accident.
 */
export interface FlagEdit {
  /** The flag's name without dashes, for example `service-account-issuer`. */
  name: string;
  /**
   * - `keep`: every occurrence stays as it is;
   * - `prepend`: `values` go before the first occurrence, and every occurrence stays after them;
   * - `replace`: every occurrence is deleted and `values` go where the first one was (at the end if none);
   * - `append`: every occurrence stays, and `values` go after the last one;
   * - `remove`: every occurrence is deleted.
   */
  action: "keep" | "prepend" | "replace" | "append" | "remove";
  /** What `prepend`, `replace` and `append` add, in order; empty for `keep`. */
  values: string[];
  /**
   * For a distribution with a built-in value for the flag (kubeadm, k3s, RKE2): what to write instead when its
   * configuration has no occurrence yet. One occurrence replaces the built-in value, so that value is written
   * out too.
   */
  ifNone?: string[];
  /** The flag's values today, when known: seen on the cluster, or the distribution's built-in value. */
  current?: string[];
  /** True when `current` is the distribution's built-in value rather than what was seen. */
  currentIsBuiltIn?: boolean;
}

/** The rendered change. */
export interface ApiserverChange {
  /** The service-account flags the apiserver ends up with whose values are known, in order, as `--name=value`. */
  flags: string[];
  /** Every service-account flag afterwards, in order; a kept value kubectl-irsa cannot see is `<unchanged>`. */
  resultingFlags: string[];
  /** What to do with each service-account flag, in the order of the steps. */
  edits: FlagEdit[];
  /**
   * The numbered steps to follow in the distribution's own configuration format (the lines to add are the
   * exact text to paste), then the resulting service-account flags; ends with a newline.
   */
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

/** Service-account flags a distribution passes to kube-apiserver itself unless its configuration names them. */
interface BuiltIn {
  owner: string;
  keyFiles: string[];
  signingKeyFile: string;
  /** Set when the distribution also passes `--api-audiences` (k3s and RKE2: the default issuer and their name). */
  apiAudiencesProgram?: string;
}

// k3s and RKE2 share k3s's control-plane code: service.key verifies, service.current.key signs.
const builtIns: Partial<Record<Distro, BuiltIn>> = {
  "kubeadm": { owner: "kubeadm", keyFiles: defaultKeyFiles.kubeadm, signingKeyFile: "/etc/kubernetes/pki/sa.key" },
  "kind": { owner: "kubeadm", keyFiles: defaultKeyFiles.kind, signingKeyFile: "/etc/kubernetes/pki/sa.key" },
  "k3s": {
    owner: "k3s",
    keyFiles: defaultKeyFiles.k3s,
    signingKeyFile: "/var/lib/rancher/k3s/server/tls/service.current.key",
    apiAudiencesProgram: "k3s",
  },
  "rke2": {
    owner: "RKE2",
    keyFiles: defaultKeyFiles.rke2,
    signingKeyFile: "/var/lib/rancher/rke2/server/tls/service.current.key",
    apiAudiencesProgram: "rke2",
  },
};

// Directories the apiserver already sees, so key files inside them need no extra mount.
const mountedDirs: Partial<Record<Distro, string>> = {
  "kubeadm": "/etc/kubernetes/pki",
  "static-pod": "/etc/kubernetes/pki",
  "rke2": "/var/lib/rancher/rke2/server/tls",
};

const keyVolumeName = "irsa-keys";
const manifestPath = "/etc/kubernetes/manifests/kube-apiserver.yaml";

/** The placeholder in `resultingFlags` for values that stay as they are but cannot be seen from the cluster. */
export const unchangedValue = "<unchanged>";

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
  const distro = input.distro;
  const builtIn = builtIns[distro];
  const current = unique(input.currentIssuers.map((i) => i.trim()).filter((i) => i !== ""));
  const issuerAlreadyFirst = current[0] === newIssuer;
  const keys = input.keyFiles;
  const pub = keys && checkPath("Public key path", keys.publicKeyPath);
  const priv = keys && checkPath("Private key path", keys.privateKeyPath);
  const existing = keys?.existingPublicKeyPaths?.map((p) => checkPath("Existing key path", p));
  const socket = input.signer && checkPath("Signer socket path", input.signer.socketPath);
  if (socket !== undefined) checkSignerDistro(distro);

  const edits = distro === "kind"
    ? kindEdits(newIssuer, input.jwksUri)
    : socket !== undefined
    ? signerEdits({ newIssuer, current, jwksUri: input.jwksUri, socket })
    : flagEdits({ newIssuer, current, jwksUri: input.jwksUri, builtIn, pub, priv, existing });
  const resulting = resultOf(edits, builtIn?.owner ?? "");
  if (distro === "kind" && keys !== undefined) {
    // kubeadm's built-in paths stay (step 1 deletes any other), but they now hold the mounted key pair.
    const kind = builtIns.kind!;
    for (const r of resulting) {
      if (r.name === "service-account-key-file") {
        Object.assign(r, { value: kind.keyFiles[0], why: `kubeadm's built-in path, where ${pub} is mounted` });
      }
      if (r.name === "service-account-signing-key-file") {
        Object.assign(r, { value: kind.signingKeyFile, why: `kubeadm's built-in path, where ${priv} is mounted` });
      }
    }
  }
  const mounted = socket !== undefined ? [socket] : pub === undefined || priv === undefined ? [] : [pub, priv];
  const keyDirs = distro === "kind" ? [] : unique(
    mounted.filter((p) => !isUnder(p, mountedDirs[distro] ?? "\0")).map(dirname),
  );
  const issuers = resulting.filter((r) => r.name === "service-account-issuer").map((r) => r.value);
  const notes = [
    ...issuerNotes(distro, newIssuer, current, issuerAlreadyFirst),
    ...audienceNotes(input.apiAudiences, newIssuer, builtIn),
    `--service-account-jwks-uri makes the apiserver's own /.well-known/openid-configuration point at ${input.jwksUri}, ` +
    (socket === undefined
      ? "so that file must list every key in --service-account-key-file; kubectl irsa publishes them there."
      : "so that file must list every key the signer lists; kubectl irsa publishes the KMS keys there."),
    ...(keys === undefined ? [] : keyNotes(distro, keys, builtIn)),
    ...(socket === undefined ? [] : signerNotes(socket)),
    ...distroNotes(distro, { issuers, keyDirs, generate: keys !== undefined, builtIn, current }),
  ];
  const steps = distro === "kind"
    ? kindSteps(newIssuer, input.jwksUri, keys)
    : formatSteps(distro, edits, keyDirs, builtIn);
  const snippet = [
    ...steps,
    "",
    distro === "kind"
      ? "The new cluster's kube-apiserver then runs with these service-account flags:"
      : "Afterwards kube-apiserver runs with these service-account flags:",
    ...block(resulting.map((r) => `--${r.name}=${r.value}  (${r.why})`)),
  ].join("\n") + "\n";
  return {
    flags: resulting.filter((r) => r.value !== unchangedValue).map((r) => `--${r.name}=${r.value}`),
    resultingFlags: resulting.map((r) => `--${r.name}=${r.value}`),
    edits,
    snippet,
    notes,
    issuerAlreadyFirst,
  };
}

function flagEdits(c: {
  newIssuer: string;
  current: string[];
  jwksUri: string;
  builtIn: BuiltIn | undefined;
  pub: string | undefined;
  priv: string | undefined;
  existing: string[] | undefined;
}): FlagEdit[] {
  const withBuiltIn = c.builtIn !== undefined;
  const old = c.current.filter((i) => i !== c.newIssuer);
  let issuer: FlagEdit;
  if (c.current[0] === c.newIssuer) {
    issuer = { name: "service-account-issuer", action: "keep", values: [], current: c.current };
  } else if (c.current.includes(c.newIssuer)) {
    // Already accepted but not signing: moving it to the front rewrites the list.
    issuer = { name: "service-account-issuer", action: "replace", values: [c.newIssuer, ...old], current: c.current };
  } else {
    issuer = {
      name: "service-account-issuer",
      action: "prepend",
      values: [c.newIssuer],
      current: c.current,
      ...(withBuiltIn && old.length > 0 ? { ifNone: [c.newIssuer, ...old] } : {}),
    };
  }
  const keyCurrent = c.existing ?? c.builtIn?.keyFiles;
  const keyKnown = keyCurrent === undefined
    ? {}
    : { current: keyCurrent, ...(c.existing === undefined ? { currentIsBuiltIn: true } : {}) };
  const signingKnown = c.builtIn === undefined ? {} : { current: [c.builtIn.signingKeyFile], currentIsBuiltIn: true };
  const edits: FlagEdit[] = [issuer, { name: "service-account-jwks-uri", action: "replace", values: [c.jwksUri] }];
  if (c.pub === undefined || c.priv === undefined) {
    edits.push(
      { name: "service-account-key-file", action: "keep", values: [], ...keyKnown },
      { name: "service-account-signing-key-file", action: "keep", values: [], ...signingKnown },
    );
    return edits;
  }
  const added = keyCurrent?.includes(c.pub) ? [] : [c.pub];
  edits.push(
    added.length === 0 ? { name: "service-account-key-file", action: "keep", values: [], ...keyKnown } : {
      name: "service-account-key-file",
      action: "append",
      values: added,
      ...keyKnown,
      ...(withBuiltIn ? { ifNone: unique([...(c.builtIn?.keyFiles ?? []), c.pub]) } : {}),
    },
    { name: "service-account-signing-key-file", action: "replace", values: [c.priv], ...signingKnown },
  );
  return edits;
}

// The signing endpoint excludes both key file flags: the apiserver then signs and verifies only with the signer's keys.
function signerEdits(c: { newIssuer: string; current: string[]; jwksUri: string; socket: string }): FlagEdit[] {
  const [issuer, jwks] = flagEdits({ ...c, builtIn: undefined, pub: undefined, priv: undefined, existing: undefined });
  return [
    issuer!,
    jwks!,
    { name: "service-account-key-file", action: "remove", values: [] },
    { name: "service-account-signing-key-file", action: "remove", values: [] },
    { name: "service-account-signing-endpoint", action: "replace", values: [c.socket] },
  ];
}

function signerNotes(socket: string): string[] {
  return [
    `--service-account-signing-endpoint=${socket} makes kube-apiserver sign every token through the signer, with ` +
    "the KMS key, and verify only with the keys the signer lists; it cannot be combined with " +
    "--service-account-key-file or --service-account-signing-key-file. Tokens signed before the switch keep " +
    "working only if the signer lists their public key (its --verify-key-file, for example the old sa.pub).",
    "If the signer is down, the apiserver cannot issue tokens (TokenRequest fails and new pods do not start) but " +
    "existing tokens keep verifying; run it on every control-plane node.",
  ];
}

// kind's config is only read when a cluster is created, so no token of an old issuer can exist then, and the
// key pair (generate mode) is mounted where kubeadm's built-in flags already point.
function kindEdits(newIssuer: string, jwksUri: string): FlagEdit[] {
  const builtIn = builtIns.kind!;
  return [
    { name: "service-account-issuer", action: "replace", values: [newIssuer] },
    { name: "service-account-jwks-uri", action: "replace", values: [jwksUri] },
    { name: "service-account-key-file", action: "keep", values: [], current: builtIn.keyFiles, currentIsBuiltIn: true },
    {
      name: "service-account-signing-key-file",
      action: "keep",
      values: [],
      current: [builtIn.signingKeyFile],
      currentIsBuiltIn: true,
    },
  ];
}

type ResultingFlag = { name: string; value: string; why: string };

function resultOf(edits: FlagEdit[], owner: string): ResultingFlag[] {
  const out: ResultingFlag[] = [];
  for (const e of edits) {
    // A built-in value is only what the distribution uses when its configuration names none, so it is not shown
    // as the value: the configuration may name others.
    const kept = (): ResultingFlag[] =>
      e.current === undefined || e.currentIsBuiltIn
        ? [{
          name: e.name,
          value: unchangedValue,
          why: e.current === undefined
            ? "every value it has today, as it is"
            : `every value it has today, as it is; ${owner}'s built-in value is ${e.current.join(", ")}`,
        }]
        : e.current.map((value) => ({ name: e.name, value, why: "unchanged" }));
    const added = e.values.map((value) => ({ name: e.name, value, why: "new" }));
    switch (e.action) {
      case "keep":
        out.push(...kept());
        break;
      case "replace":
        out.push(...added.map((a) => (e.current?.includes(a.value) ? { ...a, why: "kept" } : a)));
        break;
      case "prepend":
        out.push(
          ...added,
          ...(e.current ?? []).filter((v) => !e.values.includes(v)).map((value) => ({
            name: e.name,
            value,
            why: "kept",
          })),
        );
        break;
      case "append":
        out.push(...kept(), ...added);
        break;
      case "remove":
        break;
    }
  }
  return out;
}

/** How one configuration format spells the flags, so every step reads the same in each of them. */
interface Format {
  /** Where the flags live; the first line of the steps. */
  where: string;
  /** How a step refers to the occurrences of a flag: `--name flag`, `name entry`. */
  ref(name: string): string;
  /** The lines to paste for these values of a flag. */
  entries(name: string, values: string[]): string[];
}

function yamlLines(value: YamlValue): string[] {
  return toYaml(value).replace(/\n$/, "").split("\n");
}

function formatOf(distro: Exclude<Distro, "kind">, builtIn: BuiltIn | undefined): Format {
  switch (distro) {
    case "raw":
      return {
        where: "On every control-plane node, edit kube-apiserver's command line (its systemd unit, manifest or " +
          "start script); leave every flag not named here as it is:",
        ref: (name) => `--${name} flag`,
        entries: (name, values) => values.map((v) => `--${name}=${v}`),
      };
    case "static-pod":
      return {
        where: `On every control-plane node, edit spec.containers[0].command in ${manifestPath}; leave every ` +
          "entry not named here as it is:",
        ref: (name) => `--${name} entry`,
        entries: (name, values) => yamlLines(values.map((v) => `--${name}=${v}`)),
      };
    case "kubeadm":
      return {
        where: "Edit apiServer.extraArgs of the cluster's ClusterConfiguration (apiVersion: kubeadm.k8s.io/v1beta4; " +
          "create extraArgs if it is missing); leave every entry not named here as it is:",
        ref: (name) => `${name} entry`,
        entries: (name, values) => yamlLines(values.map((value) => ({ name, value }))),
      };
    case "k3s":
    case "rke2":
      return {
        where: `On every server node, edit the kube-apiserver-arg list in /etc/rancher/${distro}/config.yaml ` +
          `(create it if it is missing; ${builtIn?.owner ?? distro} passes its own values for the flags it does ` +
          "not list); leave every entry not named here as it is:",
        ref: (name) => `${name} entry`,
        entries: (name, values) => yamlLines(values.map((v) => `${name}=${v}`)),
      };
  }
}

const stepIndent = "     ";

function block(lines: string[]): string[] {
  return lines.map((l) => stepIndent + l);
}

function formatSteps(
  distro: Exclude<Distro, "kind">,
  edits: FlagEdit[],
  keyDirs: string[],
  builtIn: BuiltIn | undefined,
): string[] {
  const f = formatOf(distro, builtIn);
  const lines = [f.where, ""];
  let n = 0;
  for (const e of edits) {
    n++;
    const ref = f.ref(e.name);
    const these = e.values.length === 1 ? "this" : "these";
    const ifNone = e.ifNone === undefined
      ? []
      : [`   If there is no ${ref} yet, add these instead:`, ...block(f.entries(e.name, e.ifNone))];
    switch (e.action) {
      case "keep": {
        const usual = e.currentIsBuiltIn && e.current && builtIn
          ? ` (With none, ${builtIn.owner} uses ${e.current.join(", ")}.)`
          : "";
        lines.push(`${n}. Keep every ${ref} as it is.${usual}`);
        break;
      }
      case "prepend":
        lines.push(
          `${n}. Put ${these} before the first ${ref} and keep every existing one after it:`,
          ...block(f.entries(e.name, e.values)),
          ...ifNone,
        );
        break;
      case "replace":
        lines.push(
          `${n}. Delete every ${ref} and put ${these} in ${e.values.length === 1 ? "its" : "their"} place:`,
          ...block(f.entries(e.name, e.values)),
        );
        break;
      case "append":
        lines.push(
          `${n}. Keep every ${ref} and add ${these} after the last one:`,
          ...block(f.entries(e.name, e.values)),
          ...ifNone,
        );
        break;
      case "remove":
        lines.push(`${n}. Delete every ${ref}.`);
        break;
    }
  }
  if (keyDirs.length === 0) return lines;
  const volumeName = (i: number) => (i === 0 ? keyVolumeName : `${keyVolumeName}-${i + 1}`);
  const addTo = (path: string, value: YamlValue) => {
    n++;
    lines.push(`${n}. Add to ${path} (create it if it is missing):`, ...block(yamlLines(value)));
  };
  switch (distro) {
    case "kubeadm":
      // Directory, not DirectoryOrCreate: an empty directory created by the kubelet would hide a wrong path.
      addTo(
        "apiServer.extraVolumes",
        keyDirs.map((dir, i) => ({
          name: volumeName(i),
          hostPath: dir,
          mountPath: dir,
          readOnly: true,
          pathType: "Directory",
        })),
      );
      break;
    case "static-pod":
      addTo(
        "spec.containers[0].volumeMounts",
        keyDirs.map((dir, i) => ({ mountPath: dir, name: volumeName(i), readOnly: true })),
      );
      addTo(
        "spec.volumes",
        keyDirs.map((dir, i) => ({ hostPath: { path: dir, type: "Directory" }, name: volumeName(i) })),
      );
      break;
    case "rke2":
      addTo("kube-apiserver-extra-mount", keyDirs.map((dir) => `${dir}:${dir}:ro`));
      break;
    case "k3s":
    case "raw":
      break; // the apiserver runs on the host and reads any path
  }
  return lines;
}

function kindSteps(newIssuer: string, jwksUri: string, keys: GeneratedKeyFiles | undefined): string[] {
  const args = [
    { name: "service-account-issuer", value: newIssuer },
    { name: "service-account-jwks-uri", value: jwksUri },
  ];
  const dropped = [
    ...args.map((a) => a.name),
    ...(keys ? ["service-account-key-file", "service-account-signing-key-file"] : []),
  ];
  const v1beta3 = toYaml({
    apiVersion: "kubeadm.k8s.io/v1beta3",
    kind: "ClusterConfiguration",
    apiServer: { extraArgs: Object.fromEntries(args.map((a) => [a.name, a.value])) },
  });
  const v1beta4 = toYaml({
    apiVersion: "kubeadm.k8s.io/v1beta4",
    kind: "ClusterConfiguration",
    apiServer: { extraArgs: args },
  });
  const literal = (text: string) => ["- |", ...text.replace(/\n$/, "").split("\n").map((l) => `  ${l}`)];
  const lines = [
    "Edit the kind cluster configuration (kind: Cluster, apiVersion: kind.x-k8s.io/v1alpha4) that the cluster is " +
    "created from:",
    "",
    `1. Delete ${joinAnd(dropped)} from apiServer.extraArgs in every kubeadmConfigPatches entry of kind ` +
    "ClusterConfiguration.",
    "2. Add these to kubeadmConfigPatches (create it if it is missing); kind applies only the one whose apiVersion " +
    "matches the kubeadm configuration it generates:",
    ...block([...literal(v1beta3), ...literal(v1beta4)]),
  ];
  let n = 2;
  if (keys) {
    n++;
    lines.push(
      `${n}. Add to extraMounts of every node with role: control-plane (create it if it is missing):`,
      ...block(yamlLines([
        { hostPath: keys.publicKeyPath, containerPath: "/etc/kubernetes/pki/sa.pub", readOnly: true },
        { hostPath: keys.privateKeyPath, containerPath: "/etc/kubernetes/pki/sa.key", readOnly: true },
      ])),
    );
  }
  n++;
  lines.push(
    `${n}. Create the cluster from it: 'kind delete cluster --name <name>' (this deletes the current cluster and ` +
      "everything in it), then 'kind create cluster --name <name> --config <file>'.",
  );
  return lines;
}

function joinAnd(items: string[]): string {
  return items.length <= 1 ? items.join("") : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

function issuerNotes(distro: Distro, newIssuer: string, current: string[], alreadyFirst: boolean): string[] {
  const notes: string[] = [];
  if (distro === "kind") return notes;
  if (alreadyFirst) {
    notes.push(
      `The apiserver already signs tokens with issuer ${newIssuer}; the --service-account-issuer flags stay as they are.`,
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
      "No current issuer was given. If the apiserver has a --service-account-issuer today, keep it after the new " +
        "one, or pods' existing tokens stop working.",
    );
  }
  return notes;
}

function audienceNotes(apiAudiences: string[] | undefined, newIssuer: string, builtIn: BuiltIn | undefined): string[] {
  const notes = [
    `Do not add ${stsAudience} to --api-audiences. Pods get tokens for AWS from their own projected volume with ` +
    `that audience; listing it would let those tokens authenticate to the Kubernetes API as well.`,
  ];
  if (apiAudiences === undefined && builtIn?.apiAudiencesProgram !== undefined) {
    notes.push(
      `${builtIn.owner} sets --api-audiences itself (its default issuer and "${builtIn.apiAudiencesProgram}"); keep it ` +
        "as it is: token audiences do not depend on the issuer, so tokens issued before the change stay valid.",
    );
  } else if (apiAudiences === undefined) {
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

function keyNotes(distro: Distro, keys: GeneratedKeyFiles, builtIn: BuiltIn | undefined): string[] {
  const where = distro === "kind"
    ? "on the machine running kind before creating the cluster"
    : "on every control-plane node before the restart";
  const notes = [
    `Put ${keys.publicKeyPath} and ${keys.privateKeyPath} ${where}; keep the private key readable by root only ` +
    "(mode 0600).",
  ];
  if (keys.inSecretOnly) {
    const get = (key: string, path: string) =>
      `kubectl -n ${keySecret.namespace} get secret ${keySecret.name} -o jsonpath="{.data.${key}}" | base64 -d > ${path}`;
    notes.push(
      `The key pair is in Secret ${keySecret.namespace}/${keySecret.name}: '(umask 077; ` +
        `${get(keySecret.privateKey, keys.privateKeyPath)})' and '${get(keySecret.publicKey, keys.publicKeyPath)}'.`,
    );
  }
  if (distro === "kind") return notes;
  notes.push(
    "The existing --service-account-key-file values stay: tokens already issued are signed with the old key, " +
      "and dropping it broke node joins in amazon-eks-pod-identity-webhook#29. New tokens are signed with the new " +
      "private key; keys.json must hold both public keys before the apiserver restarts.",
  );
  if (keys.existingPublicKeyPaths === undefined && builtIn !== undefined) {
    notes.push(
      `The resulting flags assume ${builtIn.owner}'s built-in --service-account-key-file ` +
        `(${builtIn.keyFiles.join(", ")}) where the configuration names none; the steps keep whatever it names.`,
    );
  }
  return notes;
}

function distroNotes(
  distro: Distro,
  c: { issuers: string[]; keyDirs: string[]; generate: boolean; builtIn: BuiltIn | undefined; current: string[] },
): string[] {
  switch (distro) {
    case "kubeadm": {
      const notes = [
        "Edit a copy of the cluster's ClusterConfiguration ('kubectl -n kube-system get configmap kubeadm-config " +
        "-o jsonpath='{.data.ClusterConfiguration}' > cluster-config.yaml'). It needs kubeadm 1.31 or later " +
        "(v1beta4): v1beta3's extraArgs map cannot repeat a flag; convert with 'kubeadm config migrate' or use " +
        "--distro static-pod instead.",
        "An extraArgs entry replaces kubeadm's built-in value of the same flag, which is why the built-in values are " +
        "written out where the configuration has no entry yet.",
        `On every control-plane node: back up ${manifestPath} outside /etc/kubernetes/manifests, run 'kubeadm init ` +
        "phase control-plane apiserver --config cluster-config.yaml' and diff the result (the kubelet restarts the " +
        "apiserver when the file changes). Then run 'kubeadm init phase upload-config kubeadm --config " +
        "cluster-config.yaml' so joins and upgrades keep the change.",
      ];
      // kubeadm before kubernetes/kubeadm#3261 sorted repeated extraArgs by value, which can move another issuer
      // in front of ours and silently keep the old issuer in every new token.
      const sortedFirst = [...c.issuers].sort()[0];
      if (c.issuers.length > 1 && sortedFirst !== c.issuers[0]) {
        notes.push(
          `Warning: kubeadm releases without the fix for kubernetes/kubeadm#3261 sort repeated extraArgs by value and ` +
            `would put ${sortedFirst} first. Check that the first --service-account-issuer in ${manifestPath} is ` +
            `${c.issuers[0]}; if not, fix the order by hand (see --distro static-pod) or upgrade kubeadm to a ` +
            "recent patch release (the fix is backported to 1.32 and later).",
        );
      } else if (c.issuers.length > 1) {
        notes.push(`Check that the first --service-account-issuer in ${manifestPath} is ${c.issuers[0]}.`);
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
        "Edit a copy outside /etc/kubernetes/manifests and move it back; the kubelet restarts the apiserver " +
        "when the file changes, and stray backup files in that directory are started as pods too.",
        ...(c.keyDirs.length > 0 ? [`The volumes let the apiserver read ${c.keyDirs.join(", ")}.`] : []),
      ];
    case "k3s":
    case "rke2": {
      const service = distro === "k3s" ? "k3s" : "rke2-server";
      return [
        `An entry in kube-apiserver-arg replaces ${c.builtIn?.owner}'s built-in value of the same flag, which is ` +
        "why the built-in values are written out where the list has no entry yet.",
        `Then run 'systemctl restart ${service}' on each server node, one at a time.`,
        ...(distro === "rke2" && c.keyDirs.length > 0
          ? [
            `kube-apiserver-extra-mount makes ${c.keyDirs.join(", ")} visible inside RKE2's apiserver static pod.`,
          ]
          : []),
      ];
    }
    case "kind":
      return [
        "kind reads this only when a cluster is created. A new cluster has no tokens of an old issuer, so only the " +
        "new issuer is set, and it has no setup record: run the same 'kubectl irsa init' command against it again " +
        "afterwards.",
        ...(c.generate
          ? [
            "The key pair is mounted as the node's /etc/kubernetes/pki/sa.key and sa.pub, which kubeadm adopts " +
            "instead of generating its own, so the apiserver and controller-manager both sign with it. hostPath is " +
            "a path on the machine running kind. Before running init again, give the new cluster the same key: " +
            "'kubectl -n kube-system create secret generic irsa-manager-key --type=kubernetes.io/ssh-auth " +
            "--from-file=ssh-privatekey=<private key> --from-file=ssh-publickey=<public key>'.",
          ]
          : [
            "A recreated cluster gets a new signing key, which running init again publishes in keys.json; until " +
            "then its tokens do not verify. Use generate mode to fix the key up front.",
          ]),
        "To change a running kind cluster instead, use --distro static-pod and edit the manifest inside the node " +
        "('docker exec -it <cluster>-control-plane ...').",
      ];
    case "raw":
      return ["Then restart kube-apiserver, one control-plane node at a time."];
  }
}
