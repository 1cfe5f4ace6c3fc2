import assert from "node:assert/strict";
import { commandOptions, type GlobalFlags, globalOptions, parseCommand } from "./args.ts";
import { commandSummaries } from "./commands.ts";
import {
  type ClusterLister,
  complete,
  type Completion,
  completionScript,
  flagValues,
  renderCompletion,
  runComplete,
  type ServiceAccountSummary,
} from "./completion.ts";
import { type Io, runCli } from "./main.ts";
import { UsageError } from "./usage_error.ts";

const roleArn = "arn:aws:iam::123456789012:role/irsa-shop-api";

/** A cluster with four namespaces; "shop" is the context's. Records what each read was given. */
function fakeCluster(): ClusterLister & { calls: { read: string; flags: GlobalFlags; namespaces?: string[] }[] } {
  const accounts: Record<string, ServiceAccountSummary[]> = {
    default: [{ name: "default" }],
    shop: [{ name: "default" }, { name: "worker" }, { name: "api", roleArn }],
    staging: [{ name: "worker", roleArn: "arn:aws:iam::123456789012:role/irsa-staging-worker" }, { name: "default" }],
  };
  const calls: { read: string; flags: GlobalFlags; namespaces?: string[] }[] = [];
  return {
    calls,
    namespaces: (flags) => {
      calls.push({ read: "namespaces", flags });
      return Promise.resolve(["staging", "default", "kube-system", "shop"]);
    },
    serviceAccounts: (flags, namespaces) => {
      calls.push({ read: "serviceAccounts", flags, namespaces });
      return Promise.resolve((namespaces.length > 0 ? namespaces : ["shop"]).flatMap((ns) => accounts[ns] ?? []));
    },
  };
}

const values = (c: Completion) => c.candidates.map((x) => x.value);

