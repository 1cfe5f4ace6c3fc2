// The kube-apiserver change that `kubectl irsa init` prints, followed literally for every distribution and both
// key sources: the printed steps edit a configuration file in the distribution's own format, the distribution's
// own rules (tests/support/apiserver_instructions.ts) turn the edited file into kube-apiserver flags, and the real
// kube-apiserver runs with them. It must start, a token minted before the change must still authenticate, and a
// token minted after it must carry the new issuer and verify against the published JWKS the way STS does.
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { unchangedValue } from "../../lib/apiserver_change.ts";
import { generateRsaKeyPair, jwkFromPublicPem, type KeyPairPem } from "../../lib/keys.ts";
import type { KubeClient } from "../../lib/kube/client.ts";
import { keySecret } from "../../lib/names.ts";
import { verifyLikeSts } from "../../lib/web_identity.ts";
import {
  apiserverArgs,
  applyPrintedChange,
  argName,
  type ConfigFormat,
  initialConfig,
  type KindNodeMount,
  type PrintedChange,
  readPrintedChange,
} from "../support/apiserver_instructions.ts";
import { anonymousFetcher } from "../support/aws.ts";
import { runPlugin } from "../support/cli.ts";
import { createNamespace, createServiceAccount, requestToken } from "../support/kube.ts";
import { findKubectl } from "../support/kubectl.ts";
import { type Sandbox, withSandbox } from "../support/sandbox.ts";
import {
  type ApiserverAccess,
  apiserverAccess,
  type Etcd,
  startApiserver,
  startEtcd,
} from "../support/standalone_apiserver.ts";
import type { ServerProcess } from "../support/server_process.ts";

const formats: ConfigFormat[] = ["raw", "static-pod", "kubeadm", "k3s", "rke2", "kind"];

interface World {
  sandbox: Sandbox;
  etcd: Etcd;
  kubectl: string;
  fetcher: (url: string) => Promise<Response>;
}

async function tokenReview(kube: KubeClient, token: string): Promise<boolean> {
  const out = await kube.create<{ status: { authenticated?: boolean } }>(
    { group: "authentication.k8s.io", resource: "tokenreviews" },
    { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token } },
  );
  return out.status.authenticated === true;
}

/** A token with the apiserver's default audiences, as pods' API tokens have. */
async function apiToken(kube: KubeClient): Promise<string> {
  return (await kube.create<{ status: { token: string } }>(
    { resource: "serviceaccounts", namespace: "app", name: "app", subresource: "token" },
    { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 3600 } },
  )).status.token;
}

function dirOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}

async function writeAt(root: string, path: string, text: string, mode = 0o600): Promise<void> {
  await Deno.mkdir(dirOf(`${root}${path}`), { recursive: true });
  await Deno.writeTextFile(`${root}${path}`, text, { mode });
}

// Paths on a control-plane node live under its root folder here; the arguments name them as the node does.
function onNode(args: string[], node: string): string[] {
  return args.map((a) => a.replace(/^(--[^=]+=)(\/etc\/|\/var\/lib\/rancher\/)/, `$1${node}$2`));
}

/** The node's files: serving certificates, and the service-account key pair where the distribution keeps it. */
async function prepareNode(
  node: string,
  format: ConfigFormat,
  access: ApiserverAccess,
  sa: KeyPairPem | undefined,
): Promise<void> {
  await writeAt(node, "/etc/kubernetes/pki/ca.crt", access.serving.caPem, 0o644);
  await writeAt(node, "/etc/kubernetes/pki/apiserver.crt", access.serving.certPem, 0o644);
  await writeAt(node, "/etc/kubernetes/pki/apiserver.key", access.serving.keyPem);
  if (!sa) return;
  if (format === "k3s" || format === "rke2") {
    // k3s keeps one private key file for verifying and a copy of the current one for signing.
    await writeAt(node, `/var/lib/rancher/${format}/server/tls/service.key`, sa.privatePem);
    await writeAt(node, `/var/lib/rancher/${format}/server/tls/service.current.key`, sa.privatePem);
  } else {
    await writeAt(node, "/etc/kubernetes/pki/sa.key", sa.privatePem);
    await writeAt(node, "/etc/kubernetes/pki/sa.pub", sa.publicPem, 0o644);
  }
}

