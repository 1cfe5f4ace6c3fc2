// Parses argv into a typed command. Pure: no I/O, so every rule here is table-tested in args_test.ts.
import { parseArgs } from "node:util";
import { type BindRequest, validateBindRequest } from "../lib/bind.ts";
import { checkSignerDistro, type Distro, distros } from "../lib/distro.ts";
import { isIrsaError } from "../lib/errors.ts";
import { validateBucketName, validateIssuerUrl, validateRegion } from "../lib/issuer.ts";
import { validateKmsKeyRefs } from "../lib/kms_key_ref.ts";

import { parseTag, validateDnsLabel, validateDnsSubdomain, validateEndpointUrl } from "../lib/validate.ts";
import { parseDuration } from "../lib/rotation.ts";
import { parseRequestTimeout } from "../lib/kube/request_timeout.ts";
import { type CommandName, commandSummaries } from "./commands.ts";
import { UsageError } from "./usage_error.ts";
import { cliMessage } from "./remedy.ts";

export { commandSummaries };

/** Output formats of `-o`. */
export type OutputFormat = "json" | "yaml" | "wide" | "name";

/** Flags every command accepts (kubectl's and AWS's conventions). */
export interface GlobalFlags {
  kubeconfig?: string;
  context?: string;
  /** `-n`, possibly repeated; empty means the kubeconfig context's namespace. */
  namespaces: string[];
  allNamespaces: boolean;
  output?: OutputFormat;
  dryRun: boolean;
  verbose: boolean;
  region?: string;
  profile?: string;
  /** PEM bundle trusted for AWS endpoints, in addition to the system store. */
  caBundle?: string;
  /** Path-style S3 addressing, for S3-compatible endpoints. */
  s3PathStyle: boolean;
  /** kubectl's --as: the user to impersonate (replaces the kubeconfig user's `as`). */
  as?: string;
  /** kubectl's --as-group, repeated (replaces the kubeconfig user's `as-groups`). */
  asGroups?: string[];
  /** kubectl's --request-timeout in milliseconds; 0 means none. */
  requestTimeoutMs?: number;
}

/** `kubectl irsa init`. */
export interface InitCommand {
  name: "init";
  flags: GlobalFlags;
  bucket: string;
  issuerUrl?: string;
  keySource: "cluster" | "generate" | "kms";
  /** `--kms-key`, repeated: the signer's KMS keys, the signing one first (kms key source only). */
  kmsKeys?: string[];
  outDir?: string;
  distro?: Distro;
  force: boolean;
  noThumbprint: boolean;
  /** A YAML or JSON file with the binding policy to record. */
  bindingPolicyFile?: string;
  /** `--hosting cloudfront`: a private bucket behind a CloudFront distribution. */
  hosting?: "s3" | "cloudfront";
}

/**
 * `kubectl irsa bind sa NAME`. Everything that needs no server (names, ARNs, paths, tags, ranges) is checked here
 * with the library's own rules; what needs the setup (the default role name, partitions) is checked later.
 */
export interface BindCommand {
  name: "bind";
  flags: GlobalFlags;
  serviceAccount: string;
  /** Same as `flags.namespaces`; empty means the kubeconfig context's namespace. */
  namespaces: string[];
  /** `--policy`, repeated: managed policy names or ARNs, in the order given. */
  policies: string[];
  /** Path of a JSON policy document to put on the role as an inline policy. */
  inlinePolicyFile?: string;
  roleName?: string;
  rolePath?: string;
  permissionsBoundary?: string;
  tags: Record<string, string>;
  /** Seconds. */
  maxSessionDuration?: number;
  audience?: string;
  stsRegionalEndpoints?: boolean;
  /** Seconds. */
  tokenExpiration?: number;
  /** Take over an existing role or annotation that kubectl-irsa did not create. */
  adopt: boolean;
}

/** `kubectl irsa unbind sa NAME`. */
export interface UnbindCommand {
  name: "unbind";
  flags: GlobalFlags;
  serviceAccount: string;
  /** Remove the binding but leave the IAM role in place. */
  keepRole: boolean;
}

/** `kubectl irsa list`. */
export interface ListCommand {
  name: "list";
  flags: GlobalFlags;
}

