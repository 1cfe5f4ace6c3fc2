// Builds the krew archive for this machine from source: the launcher as `kubectl-irsa` at the top (where a release
// archive has the compiled binary), kubectl's completion helper `kubectl_complete-irsa` beside it (as in a release
// archive), LICENSE, and the source tree the launcher runs. A release archive holds the
// `deno compile` binary instead; this one exists for machines that cannot download Deno's compile runtime, and
// runs with `deno` from KUBECTL_IRSA_DENO or PATH (or tools/deno after `npm ci --prefix tools/deno` inside it).
//
//   deno task package-local [--out-dir dist]   # prints the archive path
import { parseArgs } from "node:util";
import { archiveName, type KrewPlatform } from "./render_manifest.ts";

const repo = new URL("../", import.meta.url).pathname;

/** Files and folders of the repository that the launcher needs, as archive paths. */
export const sourceEntries = [
  "LICENSE",
  "mod.ts",
  "deno.json",
  "deno.lock",
  "cli",
  "lib",
  "daemon",
  "signer",
  "tools/deno/package.json",
  "tools/deno/package-lock.json",
] as const;

/** The executables at the top of the archive, from krew/: the plugin's launcher and kubectl's completion helper. */
export const launchers = ["kubectl-irsa", "kubectl_complete-irsa"] as const;

/** Whether a repository path is left out of the archive: tests and their fixtures do not run from it. */
export function excluded(path: string): boolean {
  const parts = path.split("/");
  return path.endsWith("_test.ts") || parts.includes("testdata") || parts.includes("node_modules");
}

/** The krew platform of the machine running this, or undefined where the sh launcher cannot run. */
export function hostPlatform(build: { os: string; arch: string } = Deno.build): KrewPlatform | undefined {
  const arch = build.arch === "x86_64" ? "amd64" : build.arch === "aarch64" ? "arm64" : undefined;
  if ((build.os !== "linux" && build.os !== "darwin") || arch === undefined) return undefined;
  return { os: build.os, arch };
}

async function copyTree(from: string, to: string, rel: string): Promise<void> {
  const info = await Deno.stat(`${from}/${rel}`);
  if (info.isDirectory) {
    await Deno.mkdir(`${to}/${rel}`, { recursive: true });
    for await (const entry of Deno.readDir(`${from}/${rel}`)) {
      const child = `${rel}/${entry.name}`;
      if (!excluded(child) && (entry.isFile || entry.isDirectory)) await copyTree(from, to, child);
    }
    return;
  }
  await Deno.mkdir(`${to}/${rel.split("/").slice(0, -1).join("/") || "."}`, { recursive: true });
  await Deno.copyFile(`${from}/${rel}`, `${to}/${rel}`);
}

/** Builds the archive in outDir and returns its path. */
export async function packageLocal(outDir: string): Promise<string> {
  const platform = hostPlatform();
  if (!platform) {
    throw new Error(`no local archive for ${Deno.build.os}/${Deno.build.arch}: the launcher is a POSIX sh script`);
  }
  const config = JSON.parse(await Deno.readTextFile(`${repo}deno.json`)) as { version: string };
  const version = `v${config.version}`;
  await Deno.mkdir(outDir, { recursive: true });
  const out = `${await Deno.realPath(outDir)}/${archiveName(version, platform)}`;
  const staging = await Deno.makeTempDir({ prefix: "kubectl-irsa-package-" });
  try {
    for (const entry of sourceEntries) await copyTree(repo, staging, entry);
    for (const launcher of launchers) {
      await Deno.copyFile(`${repo}krew/${launcher}`, `${staging}/${launcher}`);
      await Deno.chmod(`${staging}/${launcher}`, 0o755);
    }
    const roots = [...launchers, ...new Set(sourceEntries.map((e) => e.split("/")[0]!))];
    const { success, stderr } = await new Deno.Command("tar", {
      args: ["-czf", out, "-C", staging, ...roots],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!success) throw new Error(`tar failed: ${new TextDecoder().decode(stderr)}`);
  } finally {
    await Deno.remove(staging, { recursive: true });
  }
  return out;
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { "out-dir": { type: "string", default: "dist" } } });
  try {
    console.log(await packageLocal(values["out-dir"]));
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