Deno.test("complete() offers the right candidates and directive for each position", async (t) => {
  const allCommands = [...Object.keys(commandSummaries), "daemon", "signer"];
  const cases: { name: string; words: string[]; want: string[]; directive: number }[] = [
    {
      name: "the first word: every command, daemon, signer and help",
      words: [""],
      want: [...allCommands, "help"],
      directive: 4,
    },
    { name: "a command prefix", words: ["b"], want: ["bind"], directive: 4 },
    { name: "a prefix shared by two commands", words: ["un"], want: ["unbind", "uninstall"], directive: 4 },
    { name: "flags before any command", words: ["-"], want: ["--help", "-h", "--version"], directive: 4 },
    { name: "help's topic: every command but help", words: ["help", ""], want: allCommands, directive: 4 },
    { name: "nothing after help's topic", words: ["help", "init", ""], want: [], directive: 4 },
    { name: "an unknown command", words: ["bogus", ""], want: [], directive: 4 },
    { name: "the daemon's flags are its own", words: ["daemon", "--"], want: [], directive: 4 },
    {
      name: "bind's resource word",
      words: ["bind", ""],
      want: ["sa", "serviceaccount", "serviceaccounts"],
      directive: 4,
    },
    {
      name: "bind's resource word by prefix",
      words: ["bind", "serviceaccounts"],
      want: ["serviceaccounts"],
      directive: 4,
    },
    { name: "not a ServiceAccount after another resource", words: ["bind", "pod", ""], want: [], directive: 4 },
    {
      name: "bind sa: the ServiceAccounts of the context's namespace",
      words: ["bind", "sa", ""],
      want: ["api", "default", "worker"],
      directive: 4,
    },
    { name: "unbind sa by prefix", words: ["unbind", "serviceaccount", "a"], want: ["api"], directive: 4 },
    {
      name: "doctor sa in the -n namespace",
      words: ["doctor", "-n", "staging", "sa", ""],
      want: ["default", "worker"],
      directive: 4,
    },
    {
      name: "bind sa over two namespaces: each name once",
      words: ["bind", "-n", "shop", "--namespace=staging", "sa", ""],
      want: ["api", "default", "worker"],
      directive: 4,
    },
    {
      name: "after bind sa NAME: the flags, long forms only",
      words: ["bind", "sa", "api", ""],
      want: Object.keys({ ...commandOptions.bind, ...globalOptions }).map((f) => `--${f}`),
      directive: 4,
    },
    {
      name: "-n: the namespaces, sorted",
      words: ["list", "-n", ""],
      want: ["default", "kube-system", "shop", "staging"],
      directive: 4,
    },
    { name: "--namespace by prefix", words: ["install", "--namespace", "s"], want: ["shop", "staging"], directive: 4 },
    {
      name: "a repeated -n leaves out the namespaces already given",
      words: ["bind", "sa", "api", "-n", "shop", "-n", "s"],
      want: ["staging"],
      directive: 4,
    },
    {
      name: "--namespace=PREFIX answers the values alone (cobra)",
      words: ["list", "--namespace=s"],
      want: ["shop", "staging"],
      directive: 4,
    },
    {
      name: "-o: every output format",
      words: ["list", "-o", ""],
      want: ["json", "yaml", "wide", "name"],
      directive: 4,
    },
    { name: "--output=PREFIX", words: ["list", "--output=j"], want: ["json"], directive: 4 },
    { name: "-o=PREFIX", words: ["version", "-o=y"], want: ["yaml"], directive: 4 },
    {
      name: "--key-source",
      words: ["init", "--bucket", "b", "--key-source", ""],
      want: ["cluster", "generate", "kms"],
      directive: 4,
    },
    { name: "--distro by prefix", words: ["init", "--distro", "k"], want: ["kubeadm", "k3s", "kind"], directive: 4 },
    {
      name: "rotate-key --distro",
      words: ["rotate-key", "prepare", "--distro", "r"],
      want: ["rke2", "raw"],
      directive: 4,
    },
    { name: "--failure-policy", words: ["install", "--failure-policy", ""], want: ["Ignore", "Fail"], directive: 4 },
    {
      name: "--sts-regional-endpoints",
      words: ["bind", "--sts-regional-endpoints", ""],
      want: ["true", "false"],
      directive: 4,
    },
    { name: "--kubeconfig: file names", words: ["list", "--kubeconfig", ""], want: [], directive: 0 },
    { name: "--ca-bundle=: file names", words: ["init", "--ca-bundle="], want: [], directive: 0 },
    {
      name: "--inline-policy: JSON files",
      words: ["bind", "sa", "x", "--inline-policy", ""],
      want: ["json"],
      directive: 8,
    },
    { name: "--out-dir: directories", words: ["init", "--out-dir", ""], want: [], directive: 16 },
    { name: "free text (--bucket): nothing, no files", words: ["init", "--bucket", ""], want: [], directive: 4 },
    { name: "a boolean flag takes no value", words: ["init", "--force=x"], want: [], directive: 4 },
    {
      name: "rotate-key's stages",
      words: ["rotate-key", ""],
      want: ["prepare", "verify", "retire", "status"],
      directive: 4,
    },
    { name: "completion's shells", words: ["completion", ""], want: ["bash", "zsh", "fish"], directive: 4 },
    { name: "nothing after completion's shell", words: ["completion", "bash", ""], want: [], directive: 4 },
    { name: "flags by prefix", words: ["init", "--no"], want: ["--no-thumbprint"], directive: 4 },
    {
      name: "a repeatable flag is offered again",
      words: ["bind", "--policy", "P", "--pol"],
      want: ["--policy"],
      directive: 4,
    },
    { name: "a flag already given is not", words: ["bind", "--adopt", "--ad"], want: [], directive: 4 },
    { name: "a short flag by itself", words: ["list", "-A"], want: ["-A"], directive: 4 },
    { name: "after --: no flags", words: ["list", "--", ""], want: [], directive: 4 },
    { name: "after --: a word starting with - is not a flag", words: ["bind", "--", "-"], want: [], directive: 4 },
    {
      name: "a flag's value is not a positional",
      words: ["bind", "-n", "sa", ""],
      want: ["sa", "serviceaccount", "serviceaccounts"],
      directive: 4,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const got = await complete(c.words, { lister: fakeCluster() });
      assert.deepStrictEqual(values(got), c.want);
      assert.equal(got.directive, c.directive);
    });
  }
});

