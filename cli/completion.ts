// Shell completion: `kubectl irsa completion SHELL` prints a script, and the hidden `kubectl irsa __complete WORDS…`
// answers it with cobra's protocol (one candidate a line, `value<TAB>description`, then `:DIRECTIVE`), which is also
// what kubectl 1.26+ reads from kubectl_complete-irsa for `kubectl irsa <TAB>`. Candidates come from the parser's own
// flag tables and the help text, so nothing is listed twice; only namespaces and ServiceAccounts need the cluster.
import { parseArgs } from "node:util";
import { distros } from "../lib/distro.ts";
import { saAnnotation } from "../lib/names.ts";
import {
  commandOptions,
  type CompleteCommand,
  type CompletionCommand,
  completionShells,
  type GlobalFlags,
  globalFlags,
  globalOptions,
  type InitCommand,
  type InstallCommand,
  type OptionSpec,
  outputFormats,
  rotateKeyStages,
  serviceAccountResources,
  type Values,
} from "./args.ts";
import { type CommandName, commandSummaries, daemonSummary, signerSummary } from "./commands.ts";
import { helpText } from "./help.ts";
import type { Io } from "./main.ts";

/** cobra's ShellCompDirective bits, the last line of every answer. */
export const directive = {
  default: 0,
  error: 1,
  noSpace: 2,
  noFileComp: 4,
  /** The candidates are file extensions to complete files by. */
  filterFileExt: 8,
  /** Complete directory names only. */
  filterDirs: 16,
} as const;

/** One completion choice. */
export interface Candidate {
  value: string;
  description?: string;
}

/** What `__complete` answers: the choices and how the shell treats them. */
export interface Completion {
  candidates: Candidate[];
  directive: number;
}

/** A ServiceAccount as completion shows it. */
export interface ServiceAccountSummary {
  name: string;
  /** The `eks.amazonaws.com/role-arn` annotation, shown as the description. */
  roleArn?: string;
}

/** The cluster reads completion needs, with the connection flags already on the command line. */
export interface ClusterLister {
  namespaces(flags: GlobalFlags, signal: AbortSignal): Promise<string[]>;
  /** The ServiceAccounts of `namespaces`; none given means the context's namespace. */
  serviceAccounts(flags: GlobalFlags, namespaces: string[], signal: AbortSignal): Promise<ServiceAccountSummary[]>;
}

/** Options of {@link complete}. */
export interface CompleteOptions {
  lister: ClusterLister;
  /** How long the cluster may take before completion offers nothing (default 2000). */
  timeoutMs?: number;
}

const none: Completion = { candidates: [], directive: directive.noFileComp };

// Compile-time exhaustive: a new key source or failure policy in the command types fails the type check here.
const keySources = Object.keys(
  { cluster: true, generate: true, kms: true } satisfies Record<InitCommand["keySource"], true>,
);
const failurePolicies = Object.keys(
  { Ignore: true, Fail: true } satisfies Record<NonNullable<InstallCommand["failurePolicy"]>, true>,
);

/** How the value of a string flag is completed; flags not listed take free text. */
type ValueSource =
  | { kind: "words"; words: readonly string[] }
  | { kind: "namespaces" }
  | { kind: "files"; extensions?: string[] }
  | { kind: "dirs" };

/** Keyed by long flag name, as in the parser's tables (completion_test.ts checks every key exists there). */
export const flagValues: Record<string, ValueSource> = {
  output: { kind: "words", words: outputFormats },
  distro: { kind: "words", words: distros },
  "key-source": { kind: "words", words: keySources },
  hosting: { kind: "words", words: ["s3", "cloudfront"] },
  "failure-policy": { kind: "words", words: failurePolicies },
  "sts-regional-endpoints": { kind: "words", words: ["true", "false"] },
  namespace: { kind: "namespaces" },
  "metrics-namespace": { kind: "namespaces" },
  kubeconfig: { kind: "files" },
  "ca-bundle": { kind: "files" },
  "aws-ca-bundle": { kind: "files" },
  "inline-policy": { kind: "files", extensions: ["json"] },
  "out-dir": { kind: "dirs" },
};

