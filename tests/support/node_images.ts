// The images the real node runs, assembled without Docker: pause (the pod sandbox), the kubectl-irsa daemon
// (the same program and permissions as the Dockerfile's image, run from source because `deno compile` cannot
// download its runtime here) and s3-echoer (the seed's validation program, built from its source).
import { serverVersions } from "./go_build.ts";
import { type ImageArchive, writeImageArchive } from "./oci_image.ts";
import { cacheDir, runChecked } from "./proc.ts";

const repoRoot = new URL("../../", import.meta.url).pathname;
/** `shared/` sits beside the checkout, on developer machines and in CI. */
const peersDir = new URL("../../../shared/peers/", import.meta.url).pathname;

/** Image names the node knows; pods use them with imagePullPolicy IfNotPresent or Never. */
export const nodeImages = {
  pause: "registry.k8s.io/pause:3.10.2",
  daemon: "ghcr.io/kubectl-irsa/kubectl-irsa:e2e",
  s3Echoer: "localhost/s3-echoer:bfe420d",
} as const;

/** The distroless "nonroot" user the Dockerfile's image runs as. */
export const imageUid = 65532;

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

async function cachedBuild(name: string, build: (out: string) => Promise<void>): Promise<string> {
  const bin = `${cacheDir()}/bin/${name}`;
  if (await exists(bin)) return bin;
  await Deno.mkdir(`${cacheDir()}/bin`, { recursive: true });
  const started = performance.now();
  await build(`${bin}.tmp`);
  await Deno.rename(`${bin}.tmp`, bin);
  console.error(`harness: built ${name} in ${Math.round((performance.now() - started) / 1000)}s`);
  return bin;
}

/** Kubernetes' pause, compiled statically from the k8s.io/kubernetes module's build/pause/linux/pause.c. */
async function pauseBinary(): Promise<string> {
  const tag = nodeImages.pause.split(":")[1]!;
  return await cachedBuild(`pause-${tag}`, async (out) => {
    const info = JSON.parse(
      await runChecked(["go", "mod", "download", "-json", `k8s.io/kubernetes@${serverVersions.kubernetes}`], {
        cwd: `${repoRoot}tests/go/kube-apiserver`,
      }),
    ) as { Dir: string };
    await runChecked([
      "gcc",
      "-static",
      "-Os",
      `-DVERSION=v${tag}`,
      "-o",
      out,
      `${info.Dir}/build/pause/linux/pause.c`,
    ]);
  });
}

/** s3-echoer from ../shared/peers/s3-echoer, a static binary (its go.mod pins aws-sdk-go v1.55.8). */
export async function s3EchoerBinary(): Promise<string> {
  const rev = nodeImages.s3Echoer.split(":")[1]!;
  return await cachedBuild(`s3-echoer-${rev}`, async (out) => {
    await runChecked(["go", "build", "-trimpath", "-mod=readonly", "-ldflags=-s -w", "-o", out, "."], {
      cwd: `${peersDir}s3-echoer`,
      env: { ...Deno.env.toObject(), CGO_ENABLED: "0" },
      progress: "build s3-echoer",
    });
  });
}

async function copyInto(rootfs: string, hostPath: string, imagePath = hostPath, mode = 0o755): Promise<void> {
  const target = `${rootfs}${imagePath}`;
  await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true });
  await Deno.copyFile(hostPath, target);
  await Deno.chmod(target, mode);
}

/** The shared libraries `ldd` lists for a binary (Debian 12 here, like distroless cc-debian12). */
async function sharedLibraries(binary: string): Promise<string[]> {
  const out = await runChecked(["ldd", binary]);
  return [...out.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)].map((m) => m[1]!);
}

function passwd(): { passwd: string; group: string } {
  return {
    passwd:
      `root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:${imageUid}:${imageUid}:nonroot:/home/nonroot:/sbin/nologin\n`,
    group: `root:x:0:\nnonroot:x:${imageUid}:\n`,
  };
}