/** `kubectl irsa install`. */
export interface InstallCommand {
  name: "install";
  flags: GlobalFlags;
  /** The first `-n`; absent means irsa-manager-system (not the context's namespace). */
  namespace?: string;
  image?: string;
  replicas?: number;
  failurePolicy?: "Ignore" | "Fail";
  /** Namespaces the webhook leaves alone besides the daemon's own; absent means kube-system. */
  webhookSkipNamespaces?: string[];
  /** The daemon's AWS_ENDPOINT_URL, already checked. */
  awsEndpointUrl?: string;
  /** Path of the PEM bundle the daemon trusts for AWS endpoints; read (and checked) before any connection. */
  awsCaBundle?: string;
  /** `--network-policy`: render the daemon's NetworkPolicy; absent without the flag. */
  networkPolicy?: {
    /**
     * `--webhook-source` as given; absent means the kube-apiserver's addresses, read from the cluster. Checked as
     * CIDRs by install before it connects: the parser leaves lib/install_manifests.ts out of every command's start.
     */
    webhookSources?: string[];
    /** `--metrics-namespace`, in order; empty means no one may reach the metrics port. */
    metricsNamespaces: string[];
  };
}

/** `kubectl irsa uninstall`. */
export interface UninstallCommand {
  name: "uninstall";
  flags: GlobalFlags;
  /** The first `-n`; absent means irsa-manager-system. */
  namespace?: string;
  /** Leave both CRDs (and so every IRSA and IRSASetup) in place. */
  keepCrds: boolean;
}

/** `kubectl irsa doctor [sa NAME]`. */
export interface DoctorCommand {
  name: "doctor";
  flags: GlobalFlags;
  /** With `sa NAME`: also check that ServiceAccount's binding; its namespace is the first `-n` or the context's. */
  serviceAccount?: string;
  /** Also run a live AssumeRoleWithWebIdentity (needs `sa NAME`). */
  sts: boolean;
}

/** The stages of `kubectl irsa rotate-key`. */
export const rotateKeyStages = ["prepare", "verify", "retire", "status"] as const;

/** `kubectl irsa rotate-key STAGE`. */
export interface RotateKeyCommand {
  name: "rotate-key";
  flags: GlobalFlags;
  stage: (typeof rotateKeyStages)[number];
  /** prepare: start a new rotation or overwrite key files; retire: skip the wait (never the signing-key check). */
  force: boolean;
  /** prepare, generate mode: where to write the new key files. */
  outDir?: string;
  /** prepare, cluster mode: the new key when the apiserver serves several candidates. */
  kid?: string;
  distro?: Distro;
  /** verify, retire, status: milliseconds between the switch and retiring the old keys. */
  graceMs?: number;
}

/** The shells `kubectl irsa completion` writes a script for. */
export const completionShells = ["bash", "zsh", "fish"] as const;

/** `kubectl irsa completion SHELL`. */
export interface CompletionCommand {
  name: "completion";
  flags: GlobalFlags;
  shell: (typeof completionShells)[number];
}

/**
 * The hidden `kubectl irsa __complete WORDS…` (cobra's protocol, which kubectl's plugin completion speaks): the words
 * after `kubectl irsa`, the last one being completed. `__completeNoDesc` drops the descriptions.
 */
export interface CompleteCommand {
  name: "__complete";
  words: string[];
  descriptions: boolean;
}

/** Every command the CLI runs. */
export type Command =
  | { name: "help"; topic?: string }
  | { name: "version"; flags: GlobalFlags }
  | InitCommand
  | BindCommand
  | UnbindCommand
  | ListCommand
  | InstallCommand
  | UninstallCommand
  | DoctorCommand
  | RotateKeyCommand
  | CompletionCommand
  | CompleteCommand;

/** One flag of the parser's tables (node:util parseArgs options), which completion also reads. */
export type OptionSpec = { type: "string" | "boolean"; short?: string; multiple?: boolean };

/** Flags every command accepts. */
export const globalOptions: Record<string, OptionSpec> = {
  kubeconfig: { type: "string" },
  context: { type: "string" },
  namespace: { type: "string", short: "n", multiple: true },
  "all-namespaces": { type: "boolean", short: "A" },
  output: { type: "string", short: "o" },
  "dry-run": { type: "boolean" },
  verbose: { type: "boolean", short: "v" },
  region: { type: "string" },
  profile: { type: "string" },
  "ca-bundle": { type: "string" },
  "s3-path-style": { type: "boolean" },
  as: { type: "string" },
  "as-group": { type: "string", multiple: true },
  "request-timeout": { type: "string" },
  help: { type: "boolean", short: "h" },
};