const topLevelFlags: Candidate[] = [
  { value: "--help", description: "Show help" },
  { value: "-h", description: "Show help" },
  { value: "--version", description: commandSummaries.version },
];

function isCommandName(word: string): word is CommandName {
  return Object.hasOwn(commandSummaries, word);
}

function commandCandidates(withHelp: boolean): Candidate[] {
  const commands = Object.entries(commandSummaries).map(([value, description]) => ({ value, description }));
  commands.push({ value: "daemon", description: daemonSummary }, { value: "signer", description: signerSummary });
  if (withHelp) commands.push({ value: "help", description: "Show help for a command" });
  return commands;
}

/** The candidates that start with what is typed, and no file names. */
function choose(candidates: Candidate[], prefix: string): Completion {
  return { candidates: candidates.filter((c) => c.value.startsWith(prefix)), directive: directive.noFileComp };
}

function fixed(values: readonly string[], prefix: string): Completion {
  return choose(values.map((value) => ({ value })), prefix);
}

/** Lines of a help section that start with a flag: `  -n, --namespace NS   Text` or `      --force   Text`. */
const flagLine = /^ {2}(?:-[A-Za-z], | {4})--([a-z0-9-]+)(?:[ =][A-Z][A-Z|=_]*(?=\s|$))?(?:\s+(\S.*))?$/;

/** The description of each flag in the Flags sections of a help text, continuation lines joined. */
export function helpFlagDescriptions(text: string): Map<string, string> {
  const found = new Map<string, string>();
  let inFlags = false;
  let current: string | undefined;
  for (const line of text.split("\n")) {
    if (/^(Global flags|Flags):$/.test(line)) {
      inFlags = true;
      current = undefined;
      continue;
    }
    if (!inFlags) continue;
    if (line.trim() === "") {
      inFlags = false;
      continue;
    }
    const m = line.match(flagLine);
    if (m) {
      // The first mention wins: a command's own text for -n comes before the global one.
      current = found.has(m[1]!) ? undefined : m[1]!;
      if (current !== undefined) found.set(current, m[2] ?? "");
    } else if (current !== undefined) {
      found.set(current, `${found.get(current)} ${line.trim()}`.trim());
    }
  }
  return found;
}

/** A flag's description from the command's help, else the top level's, else any command's (-A is only in list's). */
function flagDescription(command: CommandName, flag: string): string | undefined {
  const own = helpFlagDescriptions(helpText(command)).get(flag) ?? helpFlagDescriptions(helpText()).get(flag);
  if (own) return own;
  for (const other of Object.keys(commandSummaries) as CommandName[]) {
    const text = helpFlagDescriptions(helpText(other)).get(flag);
    if (text) return text;
  }
  return undefined;
}

function flagCandidates(command: CommandName, set: Set<string>): Candidate[] {
  const out: Candidate[] = [];
  // The command's own flags first: they are what its help lists first.
  for (const [name, spec] of Object.entries({ ...commandOptions[command], ...globalOptions })) {
    // Like cobra: a flag already given is not offered again unless it can repeat.
    if (set.has(name) && !spec.multiple) continue;
    const description = flagDescription(command, name);
    const withText = (value: string): Candidate => description ? { value, description } : { value };
    out.push(withText(`--${name}`));
    if (spec.short) out.push(withText(`-${spec.short}`));
  }
  return out;
}

/** The long name of the flag a `-x` or `--name` word names, if the tables know it. */
function longName(word: string, options: Record<string, OptionSpec>): string | undefined {
  if (word.startsWith("--")) return Object.hasOwn(options, word.slice(2)) ? word.slice(2) : undefined;
  const short = word.slice(1);
  return Object.entries(options).find(([, spec]) => spec.short === short)?.[0];
}