Deno.test("complete() describes commands by their summary, flags by their help and ServiceAccounts by their role", async () => {
  const lister = fakeCluster();
  const commands = await complete(["rot"], { lister });
  assert.deepStrictEqual(commands.candidates, [{ value: "rotate-key", description: commandSummaries["rotate-key"] }]);
  const flag = await complete(["init", "--no-t"], { lister });
  assert.deepStrictEqual(flag.candidates, [
    { value: "--no-thumbprint", description: "Register the OIDC provider without a TLS thumbprint" },
  ]);
  // A command's own text wins over the global one; -A is described only in list's help.
  const ns = await complete(["bind", "--namesp"], { lister });
  assert.match(ns.candidates[0]!.description!, /^Namespace of the ServiceAccount; repeat to share one role/);
  const all = await complete(["init", "--all"], { lister });
  assert.deepStrictEqual(all.candidates, [
    { value: "--all-namespaces", description: "List every namespace (instead of -n)" },
  ]);
  const sa = await complete(["bind", "sa", ""], { lister });
  assert.deepStrictEqual(sa.candidates, [
    { value: "api", description: roleArn },
    { value: "default" },
    { value: "worker" },
  ]);
});

Deno.test("complete() describes every flag of every command from the help text", async (t) => {
  for (const command of Object.keys(commandOptions) as (keyof typeof commandOptions)[]) {
    await t.step(command, async () => {
      const got = await complete([command, "-"], { lister: fakeCluster() });
      const names = Object.entries({ ...commandOptions[command], ...globalOptions })
        .flatMap(([name, spec]) => spec.short ? [`--${name}`, `-${spec.short}`] : [`--${name}`]);
      assert.deepStrictEqual(values(got).sort(), names.sort());
      const undescribed = got.candidates.filter((c) => !c.description).map((c) => c.value);
      assert.deepStrictEqual(undescribed, [], `${command}: flags without a line in any help text`);
    });
  }
});

Deno.test("flagValues names only flags the parser knows, as string flags", () => {
  const all = { ...globalOptions, ...Object.assign({}, ...Object.values(commandOptions)) };
  for (const flag of Object.keys(flagValues)) {
    assert.equal(all[flag]?.type, "string", `--${flag} is not a string flag of the parser's tables`);
  }
});

Deno.test("complete() reads the cluster with the connection flags already typed", async (t) => {
  const cases: { name: string; words: string[]; want: Partial<GlobalFlags>; namespaces?: string[] }[] = [
    {
      name: "--kubeconfig and --context before sa",
      words: ["bind", "--kubeconfig", "/k/config", "--context=dev", "sa", ""],
      want: { kubeconfig: "/k/config", context: "dev" },
      namespaces: [],
    },
    {
      name: "--context after -n, for the namespaces",
      words: ["list", "-n", "x", "--context", "prod", "-n", ""],
      want: { context: "prod" },
    },
    {
      name: "--as and --as-group, as the command would impersonate",
      words: ["unbind", "--as", "jane", "--as-group", "dev", "--as-group=ops", "sa", ""],
      want: { as: "jane", asGroups: ["dev", "ops"] },
      namespaces: [],
    },
    {
      name: "a bad combination (-A with -n) still keeps the connection flags",
      words: ["doctor", "-A", "-n", "shop", "--context", "prod", "--as", "jane", "sa", ""],
      want: { context: "prod", as: "jane" },
      namespaces: [],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const lister = fakeCluster();
      await complete(c.words, { lister });
      assert.equal(lister.calls.length, 1);
      const call = lister.calls[0]!;
      for (const [key, value] of Object.entries(c.want)) {
        assert.deepStrictEqual(call.flags[key as keyof GlobalFlags], value, key);
      }
      if (c.namespaces) assert.deepStrictEqual(call.namespaces, c.namespaces);
    });
  }
});

Deno.test("complete() offers nothing, and no file names, when the cluster fails or is slow", async (t) => {
  const failing: ClusterLister = {
    namespaces: () => Promise.reject(new Error("connection refused")),
    serviceAccounts: () => Promise.reject(new Error("Forbidden")),
  };
  let aborted = 0;
  const hanging: ClusterLister = {
    namespaces: (_f, signal) =>
      new Promise((_, reject) => signal.addEventListener("abort", () => (aborted++, reject(signal.reason)))),
    serviceAccounts: (_f, _n, signal) =>
      new Promise((_, reject) => signal.addEventListener("abort", () => (aborted++, reject(signal.reason)))),
  };
  for (const [name, lister] of [["failing", failing], ["hanging", hanging]] as const) {
    for (const words of [["list", "-n", ""], ["bind", "sa", ""]]) {
      await t.step(`${name}: ${words.join(" ")}`, async () => {
        const started = performance.now();
        const got = await complete(words, { lister, timeoutMs: 50 });
        assert.deepStrictEqual(got, { candidates: [], directive: 4 });
        assert.ok(performance.now() - started < 2000, "completion waited past its deadline");
      });
    }
  }
  assert.equal(aborted, 2, "the hanging reads were aborted at the deadline");
});