async function baseRootfs(rootfs: string): Promise<void> {
  for (const d of ["etc", "tmp", "proc", "sys", "dev", "home/nonroot"]) {
    await Deno.mkdir(`${rootfs}/${d}`, { recursive: true });
  }
  await Deno.chmod(`${rootfs}/tmp`, 0o1777);
  const files = passwd();
  await Deno.writeTextFile(`${rootfs}/etc/passwd`, files.passwd, { mode: 0o644 });
  await Deno.writeTextFile(`${rootfs}/etc/group`, files.group, { mode: 0o644 });
}

/**
 * The permissions and V8 flags of `deno task compile` (the release binary and the Dockerfile's image), read
 * from deno.json so the image cannot drift from them.
 */
export async function compileRuntimeFlags(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${repoRoot}deno.json`)) as { tasks: { compile: string } };
  return config.tasks.compile.split(/\s+/).filter((t) => t.startsWith("--allow-") || t.startsWith("--v8-flags="));
}

/** A DENO_DIR holding every dependency of mod.ts, cached per deno.lock content. */
async function daemonDenoDir(): Promise<string> {
  const lock = await Deno.readTextFile(`${repoRoot}deno.lock`);
  const hash = [...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(lock)))]
    .slice(0, 8).map((b) => b.toString(16).padStart(2, "0")).join("");
  const dir = `${cacheDir()}/image-deno-dir/${hash}`;
  if (await exists(`${dir}/.complete`)) return dir;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  await runChecked([Deno.execPath(), "cache", "--frozen", "--config", `${repoRoot}deno.json`, `${repoRoot}mod.ts`], {
    env: { ...Deno.env.toObject(), DENO_DIR: dir },
    progress: "deno cache for the daemon image",
  });
  await Deno.writeTextFile(`${dir}/.complete`, "");
  return dir;
}

async function sha256Hex(chunks: (string | Uint8Array)[]): Promise<string> {
  const parts = chunks.map((c) => typeof c === "string" ? new TextEncoder().encode(c) : c);
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length + 1, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length + 1;
  }
  const hash = await crypto.subtle.digest("SHA-256", all);
  return [...new Uint8Array(hash)].map((b) => b.toString(16).padStart(2, "0")).join("").slice(0, 16);
}

/**
 * An image archive cached under `key` (a hash of everything that goes into it): built once, then imported from
 * the cache by every later node start. Older archives of the same image are removed.
 */
async function cachedImage(
  name: string,
  key: string,
  build: (rootfs: string, outPath: string) => Promise<ImageArchive>,
): Promise<ImageArchive> {
  const dir = `${cacheDir()}/images`;
  const base = `${dir}/${name}-${key}`;
  const cached = await Deno.readTextFile(`${base}.json`).then((t) => JSON.parse(t) as ImageArchive, () => undefined);
  if (cached && await exists(cached.path)) return cached;
  await Deno.mkdir(dir, { recursive: true });
  for await (const e of Deno.readDir(dir)) {
    if (e.name.startsWith(`${name}-`)) await Deno.remove(`${dir}/${e.name}`, { recursive: true }).catch(() => {});
  }
  const rootfs = `${base}.rootfs`;
  try {
    const archive = await build(rootfs, `${base}.tar`);
    await Deno.writeTextFile(`${base}.json`, JSON.stringify(archive));
    return archive;
  } finally {
    await Deno.remove(rootfs, { recursive: true }).catch(() => {});
  }
}

/** Source files of the program as the image holds them: every non-test module the entry point can load. */
async function programFiles(): Promise<string[]> {
  const files = ["deno.json", "deno.lock", "mod.ts"];
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(`${repoRoot}${d}`)) {
      if (e.isDirectory) await walk(`${d}/${e.name}`);
      else if (e.isFile && e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) files.push(`${d}/${e.name}`);
    }
  };
  for (const d of ["cli", "daemon", "lib", "signer"]) await walk(d);
  return files.sort();
}

/** The three image archives the node imports: pause, s3-echoer and the daemon. */
export async function nodeImageArchives(): Promise<ImageArchive[]> {
  const [pause, echoer, denoDir] = [await pauseBinary(), await s3EchoerBinary(), await daemonDenoDir()];
  const archives: ImageArchive[] = [];

  archives.push(
    await cachedImage("pause", nodeImages.pause.split(":")[1]!, async (rootfs, outPath) => {
      await copyInto(rootfs, pause, "/pause");
      return await writeImageArchive(nodeImages.pause, {
        rootfs,
        outPath,
        config: { entrypoint: ["/pause"], user: "65535:65535" },
      });
    }),
  );

  // s3-echoer with busybox's sh, because the seed's Job runs it through `sh -c "echo … | /s3-echoer BUCKET"`.
  const echoerKey = await sha256Hex([await Deno.readFile(echoer), await Deno.readFile("/bin/busybox")]);
  archives.push(
    await cachedImage("s3-echoer", echoerKey, async (rootfs, outPath) => {
      await baseRootfs(rootfs);
      await copyInto(rootfs, echoer, "/s3-echoer");
      await copyInto(rootfs, "/bin/busybox", "/bin/busybox");
      for (const applet of ["sh", "cat", "echo", "env", "ls", "nc", "sleep", "wget"]) {
        await Deno.symlink("busybox", `${rootfs}/bin/${applet}`);
      }
      return await writeImageArchive(nodeImages.s3Echoer, {
        rootfs,
        outPath,
        config: { entrypoint: ["/s3-echoer"], env: ["PATH=/bin"] },
      });
    }),
  );

  const files = await programFiles();
  const entrypoint = [
    "/deno",
    "run",
    "--cached-only",
    "--frozen",
    "--quiet",
    "--config=/app/deno.json",
    ...await compileRuntimeFlags(),
    "/app/mod.ts",
  ];
  const daemonKey = await sha256Hex([
    Deno.version.deno,
    denoDir,
    ...entrypoint,
    ...(await Promise.all(files.map(async (f) => [f, await Deno.readFile(`${repoRoot}${f}`)]))).flat(),
  ]);
  archives.push(
    await cachedImage("kubectl-irsa", daemonKey, async (rootfs, outPath) => {
      // The daemon: Deno and the libraries it links (what distroless cc-debian12 holds), the program's source and a
      // read-only DENO_DIR with every dependency. Deno falls back to in-memory caches when DENO_DIR is not writable.
      await baseRootfs(rootfs);
      await copyInto(rootfs, Deno.execPath(), "/deno");
      for (const lib of await sharedLibraries(Deno.execPath())) await copyInto(rootfs, await Deno.realPath(lib), lib);
      for (const f of files) await copyInto(rootfs, `${repoRoot}${f}`, `/app/${f}`, 0o644);
      await runChecked(["cp", "-a", `${denoDir}/.`, `${rootfs}/deno-dir`]);
      for await (const e of Deno.readDir(`${rootfs}/deno-dir`)) {
        if (e.name.endsWith("-wal") || e.name.endsWith("-shm") || e.name === ".complete") {
          await Deno.remove(`${rootfs}/deno-dir/${e.name}`);
        }
      }
      await runChecked(["chmod", "-R", "a+rX,go-w", `${rootfs}/deno-dir`, `${rootfs}/app`]);
      return await writeImageArchive(nodeImages.daemon, {
        rootfs,
        outPath,
        config: {
          entrypoint,
          cmd: ["daemon"],
          env: ["PATH=/", "DENO_DIR=/deno-dir", "DENO_NO_UPDATE_CHECK=1"],
          user: `${imageUid}:${imageUid}`,
        },
      });
    }),
  );
  return archives;
}
