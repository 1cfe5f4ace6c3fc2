import assert from "node:assert/strict";
import { parse } from "yaml";
import {
  archiveName,
  fillManifest,
  type FillOptions,
  homepageOf,
  main,
  releasePlatforms,
  RenderError,
  sha256,
} from "./render_manifest.ts";

const template = await Deno.readTextFile(new URL("./manifest.template.yaml", import.meta.url));
const version = "v0.1.0";
const baseUrl = "https://github.com/example/kubectl-irsa/releases/download/v0.1.0";
const allDigests = Object.fromEntries(
  releasePlatforms.map((p, i) => [archiveName(version, p), String(i).repeat(64)]),
);
const abcSha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const base: FillOptions = {
  version,
  baseUrl,
  homepage: "https://github.com/example/kubectl-irsa",
  digests: allDigests,
};

interface Platform {
  selector: { matchLabels: { os: string; arch: string } };
  uri: string;
  sha256: string;
  bin: string;
  files?: { from: string; to: string }[];
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: {
    version: string;
    homepage: string;
    shortDescription: string;
    description: string;
    caveats: string;
    platforms: Platform[];
  };
}

Deno.test("fillManifest() fills version, homepage, and each platform's uri and sha256", () => {
  const m = parse(fillManifest(template, base)) as Manifest;
  assert.equal(m.apiVersion, "krew.googlecontainertools.github.com/v1alpha2");
  assert.equal(m.kind, "Plugin");
  assert.equal(m.metadata.name, "irsa");
  assert.equal(m.spec.version, "v0.1.0");
  assert.equal(m.spec.homepage, "https://github.com/example/kubectl-irsa");
  assert.ok(!m.spec.shortDescription.includes("\n"));
  assert.match(m.spec.caveats, /kubectl irsa init --help/);
  assert.match(m.spec.caveats, /kubectl irsa bind sa /);
  assert.deepStrictEqual(
    m.spec.platforms.map((p) => [p.selector.matchLabels.os, p.selector.matchLabels.arch, p.uri, p.sha256, p.bin]),
    [
      ["linux", "amd64", `${baseUrl}/kubectl-irsa_v0.1.0_linux_amd64.tar.gz`, "0".repeat(64), "kubectl-irsa"],
      ["linux", "arm64", `${baseUrl}/kubectl-irsa_v0.1.0_linux_arm64.tar.gz`, "1".repeat(64), "kubectl-irsa"],
      ["darwin", "amd64", `${baseUrl}/kubectl-irsa_v0.1.0_darwin_amd64.tar.gz`, "2".repeat(64), "kubectl-irsa"],
      ["darwin", "arm64", `${baseUrl}/kubectl-irsa_v0.1.0_darwin_arm64.tar.gz`, "3".repeat(64), "kubectl-irsa"],
      ["windows", "amd64", `${baseUrl}/kubectl-irsa_v0.1.0_windows_amd64.zip`, "4".repeat(64), "kubectl-irsa.exe"],
    ],
  );
});

Deno.test("fillManifest() ships kubectl_complete-irsa on Linux and macOS and says how to put it on PATH", () => {
  const m = parse(fillManifest(template, base)) as Manifest;
  for (const p of m.spec.platforms) {
    const key = `${p.selector.matchLabels.os}/${p.selector.matchLabels.arch}`;
    // Listed first, so an archive without the helper fails to install; "*" keeps the rest of the archive.
    const want = p.selector.matchLabels.os === "windows" ? undefined : [
      { from: "kubectl_complete-irsa", to: "." },
      { from: "*", to: "." },
    ];
    assert.deepStrictEqual(p.files, want, key);
  }
  assert.ok(
    m.spec.caveats.includes(
      `cp "\${KREW_ROOT:-$HOME/.krew}/store/irsa/v0.1.0/kubectl_complete-irsa" "\${KREW_ROOT:-$HOME/.krew}/bin/"`,
    ),
    m.spec.caveats,
  );
});

