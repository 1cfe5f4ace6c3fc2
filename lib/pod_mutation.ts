// The pure decision of the pod identity mutating webhook. It must produce the same JSON Patch as
// aws/amazon-eks-pod-identity-webhook (handler.go getPodSpecPatch/addEnvToContainer, cache.go addSA), so that a
// cluster can swap one webhook for the other without any pod noticing. Where upstream looks odd we still follow it;
// the test file lists those places.

import {
  awsEnv,
  osNodeSelector,
  podAnnotation,
  saAnnotation,
  stsAudience,
  stsRegionalEndpointsValue,
  tokenExpirationSeconds,
  tokenMount,
  webhookAnnotationName,
} from "./names.ts";

/** Settings of the webhook, the counterparts of upstream's command-line flags. */
export interface WebhookConfig {
  /** Domain of the annotations (`--annotation-prefix`). */
  annotationPrefix: string;
  /** Token audience when the ServiceAccount has no audience annotation (`--token-audience`). */
  defaultAudience: string;
  /** Where the token volume is mounted in containers (`--token-mount-path`). */
  mountPath: string;
  /** Token lifetime in seconds when no annotation sets one (`--token-expiration`). */
  defaultTokenExpiration: number;
  /** Injected as AWS_DEFAULT_REGION and AWS_REGION when set and non-empty (`--aws-default-region`). */
  defaultRegion?: string;
  /** Inject AWS_STS_REGIONAL_ENDPOINTS=regional unless the ServiceAccount says otherwise (`--sts-regional-endpoint`). */
  regionalSts: boolean;
}

/** Upstream's flag defaults. */
export const defaultWebhookConfig: Readonly<WebhookConfig> = Object.freeze({
  annotationPrefix: saAnnotation.prefix,
  defaultAudience: stsAudience,
  mountPath: tokenMount.path,
  defaultTokenExpiration: tokenExpirationSeconds.default,
  regionalSts: false,
});

/** What a ServiceAccount's annotations ask for; an absent or unparsable annotation leaves its field unset. */
export interface ServiceAccountIdentity {
  roleArn?: string;
  audience?: string;
  stsRegionalEndpoints?: boolean;
  tokenExpiration?: number;
}

/** A container environment variable. */
export interface EnvVar {
  name: string;
  value?: string;
  [key: string]: unknown;
}

/** A container volume mount. */
export interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
  [key: string]: unknown;
}

/** The parts of a container the webhook reads; other fields pass through untouched. */
export interface Container {
  name: string;
  env?: EnvVar[] | null;
  volumeMounts?: VolumeMount[] | null;
  [key: string]: unknown;
}

/** A pod volume. */
export interface Volume {
  name: string;
  [key: string]: unknown;
}

/** The parts of a pod the webhook reads. */
export interface Pod {
  metadata?: {
    name?: string;
    namespace?: string;
    annotations?: Record<string, string> | null;
    labels?: Record<string, string> | null;
    [key: string]: unknown;
  };
  spec: {
    serviceAccountName?: string;
    containers: Container[];
    initContainers?: Container[] | null;
    volumes?: Volume[] | null;
    nodeSelector?: Record<string, string> | null;
    [key: string]: unknown;
  };
}

/** One RFC 6902 operation, of the two kinds the webhook emits. */
export type JsonPatchOp = { op: "add" | "replace"; path: string; value: unknown };

function annotationKey(prefix: string, name: string): string {
  return `${prefix}/${name}`;
}

/** Go's strconv.ParseInt(s, 10, 64): optional sign, decimal digits, within int64; anything else is undefined. */
function parseGoInt64(s: string): number | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const n = BigInt(s);
  if (n > 9223372036854775807n || n < -9223372036854775808n) return undefined;
  return Number(n);
}

/** Go's strconv.ParseBool. */
function parseGoBool(s: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(s)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(s)) return false;
  return undefined;
}

/** Upstream's ValidateMinTokenExpiration: the kube-apiserver rejects shorter projected tokens. */
function atLeastMinimum(seconds: number): number {
  return seconds < tokenExpirationSeconds.min ? tokenExpirationSeconds.min : seconds;
}

