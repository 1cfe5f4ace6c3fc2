// `kubectl irsa install`: applies the daemon's manifests (lib/install_manifests.ts) with server-side apply, or
// prints them, or asks the API server what would change.
import { readCaBundle } from "../lib/aws/ca_bundle.ts";
import { IrsaError, isIrsaError } from "../lib/errors.ts";
import type { KubeClient } from "../lib/kube/client.ts";
import {
  apiserverSourceCidrs,
  defaultImage,
  type EndpointSliceAddresses,
  installManifests,
  type InstallOptions,
  type Manifest,
  parseCidr,
  reservedNamespaces,
  resourceRefOf,
  toYamlStream,
} from "../lib/install_manifests.ts";
import { awsSecret, systemNamespace } from "../lib/names.ts";
import type { InstallCommand } from "./args.ts";
import type { Io } from "./main.ts";
import { cliMessage } from "./remedy.ts";
import { openKube } from "./session.ts";
import { UsageError } from "./usage_error.ts";
import { version } from "./version.ts";

/** The daemon namespace of install/uninstall; a namespace uninstall must never delete is a usage error. */
export function daemonNamespace(namespace: string | undefined, command: "install" | "uninstall"): string {
  const ns = namespace ?? systemNamespace;
  if (reservedNamespaces.includes(ns)) {
    throw new UsageError(
      `"${ns}" cannot hold the daemon: uninstall deletes the daemon's namespace; use a namespace of its own`,
      command,
    );
  }
  return ns;
}

/** The --aws-ca-bundle file, read before any connection; like --inline-policy, a bad file is a usage error. */
async function readAwsCaBundle(path: string): Promise<string> {
  try {
    return await readCaBundle(path);
  } catch (e) {
    if (isIrsaError(e, "invalid")) throw new UsageError(`"--aws-ca-bundle": ${e.message}`, "install");
    throw e;
  }
}

/** The --webhook-source values as canonical CIDRs, checked before any connection like the parser's flags. */
export function webhookSourceCidrs(sources: readonly string[]): string[] {
  const cidrs = sources.map((text) => {
    try {
      return parseCidr(text);
    } catch (e) {
      if (isIrsaError(e, "invalid")) throw new UsageError(`"--webhook-source": ${cliMessage(e)}`, "install");
      throw e;
    }
  });
  // 2001:DB8::/32 and 2001:db8::/32 are one source.
  return [...new Set(cidrs)];
}

/** Where the kube-apiserver's addresses are read from when no --webhook-source is given. */
const apiserverSlices = {
  ref: { group: "discovery.k8s.io", version: "v1", resource: "endpointslices", namespace: "default" },
  labelSelector: "kubernetes.io/service-name=kubernetes",
} as const;

/** The kube-apiserver's addresses as /32 and /128 CIDRs, from the `default/kubernetes` EndpointSlices. */
async function discoverWebhookSources(kube: KubeClient, io: Io): Promise<string[]> {
  const where = "the EndpointSlices of Service default/kubernetes";
  const remedy = "pass --webhook-source CIDR for each address the kube-apiserver calls webhooks from";
  let slices: EndpointSliceAddresses[];
  try {
    slices = await kube.list<EndpointSliceAddresses>(apiserverSlices.ref, {
      labelSelector: apiserverSlices.labelSelector,
    });
  } catch (e) {
    if (!(e instanceof IrsaError)) throw e;
    throw new IrsaError(e.kind, e.reason, `Cannot read ${where} for the kube-apiserver's addresses: ${e.message}`, {
      cause: e,
      remedies: [{ kind: "other", text: remedy }],
    });
  }
  const cidrs = apiserverSourceCidrs(slices);
  if (cidrs.length === 0) {
    const message = "The EndpointSlices of Service default/kubernetes hold no kube-apiserver address";
    throw new IrsaError("precondition", "NoApiserverAddresses", message, {
      remedies: [{ kind: "other", text: remedy }],
    });
  }
  io.err(
    `note: the NetworkPolicy admits the webhook port from the kube-apiserver's addresses ${cidrs.join(", ")} ` +
      `(read from ${where}); where it calls from elsewhere (konnectivity, a managed control plane), ${remedy}\n`,
  );
  return cidrs;
}

/** `kind/name` as printed. */
export function objectLabel(m: Manifest): string {
  return `${m.kind}/${m.metadata.name}`;
}

/** Runs `kubectl irsa install`. */
export async function runInstall(cmd: InstallCommand, io: Io): Promise<number> {
  const namespace = daemonNamespace(cmd.namespace, "install");
  const options: InstallOptions = { namespace, image: cmd.image ?? defaultImage(version) };
  if (cmd.replicas !== undefined) options.replicas = cmd.replicas;
  if (cmd.failurePolicy !== undefined) options.failurePolicy = cmd.failurePolicy;
  if (cmd.webhookSkipNamespaces !== undefined) options.webhookSkipNamespaces = cmd.webhookSkipNamespaces;
  if (cmd.awsEndpointUrl !== undefined) options.awsEndpointUrl = cmd.awsEndpointUrl;
  if (cmd.awsCaBundle !== undefined) options.awsCaBundlePem = await readAwsCaBundle(cmd.awsCaBundle);
  // For install the global --s3-path-style is the daemon's: install itself makes no AWS call.
  if (cmd.flags.s3PathStyle) options.awsS3PathStyle = true;
  const givenSources = cmd.networkPolicy?.webhookSources && webhookSourceCidrs(cmd.networkPolicy.webhookSources);

  // Opened only when needed: `--dry-run -o yaml` connects only to discover the apiserver's addresses.
  const session: { kube?: KubeClient } = {};
  const connect = async () => session.kube ??= await openKube(cmd.flags);
  try {
    if (cmd.networkPolicy !== undefined) {
      const { metricsNamespaces } = cmd.networkPolicy;
      options.networkPolicy = {
        webhookSources: givenSources ?? await discoverWebhookSources(await connect(), io),
        ...(metricsNamespaces.length > 0 ? { metricsNamespaces } : {}),
      };
    }
    const objects = installManifests(options);

    if (cmd.flags.dryRun && cmd.flags.output !== undefined) {
      io.out(
        cmd.flags.output === "json"
          ? JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }, null, 2) + "\n"
          : toYamlStream(objects),
      );
      return 0;
    }
    await runApply(await connect(), objects, { namespace, image: options.image, dryRun: cmd.flags.dryRun }, io);
    return 0;
  } finally {
    session.kube?.close();
  }
}

