// Proves the real kubectl finds and runs the plugin through krew/kubectl-irsa, linked onto PATH the way krew
// links it. CI installs kubectl, so a missing kubectl fails the test instead of skipping it.
import { findKubectl } from "../tests/support/kubectl.ts";
import assert from "node:assert/strict";

const launcher = new URL("../krew/kubectl-irsa", import.meta.url).pathname;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

Deno.test("kubectl finds the plugin on PATH and runs it as `kubectl irsa`", async (t) => {
  const originalPath = Deno.env.get("PATH") ?? "";
  const kubectl = await findKubectl(originalPath);
  const bin = await Deno.makeTempDir({ prefix: "kubectl-irsa-plugin-test-" });
  try {
    const linked = `${bin}/kubectl-irsa`;
    await Deno.symlink(launcher, linked);
    const env = { ...Deno.env.toObject(), PATH: `${bin}:${originalPath}`, NO_COLOR: "1" };
    const run = async (args: string[]): Promise<Run> => {
      const { code, stdout, stderr } = await new Deno.Command(kubectl, {
        args,
        env,
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder();
      return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
    };

    await t.step("`kubectl irsa version` prints the plugin version", async () => {
      const r = await run(["irsa", "version"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^kubectl-irsa \d+\.\d+\.\d+ \(deno [^)]+\)\n$/);
      assert.equal(r.stderr, "");
    });

    await t.step("`kubectl irsa --help` prints the help on stdout", async () => {
      const r = await run(["irsa", "--help"]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.startsWith("kubectl irsa gives AWS IAM Roles for Service Accounts"), r.stdout.slice(0, 200));
      assert.ok(r.stdout.includes("\nExamples:\n"));
      assert.equal(r.stderr, "");
    });

    await t.step("`kubectl irsa` passes the plugin's usage exit code 2 through", async () => {
      const r = await run(["irsa", "bogus"]);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr, `error: unknown command "bogus"\nSee 'kubectl irsa --help'\n`);
    });

    await t.step("`kubectl irsa init` with a bad flag points at init's help", async () => {
      const r = await run(["irsa", "init", "--bogus"]);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr, `error: unknown flag "--bogus"\nSee 'kubectl irsa init --help'\n`);
    });

    await t.step("`kubectl plugin list` lists the linked plugin", async () => {
      const r = await run(["plugin", "list"]);
      assert.ok(r.stdout.split("\n").includes(linked), `${linked} not in:\n${r.stdout}\n${r.stderr}`);
      // kubectl warns on stderr about unreadable PATH entries; only warnings about this plugin matter.
      const ours = r.stderr.split("\n").filter((line) => line.includes(linked));
      assert.deepStrictEqual(ours, [], "kubectl warns about the plugin");
    });
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});