/**
 * Reads a ServiceAccount's webhook annotations as upstream's cache does: a present role ARN or audience is taken as
 * is (even empty), `sts-regional-endpoints` must parse as a Go bool and `token-expiration` as a Go int64 (raised
 * to the 600 s floor); an unparsable value is ignored so the flag default applies.
 */
export function identityFromAnnotations(
  annotations: Record<string, string> | null | undefined,
  config: Pick<WebhookConfig, "annotationPrefix">,
): ServiceAccountIdentity {
  const get = (name: string): string | undefined => {
    const key = annotationKey(config.annotationPrefix, name);
    return annotations != null && Object.hasOwn(annotations, key) ? annotations[key] : undefined;
  };
  const identity: ServiceAccountIdentity = {};
  const roleArn = get(webhookAnnotationName.roleArn);
  if (roleArn !== undefined) identity.roleArn = roleArn;
  const audience = get(webhookAnnotationName.audience);
  if (audience !== undefined) identity.audience = audience;
  const regional = parseGoBool(get(webhookAnnotationName.stsRegionalEndpoints) ?? "");
  if (regional !== undefined) identity.stsRegionalEndpoints = regional;
  const expiration = parseGoInt64(get(webhookAnnotationName.tokenExpiration) ?? "");
  if (expiration !== undefined) identity.tokenExpiration = atLeastMinimum(expiration);
  return identity;
}

/**
 * The first record of `value` as Go's encoding/csv Reader (default settings) reads it, or undefined where Go
 * returns an error. Upstream parses the skip-containers annotation this way, so spaces are kept and a stray quote
 * makes the whole annotation ignored.
 */
export function parseCsvFirstRecord(value: string): string[] | undefined {
  // Go normalises \r\n to \n per line, and drops one trailing \r at the end of input.
  let text = value.replace(/\r\n/g, "\n");
  if (text.endsWith("\r")) text = text.slice(0, -1);
  let i = 0;
  while (text[i] === "\n") i++; // empty lines before the first record are skipped
  if (i >= text.length) return undefined; // io.EOF
  const fields: string[] = [];
  for (;;) {
    if (text[i] !== '"') {
      let end = i;
      while (end < text.length && text[end] !== "," && text[end] !== "\n") end++;
      const field = text.slice(i, end);
      if (field.includes('"')) return undefined; // ErrBareQuote
      fields.push(field);
      if (text[end] === ",") {
        i = end + 1;
        continue;
      }
      return fields;
    }
    // A quoted field may span lines; `""` is an escaped quote.
    let field = "";
    i++;
    for (;;) {
      const q = text.indexOf('"', i);
      if (q < 0) return undefined; // ErrQuote: no closing quote before the end of input
      field += text.slice(i, q);
      i = q + 1;
      const next = text[i];
      if (next === '"') {
        field += '"';
        i++;
      } else if (next === ",") {
        fields.push(field);
        i++;
        break;
      } else if (next === undefined || next === "\n") {
        fields.push(field);
        return fields;
      } else {
        return undefined; // ErrQuote: a character right after the closing quote
      }
    }
  }
}

/** Go's filepath.Join on a POSIX system: the non-empty parts joined with `/`, then cleaned. */
function joinPath(...parts: string[]): string {
  const joined = parts.filter((p) => p !== "").join("/");
  if (joined === "") return "";
  const rooted = joined.startsWith("/");
  const out: string[] = [];
  for (const seg of joined.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!rooted) out.push("..");
      continue;
    }
    out.push(seg);
  }
  const cleaned = (rooted ? "/" : "") + out.join("/");
  return cleaned === "" ? "." : cleaned;
}

interface ContainerPlan {
  roleArn: string;
  tokenFilePath: string;
  regionalSts: boolean;
  region: string;
  mountPath: string;
}