/** The flags that choose the cluster and the identity, kept when the rest of the line does not parse. */
const connectionFlags = ["kubeconfig", "context", "as", "as-group", "request-timeout"];

/** The flags typed so far as the command would see them; a bad value or combination falls back to fewer. */
function typedFlags(values: Values): GlobalFlags {
  const picks = [values, pick(values, connectionFlags), pick(values, ["kubeconfig", "context"]), {}];
  for (const v of picks) {
    try {
      return globalFlags(v);
    } catch { /* try fewer */ }
  }
  return globalFlags({});
}

function pick(values: Values, names: string[]): Values {
  return Object.fromEntries(names.filter((n) => values[n] !== undefined).map((n) => [n, values[n]]));
}

/** Runs a cluster read under the deadline; any failure or a timeout means no candidates. */
async function fromCluster<T>(timeoutMs: number, read: (signal: AbortSignal) => Promise<T>): Promise<T | undefined> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve(undefined);
    }, timeoutMs);
  });
  try {
    return await Promise.race([read(controller.signal), deadline]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Completes the last of `words` (the words after `kubectl irsa`; the last one may be empty). Pure but for the
 * lister, so every rule is table-tested with a fake one.
 */
export async function complete(words: readonly string[], options: CompleteOptions): Promise<Completion> {
  const timeoutMs = options.timeoutMs ?? 2000;
  const args = words.slice(0, -1);
  const current = words.at(-1) ?? "";
  const first = args[0];
  if (first === undefined) return choose(current.startsWith("-") ? topLevelFlags : commandCandidates(true), current);
  if (first === "help") return args.length === 1 ? choose(commandCandidates(false), current) : none;
  if (!isCommandName(first)) return none;
  const command = first;
  const spec = { ...globalOptions, ...commandOptions[command] };

  const { tokens } = parseArgs({
    args: args.slice(1),
    options: spec,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  // Values rebuilt from the tokens, keeping only what the tables declare, in the shape parseArgs gives the parser.
  const values: Values = {};
  const set = new Set<string>();
  const positionals: string[] = [];
  let terminated = false;
  let pending: string | undefined;
  for (const token of tokens) {
    pending = undefined;
    if (token.kind === "option-terminator") terminated = true;
    else if (token.kind === "positional") positionals.push(token.value);
    else {
      const flag = spec[token.name];
      if (!flag) continue;
      set.add(token.name);
      if (flag.type === "boolean") values[token.name] = true;
      else if (token.value === undefined) pending = token.name;
      else if (flag.multiple) {
        values[token.name] = [...((values[token.name] as string[] | undefined) ?? []), token.value];
      } else values[token.name] = token.value;
    }
  }
  const flags = typedFlags(values);
  const ctx: ValueContext = { flags, values, lister: options.lister, timeoutMs };

  if (pending !== undefined) return await completeValue(pending, current, ctx);
  if (!terminated && current.startsWith("-")) {
    const eq = current.indexOf("=");
    if (eq > 0) {
      // --flag=VALUE and -x=VALUE: cobra's protocol answers the value alone; the shell script keeps the prefix.
      const flag = longName(current.startsWith("--") ? current.slice(0, eq) : `-${current[eq - 1]}`, spec);
      if (flag === undefined || spec[flag]!.type !== "string") return none;
      return await completeValue(flag, current.slice(eq + 1), ctx);
    }
    return choose(flagCandidates(command, set), current);
  }

  const positional = await completePositional(command, positionals, current, ctx);
  if (positional) return positional;
  // Nothing positional fits here: show the flags (long forms only), like a second look at the help.
  if (current !== "" || terminated) return none;
  const flagsLeft = flagCandidates(command, set).filter((c) => c.value.startsWith("--"));
  return { candidates: flagsLeft, directive: directive.noFileComp };
}

interface ValueContext {
  flags: GlobalFlags;
  values: Values;
  lister: ClusterLister;
  timeoutMs: number;
}

async function completeValue(flag: string, prefix: string, ctx: ValueContext): Promise<Completion> {
  const source = flagValues[flag];
  if (!source) return none;
  switch (source.kind) {
    case "words":
      return fixed(source.words, prefix);
    case "files":
      return source.extensions
        ? { candidates: source.extensions.map((value) => ({ value })), directive: directive.filterFileExt }
        : { candidates: [], directive: directive.default };
    case "dirs":
      return { candidates: [], directive: directive.filterDirs };
    case "namespaces": {
      const names = await fromCluster(ctx.timeoutMs, (signal) => ctx.lister.namespaces(ctx.flags, signal));
      if (!names) return none;
      // A repeated -n (bind) does not offer the namespaces already named.
      const given = new Set((ctx.values.namespace as string[] | undefined) ?? []);
      return fixed([...new Set(names)].filter((n) => !given.has(n)).sort(), prefix);
    }
  }
}

async function completePositional(
  command: CommandName,
  positionals: string[],
  current: string,
  ctx: ValueContext,
): Promise<Completion | undefined> {
  const index = positionals.length;
  switch (command) {
    case "bind":
    case "unbind":
    case "doctor": {
      if (index === 0) return fixed(serviceAccountResources, current);
      if (index > 1) return undefined;
      if (!serviceAccountResources.includes(positionals[0]!)) return none;
      const accounts = await fromCluster(
        ctx.timeoutMs,
        (signal) => ctx.lister.serviceAccounts(ctx.flags, ctx.flags.namespaces, signal),
      );
      if (!accounts) return none;
      const byName = new Map<string, Candidate>();
      for (const sa of accounts) {
        const known = byName.get(sa.name);
        if (!known || (!known.description && sa.roleArn)) {
          byName.set(sa.name, sa.roleArn ? { value: sa.name, description: sa.roleArn } : { value: sa.name });
        }
      }
      const sorted = [...byName.values()].sort((a, b) => a.value < b.value ? -1 : a.value > b.value ? 1 : 0);
      return choose(sorted, current);
    }
    case "rotate-key":
      return index === 0 ? fixed(rotateKeyStages, current) : undefined;
    case "completion":
      return index === 0 ? fixed(completionShells, current) : none;
    default:
      return undefined;
  }
}

/** The answer as the shell scripts (and kubectl) read it. */
export function renderCompletion(result: Completion, options: { descriptions: boolean }): string {
  const lines = result.candidates.map((c) => {
    // One line per candidate: a tab or newline inside a description would split it.
    const description = c.description?.replace(/\s+/g, " ").trim();
    return options.descriptions && description ? `${c.value}\t${description}` : c.value;
  });
  return [...lines, `:${result.directive}`].join("\n") + "\n";
}

interface NamedObject {
  metadata: { name: string; annotations?: Record<string, string> };
}

/** Lists a collection page by page; `signal` aborts the request in flight. */
async function listAll(
  kube: import("../lib/kube/client.ts").KubeClient,
  path: string,
  signal: AbortSignal,
): Promise<NamedObject[]> {
  const items: NamedObject[] = [];
  let cont: string | undefined;
  do {
    const page = await kube.request<{ items: NamedObject[]; metadata: { continue?: string } }>("GET", path, {
      query: { limit: "500", continue: cont },
      signal,
    });
    items.push(...page.items);
    cont = page.metadata.continue || undefined;
  } while (cont);
  return items;
}

/** The lister over the apiserver, connected exactly as the command would be (openKube with the typed flags). */
export function kubeLister(): ClusterLister {
  const withKube = async <T>(
    flags: GlobalFlags,
    read: (kube: import("../lib/kube/client.ts").KubeClient) => Promise<T>,
  ): Promise<T> => {
    const { openKube } = await import("./session.ts");
    const kube = await openKube(flags);
    try {
      return await read(kube);
    } finally {
      kube.close();
    }
  };
  return {
    namespaces: (flags, signal) =>
      withKube(flags, async (kube) => (await listAll(kube, "/api/v1/namespaces", signal)).map((o) => o.metadata.name)),
    serviceAccounts: (flags, namespaces, signal) =>
      withKube(flags, async (kube) => {
        const out: ServiceAccountSummary[] = [];
        for (const namespace of namespaces.length > 0 ? namespaces : [kube.namespace]) {
          const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts`;
          for (const sa of await listAll(kube, path, signal)) {
            const roleArn = sa.metadata.annotations?.[saAnnotation.roleArn];
            out.push(roleArn ? { name: sa.metadata.name, roleArn } : { name: sa.metadata.name });
          }
        }
        return out;
      }),
  };
}

/** Runs `kubectl irsa __complete`: always exits 0 and never writes an error on stdout. */
export async function runComplete(cmd: CompleteCommand, io: Io, lister: ClusterLister = kubeLister()): Promise<number> {
  let result: Completion;
  try {
    result = await complete(cmd.words, { lister });
  } catch {
    result = none;
  }
  io.out(renderCompletion(result, { descriptions: cmd.descriptions }));
  return 0;
}

/** The completion script for `shell`, for the kubectl-irsa program. */
export function completionScript(shell: CompletionCommand["shell"]): string {
  return scripts[shell];
}

const header = (shell: string) =>
  `# ${shell} completion for kubectl-irsa, printed by 'kubectl irsa completion ${shell}'.
# It asks 'kubectl-irsa __complete WORDS...' (cobra's protocol); see 'kubectl irsa completion --help'.
`;

const bash = `${header("bash")}
_kubectl_irsa() {
    local i w cur out c directive=0
    local -a words=() comps=()
    # Rejoin --flag=value, which bash splits at the '='.
    for ((i = 0; i <= COMP_CWORD; i++)); do
        w=\${COMP_WORDS[i]}
        if ((\${#words[@]} > 0)) && [[ \${words[\${#words[@]}-1]} == -* ]] &&
            { [[ $w == = ]] || [[ \${words[\${#words[@]}-1]} == *= ]]; }; then
            words[\${#words[@]}-1]+=$w
        else
            words+=("$w")
        fi
    done
    cur=\${words[\${#words[@]}-1]}
    out=$("\${words[0]}" __completeNoDesc "\${words[@]:1}" 2>/dev/null) || return 0
    while IFS= read -r c; do
        [[ -n $c ]] && comps+=("$c")
    done <<<"$out"
    if ((\${#comps[@]} > 0)) && [[ \${comps[\${#comps[@]}-1]} =~ ^:([0-9]+)$ ]]; then
        directive=\${BASH_REMATCH[1]}
        unset "comps[\${#comps[@]}-1]"
    fi
    # Bash replaces only the part after the '=' of --flag=value.
    [[ $cur == -*=* ]] && cur=\${cur#*=}
    COMPREPLY=()
    ((directive & 1)) && return 0
    if ((directive & 8)); then
        for w in "\${comps[@]}"; do
            while IFS= read -r c; do COMPREPLY+=("$c"); done < <(compgen -f -X "!*.$w" -- "$cur")
        done
        while IFS= read -r c; do COMPREPLY+=("$c"); done < <(compgen -d -- "$cur")
        type compopt &>/dev/null && compopt -o filenames
    elif ((directive & 16)); then
        while IFS= read -r c; do COMPREPLY+=("$c"); done < <(compgen -d -- "$cur")
        type compopt &>/dev/null && compopt -o filenames
    else
        for c in "\${comps[@]}"; do
            [[ $c == "$cur"* ]] && COMPREPLY+=("$c")
        done
        # Without candidates bash falls back to file names (-o default) unless the directive says no.
        if ((\${#COMPREPLY[@]} == 0)) && ((directive & 4)) && type compopt &>/dev/null; then
            compopt +o default
        fi
    fi
    ((directive & 2)) && type compopt &>/dev/null && compopt -o nospace
    return 0
}
complete -o default -F _kubectl_irsa kubectl-irsa
`;

const zsh = `#compdef kubectl-irsa
${header("zsh")}
_kubectl-irsa() {
    local out line value desc cur=\${words[CURRENT]} prefix=""
    local -i directive=0
    local -a lines comps exts opts
    out=$("\${words[1]}" __complete "\${(@)words[2,CURRENT]}" 2>/dev/null) || return 1
    lines=("\${(@f)out}")
    if [[ \${lines[-1]} == :<-> ]]; then
        directive=\${lines[-1]#:}
        lines[-1]=()
    fi
    (( directive & 1 )) && return 1
    # --flag=value: the answer is the value alone; keep the prefix on the line.
    [[ $cur == -*=* ]] && prefix=\${cur%%=*}=
    # File names after --flag= complete the part after the '='.
    if [[ -n $prefix ]] && { (( directive & 24 )) || (( \${#lines} == 0 )) }; then compset -P '*='; fi
    for line in "\${lines[@]}"; do
        [[ -z $line ]] && continue
        value=\${line%%$'\\t'*}
        if (( directive & 8 )); then
            exts+=("$value")
            continue
        fi
        value=\${value//:/\\\\:}
        if [[ $line == *$'\\t'* ]]; then
            desc=\${line#*$'\\t'}
            comps+=("$value:$desc")
        else
            comps+=("$value")
        fi
    done
    if (( directive & 8 )); then
        # One extension alone: "*.(json)" would read as glob qualifiers.
        if (( \${#exts} == 1 )); then _files -g "*.\${exts[1]}"; else _files -g "*.(\${(j:|:)exts})"; fi
        return
    fi
    if (( directive & 16 )); then
        _files -/
        return
    fi
    if (( \${#comps} == 0 )); then
        (( directive & 4 )) && return 1
        _files
        return
    fi
    (( directive & 2 )) && opts+=(-S '')
    [[ -n $prefix ]] && opts+=(-P "$prefix")
    _describe -t kubectl-irsa 'kubectl-irsa' comps "\${opts[@]}"
}

# Autoloaded from fpath the file is the function's body; sourced, it registers the function.
if [[ \${funcstack[1]} == _kubectl-irsa ]]; then
    _kubectl-irsa "$@"
else
    compdef _kubectl-irsa kubectl-irsa
fi
`;

const fish = `${header("fish")}
function __kubectl_irsa_prepare
    set -g __kubectl_irsa_results
    set -l tokens (commandline -opc)
    set -l current (commandline -ct)
    set -l out (command $tokens[1] __complete $tokens[2..-1] "$current" 2>/dev/null)
    or return 1
    set -l directive 0
    if string match -qr -- '^:[0-9]+$' "$out[-1]"
        set directive (string sub -s 2 -- "$out[-1]")
        set -e out[-1]
    end
    # Error: offer nothing. File extensions or directories: fish's own file completion.
    test (math "bitand($directive, 1)") -ne 0; and return 0
    test (math "bitand($directive, 24)") -ne 0; and return 1
    # --flag=value: the answer is the value alone; keep the prefix on the line.
    set -l prefix (string match -r -- '^-[^=]*=' "$current")
    for line in $out
        test -n "$line"; and set -a __kubectl_irsa_results "$prefix$line"
    end
    # No candidates and files allowed: let fish complete file names.
    if test (count $__kubectl_irsa_results) -eq 0; and test (math "bitand($directive, 4)") -eq 0
        return 1
    end
    return 0
end

complete -c kubectl-irsa -e
complete -c kubectl-irsa -f -n __kubectl_irsa_prepare -a '$__kubectl_irsa_results'
`;

const scripts: Record<CompletionCommand["shell"], string> = { bash, zsh, fish };
