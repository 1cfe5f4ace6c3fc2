import assert from "node:assert/strict";
import { excluded, hostPlatform, launchers, packageLocal } from "./package.ts";

Deno.test("packageLocal() puts the launcher and kubectl's completion helper, executable, at the top of the archive", async () => {
  const out = await Deno.makeTempDir({ prefix: "kubectl-irsa-package-test-" });
  try {
    const archive = await packageLocal(out);
    const { success, stdout } = await new Deno.Command("tar", { args: ["-tvzf", archive], stdout: "piped" }).output();
    assert.ok(success);
    const entries = new TextDecoder().decode(stdout).split("\n").filter((l) => l !== "");
    for (const launcher of launchers) {
      const line = entries.find((l) => l.endsWith(` ${launcher}`));
      assert.ok(line, `${launcher} is not at the top of the archive`);
      assert.match(line, /^-rwxr-xr-x /, `${launcher} is not executable`);
    }
    assert.ok(entries.some((l) => l.endsWith(" mod.ts")), "the source the launcher runs is missing");
    assert.ok(!entries.some((l) => l.endsWith("_test.ts")), "tests are packaged");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("excluded() leaves tests, fixtures and node_modules out", async (t) => {
  const cases: [string, boolean][] = [
    ["cli/completion.ts", false],
    ["cli/completion_test.ts", true],
    ["cli/testdata/help_top_level.txt", true],
    ["tools/deno/node_modules/x", true],
  ];
  for (const [path, want] of cases) await t.step(path, () => assert.equal(excluded(path), want));
});

Deno.test("hostPlatform() maps Deno's build to krew's platform, none where the sh launcher cannot run", () => {
  assert.deepStrictEqual(hostPlatform({ os: "linux", arch: "x86_64" }), { os: "linux", arch: "amd64" });
  assert.deepStrictEqual(hostPlatform({ os: "darwin", arch: "aarch64" }), { os: "darwin", arch: "arm64" });
  assert.equal(hostPlatform({ os: "windows", arch: "x86_64" }), undefined);
});

Deno.test("the launcher and the Dockerfile run with deno task compile's V8 flags", async () => {
  const root = new URL("../", import.meta.url).pathname;
  const compile = JSON.parse(await Deno.readTextFile(`${root}deno.json`)).tasks.compile as string;
  const flags = compile.match(/--v8-flags=\S+/)?.[0];
  assert.ok(flags?.includes("--lite-mode"), flags);
  for (const file of ["krew/kubectl-irsa", "Dockerfile"]) {
    assert.ok((await Deno.readTextFile(`${root}${file}`)).includes(`${flags} `), `${file} carries ${flags}`);
  }
});