Deno.test("fillManifest() keeps the template's comments and leaves no placeholder", () => {
  const out = fillManifest(template, base);
  assert.ok(out.startsWith("# krew plugin manifest for kubectl-irsa, rendered by krew/render_manifest.ts"));
  assert.doesNotMatch(out, /\{\{/);
});

Deno.test("fillManifest() with platforms keeps only those platforms", () => {
  const m = parse(
    fillManifest(template, {
      ...base,
      platforms: ["linux/amd64"],
      digests: { [archiveName(version, releasePlatforms[0]!)]: "a".repeat(64) },
    }),
  ) as Manifest;
  assert.deepStrictEqual(m.spec.platforms.map((p) => p.sha256), ["a".repeat(64)]);
});

Deno.test("fillManifest() trims a trailing slash from the base URL", () => {
  const m = parse(fillManifest(template, { ...base, baseUrl: `${baseUrl}/` })) as Manifest;
  assert.equal(m.spec.platforms[0]!.uri, `${baseUrl}/kubectl-irsa_v0.1.0_linux_amd64.tar.gz`);
});

Deno.test("fillManifest() rejects bad inputs with a specific message", async (t) => {
  const { "kubectl-irsa_v0.1.0_darwin_arm64.tar.gz": _, ...withoutDarwinArm } = allDigests;
  const cases: { name: string; options: FillOptions; message: RegExp }[] = [
    {
      name: "a missing archive names the archive and the platform",
      options: { ...base, digests: withoutDarwinArm },
      message: /^archive kubectl-irsa_v0\.1\.0_darwin_arm64\.tar\.gz for darwin\/arm64 is missing; /,
    },
    {
      name: "no archives at all fails on the first platform",
      options: { ...base, digests: {} },
      message: /^archive kubectl-irsa_v0\.1\.0_linux_amd64\.tar\.gz for linux\/amd64 is missing/,
    },
    {
      name: "a digest that is not sha256 hex",
      options: { ...base, digests: { ...allDigests, "kubectl-irsa_v0.1.0_linux_amd64.tar.gz": "ABC" } },
      message: /^sha256 of kubectl-irsa_v0\.1\.0_linux_amd64\.tar\.gz is not 64 lowercase hex digits$/,
    },
    {
      name: "a version without the v",
      options: { ...base, version: "0.1.0" },
      message: /^version "0\.1\.0" is not a semver tag like v0\.1\.0$/,
    },
    {
      name: "a file:// base URL, which krew cannot download",
      options: { ...base, baseUrl: "file:///tmp/dist" },
      message: /^base URL "file:\/\/\/tmp\/dist" must be an http:\/\/ or https:\/\/ URL$/,
    },
    {
      name: "an unknown platform",
      options: { ...base, platforms: ["freebsd/amd64"] },
      message: /^unknown platform freebsd\/amd64; the template has linux\/amd64, linux\/arm64, /,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      assert.throws(() => fillManifest(template, c.options), (e: unknown) => {
        assert.ok(e instanceof RenderError);
        assert.match(e.message, c.message);
        return true;
      });
    });
  }
});

Deno.test("sha256() hashes known bytes", async (t) => {
  const cases = [
    { name: "empty", bytes: new Uint8Array(), hex: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
    {
      name: "abc",
      bytes: new TextEncoder().encode("abc"),
      hex: abcSha256,
    },
  ];
  for (const c of cases) await t.step(c.name, async () => assert.equal(await sha256(c.bytes), c.hex));
});

Deno.test("homepageOf() derives the repository page from a GitHub release URL only", () => {
  assert.equal(homepageOf(baseUrl), "https://github.com/example/kubectl-irsa");
  assert.equal(homepageOf("https://downloads.example.com/v0.1.0"), undefined);
});

Deno.test("main() renders archives from a folder and exits 2 on a missing archive", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kubectl-irsa-render-test-" });
  try {
    const bytes = new TextEncoder().encode("abc");
    for (const p of releasePlatforms) await Deno.writeFile(`${dir}/${archiveName(version, p)}`, bytes);
    const out = `${dir}/irsa.yaml`;
    const args = ["--version", "0.1.0", "--base-url", baseUrl, "--archives-dir", dir, "--out", out];
    assert.equal(await main(args), 0);
    const m = parse(await Deno.readTextFile(out)) as Manifest;
    assert.equal(m.spec.version, "v0.1.0");
    assert.ok(m.spec.platforms.every((p) => p.sha256 === abcSha256));
    await Deno.remove(`${dir}/${archiveName(version, releasePlatforms[4]!)}`);
    assert.equal(await main(args), 2);
    assert.equal(await main(["--version", "v0.1.0"]), 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