/** Upstream's addEnvToContainer on a copy: returns the container to send back, changed or not. */
function mutateContainer(container: Container, plan: ContainerPlan): Container {
  const names = new Set((container.env ?? []).map((e) => e.name));
  const webIdentityDefined = names.has(awsEnv.roleArn) || names.has(awsEnv.webIdentityTokenFile);
  const regionDefined = names.has(awsEnv.region) || names.has(awsEnv.defaultRegion);
  const stsDefined = names.has(awsEnv.stsRegionalEndpoints);
  // Upstream returns here before looking at the volume mount, so such a container gets no mount.
  if (webIdentityDefined && regionDefined && stsDefined) return container;

  const added: EnvVar[] = [];
  if (!stsDefined && plan.regionalSts) {
    added.push({ name: awsEnv.stsRegionalEndpoints, value: stsRegionalEndpointsValue });
  }
  if (!regionDefined && plan.region !== "") {
    added.push({ name: awsEnv.defaultRegion, value: plan.region }, { name: awsEnv.region, value: plan.region });
  }
  if (!webIdentityDefined) {
    added.push(
      { name: awsEnv.roleArn, value: plan.roleArn },
      { name: awsEnv.webIdentityTokenFile, value: plan.tokenFilePath },
    );
  }
  const out: Container = { ...container };
  if (added.length > 0) out.env = [...(container.env ?? []), ...added];
  if (!(container.volumeMounts ?? []).some((m) => m.name === tokenMount.volume)) {
    out.volumeMounts = [
      ...(container.volumeMounts ?? []),
      { name: tokenMount.volume, readOnly: true, mountPath: plan.mountPath },
    ];
  }
  return out;
}

/**
 * The JSON Patch the webhook returns for `pod`, or `[]` when the ServiceAccount has no role ARN (upstream then
 * allows the pod without a patch). Otherwise, in upstream's order:
 * 1. the token volume, unless a volume of that name exists: `add /spec/volumes` with a one-element array when the
 *    pod has no volumes list, else `add /spec/volumes/0` (prepended);
 * 2. always `add /spec/containers` with the whole list, mutated containers in place;
 * 3. `add /spec/initContainers` with the whole list when the pod has any.
 * A re-invocation therefore yields no duplicates but is not empty: it re-sends the unchanged containers.
 */
export function mutatePod(pod: Pod, identity: ServiceAccountIdentity, config: WebhookConfig): JsonPatchOp[] {
  const roleArn = identity.roleArn;
  if (roleArn === undefined || roleArn === "") return [];

  const annotations = pod.metadata?.annotations ?? {};
  const own = (name: string): string | undefined => {
    const key = annotationKey(config.annotationPrefix, name);
    return Object.hasOwn(annotations, key) ? annotations[key] : undefined;
  };
  const podExpiration = parseGoInt64(own(webhookAnnotationName.tokenExpiration) ?? "");
  const expirationSeconds = atLeastMinimum(
    podExpiration ?? identity.tokenExpiration ?? config.defaultTokenExpiration,
  );
  const skipValue = own(webhookAnnotationName.skipContainers);
  const skipped = new Set(skipValue === undefined ? [] : parseCsvFirstRecord(skipValue) ?? []);

  let tokenFilePath = joinPath(config.mountPath, tokenMount.file);
  const nodeSelector = pod.spec.nodeSelector ?? {};
  if (osNodeSelector.some((label) => nodeSelector[label] === "windows")) {
    tokenFilePath = "C:" + tokenFilePath.replaceAll("/", "\\");
  }
  const plan: ContainerPlan = {
    roleArn,
    tokenFilePath,
    regionalSts: identity.stsRegionalEndpoints ?? config.regionalSts,
    region: config.defaultRegion ?? "",
    mountPath: config.mountPath,
  };
  const mutateAll = (list: Container[]) => list.map((c) => skipped.has(c.name) ? c : mutateContainer(c, plan));

  const ops: JsonPatchOp[] = [];
  const volumes = pod.spec.volumes;
  if (!(volumes ?? []).some((v) => v.name === tokenMount.volume)) {
    const audience = identity.audience ?? config.defaultAudience;
    const volume: Volume = {
      name: tokenMount.volume,
      projected: {
        sources: [{
          // Go drops an empty audience (omitempty), and the API server then uses its own.
          serviceAccountToken: { ...(audience === "" ? {} : { audience }), expirationSeconds, path: tokenMount.file },
        }],
      },
    };
    ops.push(
      volumes == null
        ? { op: "add", path: "/spec/volumes", value: [volume] }
        : { op: "add", path: "/spec/volumes/0", value: volume },
    );
  }
  ops.push({ op: "add", path: "/spec/containers", value: mutateAll(pod.spec.containers ?? []) });
  const initContainers = pod.spec.initContainers ?? [];
  if (initContainers.length > 0) {
    ops.push({ op: "add", path: "/spec/initContainers", value: mutateAll(initContainers) });
  }
  return ops;
}

