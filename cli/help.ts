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
  # Once per cluster: publish the OIDC issuer to a new S3 bucket and register it with IAM
  kubectl irsa init --bucket my-cluster-oidc --region eu-west-1

  # Then per workload: let pods of ServiceAccount shop/api read S3 with their own IAM role
  kubectl irsa bind sa api -n shop --policy AmazonS3ReadOnlyAccess

  # See every AWS and Kubernetes change first, without making any
  kubectl irsa bind sa api -n shop --policy AmazonS3ReadOnlyAccess --dry-run

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
  bind: `Give a ServiceAccount an IAM role. Creates the role (or updates one kubectl-irsa created) with a trust
policy that lets only this ServiceAccount assume it through the cluster's OIDC issuer, attaches the policies,
and annotates the ServiceAccount with the role ARN (creating the ServiceAccount if it does not exist). Pods
that use the ServiceAccount get AWS credentials from the pod identity webhook. Needs 'kubectl irsa init' first.

Examples:
  # Let pods of ServiceAccount shop/api read from S3
  kubectl irsa bind sa api -n shop --policy AmazonS3ReadOnlyAccess

  # One role for the same ServiceAccount name in two namespaces, with a customer-managed and an inline policy
  kubectl irsa bind sa worker -n staging -n prod \\
      --policy arn:aws:iam::123456789012:policy/queue-consumer --inline-policy ./worker-policy.json

  # Choose the role's name and path, give it a permissions boundary and a tag
  kubectl irsa bind sa api -n shop --policy AmazonDynamoDBReadOnlyAccess --role-name shop-api \\
      --role-path /k8s/ --permissions-boundary arn:aws:iam::123456789012:policy/k8s-boundary --tag team=shop

  # For GitOps: print the equivalent IRSA custom resource and change nothing
  kubectl irsa bind sa api -n shop --policy AmazonS3ReadOnlyAccess --dry-run -o yaml > irsa-shop-api.yaml

Flags:
  -n, --namespace NS                  Namespace of the ServiceAccount; repeat to share one role across namespaces
                                      (default: the context's namespace)
      --policy NAME|ARN               Managed policy to attach, by AWS managed policy name or ARN; repeatable
      --inline-policy FILE            JSON policy document to put on the role as an inline policy
                                      (at least one --policy or --inline-policy is required)
      --role-name NAME                IAM role name (default: irsa-<cluster>-<namespaces>_<serviceaccount>)
      --role-path PATH                IAM path of the role, like /k8s/ (default: /)
      --permissions-boundary ARN      Policy that bounds the role's permissions
      --tag KEY=VALUE                 Tag for the role; repeatable
      --max-session-duration SEC      Longest session of the role, 3600-43200 seconds (default: 3600)
      --audience AUD                  Audience of the ServiceAccount token (default: sts.amazonaws.com)
      --sts-regional-endpoints BOOL   true|false: whether pods use the regional STS endpoint
      --token-expiration SEC          Lifetime of the projected ServiceAccount token, at least 600 seconds
      --adopt                         Take over an existing role or annotation that kubectl-irsa did not create

${globalFlagsHelp}
`,
  unbind: `Remove the IAM role of a ServiceAccount: take kubectl-irsa's annotations off the ServiceAccount (deleting the
ServiceAccount if 'kubectl irsa bind' created it) and drop this namespace from the role's trust policy, or delete
the role when no other namespace uses it. A role that kubectl-irsa did not create is never changed.

Examples:
  # Remove the binding of ServiceAccount shop/api and delete its role
  kubectl irsa unbind sa api -n shop

  # Remove the binding but keep the IAM role, for example to bind it again elsewhere
  kubectl irsa unbind sa api -n shop --keep-role

  # Show what would be removed as JSON and change nothing
  kubectl irsa unbind sa api -n shop --dry-run -o json

Flags:
      --keep-role    Leave the IAM role and its policies in place

${globalFlagsHelp}
`,
  list: `List the ServiceAccounts that have an IAM role, with the role and its policies.

Examples:
  # Bindings in the context's namespace
  kubectl irsa list

  # Bindings in every namespace, with more columns
  kubectl irsa list -A -o wide

  # One namespace as YAML, for scripts
  kubectl irsa list -n shop -o yaml

  # Only the names, for scripts
  kubectl irsa list -A -o name

Flags:
  -A, --all-namespaces    List every namespace (instead of -n)
  -o, --output FORMAT     wide|json|yaml|name (default: a table)

${globalFlagsHelp}
`,
  version: `Print the plugin version.

Examples:
  kubectl irsa version
  kubectl irsa version -o json

${globalFlagsHelp}
`,
};

const usage: Partial<Record<CommandName, string>> = {
  bind: "bind sa NAME [flags]",
  unbind: "unbind sa NAME [flags]",
};

/** The help text for the top level or one command. */
export function helpText(command?: CommandName): string {
  if (command === undefined) return topLevel();
  return `Usage: kubectl irsa ${usage[command] ?? `${command} [flags]`}\n\n${commandHelp[command]}`;
}
