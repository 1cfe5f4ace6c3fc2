// Spawns the real program and asserts stdout, stderr and the exit code. Help texts are pinned as golden files
// under cli/testdata; regenerate them with `UPDATE_GOLDEN=1 deno test -A cli/cli_test.ts`.
import assert from "node:assert/strict";
import { commandSummaries } from "./args.ts";
import { version } from "./version.ts";
import { startCountingCluster } from "./_counting_cluster.ts";

const root = new URL("../", import.meta.url);
const modTs = new URL("mod.ts", root).pathname;
const denoJson = new URL("deno.json", root).pathname;
const testdata = new URL("testdata/", import.meta.url);
const updateGolden = Deno.env.get("UPDATE_GOLDEN") === "1";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs mod.ts the way krew/kubectl-irsa does: same flags, same permissions. */
async function runPlugin(args: string[]): Promise<Run> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      "--config",
      denoJson,
      "--allow-env",
      "--allow-read",
      "--allow-write",
      "--allow-net",
      "--allow-sys",
      "--allow-run",
      modTs,
      ...args,
    ],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
}

async function assertGolden(name: string, actual: string): Promise<void> {
  const file = new URL(name, testdata);
  if (updateGolden) {
    await Deno.mkdir(testdata, { recursive: true });
    await Deno.writeTextFile(file, actual);
    return;
  }
  let expected: string;
  try {
    expected = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      assert.fail(`golden file cli/testdata/${name} is missing; run with UPDATE_GOLDEN=1 to create it`);
    }
    throw e;
  }
  assert.equal(actual, expected, `help differs from cli/testdata/${name}; run with UPDATE_GOLDEN=1 if intended`);
}

Deno.test("kubectl irsa --help prints the description and examples on stdout and exits 0", async () => {
  const r = await runPlugin(["--help"]);
  assert.equal(r.code, 0);
  assert.equal(r.stderr, "");
  assert.ok(
    r.stdout.startsWith("kubectl irsa gives AWS IAM Roles for Service Accounts (IRSA)"),
    `stdout starts with ${JSON.stringify(r.stdout.slice(0, 80))}`,
  );
  assert.ok(r.stdout.includes("\nExamples:\n"));
  for (const command of Object.keys(commandSummaries)) assert.match(r.stdout, new RegExp(`^  ${command} `, "m"));
});

Deno.test("kubectl irsa help text matches its golden file for the top level and every command", async (t) => {
  const topics: [string, string[][]][] = [
    ["help_top_level.txt", [["--help"], ["-h"], ["help"], []]],
    ...Object.keys(commandSummaries).map((c): [string, string[][]] => [
      `help_${c}.txt`,
      [[c, "--help"], [c, "-h"], ["help", c]],
    ]),
    // The signer, like the daemon, is started by mod.ts; its help goes through the CLI.
    ["help_signer.txt", [["signer", "--help"], ["signer", "-h"], ["help", "signer"]]],
  ];
  for (const [golden, forms] of topics) {
    await t.step(golden, async () => {
      const runs = await Promise.all(forms.map(runPlugin));
      for (const [i, r] of runs.entries()) {
        assert.equal(r.code, 0, `exit code of ${JSON.stringify(forms[i])}`);
        assert.equal(r.stderr, "", `stderr of ${JSON.stringify(forms[i])}`);
        assert.equal(r.stdout, runs[0]?.stdout, `${JSON.stringify(forms[i])} prints the same help as ${forms[0]}`);
      }
      const stdout = runs[0]?.stdout ?? "";
      assert.ok(stdout.includes("kubectl irsa "), "help names the plugin as `kubectl irsa`");
      assert.ok(stdout.includes("Examples:\n"), "help has examples");
      await assertGolden(golden, stdout);
    });
  }
});

Deno.test("kubectl irsa version prints the plugin and Deno versions", async () => {
  const r = await runPlugin(["version"]);
  assert.equal(r.code, 0);
  assert.equal(r.stderr, "");
  assert.match(r.stdout, /^kubectl-irsa \d+\.\d+\.\d+ /);
  assert.equal(r.stdout, `kubectl-irsa ${version} (deno ${Deno.version.deno})\n`);
});

Deno.test("kubectl irsa --version prints the same as version", async () => {
  const [a, b] = await Promise.all([runPlugin(["--version"]), runPlugin(["version"])]);
  assert.equal(a.code, 0);
  assert.equal(a.stdout, b.stdout);
  assert.equal(a.stderr, "");
});

Deno.test("kubectl irsa version -o json prints parseable JSON", async () => {
  const r = await runPlugin(["version", "-o", "json"]);
  assert.equal(r.code, 0);
  assert.equal(r.stderr, "");
  assert.deepStrictEqual(JSON.parse(r.stdout), { version, deno: Deno.version.deno });
});

