// The decisions of `rotate-key`: its resumable state and, from what exists, what each stage does. Pure (no I/O,
// no clock: `now` is passed in), so the CLI, `rotate-key status` and the tests all read the same answers.
//
// The invariant behind every rule here: a token that STS could verify before a step still verifies after it,
// until it has expired. So the published JWKS only ever grows until `retire`, and `retire` removes a key only
// when no unexpired token can carry it (or the user says so), and never the key the apiserver signs with.
import { mergeJwks, serializeDocument } from "./discovery.ts";
import { IrsaError } from "./errors.ts";
import { type InitAction, type KeyPair, planKeyFileWrites } from "./init_plan.ts";
import type { Jwk, Jwks } from "./keys.ts";
import { discoveryKeys, keySecret, previousKeySecret, tokenExpirationSeconds } from "./names.ts";

/**
 * Where a rotation stands:
 * - `preparing`: the new key was chosen and may already be stored, but is not published yet;
 * - `prepared`: the JWKS holds old and new keys; the apiserver may now sign with the new key;
 * - `switched`: a freshly minted token carried the new kid and verified like STS (`switchedAt`);
 * - `retired`: the old keys were removed from the JWKS.
 */
export type RotationStage = "preparing" | "prepared" | "switched" | "retired";

const stages: readonly RotationStage[] = ["preparing", "prepared", "switched", "retired"];

/** The state of the current (or last) rotation, kept in the setup ConfigMap under `rotation.json`. */
export interface RotationState {
  stage: RotationStage;
  keySource: "cluster" | "generate";
  /** The kid the apiserver signs with after the rotation. */
  newKid: string;
  /** The kids published before the rotation; `retire` removes them. */
  oldKids: string[];
  /** ISO time of `prepare`. */
  preparedAt: string;
  /** ISO time of the first successful `verify`: no token signed with an old key is newer than this. */
  switchedAt?: string;
  /** ISO time from which `retire` needs no --force (switchedAt plus the grace period given to `verify`). */
  retireAfter?: string;
  /** ISO time of `retire`. */
  retiredAt?: string;
  /** Generate mode: the control-plane paths printed for the new key, so the next rotation keeps them as old. */
  keyFiles?: { publicPath: string; privatePath: string };
}

/**
 * The default time between the switch and retiring the old keys: the longest lifetime of a pod's projected
 * token (the webhook's default of 86400 s) plus an hour for clock skew and tokens minted just before the switch.
 */
export const defaultRetireGraceMs = (tokenExpirationSeconds.default + 3600) * 1000;

/** Stable JSON of the state (field order fixed, absent fields omitted), so unchanged states compare equal. */
export function serializeRotationState(state: RotationState): string {
  const ordered: Record<string, unknown> = {
    stage: state.stage,
    keySource: state.keySource,
    newKid: state.newKid,
    oldKids: state.oldKids,
    preparedAt: state.preparedAt,
  };
  for (const k of ["switchedAt", "retireAfter", "retiredAt"] as const) {
    if (state[k] !== undefined) ordered[k] = state[k];
  }
  if (state.keyFiles) {
    ordered.keyFiles = { publicPath: state.keyFiles.publicPath, privatePath: state.keyFiles.privatePath };
  }
  return JSON.stringify(ordered, null, 2) + "\n";
}

