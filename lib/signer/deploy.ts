// How the KMS-backed signer runs beside kube-apiserver: a static pod where the apiserver is one, a systemd unit where
// it runs on the host. Pure: `init` prints the result, the user installs it on every control-plane node.
import { stringify } from "yaml";
import type { Distro } from "../distro.ts";

/** What the signer needs to start. */
export interface SignerDeployInput {
  distro: Distro;
  kmsKeys: string[];
  region: string;
  socketPath: string;
  /** The kubectl-irsa image for the static pod (the release image; same program as the plugin). */
  image: string;
  /** Public key files that keep verifying tokens signed before the switch. */
  verifyKeyFiles: string[];
}

/** One file to put on every control-plane node, and what to run afterwards. */
export interface SignerDeployment {
  kind: "static-pod" | "systemd";
  path: string;
  content: string;
  notes: string[];
}

function signerArgs(input: SignerDeployInput): string[] {
  return [
    `--socket=${input.socketPath}`,
    ...input.kmsKeys.map((k) => `--kms-key=${k}`),
    ...input.verifyKeyFiles.map((f) => `--verify-key-file=${f}`),
  ];
}

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

/** The signer's static pod manifest or systemd unit for `input.distro`. */
export function signerDeployment(input: SignerDeployInput): SignerDeployment {
  const socketDir = dirOf(input.socketPath);
  const credentials = "AWS credentials come from the node's instance profile (IMDS) or the usual AWS_* variables; " +
    "the role needs kms:Sign and kms:GetPublicKey on these keys and nothing else.";
  if (input.distro === "static-pod") {
    const dirs = [...new Set([socketDir, ...input.verifyKeyFiles.map(dirOf)])];
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "kubectl-irsa-signer", namespace: "kube-system", labels: { component: "kubectl-irsa-signer" } },
      spec: {
        // The host's network reaches KMS and IMDS as the node does; the pod needs no cluster network or DNS.
        hostNetwork: true,
        priorityClassName: "system-node-critical",
        containers: [{
          name: "signer",
          image: input.image,
          args: ["signer", ...signerArgs(input)],
          env: [{ name: "AWS_REGION", value: input.region }],
          // Root: the socket must be reachable by the apiserver, which runs as root.
          securityContext: { runAsUser: 0, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false },
          resources: { requests: { cpu: "10m", memory: "64Mi" } },
          volumeMounts: dirs.map((d, i) => ({
            name: `signer-${i}`,
            mountPath: d,
            ...(d === socketDir ? {} : { readOnly: true }),
          })),
        }],
        volumes: dirs.map((d, i) => ({
          name: `signer-${i}`,
          hostPath: { path: d, type: d === socketDir ? "DirectoryOrCreate" : "Directory" },
        })),
      },
    };
    return {
      kind: "static-pod",
      path: "/etc/kubernetes/manifests/kubectl-irsa-signer.yaml",
      content: stringify(pod),
      notes: [
        `The kubelet starts the signer from this manifest before the apiserver needs it; check that ` +
        `${input.socketPath} exists before restarting the apiserver. ${credentials}`,
      ],
    };
  }
  const unit = [
    "[Unit]",
    "Description=kubectl-irsa KMS-backed ServiceAccount token signer",
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    `Environment=AWS_REGION=${input.region}`,
    `ExecStart=/usr/local/bin/kubectl-irsa signer ${signerArgs(input).join(" ")}`,
    "Restart=always",
    "RestartSec=2",
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    `ReadWritePaths=${socketDir}`,
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
  return {
    kind: "systemd",
    path: "/etc/systemd/system/kubectl-irsa-signer.service",
    content: unit,
    notes: [
      ...(input.verifyKeyFiles.length === 0
        ? [
          "Add a --verify-key-file for each key file kube-apiserver verifies with today, or tokens issued before " +
          "the switch stop working.",
        ]
        : []),
      `Install the kubectl-irsa release binary as /usr/local/bin/kubectl-irsa, create ${socketDir} (mode 0700), ` +
      `then 'systemctl daemon-reload && systemctl enable --now kubectl-irsa-signer' before restarting the ` +
      `apiserver. ${credentials}`,
    ],
  };
}