Deno.test("kubectl irsa version -o yaml prints YAML", async () => {
  const r = await runPlugin(["version", "-o", "yaml"]);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, `version: ${version}\ndeno: ${Deno.version.deno}\n`);
});

Deno.test("kubectl irsa rejects usage errors with exit 2 and a pointer to the right help", async (t) => {
  const cases: { name: string; args: string[]; stderr: string }[] = [
    {
      name: "an unknown command points at the top-level help",
      args: ["bogus"],
      stderr: `error: unknown command "bogus"\nSee 'kubectl irsa --help'\n`,
    },
    {
      name: "help for an unknown command points at the top-level help",
      args: ["help", "bogus"],
      stderr: `error: unknown command "bogus"\nSee 'kubectl irsa --help'\n`,
    },
    {
      name: "a flag before the command points at the top-level help",
      args: ["-n", "x", "version"],
      stderr: `error: a command must come first, got flag "-n"\nSee 'kubectl irsa --help'\n`,
    },
    {
      name: "an unknown flag on init points at init's help",
      args: ["init", "--bogus"],
      stderr: `error: unknown flag "--bogus"\nSee 'kubectl irsa init --help'\n`,
    },
    {
      name: "init without --bucket points at init's help",
      args: ["init"],
      stderr: `error: required flag "--bucket" is missing\nSee 'kubectl irsa init --help'\n`,
    },
    {
      name: "a bad output format points at the command's help",
      args: ["version", "-o", "xml"],
      stderr:
        `error: unknown output format "xml"; use one of json, yaml, wide, name\nSee 'kubectl irsa version --help'\n`,
    },
    {
      name: "bind without a ServiceAccount points at bind's help",
      args: ["bind", "--policy", "AmazonS3ReadOnlyAccess"],
      stderr: `error: expected "sa NAME", got nothing\nSee 'kubectl irsa bind --help'\n`,
    },
    {
      name: "unbind -A points at unbind's help",
      args: ["unbind", "sa", "api", "-A"],
      stderr: `error: unbind does not take "-A"; name the namespace with "-n"\nSee 'kubectl irsa unbind --help'\n`,
    },
    {
      name: "a stray argument points at the command's help",
      args: ["version", "now"],
      stderr: `error: unexpected argument "now"\nSee 'kubectl irsa version --help'\n`,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const r = await runPlugin(c.args);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr, c.stderr);
    });
  }
});

/** The modules that load when `entry` is imported: dynamic imports and type-only ones (no `code`) are skipped. */
async function staticGraph(entry: string): Promise<Set<string>> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--config", denoJson, entry],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const info = JSON.parse(new TextDecoder().decode(stdout)) as {
    roots: string[];
    modules: {
      specifier: string;
      dependencies?: { specifier: string; code?: { specifier: string }; isDynamic?: boolean }[];
    }[];
  };
  const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
  const graph = new Set<string>();
  const pending = [...info.roots];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (graph.has(next)) continue;
    graph.add(next);
    for (const dep of bySpecifier.get(next)?.dependencies ?? []) {
      if (dep.code !== undefined && dep.isDynamic !== true) pending.push(dep.code.specifier);
    }
  }
  return graph;
}

const local = (path: string) => new URL(path, root).href;

Deno.test("kubectl irsa's startup import graph leaves out the argument parser, the AWS SDK and the Kubernetes client", async () => {
  const graph = await staticGraph(local("cli/main.ts"));
  assert.ok(graph.has(local("cli/help.ts")), "the walk reaches cli/help.ts");
  assert.ok(graph.has(local("cli/commands.ts")), "the walk reaches cli/commands.ts");
  // node:util (the argument parser) is left out too: loading Node compatibility costs --help about 15 ms.
  const heavy = [...graph].filter((s) =>
    s.includes("@aws-sdk") || s.includes("@smithy") || s.includes("@kubernetes/client-node") ||
    s.includes("/lib/kube/") || s.includes("/lib/aws/") || s === "node:util" || s.endsWith("cli/args.ts")
  );
  assert.deepStrictEqual(heavy, [], "these must be imported lazily, inside the commands that need them");
});

Deno.test("mod.ts loads no role's code until it knows the role, so the daemon never evaluates the CLI", async () => {
  assert.deepStrictEqual([...await staticGraph(modTs)], [local("mod.ts")]);
});