/** Each command's own flags. */
export const commandOptions: Record<CommandName, Record<string, OptionSpec>> = {
  version: {},
  completion: {},
  init: {
    bucket: { type: "string" },
    "issuer-url": { type: "string" },
    "key-source": { type: "string" },
    "kms-key": { type: "string", multiple: true },
    hosting: { type: "string" },
    "out-dir": { type: "string" },
    distro: { type: "string" },
    force: { type: "boolean" },
    "no-thumbprint": { type: "boolean" },
    "binding-policy": { type: "string" },
  },
  bind: {
    policy: { type: "string", multiple: true },
    "inline-policy": { type: "string" },
    "role-name": { type: "string" },
    "role-path": { type: "string" },
    "permissions-boundary": { type: "string" },
    tag: { type: "string", multiple: true },
    "max-session-duration": { type: "string" },
    audience: { type: "string" },
    "sts-regional-endpoints": { type: "string" },
    "token-expiration": { type: "string" },
    adopt: { type: "boolean" },
  },
  unbind: {
    "keep-role": { type: "boolean" },
  },
  list: {},
  install: {
    image: { type: "string" },
    replicas: { type: "string" },
    "failure-policy": { type: "string" },
    "webhook-skip-namespaces": { type: "string" },
    "aws-endpoint-url": { type: "string" },
    "aws-ca-bundle": { type: "string" },
    "network-policy": { type: "boolean" },
    "webhook-source": { type: "string", multiple: true },
    "metrics-namespace": { type: "string", multiple: true },
  },
  uninstall: {
    "keep-crds": { type: "boolean" },
  },
  doctor: {
    sts: { type: "boolean" },
  },
  "rotate-key": {
    "out-dir": { type: "string" },
    force: { type: "boolean" },
    grace: { type: "string" },
    kid: { type: "string" },
    distro: { type: "string" },
  },
};

/** Commands that take positional arguments (`sa NAME`); every other command rejects them. */
const takesPositionals: ReadonlySet<CommandName> = new Set(["bind", "unbind", "doctor", "rotate-key", "completion"]);

/** Parsed flag values, keyed by long flag name (what node:util parseArgs returns). */
export type Values = Record<string, string | boolean | string[] | undefined>;

function isCommandName(name: string): name is CommandName {
  return Object.hasOwn(commandSummaries, name);
}

/** Parses the plugin's argv (without the program name). Throws UsageError on anything it cannot run. */
export function parseCommand(argv: string[]): Command {
  const first = argv[0];
  if (first === undefined || first === "help" || first === "--help" || first === "-h") {
    const topic = first === "help" ? argv[1] : undefined;
    if (topic !== undefined && !isCommandName(topic)) throw new UsageError(`unknown command "${topic}"`);
    return topic === undefined ? { name: "help" } : { name: "help", topic };
  }
  if (first === "--version") return { name: "version", flags: globalFlags({}) };
  if (first === "__complete" || first === "__completeNoDesc") {
    return { name: "__complete", words: argv.slice(1), descriptions: first === "__complete" };
  }
  if (first.startsWith("-")) throw new UsageError(`a command must come first, got flag "${first}"`);
  if (!isCommandName(first)) throw new UsageError(`unknown command "${first}"`);

  const { values, positionals } = parseFlags(first, argv.slice(1));
  if (values.help) return { name: "help", topic: first };
  const flags = globalFlags(values, first);
  switch (first) {
    case "version":
      return { name: "version", flags };
    case "init":
      return parseInit(values, flags);
    case "bind":
      return parseBind(values, positionals, flags);
    case "unbind":
      return parseUnbind(values, positionals, flags);
    case "list":
      return parseList(flags);
    case "install":
      return parseInstall(values, flags);
    case "uninstall":
      return parseUninstall(values, flags);
    case "doctor":
      return parseDoctor(values, positionals, flags);
    case "rotate-key":
      return parseRotateKey(values, positionals, flags);
    case "completion":
      return parseCompletion(positionals, flags);
  }
}

function parseFlags(command: CommandName, args: string[]): { values: Values; positionals: string[] } {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { ...globalOptions, ...commandOptions[command] },
      strict: true,
      allowPositionals: true,
    });
  } catch (e) {
    throw new UsageError(describeParseError(e), command);
  }
  if (parsed.positionals.length > 0 && !takesPositionals.has(command)) {
    throw new UsageError(`unexpected argument "${parsed.positionals.join(" ")}"`, command);
  }
  return { values: parsed.values as Values, positionals: parsed.positionals };
}