/** Reads the state; throws IrsaError "precondition" when it is damaged, so no stage acts on half a rotation. */
export function parseRotationState(text: string): RotationState {
  const damaged = (why: string) =>
    new IrsaError(
      "precondition",
      "RotationStateDamaged",
      `the key rotation state (kube-system/kubectl-irsa-setup, key rotation.json) is damaged (${why}); ` +
        "rerun 'kubectl irsa rotate-key prepare --force' to start over",
    );
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text);
  } catch {
    throw damaged("not JSON");
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw damaged("not an object");
  if (!stages.includes(raw.stage as RotationStage)) throw damaged(`unknown stage "${raw.stage}"`);
  if (raw.keySource !== "cluster" && raw.keySource !== "generate") throw damaged(`unknown keySource`);
  if (typeof raw.newKid !== "string" || raw.newKid === "") throw damaged(`"newKid" missing`);
  if (!Array.isArray(raw.oldKids) || raw.oldKids.some((k) => typeof k !== "string")) {
    throw damaged(`"oldKids" is not a list of strings`);
  }
  const state: RotationState = {
    stage: raw.stage as RotationStage,
    keySource: raw.keySource,
    newKid: raw.newKid,
    oldKids: raw.oldKids as string[],
    preparedAt: isoField(raw, "preparedAt", damaged) ?? "",
  };
  if (state.preparedAt === "") throw damaged(`"preparedAt" missing`);
  for (const k of ["switchedAt", "retireAfter", "retiredAt"] as const) {
    const v = isoField(raw, k, damaged);
    if (v !== undefined) state[k] = v;
  }
  if ((state.stage === "switched" || state.stage === "retired") && state.switchedAt === undefined) {
    // A forced retire may skip verify; only "switched" promises a switch time.
    if (state.stage === "switched") throw damaged(`stage "switched" without "switchedAt"`);
  }
  const files = raw.keyFiles as { publicPath?: unknown; privatePath?: unknown } | undefined;
  if (files !== undefined) {
    if (typeof files?.publicPath !== "string" || typeof files.privatePath !== "string") {
      throw damaged(`"keyFiles" needs publicPath and privatePath`);
    }
    state.keyFiles = { publicPath: files.publicPath, privatePath: files.privatePath };
  }
  return state;
}

function isoField(
  raw: Record<string, unknown>,
  key: string,
  damaged: (why: string) => IrsaError,
): string | undefined {
  const v = raw[key];
  if (v === undefined) return undefined;
  if (typeof v !== "string" || Number.isNaN(Date.parse(v))) throw damaged(`"${key}" is not a time`);
  return v;
}

/** Reads a duration such as `0s`, `90m`, `25h`, `2d` or `1h30m` into milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  if (!/^(\d+(ms|s|m|h|d))+$/.test(text)) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
  let total = 0;
  for (const m of text.matchAll(/(\d+)(ms|s|m|h|d)/g)) total += Number(m[1]) * unit[m[2] as keyof typeof unit];
  return Number.isSafeInteger(total) ? total : undefined;
}

/** A duration in milliseconds as text, largest units first (`25h`, `1h30m`, `0s`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of [["h", 3_600_000], ["m", 60_000], ["s", 1000], ["ms", 1]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  return parts.join("");
}

/** A rotation is under way (not finished, not just chosen). */
export function inProgress(state: RotationState | undefined): boolean {
  return state?.stage === "prepared" || state?.stage === "switched";
}

/** A key with its kid: the public JWK and (generate mode) the pair. */
export interface KnownKey {
  jwk: Jwk;
  pair: KeyPair;
}

/** What `prepare` found. */
export interface PrepareObserved {
  keySource: "cluster" | "generate";
  state: RotationState | undefined;
  stateText: string | undefined;
  bucket: string;
  /** The published keys.json text, undefined when missing. */
  publishedText: string | undefined;
  published: Jwks;
  /** Generate mode: the key kube-system/irsa-manager-key holds. */
  currentKey?: KnownKey;
  /** Generate mode: the key kube-system/irsa-manager-key-previous holds. */
  previousKey?: KnownKey;
  /** Generate mode: a freshly generated key, used only when a new rotation starts. */
  candidateKey?: KnownKey;
  /** Generate mode with --out-dir: what the new key's files hold now, by path. */
  files?: Record<string, string | undefined>;
  /** Cluster mode: the apiserver's /openid/v1/jwks. */
  apiserverJwks?: Jwks;
  /** Cluster mode: the kid of a freshly minted token. */
  signingKid?: string;
}

/** What `prepare` was asked. */
export interface PrepareRequest {
  now: string;
  force: boolean;
  /** Generate mode: directory for the new key files (written locally); otherwise only paths are printed. */
  outDir?: string;
  /** Cluster mode: the new kid, when the apiserver serves more than one candidate. */
  kid?: string;
}