/** Applies the objects (or dry-runs them on the server) and reports each one. */
async function runApply(
  kube: KubeClient,
  objects: Manifest[],
  options: { namespace: string; image: string; dryRun: boolean },
  io: Io,
): Promise<void> {
  const { namespace } = options;
  if (options.dryRun) {
    await serverDryRun(kube, objects, namespace, io);
    return;
  }
  for (const o of objects) {
    await kube.apply(resourceRefOf(o), o, { force: true });
    io.err(`applied ${objectLabel(o)}\n`);
  }
  io.err(`Installed ${options.image} in namespace ${namespace} (${objects.length} objects)\n`);
  const secret = await kube.get({ resource: "secrets", namespace, name: awsSecret.name }).catch(() => undefined);
  if (secret === undefined) {
    io.err(
      `note: Secret ${namespace}/${awsSecret.name} was not found (or cannot be read), so the daemon uses the default ` +
        `AWS credential chain; create it with keys ${awsSecret.accessKeyId}, ${awsSecret.secretAccessKey}, ` +
        `${awsSecret.region} and optionally ${awsSecret.roleArn}, then restart the Deployment\n`,
    );
  }
}

/** What a server-side dry run found for one object. */
export interface DryRunOutcome {
  object: Manifest;
  result: "created" | "configured" | "unchanged";
  /** `path: before -> after` lines of what would change. */
  changes: string[];
  /** Why the server was not asked, when it could not be. */
  note?: string;
}

async function serverDryRun(kube: KubeClient, objects: Manifest[], namespace: string, io: Io): Promise<void> {
  const namespaceExists = (await kube.get({ resource: "namespaces", name: namespace })) !== undefined;
  const outcomes: DryRunOutcome[] = [];
  for (const o of objects) {
    const ref = resourceRefOf(o);
    if (!namespaceExists && ref.namespace === namespace) {
      // The API server cannot dry-run an object in a namespace that only the same (dry) run would create.
      outcomes.push({ object: o, result: "created", changes: [], note: `namespace ${namespace} is created first` });
      continue;
    }
    const live = await kube.get<Record<string, unknown>>(ref);
    let after: Record<string, unknown>;
    try {
      after = await kube.apply<Record<string, unknown>>(ref, o, { force: true, dryRun: true });
    } catch (e) {
      if (e instanceof IrsaError) {
        throw new IrsaError(e.kind, e.reason, `${objectLabel(o)} would be refused: ${e.message}`, {
          cause: e,
          remedies: e.remedies,
        });
      }
      throw e;
    }
    if (live === undefined) outcomes.push({ object: o, result: "created", changes: [] });
    else {
      const changes = changedPaths(comparable(live), comparable(after));
      outcomes.push({ object: o, result: changes.length === 0 ? "unchanged" : "configured", changes });
    }
  }
  for (const o of outcomes) {
    io.out(`${objectLabel(o.object)} ${o.result} (server dry run${o.note ? `; not checked: ${o.note}` : ""})\n`);
    for (const c of o.changes) io.out(`    ${c}\n`);
  }
  const changed = outcomes.filter((o) => o.result !== "unchanged").length;
  io.err(changed === 0 ? "Everything is up to date; nothing would change\n" : `${changed} objects would change\n`);
}

/** An object without the fields the server owns, so a live object and an apply result compare by content. */
export function comparable(o: Record<string, unknown>): Record<string, unknown> {
  const { status: _status, metadata, ...rest } = o;
  const {
    managedFields: _managedFields,
    resourceVersion: _resourceVersion,
    generation: _generation,
    uid: _uid,
    creationTimestamp: _creationTimestamp,
    ...meta
  } = (metadata ?? {}) as Record<string, unknown>;
  return { ...rest, metadata: meta };
}

/** Leaf paths whose values differ, as `path: before -> after` (at most `limit` lines). Pure. */
export function changedPaths(before: unknown, after: unknown, limit = 20): string[] {
  const a = new Map<string, string>();
  const b = new Map<string, string>();
  flatten(before, "", a);
  flatten(after, "", b);
  const out: string[] = [];
  for (const key of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const x = a.get(key);
    const y = b.get(key);
    if (x !== y) out.push(`${key}: ${x ?? "(absent)"} -> ${y ?? "(absent)"}`);
  }
  return out.length > limit ? [...out.slice(0, limit), `… and ${out.length - limit} more`] : out;
}

function flatten(value: unknown, path: string, into: Map<string, string>): void {
  if (Array.isArray(value)) {
    if (value.length === 0) into.set(path, "[]");
    value.forEach((v, i) => flatten(v, `${path}[${i}]`, into));
  } else if (value !== null && typeof value === "object") {
    const entries = Object.entries(value);
    if (entries.length === 0) into.set(path, "{}");
    for (const [k, v] of entries) flatten(v, path === "" ? k : `${path}.${k}`, into);
  } else into.set(path, JSON.stringify(value));
}
