// Proves the krew distribution end to end with the real tools: krew/package.ts builds this machine's archive,
// krew/render_manifest.ts renders the manifest, krew's own validate-krew-manifest accepts it (installing it over
// HTTP like the krew-index CI does), and `kubectl krew install --manifest --archive` installs it into a fresh
// KREW_ROOT, after which kubectl runs it as `kubectl irsa`, and `kubectl irsa <TAB>` completes through kubectl's own
// plugin completion (`kubectl __complete irsa …` runs the shipped kubectl_complete-irsa) with ServiceAccounts read
// from a sandbox apiserver. Also renders the five-platform release manifest the way
// .github/workflows/release.yml does and validates its structure. krew is built from its Go module; kubectl must be
// installed (CI does), so a missing tool fails the test instead of skipping it.
import { findKubectl } from "../support/kubectl.ts";
import assert from "node:assert/strict";
import { parse } from "yaml";
import { hostPlatform, packageLocal } from "../../krew/package.ts";
import { archiveName, releasePlatforms, renderManifest } from "../../krew/render_manifest.ts";
import { ensureBinary } from "../support/go_build.ts";
import { createServiceAccount, freshNamespace, sandboxClient } from "../support/kube.ts";
import { type Sandbox, startSandbox } from "../support/sandbox.ts";
import { commandSummaries } from "../../cli/commands.ts";
import { saAnnotation } from "../../lib/names.ts";

const repo = new URL("../../", import.meta.url).pathname;
const version = `v${(JSON.parse(await Deno.readTextFile(`${repo}deno.json`)) as { version: string }).version}`;

/** Deno's cache folder, so the installed plugin reuses the npm packages already fetched for this checkout. */
async function denoDir(): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped" }).output();
  return (JSON.parse(new TextDecoder().decode(out.stdout)) as { denoDir: string }).denoDir;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(argv: string[], env: Record<string, string>): Promise<Run> {
  const { code, stdout, stderr } = await new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
}

