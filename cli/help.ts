// Help texts. Kept as plain strings so `--help` loads nothing heavy; help_test.ts pins them as golden files.
import { type CommandName, commandSummaries } from "./commands.ts";

const globalFlagsHelp = `Global flags:
      --kubeconfig PATH   Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)
      --context NAME      Kubeconfig context to use
  -n, --namespace NS      Namespace (default: the context's namespace)
  -o, --output FORMAT     Output format: json|yaml (and wide|name where a command lists objects)
      --dry-run           Show what would change and change nothing
      --region REGION     AWS region (default: $AWS_REGION, then the AWS profile)
      --profile NAME      AWS shared-config profile
      --ca-bundle PATH    Extra CA bundle (PEM) trusted for AWS endpoints (default: $AWS_CA_BUNDLE)
      --s3-path-style     Path-style S3 addressing, for S3-compatible endpoints ($AWS_S3_FORCE_PATH_STYLE)
  -v, --verbose           Show the cause chain of errors
  -h, --help              Show help`;

const topLevel = () => {
  const width = Math.max(...Object.keys(commandSummaries).map((c) => c.length));
  const commands = Object.entries(commandSummaries).map(([name, summary]) => `  ${name.padEnd(width)}  ${summary}`);
  return `kubectl irsa gives AWS IAM Roles for Service Accounts (IRSA) to any Kubernetes cluster that is not EKS.

Examples:
  # Publish the cluster's OIDC issuer to a new S3 bucket and register it with IAM
  kubectl irsa init --bucket my-cluster-oidc --region eu-west-1

  # See every AWS and Kubernetes change first, without making any
  kubectl irsa init --bucket my-cluster-oidc --region eu-west-1 --dry-run

Commands:
${commands.join("\n")}

${globalFlagsHelp}

Use "kubectl irsa <command> --help" for more information about a command.
`;
};

const commandHelp: Record<keyof typeof commandSummaries, string> = {
  init: `Publish the cluster's OIDC issuer (discovery document and JWKS) to S3, register the IAM OIDC provider,
record the setup in the cluster and print the exact kube-apiserver change.

Examples:
  # Use the keys the kube-apiserver already signs with (no private key is read or moved)
  kubectl irsa init --bucket my-cluster-oidc --region eu-west-1

  # Generate a new signing key pair, store it as kube-system/irsa-manager-key and write the key files
  kubectl irsa init --bucket my-cluster-oidc --key-source generate --out-dir /etc/kubernetes/pki

  # Show the plan as JSON and change nothing
  kubectl irsa init --bucket my-cluster-oidc --dry-run -o json

Flags:
      --bucket NAME          S3 bucket that hosts the issuer (created if absent; must belong to this account)
      --issuer-url URL       Issuer URL (default: https://s3.<region>.amazonaws.com/<bucket>)
      --key-source SOURCE    cluster (default): publish the apiserver's own keys; generate: create a new key pair
      --out-dir DIR          With --key-source generate: also write irsa-manager.key (0600) and irsa-manager.pub
      --distro NAME          Render the apiserver change for kubeadm|static-pod|k3s|rke2|kind|raw (default: detected)
      --force                Overwrite an existing generated key (Secret or files)
      --no-thumbprint        Register the OIDC provider without a TLS thumbprint

${globalFlagsHelp}
`,
  version: `Print the plugin version.

Examples:
  kubectl irsa version
  kubectl irsa version -o json

${globalFlagsHelp}
`,
};

/** The help text for the top level or one command. */
export function helpText(command?: CommandName): string {
  return command === undefined ? topLevel() : `Usage: kubectl irsa ${command} [flags]\n\n${commandHelp[command]}`;
}
