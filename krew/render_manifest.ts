// Renders the krew plugin manifest (krew/manifest.template.yaml) for one release: version, archive URIs and the
// sha256 of each archive. The fill step is pure so the release workflow and the tests render the same document.
//
//   deno run -A krew/render_manifest.ts --version v0.1.0 \
//     --base-url https://github.com/<org>/kubectl-irsa/releases/download/v0.1.0 --archives-dir dist/ [--out irsa.yaml]
import { parseArgs } from "node:util";
import { isMap, isSeq, parseDocument } from "yaml";

/** A krew platform: the selector labels krew matches against the machine. */
export interface KrewPlatform {
  os: "linux" | "darwin" | "windows";
  arch: "amd64" | "arm64";
}

/** The platforms a release ships, with the `deno compile --target` that builds each. */
export const releasePlatforms: readonly (KrewPlatform & { denoTarget: string })[] = [
  { os: "linux", arch: "amd64", denoTarget: "x86_64-unknown-linux-gnu" },
  { os: "linux", arch: "arm64", denoTarget: "aarch64-unknown-linux-gnu" },
  { os: "darwin", arch: "amd64", denoTarget: "x86_64-apple-darwin" },
  { os: "darwin", arch: "arm64", denoTarget: "aarch64-apple-darwin" },
  { os: "windows", arch: "amd64", denoTarget: "x86_64-pc-windows-msvc" },
];

/** The release archive name for a platform, as the template's URIs spell it. */
export function archiveName(version: string, platform: KrewPlatform): string {
  const ext = platform.os === "windows" ? "zip" : "tar.gz";
  return `kubectl-irsa_${version}_${platform.os}_${platform.arch}.${ext}`;
}

/** A problem in the inputs (exit 2), as opposed to a failure reading files (exit 1). */
export class RenderError extends Error {
  override name = "RenderError";
}

export interface FillOptions {
  /** Release version with the leading "v", like the git tag: `v0.1.0`. */
  version: string;
  /** URL the archives are downloaded from; the archive name is appended. */
  baseUrl: string;
  /** Project page shown by `kubectl krew info`. */
  homepage: string;
  /** sha256 (lowercase hex) of each archive, keyed by archive file name. */
  digests: Readonly<Record<string, string>>;
  /** Keep only these platforms, like `linux/amd64` (default: every platform in the template). */
  platforms?: readonly string[];
}

const semverTag = /^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;
const sha256Hex = /^[0-9a-f]{64}$/;

/**
 * Fills the manifest template. Every platform's sha256 comes from `digests`, looked up by the archive name at the
 * end of its uri, so a platform whose archive was not built fails the render instead of shipping a wrong hash.
 */
export function fillManifest(template: string, options: FillOptions): string {
  if (!semverTag.test(options.version)) {
    throw new RenderError(`version "${options.version}" is not a semver tag like v0.1.0`);
  }
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  if (!/^https?:\/\/[^/]/.test(baseUrl)) {
    // krew downloads archives over HTTP(S) only; a local file goes through `krew install --archive`.
    throw new RenderError(`base URL "${options.baseUrl}" must be an http:// or https:// URL`);
  }
  if (!/^https?:\/\/[^/]/.test(options.homepage)) {
    throw new RenderError(`homepage "${options.homepage}" must be an http:// or https:// URL`);
  }
  const text = template
    .replaceAll("{{version}}", options.version)
    .replaceAll("{{baseUrl}}", baseUrl)
    .replaceAll("{{homepage}}", options.homepage);
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new RenderError(`template is not valid YAML: ${doc.errors[0]!.message}`);
  const platforms = doc.getIn(["spec", "platforms"]);
  if (!isSeq(platforms)) throw new RenderError("template has no spec.platforms list");

  const wanted = options.platforms ? new Set(options.platforms) : undefined;
  const seen = new Set<string>();
  const keep = [];
  for (const item of platforms.items) {
    if (!isMap(item)) throw new RenderError("template spec.platforms holds a non-object entry");
    const key = `${item.getIn(["selector", "matchLabels", "os"])}/${item.getIn(["selector", "matchLabels", "arch"])}`;
    seen.add(key);
    if (wanted && !wanted.has(key)) continue;
    const uri = item.get("uri");
    if (typeof uri !== "string") throw new RenderError(`template platform ${key} has no uri`);
    const name = uri.slice(uri.lastIndexOf("/") + 1);
    const digest = options.digests[name];
    if (digest === undefined) {
      throw new RenderError(`archive ${name} for ${key} is missing; build it, or render only the built platforms`);
    }
    if (!sha256Hex.test(digest)) throw new RenderError(`sha256 of ${name} is not 64 lowercase hex digits`);
    item.set("sha256", digest);
    keep.push(item);
  }
  const unknown = [...(wanted ?? [])].filter((p) => !seen.has(p));
  if (unknown.length > 0) {
    throw new RenderError(`unknown platform ${unknown.join(", ")}; the template has ${[...seen].join(", ")}`);
  }
  platforms.items = keep;

  const out = doc.toString({ lineWidth: 0 });
  const left = out.match(/\{\{[^}]*\}\}/);
  if (left) throw new RenderError(`template placeholder ${left[0]} was not filled`);
  return out;
}