/** One change of a `rotate-key` stage. Plain data: printed by --dry-run and executed by the CLI. */
export type RotationAction =
  | { kind: "ApplyRotationState"; state: RotationState; before: string | undefined }
  | { kind: "ApplyPreviousKeySecret"; namespace: string; name: string; key: KeyPair }
  | { kind: "DeletePreviousKeySecret"; namespace: string; name: string }
  | Extract<InitAction, { kind: "ApplyKeySecret" | "WriteKeyFile" | "PutObject" }>;

/** The outcome of planning a stage. */
export interface RotationPlan {
  actions: RotationAction[];
  state: RotationState;
  jwks: Jwks;
  /** True when an earlier run of the same stage is being completed rather than a new one started. */
  resumed: boolean;
}

/** The file names of a rotated key; the kid prefix keeps them apart from the keys still in use. */
export function rotatedKeyFileNames(kid: string): { privateName: string; publicName: string } {
  const slug = kid.slice(0, 8);
  return { privateName: `irsa-manager-${slug}.key`, publicName: `irsa-manager-${slug}.pub` };
}

/** Plans `rotate-key prepare`. Throws IrsaError when the observed state does not allow it. */
export function planPrepare(observed: PrepareObserved, req: PrepareRequest): RotationPlan {
  return observed.keySource === "generate" ? planPrepareGenerate(observed, req) : planPrepareCluster(observed, req);
}

function planPrepareGenerate(o: PrepareObserved, req: PrepareRequest): RotationPlan {
  const current = o.currentKey;
  if (!current) {
    throw new IrsaError(
      "precondition",
      "KeySecretMissing",
      `Secret ${keySecret.namespace}/${keySecret.name} holds no signing key; run 'kubectl irsa init --key-source generate' first`,
    );
  }
  const actions: RotationAction[] = [];
  const s = o.state;
  let newKey: KnownKey;
  let oldKey: KnownKey | undefined;
  let state: RotationState;
  let resumed = false;
  const resumable = s !== undefined && s.keySource === "generate" && current.jwk.kid === s.newKid &&
    (s.stage === "preparing" || (inProgress(s) && !req.force));
  if (resumable) {
    // The Secret already holds the new key: finish publishing it (a run that stopped half way).
    newKey = current;
    oldKey = o.previousKey;
    state = { ...s, stage: s.stage === "preparing" ? "prepared" : s.stage };
    resumed = true;
  } else {
    if (inProgress(s) && !req.force) {
      throw new IrsaError(
        "conflict",
        "RotationKeyChanged",
        `a rotation to key "${s!.newKid}" is under way, but Secret ${keySecret.namespace}/${keySecret.name} holds ` +
          `key "${current.jwk.kid}"; pass --force to start a new rotation from the key the Secret holds`,
      );
    }
    if (!o.candidateKey) throw new Error("planPrepare: a new rotation needs a candidate key");
    newKey = o.candidateKey;
    oldKey = current;
    const oldKids = unique([current.jwk.kid, ...o.published.keys.map((k) => k.kid)]).filter((k) =>
      k !== newKey.jwk.kid
    );
    state = { stage: "prepared", keySource: "generate", newKid: newKey.jwk.kid, oldKids, preparedAt: req.now };
    // Recorded first: a run that stops after storing the new key then resumes with it instead of losing the old one.
    const preparing: RotationState = { ...state, stage: "preparing" };
    actions.push(
      { kind: "ApplyRotationState", state: preparing, before: o.stateText },
      { kind: "ApplyPreviousKeySecret", ...previousKeySecret, key: current.pair },
      {
        kind: "ApplyKeySecret",
        namespace: keySecret.namespace,
        name: keySecret.name,
        key: newKey.pair,
        replaces: true,
      },
    );
  }

  if (req.outDir !== undefined) {
    const dir = req.outDir.replace(/\/+$/, "") || "/";
    const names = rotatedKeyFileNames(newKey.jwk.kid);
    state.keyFiles = { privatePath: `${dir}/${names.privateName}`, publicPath: `${dir}/${names.publicName}` };
    const files = [
      { path: state.keyFiles.privatePath, content: newKey.pair.privatePem, secret: true },
      { path: state.keyFiles.publicPath, content: newKey.pair.publicPem, secret: false },
    ];
    actions.push(
      ...planKeyFileWrites(files.map((f) => ({ ...f, have: o.files?.[f.path] })), { force: req.force ?? false }),
    );
  } else if (resumed && s?.keyFiles) {
    state.keyFiles = s.keyFiles;
  }

  const jwks = mergeJwks(o.published, { keys: [newKey.jwk, ...(oldKey ? [oldKey.jwk] : [])] });
  pushPublish(actions, o, jwks);
  pushState(actions, state, o.stateText);
  return { actions, state, jwks, resumed };
}