function describeParseError(e: unknown): string {
  const err = e as { code?: string; message?: string };
  // node:util quotes "-n, --namespace <value>" for flags with a short form; name the long one.
  const quoted = err.message?.match(/'([^']+)'/)?.[1] ?? "";
  const flag = quoted.match(/--[\w-]+/)?.[0] ?? quoted.match(/-[^\s,]+/)?.[0];
  switch (err.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown flag "${flag}"`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      if (flag && err.message?.includes("does not take an argument")) return `flag "${flag}" takes no value`;
      // node:util refuses `--flag -5`: the value looks like a flag.
      if (flag && err.message?.includes("ambiguous")) {
        return `flag "${flag}" needs a value; write ${flag}=VALUE for a value that starts with "-"`;
      }
      return flag ? `flag "${flag}" needs a value` : "a flag is missing its value";
    default:
      return err.message?.split("\n")[0] ?? String(e);
  }
}

/** Every value of `-o`. */
export const outputFormats: OutputFormat[] = ["json", "yaml", "wide", "name"];

/** The global flags of parsed values; throws UsageError on a bad value or combination. */
export function globalFlags(v: Values, command?: string): GlobalFlags {
  const output = v.output as string | undefined;
  if (output !== undefined && !outputFormats.includes(output as OutputFormat)) {
    throw new UsageError(`unknown output format "${output}"; use one of ${outputFormats.join(", ")}`, command);
  }
  const flags: GlobalFlags = {
    namespaces: (v.namespace as string[] | undefined) ?? [],
    allNamespaces: v["all-namespaces"] === true,
    dryRun: v["dry-run"] === true,
    verbose: v.verbose === true,
    s3PathStyle: v["s3-path-style"] === true,
  };
  const strings: [keyof GlobalFlags, string][] = [
    ["kubeconfig", "kubeconfig"],
    ["context", "context"],
    ["region", "region"],
    ["profile", "profile"],
    ["caBundle", "ca-bundle"],
  ];
  for (const [key, flag] of strings) {
    const value = v[flag];
    if (typeof value === "string") {
      if (value === "") throw new UsageError(`flag "--${flag}" needs a value`, command);
      (flags as unknown as Record<string, string>)[key] = value;
    }
  }
  if (output !== undefined) flags.output = output as OutputFormat;
  if (flags.region !== undefined) {
    const region = flags.region;
    try {
      validateRegion(region);
    } catch (e) {
      if (isIrsaError(e, "invalid")) throw new UsageError(cliMessage(e), command);
      throw e;
    }
  }
  if (flags.allNamespaces && flags.namespaces.length > 0) {
    throw new UsageError(`"-A" and "-n" cannot be used together`, command);
  }
  impersonationFlags(v, flags, command);
  return flags;
}

/** --as, --as-group and --request-timeout, with kubectl's meaning; checked before any connection. */
function impersonationFlags(v: Values, flags: GlobalFlags, command: string | undefined): void {
  if (typeof v.as === "string") {
    if (v.as === "") throw new UsageError(`flag "--as" needs a value`, command);
    flags.as = v.as;
  }
  const groups = (v["as-group"] as string[] | undefined) ?? [];
  if (groups.length > 0) {
    if (groups.includes("")) throw new UsageError(`flag "--as-group" needs a value`, command);
    flags.asGroups = groups;
  }
  const timeout = v["request-timeout"];
  if (typeof timeout === "string") {
    const ms = parseRequestTimeout(timeout);
    if (ms === undefined) {
      throw new UsageError(
        `invalid "--request-timeout" value "${timeout}": use an integer number of seconds, or a duration with a unit (e.g. 1s, 2m, 3h); 0 means no timeout`,
        command,
      );
    }
    flags.requestTimeoutMs = ms;
  }
}

function parseInit(v: Values, flags: GlobalFlags): InitCommand {
  const bucket = v.bucket as string | undefined;
  if (!bucket) throw new UsageError(`required flag "--bucket" is missing`, "init");
  const keySource = (v["key-source"] as string | undefined) ?? "cluster";
  if (keySource !== "cluster" && keySource !== "generate" && keySource !== "kms") {
    throw new UsageError(`"--key-source" must be "cluster", "generate" or "kms", got "${keySource}"`, "init");
  }
  const kmsKeys = (v["kms-key"] as string[] | undefined) ?? [];
  if (keySource === "kms" && kmsKeys.length === 0) {
    throw new UsageError(`"--key-source kms" needs "--kms-key" (the signer's KMS key; repeat for rotation)`, "init");
  }
  if (keySource !== "kms" && kmsKeys.length > 0) {
    throw new UsageError(`"--kms-key" only applies with "--key-source kms"`, "init");
  }
  if (kmsKeys.length > 0) checked("init", () => validateKmsKeyRefs(kmsKeys));
  const hosting = v.hosting as string | undefined;
  if (hosting !== undefined && hosting !== "s3" && hosting !== "cloudfront") {
    throw new UsageError(`"--hosting" must be "s3" or "cloudfront", got "${hosting}"`, "init");
  }
  const distro = v.distro as string | undefined;
  if (distro !== undefined && !(distros as readonly string[]).includes(distro)) {
    throw new UsageError(`"--distro" must be one of ${distros.join(", ")}; got "${distro}"`, "init");
  }
  // A distribution given by flag is refused before any connection; a detected one, by init before any AWS write.
  if (keySource === "kms" && distro !== undefined) checked("init", () => checkSignerDistro(distro as Distro));
  requireJsonOrYaml(flags, "init");
  if (v["out-dir"] !== undefined && keySource !== "generate") {
    throw new UsageError(`"--out-dir" only applies with "--key-source generate"`, "init");
  }
  // The same rules init applies later, here so that a typo never waits for AWS or the cluster.
  checked("init", () => validateBucketName(bucket));
  const issuerUrl = v["issuer-url"];
  if (typeof issuerUrl === "string") checked("init", () => validateIssuerUrl(issuerUrl));
  const cmd: InitCommand = {
    name: "init",
    flags,
    bucket,
    keySource,
    force: v.force === true,
    noThumbprint: v["no-thumbprint"] === true,
  };
  if (typeof v["issuer-url"] === "string") cmd.issuerUrl = v["issuer-url"];
  if (typeof v["out-dir"] === "string") cmd.outDir = v["out-dir"];
  if (kmsKeys.length > 0) cmd.kmsKeys = kmsKeys;
  if (hosting !== undefined) cmd.hosting = hosting;
  if (distro !== undefined) cmd.distro = distro as Distro;
  if (typeof v["binding-policy"] === "string") cmd.bindingPolicyFile = v["binding-policy"];
  return cmd;
}