/** Lowercase hex sha256 of bytes, with Web Crypto. */
export async function sha256(bytes: BufferSource): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** sha256 of every regular file in a folder, keyed by file name. */
export async function digestFolder(dir: string): Promise<Record<string, string>> {
  const digests: Record<string, string> = {};
  try {
    await Deno.stat(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new RenderError(`archives folder ${dir} does not exist`);
    throw e;
  }
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile) digests[entry.name] = await sha256(await Deno.readFile(`${dir}/${entry.name}`));
  }
  return digests;
}

/** The repository page of a GitHub release download URL, if it is one. */
export function homepageOf(baseUrl: string): string | undefined {
  return baseUrl.match(/^(https:\/\/github\.com\/[^/]+\/[^/]+)\/releases\/download\//)?.[1];
}

/** Reads the template and the archives, and returns the rendered manifest. */
export async function renderManifest(
  options: Omit<FillOptions, "digests" | "homepage"> & { archivesDir: string; homepage?: string; template?: string },
): Promise<string> {
  const templatePath = options.template ?? new URL("./manifest.template.yaml", import.meta.url).pathname;
  const homepage = options.homepage ?? homepageOf(options.baseUrl);
  if (homepage === undefined) {
    throw new RenderError(`cannot derive the homepage from base URL "${options.baseUrl}"; pass --homepage`);
  }
  return fillManifest(await Deno.readTextFile(templatePath), {
    version: options.version,
    baseUrl: options.baseUrl,
    homepage,
    digests: await digestFolder(options.archivesDir),
    ...(options.platforms ? { platforms: options.platforms } : {}),
  });
}

const usage = `Usage: deno run -A krew/render_manifest.ts --version vX.Y.Z --base-url URL --archives-dir DIR [flags]

Renders the krew manifest for a release: each platform's uri is <base-url>/<archive name> and its sha256 is
computed from <archives-dir>/<archive name>.

Flags:
  --version TAG        Release tag, like v0.1.0
  --base-url URL       Where the archives are downloaded from
  --archives-dir DIR   Folder holding the archives
  --homepage URL       Project page (default: derived from a GitHub release base URL)
  --platform OS/ARCH   Render only this platform; repeatable (default: all)
  --template FILE      Manifest template (default: krew/manifest.template.yaml)
  --out FILE           Write the manifest here instead of stdout
`;

/** Runs the CLI and returns its exit code: 0 ok, 1 failure, 2 usage error. */
export async function main(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        version: { type: "string" },
        "base-url": { type: "string" },
        "archives-dir": { type: "string" },
        homepage: { type: "string" },
        platform: { type: "string", multiple: true },
        template: { type: "string" },
        out: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    console.error(`error: ${(e as Error).message}\n\n${usage}`);
    return 2;
  }
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const missing = ["version", "base-url", "archives-dir"].filter((f) => values[f as keyof typeof values] === undefined);
  if (missing.length > 0) {
    console.error(`error: missing ${missing.map((f) => `--${f}`).join(", ")}\n\n${usage}`);
    return 2;
  }
  try {
    const manifest = await renderManifest({
      version: values.version!.startsWith("v") ? values.version! : `v${values.version}`,
      baseUrl: values["base-url"]!,
      archivesDir: values["archives-dir"]!,
      ...(values.homepage ? { homepage: values.homepage } : {}),
      ...(values.platform ? { platforms: values.platform } : {}),
      ...(values.template ? { template: values.template } : {}),
    });
    if (values.out) await Deno.writeTextFile(values.out, manifest);
    else await Deno.stdout.write(new TextEncoder().encode(manifest));
    return 0;
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    return e instanceof RenderError ? 2 : 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