function decodePointer(path: string): string[] {
  if (path === "") return [];
  if (!path.startsWith("/")) throw new Error(`JSON pointer ${JSON.stringify(path)} must start with "/"`);
  return path.slice(1).split("/").map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"));
}

function arrayIndex(token: string, length: number, allowEnd: boolean, path: string): number {
  if (allowEnd && token === "-") return length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new Error(`Invalid array index ${JSON.stringify(token)} in ${path}`);
  const index = Number(token);
  if (index > (allowEnd ? length : length - 1)) throw new Error(`Array index ${index} out of range in ${path}`);
  return index;
}

/**
 * Applies RFC 6902 `add` and `replace` operations to a copy of `doc`, as the API server does with an admission
 * patch; throws when an operation cannot apply. `add` on an existing object member replaces it.
 */
export function applyJsonPatch<T>(doc: T, ops: readonly JsonPatchOp[]): T {
  let root: unknown = structuredClone(doc);
  for (const { op, path, value } of ops) {
    const tokens = decodePointer(path);
    const copy = structuredClone(value);
    if (tokens.length === 0) {
      root = copy;
      continue;
    }
    let parent: unknown = root;
    for (const token of tokens.slice(0, -1)) {
      if (Array.isArray(parent)) parent = parent[arrayIndex(token, parent.length, false, path)];
      else if (parent !== null && typeof parent === "object" && Object.hasOwn(parent, token)) {
        parent = (parent as Record<string, unknown>)[token];
      } else throw new Error(`Path ${path} does not exist`);
    }
    const last = tokens[tokens.length - 1]!;
    if (Array.isArray(parent)) {
      const index = arrayIndex(last, parent.length, op === "add", path);
      if (op === "add") parent.splice(index, 0, copy);
      else parent[index] = copy;
    } else if (parent !== null && typeof parent === "object") {
      if (op === "replace" && !Object.hasOwn(parent, last)) throw new Error(`Path ${path} does not exist`);
      (parent as Record<string, unknown>)[last] = copy;
    } else throw new Error(`Path ${path} does not exist`);
  }
  return root as T;
}

/** A pod as listed, with what the scanner needs. */
export interface ListedPod extends Pod {
  metadata: Pod["metadata"] & {
    name: string;
    namespace: string;
    uid: string;
    labels?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
  };
}

/** True when the pod should carry credentials for its ServiceAccount but does not. Pure. */
export function missesCredentials(
  pod: ListedPod,
  serviceAccount: Record<string, string> | undefined,
  config: WebhookConfig,
) {
  if (!serviceAccount || pod.metadata.labels?.[podAnnotation.skipLabel] !== undefined) return false;
  const identity = identityFromAnnotations(serviceAccount, config);
  if (!identity.roleArn) return false;
  // The webhook's own patch says what is missing: a mutated pod needs no volume and no credential env.
  const patch = mutatePod(pod, identity, config);
  const addsVolume = patch.some((op) => op.path.startsWith("/spec/volumes"));
  return addsVolume || JSON.stringify(patch.find((op) => op.path === "/spec/containers")?.value) !==
      JSON.stringify(pod.spec.containers);
}
