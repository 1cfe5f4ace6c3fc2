// Writes single-layer OCI image archives without Docker, for `ctr images import`: the layer is a tar of a
// staging folder (sorted names, numeric owner 0, fixed mtime, so the same content gives the same digest), then
// config, manifest, index.json and oci-layout as the OCI image layout spec has them.
import { runChecked } from "./proc.ts";

/** The parts of an OCI image config the harness sets. */
export interface ImageConfig {
  entrypoint: string[];
  cmd?: string[];
  env?: string[];
  /** "uid:gid"; numeric, so the kubelet can check runAsNonRoot from the image alone. */
  user?: string;
  workingDir?: string;
}

/** An image archive on disk and the name containerd gives it. */
export interface ImageArchive {
  ref: string;
  path: string;
  /** The manifest digest, `sha256:…`. */
  digest: string;
}

/** tar with sorted names, owner 0:0 and a fixed mtime: the same content gives the same bytes, so the same digest. */
const reproducibleTar = ["tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0"];

async function sha256File(path: string): Promise<string> {
  const out = await runChecked(["sha256sum", path]);
  return out.split(" ")[0]!;
}

async function sha256Text(text: string): Promise<string> {
  const hash = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(hash)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Packs `rootfs` (a folder whose modes are the image's) as the one layer of image `ref` and writes the archive
 * to `outPath`. Owners are always 0:0; permissions for uid 65532 come from modes (for example /tmp 1777).
 */
export async function writeImageArchive(
  ref: string,
  options: { rootfs: string; outPath: string; config: ImageConfig },
): Promise<ImageArchive> {
  const work = await Deno.makeTempDir({ prefix: "oci-" });
  try {
    const blobs = `${work}/blobs/sha256`;
    await Deno.mkdir(blobs, { recursive: true });
    const layerPath = `${work}/layer.tar`;
    await runChecked([
      ...reproducibleTar,
      "--format=posix",
      "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
      "-C",
      options.rootfs,
      "-cf",
      layerPath,
      ".",
    ]);
    const layerDigest = await sha256File(layerPath);
    const layerSize = (await Deno.stat(layerPath)).size;
    await Deno.rename(layerPath, `${blobs}/${layerDigest}`);

    const c = options.config;
    const config = JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: {
        Entrypoint: c.entrypoint,
        ...(c.cmd ? { Cmd: c.cmd } : {}),
        Env: c.env ?? ["PATH=/usr/local/bin:/usr/bin:/bin"],
        ...(c.user ? { User: c.user } : {}),
        ...(c.workingDir ? { WorkingDir: c.workingDir } : {}),
      },
      rootfs: { type: "layers", diff_ids: [`sha256:${layerDigest}`] },
    });
    const configDigest = await sha256Text(config);
    await Deno.writeTextFile(`${blobs}/${configDigest}`, config);

    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {
        mediaType: "application/vnd.oci.image.config.v1+json",
        digest: `sha256:${configDigest}`,
        size: new TextEncoder().encode(config).length,
      },
      layers: [{
        mediaType: "application/vnd.oci.image.layer.v1.tar",
        digest: `sha256:${layerDigest}`,
        size: layerSize,
      }],
    });
    const manifestDigest = await sha256Text(manifest);
    await Deno.writeTextFile(`${blobs}/${manifestDigest}`, manifest);

    const tag = ref.slice(ref.lastIndexOf(":") + 1);
    await Deno.writeTextFile(
      `${work}/index.json`,
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [{
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: `sha256:${manifestDigest}`,
          size: new TextEncoder().encode(manifest).length,
          platform: { architecture: "amd64", os: "linux" },
          annotations: { "io.containerd.image.name": ref, "org.opencontainers.image.ref.name": tag },
        }],
      }),
    );
    await Deno.writeTextFile(`${work}/oci-layout`, JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    await runChecked([
      ...reproducibleTar,
      "-C",
      work,
      "-cf",
      options.outPath,
      "oci-layout",
      "index.json",
      "blobs",
    ]);
    return { ref, path: options.outPath, digest: `sha256:${manifestDigest}` };
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}
