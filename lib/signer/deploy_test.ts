import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { parse } from "yaml";
import { type Distro, distros } from "../distro.ts";
import { type SignerDeployInput, signerDeployment } from "./deploy.ts";

const socketPath = "/var/run/kubectl-irsa/signer.sock";
const socketDir = "/var/run/kubectl-irsa";
const kmsKeys = ["alias/irsa-signer", "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"];
const verifyKeyFiles = ["/etc/kubernetes/pki/sa.pub", "/srv/old-keys/sa2.pub"];
const image = "ghcr.io/kkb0318/kubectl-irsa:v0.1.0";
const wantArgs = [
  `--socket=${socketPath}`,
  `--kms-key=${kmsKeys[0]}`,
  `--kms-key=${kmsKeys[1]}`,
  `--verify-key-file=${verifyKeyFiles[0]}`,
  `--verify-key-file=${verifyKeyFiles[1]}`,
];

function input(distro: Distro, extra: Partial<SignerDeployInput> = {}): SignerDeployInput {
  return { distro, kmsKeys, region: "eu-west-1", socketPath, image, verifyKeyFiles, ...extra };
}

interface Pod {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string };
  spec: {
    hostNetwork: boolean;
    containers: {
      image: string;
      args: string[];
      env: { name: string; value: string }[];
      volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
    }[];
    volumes: { name: string; hostPath: { path: string; type: string } }[];
  };
}

/** The unit's `Key=value` lines, by key (a repeated key keeps every value). */
function unitLines(content: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of content.split("\n")) {
    const i = line.indexOf("=");
    if (i <= 0) continue;
    const key = line.slice(0, i);
    out.set(key, [...(out.get(key) ?? []), line.slice(i + 1)]);
  }
  return out;
}

const verifyNote = "Add a --verify-key-file";

Deno.test("signerDeployment() gives static pods a static pod beside the apiserver", () => {
  const d = signerDeployment(input("static-pod"));
  equal(d.kind, "static-pod");
  equal(d.path, "/etc/kubernetes/manifests/kubectl-irsa-signer.yaml");
  const pod = parse(d.content) as Pod;
  equal(pod.apiVersion, "v1");
  equal(pod.kind, "Pod");
  equal(pod.metadata.name, "kubectl-irsa-signer");
  equal(pod.metadata.namespace, "kube-system");
  equal(pod.spec.hostNetwork, true);
  equal(pod.spec.containers.length, 1);
  const c = pod.spec.containers[0]!;
  equal(c.image, image);
  deepStrictEqual(c.args, ["signer", ...wantArgs]);
  deepStrictEqual(c.env, [{ name: "AWS_REGION", value: "eu-west-1" }]);
  ok(d.notes.some((n) => n.includes(socketPath)), d.notes.join("\n"));
});

Deno.test("signerDeployment() mounts the socket directory read-write and the key file directories read-only", () => {
  const pod = parse(signerDeployment(input("static-pod")).content) as Pod;
  const c = pod.spec.containers[0]!;
  const volumes = new Map(pod.spec.volumes.map((v) => [v.name, v.hostPath]));
  const mounts = c.volumeMounts.map((m) => ({
    path: m.mountPath,
    readOnly: m.readOnly ?? false,
    host: volumes.get(m.name),
  }));
  deepStrictEqual(mounts, [
    { path: socketDir, readOnly: false, host: { path: socketDir, type: "DirectoryOrCreate" } },
    { path: "/etc/kubernetes/pki", readOnly: true, host: { path: "/etc/kubernetes/pki", type: "Directory" } },
    { path: "/srv/old-keys", readOnly: true, host: { path: "/srv/old-keys", type: "Directory" } },
  ]);
  equal(pod.spec.volumes.length, c.volumeMounts.length, "every volume is mounted");
});

Deno.test("signerDeployment() without verify key files mounts only the socket directory", () => {
  const pod = parse(signerDeployment(input("static-pod", { verifyKeyFiles: [] })).content) as Pod;
  const c = pod.spec.containers[0]!;
  deepStrictEqual(c.args, ["signer", `--socket=${socketPath}`, ...kmsKeys.map((k) => `--kms-key=${k}`)]);
  deepStrictEqual(pod.spec.volumes.map((v) => v.hostPath), [{ path: socketDir, type: "DirectoryOrCreate" }]);
});

Deno.test("signerDeployment() gives every other distribution a systemd unit wanted by multi-user.target", async (t) => {
  for (const distro of distros.filter((d) => d !== "static-pod")) {
    await t.step(distro, () => {
      const d = signerDeployment(input(distro));
      equal(d.kind, "systemd");
      equal(d.path, "/etc/systemd/system/kubectl-irsa-signer.service");
      const lines = unitLines(d.content);
      equal(lines.get("Before"), undefined, "no Before= line");
      deepStrictEqual(lines.get("After"), ["network-online.target"]);
      deepStrictEqual(lines.get("Wants"), ["network-online.target"]);
      deepStrictEqual(lines.get("WantedBy"), ["multi-user.target"]);
      deepStrictEqual(lines.get("ExecStart"), [`/usr/local/bin/kubectl-irsa signer ${wantArgs.join(" ")}`]);
      deepStrictEqual(lines.get("ReadWritePaths"), [socketDir]);
      deepStrictEqual(lines.get("Environment"), ["AWS_REGION=eu-west-1"]);
      ok(d.content.includes("[Unit]\n") && d.content.includes("[Service]\n") && d.content.includes("[Install]\n"));
      ok(d.content.endsWith("\n"));
      ok(d.notes.some((n) => n.includes(socketDir)), d.notes.join("\n"));
      ok(!d.notes.some((n) => n.startsWith(verifyNote)), d.notes.join("\n"));
    });
  }
});

Deno.test("signerDeployment() systemd unit without verify key files first tells to add one", () => {
  const d = signerDeployment(input("raw", { verifyKeyFiles: [] }));
  equal(d.kind, "systemd");
  ok(d.notes[0]?.startsWith(verifyNote), d.notes.join("\n"));
  equal(d.notes.filter((n) => n.startsWith(verifyNote)).length, 1);
  deepStrictEqual(unitLines(d.content).get("ExecStart"), [
    `/usr/local/bin/kubectl-irsa signer --socket=${socketPath} ${kmsKeys.map((k) => `--kms-key=${k}`).join(" ")}`,
  ]);
});