Deno.test("renderCompletion() prints cobra's protocol: one candidate a line, then :DIRECTIVE", () => {
  const result: Completion = {
    candidates: [{ value: "api", description: "arn:aws:iam::1:role/a\twith\na newline" }, { value: "default" }],
    directive: 4,
  };
  assert.equal(
    renderCompletion(result, { descriptions: true }),
    "api\tarn:aws:iam::1:role/a with a newline\ndefault\n:4\n",
  );
  assert.equal(renderCompletion(result, { descriptions: false }), "api\ndefault\n:4\n");
  assert.equal(renderCompletion({ candidates: [], directive: 16 }, { descriptions: true }), ":16\n");
});

function memoryIo(): Io & { stdout: string; stderr: string } {
  const io = {
    stdout: "",
    stderr: "",
    out: (t: string) => void (io.stdout += t),
    err: (t: string) => void (io.stderr += t),
    env: { get: () => undefined },
  };
  return io;
}

Deno.test("runComplete() exits 0 and writes only the protocol on stdout, also when the cluster fails", async () => {
  const io = memoryIo();
  const failing: ClusterLister = {
    namespaces: () => Promise.reject(new Error("boom")),
    serviceAccounts: () => Promise.reject(new Error("boom")),
  };
  assert.equal(
    await runComplete({ name: "__complete", words: ["bind", "sa", ""], descriptions: true }, io, failing),
    0,
  );
  assert.equal(io.stdout, ":4\n");
  assert.equal(io.stderr, "");
  const noDesc = memoryIo();
  await runComplete({ name: "__complete", words: ["bind", "sa", ""], descriptions: false }, noDesc, fakeCluster());
  assert.equal(noDesc.stdout, "api\ndefault\nworker\n:4\n");
});

Deno.test("parseCommand() reads completion and the hidden __complete", async (t) => {
  const base: GlobalFlags = { namespaces: [], allNamespaces: false, dryRun: false, verbose: false, s3PathStyle: false };
  for (const shell of ["bash", "zsh", "fish"] as const) {
    await t.step(`completion ${shell}`, () => {
      assert.deepStrictEqual(parseCommand(["completion", shell]), { name: "completion", flags: base, shell });
    });
  }
  await t.step("__complete keeps every word, flags and empty ones too", () => {
    assert.deepStrictEqual(parseCommand(["__complete", "bind", "--bogus", "-h", ""]), {
      name: "__complete",
      words: ["bind", "--bogus", "-h", ""],
      descriptions: true,
    });
    assert.deepStrictEqual(parseCommand(["__completeNoDesc", ""]), {
      name: "__complete",
      words: [""],
      descriptions: false,
    });
  });
  const errors: { argv: string[]; message: string }[] = [
    { argv: ["completion"], message: `expected a shell (bash, zsh, fish), got nothing` },
    { argv: ["completion", "tcsh"], message: `expected a shell (bash, zsh, fish), got "tcsh"` },
    { argv: ["completion", "bash", "zsh"], message: `unexpected argument "zsh"` },
    { argv: ["completion", "--shell", "bash"], message: `unknown flag "--shell"` },
  ];
  for (const c of errors) {
    await t.step(`usage error: ${c.argv.join(" ")}`, () => {
      assert.throws(() => parseCommand(c.argv), (e: unknown) => {
        assert.ok(e instanceof UsageError);
        assert.equal(e.message, c.message);
        assert.equal(e.command, "completion");
        return true;
      });
    });
  }
});