function planPrepareCluster(o: PrepareObserved, req: PrepareRequest): RotationPlan {
  const api = o.apiserverJwks;
  if (!api || api.keys.length === 0) {
    throw new IrsaError(
      "precondition",
      "ClusterKeysUnavailable",
      "the kube-apiserver does not serve its keys at /openid/v1/jwks, so its new key cannot be read",
    );
  }
  const apiKids = api.keys.map((k) => k.kid);
  const publishedKids = o.published.keys.map((k) => k.kid);
  const s = o.state;
  let state: RotationState;
  let resumed = false;
  if (
    s && s.keySource === "cluster" && inProgress(s) && !req.force && (req.kid === undefined || req.kid === s.newKid)
  ) {
    if (!apiKids.includes(s.newKid)) {
      throw new IrsaError(
        "precondition",
        "NewKeyNotServed",
        `the rotation under way is to key "${s.newKid}", but the kube-apiserver no longer serves it; add its public ` +
          "key back as a --service-account-key-file, or pass --force to start a new rotation",
      );
    }
    state = { ...s };
    resumed = true;
  } else {
    let newKid: string;
    if (req.kid !== undefined) {
      if (!apiKids.includes(req.kid)) {
        throw new IrsaError(
          "invalid",
          "UnknownKid",
          `the kube-apiserver serves no key "${req.kid}" (it serves ${apiKids.join(", ")})`,
        );
      }
      newKid = req.kid;
    } else {
      // Normally the new key is the one not published yet; the daemon may have published it already, and then it
      // is the one the apiserver verifies with but does not sign with yet.
      const unpublished = apiKids.filter((k) => !publishedKids.includes(k));
      const candidates = unpublished.length > 0 ? unpublished : apiKids.filter((k) => k !== o.signingKid);
      if (candidates.length === 0) {
        throw new IrsaError(
          "precondition",
          "NoNewKey",
          "the kube-apiserver serves no new key: add the new public key as another --service-account-key-file " +
            "(keep the current ones and the signing key as they are), restart the apiserver, then run prepare again",
        );
      }
      if (candidates.length > 1) {
        throw new IrsaError(
          "invalid",
          "AmbiguousNewKey",
          `the kube-apiserver serves several keys that could be the new one (${candidates.join(", ")}); ` +
            "name it with --kid",
        );
      }
      newKid = candidates[0]!;
    }
    if (newKid === o.signingKid && !req.force) {
      throw new IrsaError(
        "precondition",
        "AlreadySigning",
        `the kube-apiserver already signs with key "${newKid}"; it must be published before the apiserver signs ` +
          "with it, so pass --force only if that is what you want to record",
      );
    }
    const oldKids = unique([...publishedKids, ...(o.signingKid ? [o.signingKid] : [])]).filter((k) => k !== newKid);
    state = { stage: "prepared", keySource: "cluster", newKid, oldKids, preparedAt: req.now };
  }
  const actions: RotationAction[] = [];
  const jwks = mergeJwks(o.published, api);
  pushPublish(actions, o, jwks);
  pushState(actions, state, o.stateText);
  return { actions, state, jwks, resumed };
}

function pushPublish(actions: RotationAction[], o: Pick<PrepareObserved, "bucket" | "publishedText">, jwks: Jwks) {
  const body = serializeDocument(jwks);
  if (o.publishedText !== body) {
    actions.push({ kind: "PutObject", bucket: o.bucket, key: discoveryKeys.jwks, body, before: o.publishedText });
  }
}

function pushState(actions: RotationAction[], state: RotationState, before: string | undefined) {
  if (serializeRotationState(state) !== before) actions.push({ kind: "ApplyRotationState", state, before });
}