/**
 * Runs a library check and turns its "invalid" error into a usage error of `command`: syntax errors must stop the
 * command before it opens any connection.
 */
function checked<T>(command: CommandName, check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (isIrsaError(e, "invalid")) throw new UsageError(cliMessage(e), command);
    throw e;
  }
}

/** Checks the `-n` values a command uses as namespaces. */
function checkNamespaces(namespaces: string[], command: CommandName): void {
  for (const ns of namespaces) checked(command, () => validateDnsLabel("namespace", ns));
}

/** The resource words of `sa NAME`. */
export const serviceAccountResources = ["sa", "serviceaccount", "serviceaccounts"];

/** The NAME of `sa NAME`, the only positional form bind and unbind take (kubectl's resource-then-name order). */
function serviceAccountName(positionals: string[], command: CommandName): string {
  const [resource, name] = positionals;
  if (positionals.length === 2 && resource !== undefined && serviceAccountResources.includes(resource) && name) {
    return name;
  }
  const got = positionals.length === 0 ? "nothing" : JSON.stringify(positionals.join(" "));
  throw new UsageError(`expected "sa NAME", got ${got}`, command);
}

/** A string flag's value, or undefined when absent; an empty value is a usage error. */
function stringFlag(v: Values, flag: string, command: CommandName): string | undefined {
  const value = v[flag];
  if (value === "") throw new UsageError(`flag "--${flag}" needs a value`, command);
  return typeof value === "string" ? value : undefined;
}

/** A repeated string flag's values in order; an empty or repeated value is a usage error. */
function listFlag(v: Values, flag: string, command: CommandName): string[] {
  const values = (v[flag] as string[] | undefined) ?? [];
  const seen = new Set<string>();
  for (const value of values) {
    if (value === "") throw new UsageError(`flag "--${flag}" needs a value`, command);
    if (seen.has(value)) throw new UsageError(`"--${flag} ${value}" is given twice`, command);
    seen.add(value);
  }
  return values;
}

/** Seconds as a positive decimal integer: no sign, exponent, unit or fraction. */
function secondsFlag(v: Values, flag: string, command: CommandName): number | undefined {
  const text = stringFlag(v, flag, command);
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(n) || n <= 0) {
    throw new UsageError(`"--${flag}" must be a positive whole number of seconds, got "${text}"`, command);
  }
  return n;
}

function parseTags(v: Values, command: CommandName): Record<string, string> {
  // A Map, then fromEntries: assigning into a plain object would drop a key such as "__proto__".
  const tags = new Map<string, string>();
  for (const text of (v.tag as string[] | undefined) ?? []) {
    let tag;
    try {
      tag = parseTag(text);
    } catch (e) {
      if (isIrsaError(e, "invalid")) throw new UsageError(`"--tag": ${cliMessage(e)}`, command);
      throw e;
    }
    if (tags.has(tag.key)) throw new UsageError(`tag key "${tag.key}" is given twice in "--tag"`, command);
    tags.set(tag.key, tag.value);
  }
  return Object.fromEntries(tags);
}

function requireJsonOrYaml(flags: GlobalFlags, command: CommandName): void {
  if (flags.output !== undefined && flags.output !== "json" && flags.output !== "yaml") {
    throw new UsageError(`${command} supports "-o json" and "-o yaml" only`, command);
  }
}