Deno.test("kubectl irsa completion: a wrong or missing shell exits 2 with a usage error, a shell prints its script", async (t) => {
  for (const argv of [["completion"], ["completion", "powershell"]]) {
    await t.step(argv.join(" "), async () => {
      const io = memoryIo();
      assert.equal(await runCli(argv, io), 2);
      assert.equal(io.stdout, "");
      assert.match(
        io.stderr,
        /^error: expected a shell \(bash, zsh, fish\), got .*\nSee 'kubectl irsa completion --help'\n$/,
      );
    });
  }
  for (const shell of ["bash", "zsh", "fish"] as const) {
    await t.step(shell, async () => {
      const io = memoryIo();
      assert.equal(await runCli(["completion", shell], io), 0);
      assert.equal(io.stdout, completionScript(shell));
      assert.equal(io.stderr, "");
      assert.match(io.stdout, /kubectl-irsa/);
      assert.match(io.stdout, /__complete/);
    });
  }
});

// The bash script run by a real bash against the real program (krew/kubectl-irsa on PATH), the way bash calls it:
// COMP_WORDS split at '=' as bash splits them. compopt only works inside real completion, so it is recorded instead.
Deno.test("the bash script completes through kubectl-irsa __complete", async (t) => {
  const bin = await Deno.makeTempDir({ prefix: "kubectl-irsa-bash-completion-" });
  try {
    await Deno.symlink(new URL("../krew/kubectl-irsa", import.meta.url).pathname, `${bin}/kubectl-irsa`);
    const script = `${bin}/kubectl-irsa.bash`;
    await Deno.writeTextFile(script, completionScript("bash"));
    // File names are completed in a folder of their own.
    const cwd = `${bin}/work`;
    await Deno.mkdir(`${cwd}/keys`, { recursive: true });
    await Deno.writeTextFile(`${cwd}/policy.json`, "{}");
    await Deno.writeTextFile(`${cwd}/notes.txt`, "");
    const cases: { words: string[]; reply: string[]; compopt?: string[] }[] = [
      { words: ["kubectl-irsa", "b"], reply: ["bind"] },
      { words: ["kubectl-irsa", "list", "-o", ""], reply: ["json", "yaml", "wide", "name"] },
      { words: ["kubectl-irsa", "list", "--output", "=", "j"], reply: ["json"] },
      { words: ["kubectl-irsa", "list", "--output", "="], reply: ["json", "yaml", "wide", "name"] },
      {
        words: ["kubectl-irsa", "bind", "--inline-policy", ""],
        reply: ["policy.json", "keys"],
        compopt: ["-o filenames"],
      },
      { words: ["kubectl-irsa", "init", "--out-dir", "="], reply: ["keys"], compopt: ["-o filenames"] },
      { words: ["kubectl-irsa", "init", "--bucket", ""], reply: [], compopt: ["+o default"] },
      { words: ["kubectl-irsa", "init", "--kubeconfig", ""], reply: [], compopt: [] },
    ];
    for (const c of cases) {
      await t.step(c.words.slice(1).join(" "), async () => {
        const { code, stdout, stderr } = await new Deno.Command("bash", {
          args: [
            "-c",
            `source "$1"; shift; compopt() { echo "$*" >&2; }; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); ` +
            `_kubectl_irsa; printf '%s\\n' "\${COMPREPLY[@]}"`,
            "bash",
            script,
            ...c.words,
          ],
          cwd,
          // No cluster: a kubeconfig that does not exist.
          env: { ...Deno.env.toObject(), PATH: `${bin}:${Deno.env.get("PATH") ?? ""}`, KUBECONFIG: `${bin}/none` },
          stdout: "piped",
          stderr: "piped",
        }).output();
        const text = new TextDecoder();
        assert.equal(code, 0, text.decode(stderr));
        assert.deepStrictEqual(text.decode(stdout).split("\n").filter((l) => l !== ""), c.reply);
        if (c.compopt) assert.deepStrictEqual(text.decode(stderr).split("\n").filter((l) => l !== ""), c.compopt);
      });
    }
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});

/** Runs `body` with a temporary bin folder holding the launcher, and a work folder with files to complete. */
async function withPluginOnPath(body: (env: Record<string, string>, cwd: string, bin: string) => Promise<void>) {
  const bin = await Deno.makeTempDir({ prefix: "kubectl-irsa-shell-completion-" });
  try {
    await Deno.symlink(new URL("../krew/kubectl-irsa", import.meta.url).pathname, `${bin}/kubectl-irsa`);
    const cwd = `${bin}/work`;
    await Deno.mkdir(`${cwd}/keys`, { recursive: true });
    await Deno.writeTextFile(`${cwd}/policy.json`, "{}");
    await Deno.writeTextFile(`${cwd}/notes.txt`, "");
    const env = { ...Deno.env.toObject(), PATH: `${bin}:${Deno.env.get("PATH") ?? ""}`, KUBECONFIG: `${bin}/none` };
    await body(env, cwd, bin);
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
}

async function shell(program: string, args: string[], env: Record<string, string>, cwd: string): Promise<string[]> {
  const { code, stdout, stderr } = await new Deno.Command(program, { args, env, cwd, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder();
  assert.equal(code, 0, text.decode(stderr));
  return text.decode(stdout).split("\n").filter((l) => l !== "");
}

// fish's own `complete -C` runs the registered completion as a TAB would. `deno task setup` installs fish; a
// machine without it fails here rather than skipping the check.
Deno.test({
  name: "the fish script completes through kubectl-irsa __complete",
  fn: (t) =>
    withPluginOnPath(async (env, cwd, bin) => {
      const script = `${bin}/kubectl-irsa.fish`;
      await Deno.writeTextFile(script, completionScript("fish"));
      const cases: { line: string; want: string[] }[] = [
        { line: "kubectl-irsa b", want: [`bind\t${commandSummaries.bind}`] },
        { line: "kubectl-irsa list -o ", want: ["json", "name", "wide", "yaml"] },
        { line: "kubectl-irsa list --output=j", want: ["--output=json"] },
        // Files: fish's own completion (it cannot filter by extension).
        { line: "kubectl-irsa bind --inline-policy ", want: ["keys/", "notes.txt", "policy.json"] },
        { line: "kubectl-irsa init --bucket ", want: [] },
      ];
      for (const c of cases) {
        await t.step(c.line, async () => {
          const got = await shell("fish", ["-c", `source ${script}; complete -C '${c.line}'`], env, cwd);
          assert.deepStrictEqual(got.sort(), c.want);
        });
      }
    }),
});

// zsh's completion system needs a terminal, so its functions are stood in for: the test checks what the script
// hands to them. `deno task setup` installs zsh.
Deno.test({
  name: "the zsh script hands kubectl-irsa __complete's answer to _describe and _files",
  fn: (t) =>
    withPluginOnPath(async (env, cwd, bin) => {
      const script = `${bin}/_kubectl-irsa`;
      await Deno.writeTextFile(script, completionScript("zsh"));
      const stubs = [
        "compdef() { }",
        // _describe -t TAG DESCRIPTION ARRAY [compadd options]
        `_describe() { print -r -- "describe \${argv[5,-1]}"; print -rl -- "\${(@P)argv[4]}" }`,
        `_files() { print -r -- "files\${*:+ $*}" }`,
        `compset() { print -r -- "compset $*" }`,
      ].join("; ");
      const cases: { words: string[]; want: string[] }[] = [
        { words: ["kubectl-irsa", "b"], want: ["describe ", `bind:${commandSummaries.bind}`] },
        { words: ["kubectl-irsa", "list", "-o", ""], want: ["describe ", "json", "yaml", "wide", "name"] },
        { words: ["kubectl-irsa", "list", "--output=j"], want: ["describe -P --output=", "json"] },
        { words: ["kubectl-irsa", "bind", "--inline-policy", ""], want: ["files -g *.json"] },
        { words: ["kubectl-irsa", "bind", "--inline-policy="], want: ["compset -P *=", "files -g *.json"] },
        { words: ["kubectl-irsa", "init", "--out-dir", ""], want: ["files -/"] },
        { words: ["kubectl-irsa", "init", "--kubeconfig", ""], want: ["files"] },
        { words: ["kubectl-irsa", "init", "--bucket", ""], want: [] },
      ];
      for (const c of cases) {
        await t.step(c.words.slice(1).join(" "), async () => {
          const words = c.words.map((w) => `'${w}'`).join(" ");
          const program = `${stubs}; source ${script}; words=(${words}); CURRENT=${c.words.length}; _kubectl-irsa; :`;
          assert.deepStrictEqual(await shell("zsh", ["-f", "-c", program], env, cwd), c.want);
        });
      }
    }),
});