/** Runs a command the notes print, with its file paths under `root`, as the admin's shell would. */
async function runNoted(world: World, command: string, env: Record<string, string>): Promise<void> {
  const out = await new Deno.Command("sh", {
    args: ["-c", command],
    env: { ...env, PATH: `${dirOf(world.kubectl)}:${Deno.env.get("PATH") ?? ""}` },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stderr);
  equal(out.code, 0, `${command}\n${text}`);
}

/** The quoted shell commands of the note that starts with `prefix`. */
function notedCommands(change: PrintedChange, prefix: string): string[] {
  const note = change.notes.find((n) => n.startsWith(prefix));
  ok(note, `no note starting "${prefix}" in:\n${change.notes.join("\n")}`);
  return [...note.matchAll(/'([^']*(?:kubectl|umask)[^']*)'/g)].map((m) => m[1]!);
}

/** The `--service-account-*` values of one flag. */
function valuesOf(args: string[], name: string): string[] {
  return args.filter((a) => argName(a) === name).map((a) => a.slice(name.length + 3));
}

async function followCase(world: World, format: ConfigFormat, source: "cluster" | "generate"): Promise<void> {
  const { sandbox } = world;
  const name = `${format}-${source}`;
  const dir = `${sandbox.dir}/${name}`;
  await Deno.mkdir(dir, { recursive: true });
  const access = await apiserverAccess(sandbox.ca, dir);
  const bucket = `irsa-${name}`;
  const issuer = `${sandbox.moto!.endpoint}/${bucket}`;
  const env = { ...sandbox.env, KUBECONFIG: access.kubeconfigPath };
  // What the distribution derives from its other settings; each kind cluster gets its own etcd state.
  const base = (cluster: number) => [
    `--etcd-servers=${world.etcd.url}`,
    `--etcd-prefix=/registry-${name}-${cluster}`,
    `--secure-port=${access.port}`,
    "--bind-address=127.0.0.1",
    "--advertise-address=127.0.0.1",
    "--tls-cert-file=/etc/kubernetes/pki/apiserver.crt",
    "--tls-private-key-file=/etc/kubernetes/pki/apiserver.key",
    "--client-ca-file=/etc/kubernetes/pki/ca.crt",
    "--service-cluster-ip-range=10.0.0.0/24",
    "--authorization-mode=RBAC",
    "--disable-admission-plugins=ServiceAccount",
    `--cert-dir=${dir}/apiserver-certs`,
  ];
  let node = `${dir}/node-0`;
  // kind runs on a machine of its own; every other distribution's key files are written on the node itself.
  const host = format === "kind" ? `${dir}/host` : node;
  let signing = await generateRsaKeyPair();
  await prepareNode(node, format, access, signing);
  let runs = 0;
  const start = async (args: string[]): Promise<ServerProcess> => {
    const started = await startApiserver(onNode(args, node), access, { logPath: `${dir}/apiserver-${runs++}.log` });
    if (!started.ready) throw new Error(`kube-apiserver did not start with\n${args.join("\n")}\n${started.log}`);
    return started.process;
  };

  const before = initialConfig(format, base(0));
  await Deno.writeTextFile(`${dir}/config-before`, before);
  const argsBefore = apiserverArgs(format, before, base(0)).args;
  let proc = await start(argsBefore);
  try {
    const kube = await access.client();
    await createNamespace(kube, "app");
    await createServiceAccount(kube, "app", "app");
    const oldToken = await apiToken(kube);
    ok(await tokenReview(kube, oldToken), "the token minted before the change authenticates before it");

    const initArgs = [
      "init",
      "--bucket",
      bucket,
      "--issuer-url",
      issuer,
      "--distro",
      format,
      ...(source === "generate" ? ["--key-source", "generate"] : []),
    ];
    const run = await runPlugin(initArgs, { env });
    equal(run.code, 0, run.stderr);
    await Deno.writeTextFile(`${dir}/init.out`, run.stdout);
    const change = readPrintedChange(run.stdout);
    equal(change.distro, format);
    equal(change.result[0], `--service-account-issuer=${issuer}`);

    if (source === "generate") {
      // The key pair exists only in the Secret; the note's commands write it where the steps point.
      for (const command of notedCommands(change, "The key pair is in Secret")) {
        const onHost = command.replace(/> \//g, `> ${host}/`);
        const target = onHost.match(/> ([^\s)]+)/)![1]!;
        await Deno.mkdir(dirOf(target), { recursive: true });
        await runNoted(world, onHost, env);
        const info = await Deno.stat(target);
        ok(info.size > 0, `${target} is empty`);
        if (target.endsWith(".key")) equal((info.mode ?? 0) & 0o777, 0o600, `${target} mode`);
      }
    }

    const after = applyPrintedChange(format, before, change);
    await Deno.writeTextFile(`${dir}/config-after`, after);
    let cluster = 0;
    let mounts: KindNodeMount[] = [];
    if (format === "kind") {
      // 'kind create cluster': a new node whose kubeadm adopts a mounted sa.key/sa.pub or generates a pair.
      cluster = 1;
      node = `${dir}/node-1`;
      mounts = apiserverArgs(format, after, base(cluster)).mounts;
      await prepareNode(node, format, access, undefined);
      for (const m of mounts) await writeAt(node, m.containerPath, await Deno.readTextFile(`${host}${m.hostPath}`));
      if (mounts.length === 0) {
        signing = await generateRsaKeyPair();
        await prepareNode(node, format, access, signing);
      }
    }
    const argsAfter = apiserverArgs(format, after, base(cluster)).args;

    if (format === "raw" && source === "cluster") {
      // The old raw instruction, "pass these flags in place of its current --service-account-* flags", taken
      // literally: the key flags go, and kube-apiserver refuses to start. This harness would have caught it.
      const literal = [
        ...argsBefore.filter((a) => !argName(a)?.startsWith("service-account-")),
        ...change.result.filter((f) => !f.endsWith(unchangedValue)),
      ];
      await proc.stop();
      const refused = await startApiserver(onNode(literal, node), access, { logPath: `${dir}/apiserver-old.log` });
      ok(!refused.ready, "kube-apiserver started without its key flags");
      ok(/service-account-(signing-)?key-file/.test(refused.log), refused.log.slice(-2000));
    } else {
      await proc.stop();
    }
    proc = await start(argsAfter);

    // The printed "afterwards" list is exactly what runs, <unchanged> standing for the values from before.
    const names = new Set(
      [...change.result, ...argsAfter, ...argsBefore].map(argName).filter((n) => n?.startsWith("service-account-")),
    );
    for (const flag of names) {
      const printed = valuesOf(change.result, flag!);
      const want = printed.flatMap((v) => (v === unchangedValue ? valuesOf(argsBefore, flag!) : [v]));
      deepStrictEqual(valuesOf(argsAfter, flag!), want, `--${flag}`);
    }
    ok(!valuesOf(argsAfter, "api-audiences").some((a) => a.split(",").includes("sts.amazonaws.com")));

    let expectedKid = (await jwkFromPublicPem(signing.publicPem)).kid;
    if (format !== "kind") {
      ok(await tokenReview(kube, oldToken), "a token minted before the change must still authenticate");
    } else {
      // A new cluster: nothing of the old one, its tokens included, carries over. Its notes say to run init again.
      ok(!(await tokenReview(kube, oldToken)), "the recreated kind cluster accepted a token of the old one");
      await createNamespace(kube, "app");
      await createServiceAccount(kube, "app", "app");
      if (source === "generate") {
        const [command] = notedCommands(change, "The key pair is mounted");
        const mount = (path: string) => `${host}${mounts.find((m) => m.containerPath === path)!.hostPath}`;
        await runNoted(
          world,
          command!.replace("<private key>", mount("/etc/kubernetes/pki/sa.key")).replace(
            "<public key>",
            mount("/etc/kubernetes/pki/sa.pub"),
          ),
          env,
        );
      }
      const again = await runPlugin(initArgs, { env });
      equal(again.code, 0, again.stderr);
    }
    if (source === "generate") {
      const secret = await kube.get<{ data: Record<string, string> }>({
        resource: "secrets",
        namespace: keySecret.namespace,
        name: keySecret.name,
      });
      expectedKid = (await jwkFromPublicPem(atob(secret!.data[keySecret.publicKey]!))).kid;
    }
    const token = await requestToken(kube, { namespace: "app", serviceAccount: "app" });
    const chain = await verifyLikeSts(token, { fetcher: world.fetcher });
    equal(chain.issuer, issuer);
    equal(chain.claims.sub, "system:serviceaccount:app:app");
    equal(chain.kid, expectedKid, source === "generate" ? "not signed with the generated key" : "signing key changed");
  } finally {
    await proc.stop();
    access.close();
  }
}

Deno.test({
  name: "apiserver instructions e2e",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: (t) =>
    withSandbox(async (sandbox) => {
      const etcd = await startEtcd(`${sandbox.dir}/standalone-etcd`);
      const anon = anonymousFetcher(sandbox);
      const world: World = { sandbox, etcd, kubectl: await findKubectl(), fetcher: anon.fetcher };
      try {
        for (const format of formats) {
          for (const source of ["cluster", "generate"] as const) {
            await t.step(
              `${format}, --key-source ${source}: the printed steps, applied literally, start kube-apiserver and ${
                format === "kind" ? "sign new tokens in the new cluster" : "keep old tokens and sign new ones"
              }`,
              () => followCase(world, format, source),
            );
          }
        }
      } finally {
        anon.close();
        await etcd.stop();
      }
    }),
});