function parseBind(v: Values, positionals: string[], flags: GlobalFlags): BindCommand {
  const serviceAccount = serviceAccountName(positionals, "bind");
  if (flags.allNamespaces) {
    throw new UsageError(`bind does not take "-A"; name each namespace with "-n"`, "bind");
  }
  const namespaces = listFlag(v, "namespace", "bind");
  requireJsonOrYaml(flags, "bind");
  const policies = listFlag(v, "policy", "bind");
  const inlinePolicyFile = stringFlag(v, "inline-policy", "bind");
  if (policies.length === 0 && inlinePolicyFile === undefined) {
    throw new UsageError(`bind needs at least one "--policy" or "--inline-policy"`, "bind");
  }
  const sts = stringFlag(v, "sts-regional-endpoints", "bind");
  if (sts !== undefined && sts !== "true" && sts !== "false") {
    throw new UsageError(`"--sts-regional-endpoints" must be "true" or "false", got "${sts}"`, "bind");
  }
  const cmd: BindCommand = {
    name: "bind",
    flags,
    serviceAccount,
    namespaces,
    policies,
    tags: parseTags(v, "bind"),
    adopt: v.adopt === true,
  };
  // exactOptionalPropertyTypes: absent flags stay absent rather than undefined.
  const roleName = stringFlag(v, "role-name", "bind");
  const rolePath = stringFlag(v, "role-path", "bind");
  const permissionsBoundary = stringFlag(v, "permissions-boundary", "bind");
  const maxSessionDuration = secondsFlag(v, "max-session-duration", "bind");
  const audience = stringFlag(v, "audience", "bind");
  const tokenExpiration = secondsFlag(v, "token-expiration", "bind");
  if (inlinePolicyFile !== undefined) cmd.inlinePolicyFile = inlinePolicyFile;
  if (roleName !== undefined) cmd.roleName = roleName;
  if (rolePath !== undefined) cmd.rolePath = rolePath;
  if (permissionsBoundary !== undefined) cmd.permissionsBoundary = permissionsBoundary;
  if (maxSessionDuration !== undefined) cmd.maxSessionDuration = maxSessionDuration;
  if (audience !== undefined) cmd.audience = audience;
  if (sts !== undefined) cmd.stsRegionalEndpoints = sts === "true";
  if (tokenExpiration !== undefined) cmd.tokenExpiration = tokenExpiration;
  // The inline policy's content is checked once bind has read the file, still before any connection.
  checked("bind", () => validateBindRequest(bindRequest(cmd, cmd.namespaces)));
  return cmd;
}

/** The library request of a bind command, for `namespaces` (the context's when none was given). */
export function bindRequest(cmd: BindCommand, namespaces: string[], inlinePolicy?: string): BindRequest {
  const request: BindRequest = {
    serviceAccount: cmd.serviceAccount,
    namespaces,
    policies: cmd.policies,
    tags: cmd.tags,
    adopt: cmd.adopt,
  };
  if (inlinePolicy !== undefined) request.inlinePolicy = inlinePolicy;
  if (cmd.roleName !== undefined) request.roleName = cmd.roleName;
  if (cmd.rolePath !== undefined) request.rolePath = cmd.rolePath;
  if (cmd.permissionsBoundary !== undefined) request.permissionsBoundary = cmd.permissionsBoundary;
  if (cmd.maxSessionDuration !== undefined) request.maxSessionDuration = cmd.maxSessionDuration;
  if (cmd.audience !== undefined) request.audience = cmd.audience;
  if (cmd.stsRegionalEndpoints !== undefined) request.stsRegionalEndpoints = cmd.stsRegionalEndpoints;
  if (cmd.tokenExpiration !== undefined) request.tokenExpiration = cmd.tokenExpiration;
  return request;
}

function parseUnbind(v: Values, positionals: string[], flags: GlobalFlags): UnbindCommand {
  const serviceAccount = serviceAccountName(positionals, "unbind");
  if (flags.allNamespaces) {
    throw new UsageError(`unbind does not take "-A"; name the namespace with "-n"`, "unbind");
  }
  if (flags.namespaces.length > 1) throw new UsageError(`unbind takes at most one "-n"`, "unbind");
  requireJsonOrYaml(flags, "unbind");
  checkNamespaces(flags.namespaces, "unbind");
  checked("unbind", () => validateDnsSubdomain("ServiceAccount name", serviceAccount));
  return { name: "unbind", flags, serviceAccount, keepRole: v["keep-role"] === true };
}

function parseList(flags: GlobalFlags): ListCommand {
  // -A with -n is already refused for every command; list also reads one namespace at a time.
  if (flags.namespaces.length > 1) {
    throw new UsageError(`list takes at most one "-n"; use "-A" for every namespace`, "list");
  }
  if (flags.dryRun) throw new UsageError(`list changes nothing and does not take "--dry-run"`, "list");
  checkNamespaces(flags.namespaces, "list");
  return { name: "list", flags };
}