Deno.test("kubectl irsa install --webhook-skip-namespaces reaches the rendered namespaceSelector", async () => {
  const values = async (...extra: string[]) => {
    const run = await runPlugin(["install", "--dry-run", "-o", "json", ...extra]);
    assert.equal(run.code, 0, run.stderr);
    const list = JSON.parse(run.stdout) as {
      items: { kind: string; webhooks?: { namespaceSelector: { matchExpressions: { values: string[] }[] } }[] }[];
    };
    const mwc = list.items.find((o) => o.kind === "MutatingWebhookConfiguration")!;
    return mwc.webhooks![0]!.namespaceSelector.matchExpressions[0]!.values;
  };
  assert.deepEqual(await values(), ["kube-system", "irsa-manager-system"]);
  assert.deepEqual(await values("--webhook-skip-namespaces", ""), ["irsa-manager-system"]);
  assert.deepEqual(await values("-n", "irsa", "--webhook-skip-namespaces=monitoring"), ["monitoring", "irsa"]);
});

Deno.test("kubectl irsa install renders --aws-endpoint-url, --aws-ca-bundle and --s3-path-style as installManifests() does", async () => {
  const { defaultImage, installManifests } = await import("../lib/install_manifests.ts");
  const { createRootCa } = await import("../lib/pki.ts");
  const dir = await Deno.makeTempDir({ prefix: "install-ca-" });
  try {
    const pem = (await createRootCa("private endpoint CA")).certPem;
    await Deno.writeTextFile(`${dir}/ca.pem`, pem);
    const endpoint = "https://s3.internal.example:9000";
    const run = await runPlugin([
      "install",
      "--dry-run",
      "-o",
      "json",
      "--aws-endpoint-url",
      endpoint,
      "--aws-ca-bundle",
      `${dir}/ca.pem`,
      "--s3-path-style",
    ]);
    assert.equal(run.code, 0, run.stderr);
    const want = installManifests({
      image: defaultImage(version),
      awsEndpointUrl: endpoint,
      awsCaBundlePem: pem,
      awsS3PathStyle: true,
    });
    assert.deepEqual(JSON.parse(run.stdout).items, JSON.parse(JSON.stringify(want)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("kubectl irsa install refuses a bad endpoint or CA bundle with exit 2 before connecting", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "install-bad-" });
  // A cluster that records whether anyone connects: a usage error must stop the command before that.
  const cluster = await startCountingCluster(dir);
  try {
    const kubeconfig = cluster.kubeconfig;
    const { createRootCa } = await import("../lib/pki.ts");
    const ca = await createRootCa("bundle with its key");
    await Deno.writeTextFile(`${dir}/notes.txt`, "the CA is on the wiki\n");
    await Deno.writeTextFile(`${dir}/with-key.pem`, ca.certPem + ca.keyPem);
    const see = "See 'kubectl irsa install --help'\n";
    const cases: { name: string; args: string[]; stderr: RegExp }[] = [
      {
        name: "an endpoint without a scheme",
        args: ["--aws-endpoint-url", "s3.internal.example:9000"],
        stderr: new RegExp(
          `^error: "--aws-endpoint-url": Invalid AWS endpoint URL "s3\\.internal\\.example:9000": must be an ` +
            `absolute https:// or http:// URL, like https://s3\\.internal\\.example:9000\\n${see}$`,
        ),
      },
      {
        name: "a CA bundle that does not exist",
        args: ["--aws-ca-bundle", `${dir}/missing.pem`],
        stderr: new RegExp(`^error: "--aws-ca-bundle": cannot read the CA bundle "${dir}/missing\\.pem": .+\\n${see}$`),
      },
      {
        name: "a CA bundle that is not PEM",
        args: ["--aws-ca-bundle", `${dir}/notes.txt`],
        stderr: new RegExp(
          `^error: "--aws-ca-bundle": the CA bundle "${dir}/notes\\.txt" holds no PEM certificate .+\\n${see}$`,
        ),
      },
      {
        name: "a CA bundle with a private key, which must not land in a ConfigMap",
        args: ["--aws-ca-bundle", `${dir}/with-key.pem`],
        stderr: new RegExp(`^error: "--aws-ca-bundle": the CA bundle "${dir}/with-key\\.pem" holds a private key.+\\n`),
      },
    ];
    for (const c of cases) {
      await t.step(c.name, async () => {
        const run = await runPlugin(["install", "--kubeconfig", kubeconfig, ...c.args]);
        assert.equal(run.code, 2, run.stderr);
        assert.equal(run.stdout, "");
        assert.match(run.stderr, c.stderr);
        assert.equal(cluster.connections(), 0, "install connected to the cluster before refusing its flags");
      });
    }
  } finally {
    await cluster.close();
    await Deno.remove(dir, { recursive: true });
  }
});