/** What `verify` observed: a freshly minted token's kid and whether it verified like STS. */
export interface VerifyObserved {
  state: RotationState | undefined;
  stateText: string | undefined;
  tokenKid: string;
}

/**
 * Plans `rotate-key verify` after the token verified like STS: records the switch (the earliest one, since no
 * old-key token is newer). Throws when no rotation is prepared or the apiserver does not sign with the new key.
 */
export function planVerify(o: VerifyObserved, req: { now: string; graceMs: number }): RotationPlan {
  const s = requirePrepared(o.state, "verify");
  if (o.tokenKid !== s.newKid) {
    throw new IrsaError(
      "precondition",
      "NotSwitched",
      `the kube-apiserver still signs tokens with key "${o.tokenKid}", not the new key "${s.newKid}"; apply the ` +
        "kube-apiserver change that 'kubectl irsa rotate-key prepare' printed, restart it, then run verify again",
    );
  }
  const state: RotationState = { ...s };
  if (s.stage === "prepared") {
    state.stage = "switched";
    state.switchedAt = req.now;
    state.retireAfter = new Date(Date.parse(req.now) + req.graceMs).toISOString();
  }
  const actions: RotationAction[] = [];
  pushState(actions, state, o.stateText);
  return { actions, state, jwks: { keys: [] }, resumed: s.stage !== "prepared" };
}

function requirePrepared(s: RotationState | undefined, stage: string): RotationState {
  if (!s || s.stage === "preparing") {
    throw new IrsaError(
      "precondition",
      "NotPrepared",
      `no key rotation is prepared, so there is nothing to ${stage}; run 'kubectl irsa rotate-key prepare' first`,
    );
  }
  return s;
}

/** What `retire` observed. */
export interface RetireObserved {
  state: RotationState | undefined;
  stateText: string | undefined;
  bucket: string;
  publishedText: string | undefined;
  published: Jwks;
  /** The kid of a freshly minted token: the key the apiserver signs with now. */
  signingKid: string;
  /** Cluster mode: the apiserver's verification keys; a key it still serves would be published again. */
  apiserverKids?: string[];
  /** Generate mode: whether kube-system/irsa-manager-key-previous exists. */
  previousKeyStored?: boolean;
}

/** When `retire` needs no --force: switchedAt plus the grace period, or undefined before the switch. */
export function retireAllowedAt(state: RotationState, graceMs?: number): Date | undefined {
  if (state.switchedAt === undefined) return undefined;
  if (graceMs === undefined && state.retireAfter !== undefined) return new Date(state.retireAfter);
  return new Date(Date.parse(state.switchedAt) + (graceMs ?? defaultRetireGraceMs));
}

/**
 * Plans `rotate-key retire`: removes the old kids from the published JWKS. Refuses (IrsaError "precondition")
 * before the switch or the grace period unless `force`, and always when the apiserver signs with an old key.
 */
export function planRetire(
  o: RetireObserved,
  req: { now: string; force: boolean; graceMs?: number },
): RotationPlan {
  const s = requirePrepared(o.state, "retire");
  if (s.oldKids.includes(o.signingKid) || o.signingKid !== s.newKid && !req.force) {
    const old = s.oldKids.includes(o.signingKid);
    throw new IrsaError(
      "precondition",
      old ? "RetiringSigningKey" : "NotSwitched",
      old
        ? `refusing to retire key "${o.signingKid}": the kube-apiserver signs tokens with it right now (checked with a ` +
          "freshly minted token), so every new token would fail; switch the apiserver to the new key first, even with --force"
        : `the kube-apiserver signs with key "${o.signingKid}", which is neither old nor the new key "${s.newKid}"; ` +
          "check the apiserver's --service-account-signing-key-file",
    );
  }
  if (s.stage === "prepared" && !req.force) {
    throw new IrsaError(
      "precondition",
      "NotVerified",
      "the switch to the new key is not verified yet; run 'kubectl irsa rotate-key verify' first (or pass --force)",
    );
  }
  if (s.stage === "switched" && !req.force) {
    const allowed = retireAllowedAt(s, req.graceMs)!;
    if (Date.parse(req.now) < allowed.getTime()) {
      throw new IrsaError(
        "precondition",
        "TooEarly",
        `too early to retire ${s.oldKids.join(", ")}: tokens signed with the old key before the switch at ` +
          `${s.switchedAt} may still be valid until ${allowed.toISOString()}; wait, or pass --grace or --force`,
      );
    }
  }
  const served = s.oldKids.filter((k) => o.apiserverKids?.includes(k));
  if (served.length > 0) {
    throw new IrsaError(
      "precondition",
      "OldKeyStillServed",
      `the kube-apiserver still verifies tokens with ${
        served.join(", ")
      } (a --service-account-key-file), so the next ` +
        "init or daemon resync would publish it again; remove that key file from the apiserver and restart it first",
    );
  }
  const jwks = mergeJwks(o.published, { keys: [] }, { retire: new Set(s.oldKids) });
  const actions: RotationAction[] = [];
  pushPublish(actions, o, jwks);
  // The old private key would still mint tokens the apiserver accepts while it keeps the old key file.
  if (s.keySource === "generate" && o.previousKeyStored) {
    actions.push({ kind: "DeletePreviousKeySecret", ...previousKeySecret });
  }
  const state: RotationState = s.stage === "retired" ? { ...s } : { ...s, stage: "retired", retiredAt: req.now };
  pushState(actions, state, o.stateText);
  return { actions, state, jwks, resumed: s.stage === "retired" };
}

