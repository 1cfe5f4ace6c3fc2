// Parses argv into a typed command. Pure: no I/O, so every rule here is table-tested in args_test.ts.
import { parseArgs } from "node:util";
import { type Distro, distros } from "../lib/distro.ts";
import { type CommandName, commandSummaries } from "./commands.ts";
import { UsageError } from "./usage_error.ts";

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
}

/** `kubectl irsa init`. */
export interface InitCommand {
  name: "init";
  flags: GlobalFlags;
  bucket: string;
  issuerUrl?: string;
  keySource: "cluster" | "generate";
  outDir?: string;
  distro?: Distro;
  force: boolean;
  noThumbprint: boolean;
}

/** Every command the CLI runs. */
export type Command =
  | { name: "help"; topic?: string }
  | { name: "version"; flags: GlobalFlags }
  | InitCommand;

type OptionSpec = { type: "string" | "boolean"; short?: string; multiple?: boolean };

const globalOptions: Record<string, OptionSpec> = {
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
  help: { type: "boolean", short: "h" },
};

const commandOptions: Record<CommandName, Record<string, OptionSpec>> = {
  version: {},
  init: {
    bucket: { type: "string" },
    "issuer-url": { type: "string" },
    "key-source": { type: "string" },
    "out-dir": { type: "string" },
    distro: { type: "string" },
    force: { type: "boolean" },
    "no-thumbprint": { type: "boolean" },
  },
};

type Values = Record<string, string | boolean | string[] | undefined>;

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
  if (first.startsWith("-")) throw new UsageError(`a command must come first, got flag "${first}"`);
  if (!isCommandName(first)) throw new UsageError(`unknown command "${first}"`);

  const values = parseFlags(first, argv.slice(1));
  if (values.help) return { name: "help", topic: first };
  const flags = globalFlags(values, first);
  switch (first) {
    case "version":
      return { name: "version", flags };
    case "init":
      return parseInit(values, flags);
  }
}

function parseFlags(command: CommandName, args: string[]): Values {
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
  if (parsed.positionals.length > 0) {
    throw new UsageError(`unexpected argument "${parsed.positionals.join(" ")}"`, command);
  }
  return parsed.values as Values;
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
      return flag ? `flag "${flag}" needs a value` : "a flag is missing its value";
    default:
      return err.message?.split("\n")[0] ?? String(e);
  }
}

const outputFormats: OutputFormat[] = ["json", "yaml", "wide", "name"];

function globalFlags(v: Values, command?: string): GlobalFlags {
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
  if (flags.allNamespaces && flags.namespaces.length > 0) {
    throw new UsageError(`"-A" and "-n" cannot be used together`, command);
  }
  return flags;
}

function parseInit(v: Values, flags: GlobalFlags): InitCommand {
  const bucket = v.bucket as string | undefined;
  if (!bucket) throw new UsageError(`required flag "--bucket" is missing`, "init");
  const keySource = (v["key-source"] as string | undefined) ?? "cluster";
  if (keySource !== "cluster" && keySource !== "generate") {
    throw new UsageError(`"--key-source" must be "cluster" or "generate", got "${keySource}"`, "init");
  }
  const distro = v.distro as string | undefined;
  if (distro !== undefined && !(distros as readonly string[]).includes(distro)) {
    throw new UsageError(`"--distro" must be one of ${distros.join(", ")}; got "${distro}"`, "init");
  }
  if (flags.output !== undefined && flags.output !== "json" && flags.output !== "yaml") {
    throw new UsageError(`init supports "-o json" and "-o yaml" only`, "init");
  }
  if (v["out-dir"] !== undefined && keySource !== "generate") {
    throw new UsageError(`"--out-dir" only applies with "--key-source generate"`, "init");
  }
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
  if (distro !== undefined) cmd.distro = distro as Distro;
  return cmd;
}