const show = (r: Run) => `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

Deno.test("krew validates and installs the local archive, and kubectl runs it as `kubectl irsa`", async (t) => {
  const kubectl = await findKubectl();
  const krew = await ensureBinary("krew");
  const validate = await ensureBinary("validate-krew-manifest");
  const platform = hostPlatform();
  assert.ok(platform, `no krew archive for ${Deno.build.os}/${Deno.build.arch}`);
  const platformKey = `${platform.os}/${platform.arch}`;

  const work = await Deno.makeTempDir({ prefix: "kubectl-irsa-krew-test-" });
  const dist = `${work}/dist`;
  // kubectl finds krew as the plugin `kubectl krew`, the way a krew install links it.
  const bin = `${work}/bin`;
  await Deno.mkdir(bin);
  await Deno.symlink(kubectl, `${bin}/kubectl`);
  await Deno.symlink(krew, `${bin}/kubectl-krew`);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const name = new URL(req.url).pathname.split("/").pop() ?? "";
    try {
      return new Response(await Deno.readFile(`${dist}/${name}`));
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  const systemPath = Deno.env.get("PATH") ?? "/usr/bin:/bin";
  let sandbox: Sandbox | undefined;
  let failed = true;
  // The caller's environment (CA bundles, proxies) without any krew setting of its own.
  const baseEnv = Object.fromEntries(Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("KREW_")));
  try {
    const archive = await packageLocal(dist);
    assert.equal(archive, `${await Deno.realPath(dist)}/${archiveName(version, platform)}`);

    await t.step("validate-krew-manifest accepts the local manifest and installs it over HTTP", async () => {
      const dir = `${work}/local-manifest`;
      await Deno.mkdir(dir);
      const manifest = await renderManifest({
        version,
        baseUrl: `http://127.0.0.1:${server.addr.port}/download/${version}`,
        homepage: "https://github.com/example/kubectl-irsa",
        archivesDir: dist,
        platforms: [platformKey],
      });
      // The validator takes the plugin name from the file name.
      await Deno.writeTextFile(`${dir}/irsa.yaml`, manifest);
      const r = await run([validate, "-manifest", `${dir}/irsa.yaml`], {
        PATH: `${bin}:${systemPath}`,
        HOME: work,
        KREW_NO_UPGRADE_CHECK: "1",
      });
      assert.equal(r.code, 0, show(r));
      assert.match(r.stderr, /structural validation OK/);
      assert.match(r.stderr, /all 1 spec\.platforms installed fine/);
    });

    await t.step("the release manifest for all five platforms renders with the CLI and validates", async () => {
      // Stand-ins named like the release archives: the structure is what is checked here, since the compiled
      // binaries cannot be built on this machine.
      const releaseDist = `${work}/release-dist`;
      await Deno.mkdir(releaseDist);
      for (const p of releasePlatforms) await Deno.copyFile(archive, `${releaseDist}/${archiveName(version, p)}`);
      const out = `${work}/release-manifest/irsa.yaml`;
      await Deno.mkdir(`${work}/release-manifest`);
      const baseUrl = `https://github.com/example/kubectl-irsa/releases/download/${version}`;
      const rendered = await run(
        [
          Deno.execPath(),
          "task",
          "--quiet",
          "render-krew",
          ...["--version", version, "--base-url", baseUrl, "--archives-dir", releaseDist, "--out", out],
        ],
        { ...baseEnv, NO_COLOR: "1" },
      );
      assert.equal(rendered.code, 0, show(rendered));
      const m = parse(await Deno.readTextFile(out)) as { spec: { homepage: string; platforms: { uri: string }[] } };
      assert.equal(m.spec.homepage, "https://github.com/example/kubectl-irsa");
      assert.deepStrictEqual(
        m.spec.platforms.map((p) => p.uri),
        releasePlatforms.map((p) => `${baseUrl}/${archiveName(version, p)}`),
      );
      const r = await run([validate, "-manifest", out, "-skip-install"], { PATH: `${bin}:${systemPath}` });
      assert.equal(r.code, 0, show(r));
      assert.match(r.stderr, /all spec\.platform\[\] items are used/);
      assert.match(r.stderr, /no overlapping spec\.platform\[\]\.selector/);
    });

    let installCaveats = "";
    const krewRoot = `${work}/krew-root`;
    const home = `${work}/home`;
    await Deno.mkdir(home);
    const env = {
      ...baseEnv,
      PATH: `${krewRoot}/bin:${bin}:${systemPath}`,
      HOME: home,
      KREW_ROOT: krewRoot,
      KREW_NO_UPGRADE_CHECK: "1",
      // The archive holds the launcher and the source; it runs with this Deno and its npm cache.
      KUBECTL_IRSA_DENO: Deno.execPath(),
      DENO_DIR: await denoDir(),
      NO_COLOR: "1",
    };

    await t.step("`kubectl krew install --manifest --archive` installs the plugin from the local archive", async () => {
      const dir = `${work}/install-manifest`;
      await Deno.mkdir(dir);
      const manifest = await renderManifest({
        version,
        baseUrl: `https://github.com/example/kubectl-irsa/releases/download/${version}`,
        archivesDir: dist,
        platforms: [platformKey],
      });
      await Deno.writeTextFile(`${dir}/irsa.yaml`, manifest);
      const r = await run([kubectl, "krew", "install", `--manifest=${dir}/irsa.yaml`, `--archive=${archive}`], env);
      assert.equal(r.code, 0, show(r));
      assert.match(r.stderr, /Installed plugin: irsa\n/);
      assert.match(r.stderr, /kubectl irsa init --help/, "krew shows the caveats");
      const link = await Deno.readLink(`${krewRoot}/bin/kubectl-irsa`);
      assert.equal(link, `${krewRoot}/store/irsa/${version}/kubectl-irsa`);
      installCaveats = r.stderr;
    });

    await t.step("with an empty local index, krew lists and uninstalls without fetching krew-index", async () => {
      // `list` and `uninstall` insist on an index that is a git clone; a user offline has an empty one.
      const init = await run(["git", "init", "--quiet", `${krewRoot}/index/default`], env);
      assert.equal(init.code, 0, show(init));
    });

    await t.step("`kubectl krew list` lists the plugin", async () => {
      const r = await run([kubectl, "krew", "list"], env);
      assert.equal(r.code, 0, show(r));
      // A plugin installed from --manifest belongs to no index; krew calls it "detached".
      assert.equal(r.stdout, "detached/irsa\n", show(r));
    });

    await t.step("`kubectl irsa version` runs the installed plugin", async () => {
      const r = await run([kubectl, "irsa", "version"], env);
      assert.equal(r.code, 0, show(r));
      assert.equal(r.stdout, `kubectl-irsa ${version.slice(1)} (deno ${Deno.version.deno})\n`);
      assert.equal(r.stderr, "");
    });

    await t.step("`kubectl irsa --help` prints the help on stdout", async () => {
      const r = await run([kubectl, "irsa", "--help"], env);
      assert.equal(r.code, 0, show(r));
      assert.ok(r.stdout.startsWith("kubectl irsa gives AWS IAM Roles for Service Accounts"), show(r));
      assert.ok(r.stdout.includes("\nExamples:\n"));
      assert.equal(r.stderr, "");
    });

    await t.step("`kubectl irsa` passes the usage exit code 2 through", async () => {
      const r = await run([kubectl, "irsa", "bogus"], env);
      assert.equal(r.code, 2, show(r));
      assert.equal(r.stderr, `error: unknown command "bogus"\nSee 'kubectl irsa --help'\n`);
    });

    // `kubectl __complete …` is what kubectl's bash, zsh and fish scripts run on TAB; its stdout is cobra's protocol.
    const completeArgs = (...words: string[]) => [kubectl, "__complete", "irsa", ...words];
    const helper = `${krewRoot}/store/irsa/${version}/kubectl_complete-irsa`;

    await t.step(
      "krew installs kubectl_complete-irsa, but only beside the plugin: kubectl completes nothing",
      async () => {
        const info = await Deno.stat(helper);
        assert.ok(info.isFile && ((info.mode ?? 0) & 0o111) !== 0, `${helper} is not an executable file`);
        await assert.rejects(Deno.lstat(`${krewRoot}/bin/kubectl_complete-irsa`), Deno.errors.NotFound);
        const r = await run(completeArgs("b"), env);
        assert.equal(r.code, 0, show(r));
        // No completion executable on PATH: kubectl answers no candidates and the shell's file completion.
        assert.equal(r.stdout, ":0\n", show(r));
      },
    );

    await t.step("the caveats' command copies the helper beside krew's link", async () => {
      // krew frames the caveats with " | " margins; the command is what follows them.
      const cp = installCaveats.split("\n").map((l) => l.match(/\bcp ".*_complete-irsa".*$/)?.[0]).find(Boolean);
      assert.ok(cp, `no cp command in the caveats:\n${installCaveats}`);
      assert.ok(cp.includes(`/store/irsa/${version}/kubectl_complete-irsa`), cp);
      const r = await run(["sh", "-c", cp], env);
      assert.equal(r.code, 0, show(r));
      const info = await Deno.lstat(`${krewRoot}/bin/kubectl_complete-irsa`);
      assert.ok(info.isFile, "the caveats copy the helper, not link it, so it survives an upgrade");
    });

    await t.step("`kubectl irsa b<TAB>` completes the command through kubectl", async () => {
      const r = await run(completeArgs("b"), env);
      assert.equal(r.code, 0, show(r));
      assert.equal(r.stdout, `bind\t${commandSummaries.bind}\n:4\n`);
      assert.match(r.stderr, /About to call: .*\/kubectl_complete-irsa b\n/, "kubectl ran the plugin's helper");
    });

    await t.step("flags and their values complete through kubectl, --flag=value included", async () => {
      const flags = await run(completeArgs("init", "--key-s"), env);
      assert.equal(flags.code, 0, show(flags));
      assert.match(flags.stdout, /^--key-source\t[^\n]+\n:4\n$/);
      const values = await run(completeArgs("list", "--output=w"), env);
      assert.equal(values.stdout, "wide\n:4\n", show(values));
      const shells = await run(completeArgs("completion", ""), env);
      assert.equal(shells.stdout, "bash\nzsh\nfish\n:4\n", show(shells));
    });

    sandbox = await startSandbox({ moto: false });
    const kube = await sandboxClient(sandbox);
    const ns = await freshNamespace(kube, "complete");
    const role = "arn:aws:iam::123456789012:role/irsa-complete-api";
    await createServiceAccount(kube, ns, "api", { [saAnnotation.roleArn]: role });
    await createServiceAccount(kube, ns, "worker");
    const otherNs = await freshNamespace(kube, "complete-other");
    await createServiceAccount(kube, otherNs, "elsewhere");
    const clusterEnv = { ...env, KUBECONFIG: sandbox.kubeconfigPath };

    await t.step(
      "`kubectl irsa bind sa <TAB> -n NS` lists that namespace's ServiceAccounts from the apiserver",
      async () => {
        const r = await run(completeArgs("bind", "-n", ns, "sa", ""), clusterEnv);
        assert.equal(r.code, 0, show(r));
        assert.equal(r.stdout, `api\t${role}\nworker\n:4\n`);
        const prefix = await run(completeArgs("unbind", "sa", "w", "-n", ns), clusterEnv);
        // The word being completed is the last one: here -n's value, a namespace.
        assert.equal(prefix.stdout, `${ns}\n:4\n`, show(prefix));
        const other = await run(completeArgs("doctor", "--namespace", otherNs, "sa", ""), clusterEnv);
        assert.equal(other.stdout, "elsewhere\n:4\n", show(other));
      },
    );

    await t.step("`-n <TAB>` lists namespaces; --kubeconfig on the line picks the cluster", async () => {
      const r = await run(completeArgs("list", "--kubeconfig", sandbox!.kubeconfigPath, "-n", "complete-"), env);
      assert.equal(r.code, 0, show(r));
      assert.deepStrictEqual(r.stdout.split("\n"), [...[ns, otherNs].sort(), ":4", ""]);
    });

    await t.step("an unreachable cluster gives no candidates, no error on stdout, and no file names", async () => {
      const bad = await sandbox!.writeFile(
        "unreachable.kubeconfig",
        (await Deno.readTextFile(sandbox!.kubeconfigPath)).replace(/server: \S+/, "server: https://127.0.0.1:1"),
      );
      for (
        const words of [["bind", "--kubeconfig", bad, "sa", ""], ["list", "--kubeconfig", `${work}/missing`, "-n", ""]]
      ) {
        const r = await run(completeArgs(...words), env);
        assert.equal(r.code, 0, show(r));
        assert.equal(r.stdout, ":4\n", show(r));
      }
    });

    await t.step("`kubectl krew uninstall irsa` removes the plugin", async () => {
      const r = await run([kubectl, "krew", "uninstall", "irsa"], env);
      assert.equal(r.code, 0, show(r));
      await assert.rejects(Deno.lstat(`${krewRoot}/bin/kubectl-irsa`), Deno.errors.NotFound);
      const gone = await run([kubectl, "irsa", "version"], env);
      assert.notEqual(gone.code, 0, show(gone));
      assert.match(gone.stderr, /unknown command "irsa"/);
    });
    failed = false;
  } finally {
    await sandbox?.stop({ keepLogs: failed });
    await server.shutdown();
    await Deno.remove(work, { recursive: true });
  }
});