/** A one-line description of an action, for progress output and --dry-run. Never includes key material. */
export function describeRotationAction(a: RotationAction): string {
  switch (a.kind) {
    case "ApplyRotationState":
      return `record rotation stage "${a.state.stage}" (new key ${a.state.newKid}) in ConfigMap kube-system/kubectl-irsa-setup`;
    case "ApplyPreviousKeySecret":
      return `keep the current signing key in Secret ${a.namespace}/${a.name}`;
    case "DeletePreviousKeySecret":
      return `delete the retired signing key Secret ${a.namespace}/${a.name}`;
    case "ApplyKeySecret":
      return `store the new signing key in Secret ${a.namespace}/${a.name}`;
    case "WriteKeyFile":
      return `write ${a.secret ? "private" : "public"} key file ${a.path} (mode ${a.mode.toString(8)})`;
    case "PutObject":
      return `${a.before === undefined ? "upload" : "update"} s3://${a.bucket}/${a.key}`;
  }
}

/** The status of a rotation as plain data, for `rotate-key status`. */
export interface RotationStatus {
  stage: RotationStage | "none";
  keySource?: "cluster" | "generate";
  newKid?: string;
  oldKids: string[];
  preparedAt?: string;
  switchedAt?: string;
  retiredAt?: string;
  /** When `retire` needs no --force; absent before the switch and after retiring. */
  retireAllowedAt?: string;
  /** What to run next. */
  next: string;
}

/** The status of `state` at `now`. */
export function rotationStatus(state: RotationState | undefined, now: string, graceMs?: number): RotationStatus {
  if (!state) return { stage: "none", oldKids: [], next: "kubectl irsa rotate-key prepare" };
  const status: RotationStatus = {
    stage: state.stage,
    keySource: state.keySource,
    newKid: state.newKid,
    oldKids: state.oldKids,
    preparedAt: state.preparedAt,
    next: "",
  };
  if (state.switchedAt) status.switchedAt = state.switchedAt;
  if (state.retiredAt) status.retiredAt = state.retiredAt;
  const allowed = retireAllowedAt(state, graceMs);
  if (allowed && state.stage === "switched") status.retireAllowedAt = allowed.toISOString();
  switch (state.stage) {
    case "preparing":
      status.next = "kubectl irsa rotate-key prepare (an earlier run stopped half way; it resumes)";
      break;
    case "prepared":
      status.next = "apply the kube-apiserver change printed by prepare, then: kubectl irsa rotate-key verify";
      break;
    case "switched":
      status.next = allowed && Date.parse(now) < allowed.getTime()
        ? `wait until ${allowed.toISOString()}, then: kubectl irsa rotate-key retire`
        : "kubectl irsa rotate-key retire";
      break;
    case "retired":
      status.next = "nothing: the rotation is complete (kubectl irsa rotate-key prepare starts the next one)";
      break;
  }
  return status;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