/** The daemon's namespace of install/uninstall: the first `-n` only, and never "-A". */
function daemonNamespace(flags: GlobalFlags, command: "install" | "uninstall"): string | undefined {
  if (flags.allNamespaces) throw new UsageError(`${command} does not take "-A"`, command);
  if (flags.namespaces.length > 1) throw new UsageError(`${command} takes at most one "-n"`, command);
  const namespace = flags.namespaces[0];
  if (namespace === "") throw new UsageError(`flag "--namespace" needs a value`, command);
  checkNamespaces(flags.namespaces, command);
  return namespace;
}

function parseInstall(v: Values, flags: GlobalFlags): InstallCommand {
  const namespace = daemonNamespace(flags, "install");
  requireJsonOrYaml(flags, "install");
  if (flags.output !== undefined && !flags.dryRun) {
    throw new UsageError(`"-o ${flags.output}" prints the manifests and needs "--dry-run"`, "install");
  }
  if (flags.caBundle !== undefined) {
    // install makes no AWS call itself; a silently ignored --ca-bundle would look like the daemon trusts it.
    throw new UsageError(
      `install makes no AWS calls and does not take "--ca-bundle"; use "--aws-ca-bundle" for the daemon's`,
      "install",
    );
  }
  const cmd: InstallCommand = { name: "install", flags };
  if (namespace !== undefined) cmd.namespace = namespace;
  const image = stringFlag(v, "image", "install");
  if (image !== undefined) {
    if (/\s/.test(image)) throw new UsageError(`"--image" must not contain whitespace, got "${image}"`, "install");
    cmd.image = image;
  }
  const replicas = stringFlag(v, "replicas", "install");
  if (replicas !== undefined) {
    const n = Number(replicas);
    if (!/^[0-9]+$/.test(replicas) || !Number.isSafeInteger(n) || n < 1) {
      throw new UsageError(`"--replicas" must be a whole number of at least 1, got "${replicas}"`, "install");
    }
    cmd.replicas = n;
  }
  const failurePolicy = stringFlag(v, "failure-policy", "install");
  if (failurePolicy !== undefined) {
    if (failurePolicy !== "Ignore" && failurePolicy !== "Fail") {
      throw new UsageError(`"--failure-policy" must be "Ignore" or "Fail", got "${failurePolicy}"`, "install");
    }
    cmd.failurePolicy = failurePolicy;
  }
  // Not stringFlag: an empty list is a real choice (mutate kube-system too).
  const skip = v["webhook-skip-namespaces"];
  if (typeof skip === "string") {
    const names = skip.split(",").map((n) => n.trim()).filter((n) => n !== "");
    for (const name of names) {
      try {
        validateDnsLabel("namespace", name);
      } catch (e) {
        if (isIrsaError(e, "invalid")) throw new UsageError(`"--webhook-skip-namespaces": ${cliMessage(e)}`, "install");
        throw e;
      }
    }
    cmd.webhookSkipNamespaces = [...new Set(names)];
  }
  const endpoint = stringFlag(v, "aws-endpoint-url", "install");
  if (endpoint !== undefined) {
    try {
      validateEndpointUrl(endpoint);
    } catch (e) {
      if (isIrsaError(e, "invalid")) throw new UsageError(`"--aws-endpoint-url": ${cliMessage(e)}`, "install");
      throw e;
    }
    cmd.awsEndpointUrl = endpoint;
  }
  const caBundle = stringFlag(v, "aws-ca-bundle", "install");
  if (caBundle !== undefined) cmd.awsCaBundle = caBundle;
  const networkPolicy = installNetworkPolicy(v);
  if (networkPolicy !== undefined) cmd.networkPolicy = networkPolicy;
  return cmd;
}

/** `--network-policy` and the flags that only mean something with it; every value is checked here. */
function installNetworkPolicy(v: Values): InstallCommand["networkPolicy"] {
  const sources = listFlag(v, "webhook-source", "install");
  const metricsNamespaces = listFlag(v, "metrics-namespace", "install");
  if (v["network-policy"] !== true) {
    const given = sources.length > 0 ? "webhook-source" : metricsNamespaces.length > 0 ? "metrics-namespace" : "";
    if (given !== "") throw new UsageError(`"--${given}" only applies with "--network-policy"`, "install");
    return undefined;
  }
  for (const ns of metricsNamespaces) {
    try {
      validateDnsLabel("namespace", ns);
    } catch (e) {
      if (isIrsaError(e, "invalid")) throw new UsageError(`"--metrics-namespace": ${cliMessage(e)}`, "install");
      throw e;
    }
  }
  return {
    ...(sources.length > 0 ? { webhookSources: sources } : {}),
    metricsNamespaces,
  };
}

