// Lints the GitHub workflows with actionlint (built from its Go module), and checks that every form of the plugin
// the release ships runs with the launcher's permissions. actionlint runs shellcheck on `run:` scripts when
// shellcheck is on PATH, as it does by default.
import assert from "node:assert/strict";
import { ensureBinary } from "../support/go_build.ts";

const repo = new URL("../../", import.meta.url).pathname;
const workflowsDir = `${repo}.github/workflows`;

async function workflows(): Promise<string[]> {
  const files = [];
  for await (const entry of Deno.readDir(workflowsDir)) {
    if (entry.isFile && /\.ya?ml$/.test(entry.name)) files.push(`${workflowsDir}/${entry.name}`);
  }
  return files.sort();
}

Deno.test("actionlint finds no problem in .github/workflows", async () => {
  const actionlint = await ensureBinary("actionlint");
  const files = await workflows();
  assert.ok(files.some((f) => f.endsWith("/release.yml")), `no release.yml among ${files.join(", ")}`);
  const { code, stdout, stderr } = await new Deno.Command(actionlint, {
    // The workflows hold no Python, so pyflakes stays off.
    args: ["-no-color", "-pyflakes=", ...files],
    cwd: repo,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  assert.equal(code, 0, `actionlint exit ${code}:\n${text.decode(stdout)}${text.decode(stderr)}`);
});

/** The first `deno compile --…` command in a file, through its entry point. */
function compileCommand(text: string): string {
  const command = text.match(/deno compile --[^]*?\bmod\.ts\b/)?.[0];
  assert.ok(command, "no `deno compile --… mod.ts` command found");
  return command;
}

/** The sorted `--allow-*` flags in a piece of text. */
function allowFlags(text: string): string[] {
  return [...new Set(text.match(/--allow-[a-z-]+(=\S+)?/g) ?? [])].sort();
}

Deno.test("the launcher, `deno task compile`, the release binaries and the image share one set of permissions", async () => {
  const launcher = allowFlags(await Deno.readTextFile(`${repo}krew/kubectl-irsa`));
  assert.deepStrictEqual(launcher, [
    "--allow-env",
    "--allow-net",
    "--allow-read",
    "--allow-run",
    "--allow-sys",
    "--allow-write",
  ]);
  const tasks = (JSON.parse(await Deno.readTextFile(`${repo}deno.json`)) as { tasks: Record<string, string> }).tasks;
  const release = await Deno.readTextFile(`${workflowsDir}/release.yml`);
  const dockerfile = await Deno.readTextFile(`${repo}Dockerfile`);
  const forms: [string, string[]][] = [
    ["deno task compile", allowFlags(tasks.compile ?? "")],
    ["release.yml deno compile", allowFlags(compileCommand(release))],
    ["Dockerfile deno compile", allowFlags(compileCommand(dockerfile))],
  ];
  for (const [name, flags] of forms) assert.deepStrictEqual(flags, launcher, name);
});