function parseUninstall(v: Values, flags: GlobalFlags): UninstallCommand {
  const namespace = daemonNamespace(flags, "uninstall");
  if (flags.output !== undefined) throw new UsageError(`uninstall does not take "-o"`, "uninstall");
  const cmd: UninstallCommand = { name: "uninstall", flags, keepCrds: v["keep-crds"] === true };
  if (namespace !== undefined) cmd.namespace = namespace;
  return cmd;
}

function parseDoctor(v: Values, positionals: string[], flags: GlobalFlags): DoctorCommand {
  if (flags.allNamespaces) throw new UsageError(`doctor does not take "-A"; name the namespace with "-n"`, "doctor");
  if (flags.namespaces.length > 1) throw new UsageError(`doctor takes at most one "-n"`, "doctor");
  if (flags.output !== undefined && flags.output !== "json") {
    throw new UsageError(`doctor supports "-o json" only`, "doctor");
  }
  if (flags.dryRun) throw new UsageError(`doctor changes nothing and does not take "--dry-run"`, "doctor");
  const sts = v.sts === true;
  const cmd: DoctorCommand = { name: "doctor", flags, sts };
  checkNamespaces(flags.namespaces, "doctor");
  if (positionals.length > 0) {
    const name = serviceAccountName(positionals, "doctor");
    checked("doctor", () => validateDnsSubdomain("ServiceAccount name", name));
    cmd.serviceAccount = name;
  } else if (sts) throw new UsageError(`"--sts" needs a ServiceAccount: doctor sa NAME -n NS --sts`, "doctor");
  else if (flags.namespaces.length > 0) {
    throw new UsageError(`"-n" needs a ServiceAccount: doctor sa NAME -n NS`, "doctor");
  }
  return cmd;
}

function parseRotateKey(v: Values, positionals: string[], flags: GlobalFlags): RotateKeyCommand {
  const c = "rotate-key";
  const [stage, ...rest] = positionals;
  if (stage === undefined || !(rotateKeyStages as readonly string[]).includes(stage)) {
    const got = stage === undefined ? "nothing" : `"${stage}"`;
    throw new UsageError(`expected a stage (${rotateKeyStages.join(", ")}), got ${got}`, c);
  }
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest.join(" ")}"`, c);
  if (flags.allNamespaces || flags.namespaces.length > 0) {
    throw new UsageError(`rotate-key does not take "-n" or "-A"`, c);
  }
  requireJsonOrYaml(flags, c);
  const only = (flag: string, stages: string[]) => {
    if (v[flag] !== undefined && !stages.includes(stage)) {
      throw new UsageError(`"--${flag}" only applies to rotate-key ${stages.join(" and ")}`, c);
    }
  };
  only("out-dir", ["prepare"]);
  only("kid", ["prepare"]);
  only("distro", ["prepare"]);
  only("force", ["prepare", "retire"]);
  only("grace", ["verify", "retire", "status"]);
  if (flags.dryRun && stage === "status") {
    throw new UsageError(`status changes nothing and does not take "--dry-run"`, c);
  }
  const cmd: RotateKeyCommand = {
    name: c,
    flags,
    stage: stage as RotateKeyCommand["stage"],
    force: v.force === true,
  };
  const outDir = stringFlag(v, "out-dir", c);
  if (outDir !== undefined) cmd.outDir = outDir;
  const kid = stringFlag(v, "kid", c);
  if (kid !== undefined) cmd.kid = kid;
  const distro = stringFlag(v, "distro", c);
  if (distro !== undefined) {
    if (!(distros as readonly string[]).includes(distro)) {
      throw new UsageError(`"--distro" must be one of ${distros.join(", ")}; got "${distro}"`, c);
    }
    cmd.distro = distro as Distro;
  }
  const grace = stringFlag(v, "grace", c);
  if (grace !== undefined) {
    const ms = parseDuration(grace);
    if (ms === undefined) throw new UsageError(`"--grace" must be a duration like 25h, 90m or 0s, got "${grace}"`, c);
    cmd.graceMs = ms;
  }
  return cmd;
}

function parseCompletion(positionals: string[], flags: GlobalFlags): CompletionCommand {
  const [shell, ...rest] = positionals;
  if (shell === undefined || !(completionShells as readonly string[]).includes(shell)) {
    const got = shell === undefined ? "nothing" : `"${shell}"`;
    throw new UsageError(`expected a shell (${completionShells.join(", ")}), got ${got}`, "completion");
  }
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest.join(" ")}"`, "completion");
  return { name: "completion", flags, shell: shell as CompletionCommand["shell"] };
}
