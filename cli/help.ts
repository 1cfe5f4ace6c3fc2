// Help texts. Kept as plain strings so `--help` loads nothing heavy; help_test.ts pins them as golden files.
import { type CommandName, commandSummaries, daemonSummary, type HelpTopic, signerSummary } from "./commands.ts";

const globalFlagsHelp = `Global flags:
      --kubeconfig PATH   Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)
      --context NAME      Kubeconfig context to use
      --as USER           Impersonate USER in every Kubernetes request (kubectl's --as)
      --as-group GROUP    Impersonate GROUP as well; repeat for more (needs --as, or "as" in the kubeconfig)
      --request-timeout T Give up on each Kubernetes request after T (30s, 1m; a bare number is seconds; 0: never)
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
  const all = { ...commandSummaries, daemon: daemonSummary, signer: signerSummary };
  const width = Math.max(...Object.keys(all).map((c) => c.length));
  const commands = Object.entries(all).map(([name, summary]) => `  ${name.padEnd(width)}  ${summary}`);
  return `kubectl irsa gives AWS IAM Roles for Service Accounts (IRSA) to any Kubernetes cluster that is not EKS.

Examples:
  # Once per cluster: publish the OIDC issuer to a new S3 bucket and register it with IAM
  kubectl irsa init --bucket my-cluster-oidc --region eu-west-1

  # Then per workload: let pods of ServiceAccount shop/api read S3 with their own IAM role
  kubectl irsa bind sa api -n shop --policy AmazonS3ReadOnlyAccess

  # See every AWS and Kubernetes change first, without making any
  kubectl irsa bind sa api -n shop --policy AmazonS3ReadOnlyAccess --dry-run

  # Run the daemon in the cluster: the seed's CRDs (IRSASetup, IRSA) and the pod identity webhook
  kubectl irsa install

Commands:
${commands.join("\n")}

${globalFlagsHelp}

Use "kubectl irsa <command> --help" for more information about a command.
`;
};

const daemonHelp = `Usage: kubectl irsa daemon [flags]

Run the in-cluster process that \`kubectl irsa install\` deploys: it reconciles IRSASetup and IRSA objects (with leader
election) and serves the pod identity webhook with a self-managed certificate. It logs one JSON object per line.

Examples:
  # In the Deployment (install renders this)
  kubectl irsa daemon --namespace=irsa-manager-system

  # Outside the cluster, for development, webhook off
  kubectl irsa daemon --kubeconfig ~/.kube/config --no-webhook --leader-elect=false

Flags:
      --kubeconfig PATH, --context NAME   Outside a pod; inside, the mounted ServiceAccount token is used
      --namespace NS                      Namespace of the daemon's objects (default $POD_NAMESPACE, then
                                          irsa-manager-system)
      --metrics-bind-address HOST:PORT    /healthz, /readyz and /metrics (default :8080)
      --no-controllers                    Only serve the webhook
      --leader-elect true|false           Elect one leader on a Lease (default true)
      --lease-duration D                  How long others wait, on their own clock, for an unrenewed lease
                                          (default 15s)
      --renew-deadline D                  The leader steps down (and exits) when it could not renew for this
                                          long (default 2/3 of the lease)
      --retry-period D                    Pause between acquire or renew attempts (default 2/15 of the lease)
      --resync-period D                   Check every object for drift again this often, at most (default 5m)
      --drift-budget N                    AWS calls per second drift checks may use, all calls counted; new and
                                          edited objects never wait for it; 0 turns drift checks off (default 4)
      --concurrency N                     IRSA reconcile workers (default 4)
      --aws-request-timeout D             Timeout of one AWS request (default 30s)
      --watch-inactivity D                A watch with no event or bookmark for this long is re-opened from its
                                          last resourceVersion (default 2m)
      --shutdown-drain D                  After SIGTERM, /readyz answers 503 and the webhook keeps serving this
                                          long before it closes (default 10s)
      --no-webhook                        Do not serve the pod identity webhook
      --webhook-bind-address HOST:PORT    Webhook HTTPS address (default :9443)
      --webhook-dns-name NAME             Names in the serving certificate (repeatable; default the Service's)
      --webhook-ip-address IP             IP addresses in the serving certificate (repeatable)
      --webhook-cert-days N               Lifetime of the serving certificate (default 30, renewed with a third left)
      --webhook-ca-days N                 Lifetime of the webhook CA (default 365; a successor is staged with a
                                          third left and kept beside the old CA in the caBundle)
      --webhook-ca-handover D             How long a new CA is in the caBundle before it signs (default 5m)
      --webhook-cert-check-ms N           How often the certificate Secret is re-read (default 60000)
      --missed-mutation-scan-ms N         How often pods are checked for missed mutations (default 60000)
      --serviceaccount-lookup-timeout-ms N  API lookup deadline on a cache miss (default 2000)
      --annotation-prefix, --token-audience, --token-mount-path, --token-expiration, --aws-default-region,
      --sts-regional-endpoint             As amazon-eks-pod-identity-webhook's flags of the same names
      --log-level debug|info|warn|error   (default info)
`;

const signerHelp = `Usage: kubectl irsa signer --kms-key KEY [flags]

Serve kube-apiserver's external ServiceAccount token signer (the ExternalJWTSigner gRPC API) on a Unix socket,
signing with an AWS KMS asymmetric key (RSA_2048, SIGN_VERIFY): the private key never exists in the cluster. Run it
on every control-plane node, as 'kubectl irsa init --key-source kms' prints (a static pod or a systemd unit), and
start kube-apiserver with --service-account-signing-endpoint pointing at the socket. It logs one JSON object per line.

Examples:
  # Sign with one KMS key and keep verifying tokens of the apiserver's old key
  kubectl irsa signer --kms-key alias/cluster-sa-signer --verify-key-file /etc/kubernetes/pki/sa.pub

  # Rotation: the new key signs, the old one still verifies (publish both with init first)
  kubectl irsa signer --kms-key alias/cluster-sa-signer-2 --kms-key alias/cluster-sa-signer

Flags:
      --kms-key KEY                 KMS key ID, key ARN or alias; the first signs, the others only verify
                                    (repeatable)
      --socket PATH                 Unix socket to listen on, mode 0600 (default /run/kubectl-irsa/signer.sock)
      --verify-key-file PATH        PEM public (or private) key whose tokens keep verifying; only its public half
                                    is read (repeatable)
      --max-token-expiration D      Longest token the apiserver may ask for (default 24h, at least 10m)
      --refresh-hint D              How often the apiserver re-reads the key list (default 10m)
      --kms-timeout D               Deadline of one KMS Sign call; past it the token request fails (default 2s)
      --log-level debug|info|warn|error   (default info)

AWS credentials and region come from the environment (AWS_REGION, the instance profile, AWS_* variables;
AWS_ENDPOINT_URL_KMS and AWS_CA_BUNDLE for a private endpoint). The signer needs kms:Sign and kms:GetPublicKey.
`;

const commandHelp: Record<keyof typeof commandSummaries, string> = {
  init: `Publish the cluster's OIDC issuer (discovery document and JWKS) to S3, register the IAM OIDC provider,
record the setup in the cluster and print the exact kube-apiserver change.

Examples:
  # Use the keys the kube-apiserver already signs with (no private key is read or moved)
  kubectl irsa init --bucket my-cluster-oidc --region eu-west-1

  # Generate a new signing key pair, store it as kube-system/irsa-manager-key and write the key files
  kubectl irsa init --bucket my-cluster-oidc --key-source generate --out-dir /etc/kubernetes/pki

  # Sign tokens with a KMS key through kubectl irsa signer: no private key in the cluster
  kubectl irsa init --bucket my-cluster-oidc --key-source kms --kms-key alias/cluster-sa-signer

  # Keep the bucket private (accounts that block public S3 access): serve the issuer through CloudFront
  kubectl irsa init --bucket my-cluster-oidc --hosting cloudfront

  # Show the plan as JSON and change nothing
  kubectl irsa init --bucket my-cluster-oidc --dry-run -o json

Flags:
      --bucket NAME          S3 bucket that hosts the issuer (created if absent; must belong to this account)
      --issuer-url URL       Issuer URL (default: https://s3.<region>.amazonaws.com/<bucket>)
      --key-source SOURCE    cluster (default): publish the apiserver's own keys; generate: create a new key pair;
                             kms: publish the KMS keys of kubectl irsa signer and print how to run it
      --hosting MODE         s3 (default): the bucket serves the two documents publicly; cloudfront: the bucket is
                             private (Block Public Access fully on) and read by a CloudFront distribution through
                             an Origin Access Control; the issuer is https://<distribution domain> unless
                             --issuer-url names a domain that reaches the distribution
      --kms-key KEY          With --key-source kms: a KMS key ID, ARN or alias, the signing one first; repeat for
                             rotation; a key left out of a later run is retired from keys.json
      --out-dir DIR          With --key-source generate: also write irsa-manager.key (0600) and irsa-manager.pub
      --distro NAME          Render the apiserver change for kubeadm|static-pod|k3s|rke2|kind|raw (default: detected)
      --force                Overwrite an existing generated key (Secret or files)
      --no-thumbprint        Register the OIDC provider without a TLS thumbprint
      --binding-policy FILE  Record a binding policy (YAML or JSON, IRSASetup spec.bindingPolicy's fields): what
                             roles of tenant namespaces may get, the role path and the permissions boundary of
                             every role; {} records none (the defaults); absent keeps the recorded one

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
  install: `Install the in-cluster daemon that reconciles IRSASetup and IRSA objects and serves the pod identity
webhook. Running it again upgrades in place.

Examples:
  # Install into irsa-manager-system
  kubectl irsa install

  # Print the manifests for GitOps and change nothing
  kubectl irsa install --dry-run -o yaml > kubectl-irsa.yaml

  # Ask the API server what would change (server-side dry run) and change nothing
  kubectl irsa install --dry-run

  # Three replicas of a mirrored image; refuse pods while the webhook is down
  kubectl irsa install --replicas 3 --image registry.example.com/kubectl-irsa:0.1.0 --failure-policy Fail

  # A private S3-compatible endpoint with its own CA, for the daemon's AWS calls
  kubectl irsa install --aws-endpoint-url https://s3.internal.example:9000 --aws-ca-bundle ./internal-ca.pem \\
      --s3-path-style

  # Only the kube-apiserver reaches the webhook, and only Prometheus in monitoring reaches /metrics
  kubectl irsa install --network-policy --metrics-namespace monitoring

Installs the namespace, both CRDs (the seed's irsa-manager.kkb0318.github.io/v1alpha1, so irsa-manager objects
keep working), the ValidatingAdmissionPolicies that keep IRSA objects outside the daemon's namespace to their own
namespace and to the cluster's binding policy, least-privilege RBAC, the ClusterRoles kubectl-irsa-edit and
kubectl-irsa-view (aggregated into admin, edit and view, so namespace admins manage IRSA objects but never their
status or IRSASetups), the Deployment, a PodDisruptionBudget, a Service and the MutatingWebhookConfiguration, each
with server-side apply (field manager kubectl-irsa). AWS credentials come from the optional Secret
<namespace>/aws-secret (the seed's keys) or the default AWS credential chain.

Flags:
  -n, --namespace NS          Namespace of the daemon (default: irsa-manager-system, not the context's namespace)
      --image REF             Daemon image (default: the release of this plugin's version)
      --replicas N            Daemon replicas (default: 2)
      --failure-policy POLICY Ignore (default): pods start without credentials while the webhook is down;
                              Fail: pods are refused until it answers
      --webhook-skip-namespaces LIST
                              Namespaces the webhook never mutates, comma-separated (default kube-system; the
                              daemon's own is always skipped). Empty mutates kube-system too, for controllers
                              such as cluster-autoscaler; keep --failure-policy Ignore then
      --aws-endpoint-url URL  AWS_ENDPOINT_URL of the daemon: an https:// (or http://) VPC endpoint, S3-compatible
                              store or emulator
      --aws-ca-bundle PATH    PEM CA bundle the daemon trusts for AWS besides the system roots (ConfigMap
                              kubectl-irsa-aws-ca, mounted and named by AWS_CA_BUNDLE); not --ca-bundle, which is
                              refused: install itself makes no AWS call
      --s3-path-style         The daemon addresses S3 path-style (AWS_S3_FORCE_PATH_STYLE=true)
      --network-policy        Add a NetworkPolicy in the daemon's namespace: the webhook port (9443) only from
                              --webhook-source, the metrics port (8080) only from --metrics-namespace (the
                              kubelet's probes still pass). Needs a CNI that enforces NetworkPolicy
      --webhook-source CIDR   Repeatable, with --network-policy: who may reach the webhook port (default: the
                              kube-apiserver's addresses in the EndpointSlices of default/kubernetes, each as /32
                              or /128; give the sources where it calls from elsewhere, such as konnectivity)
      --metrics-namespace NS  Repeatable, with --network-policy: pods of this namespace may scrape /metrics
                              (default: none may)
      --dry-run               With -o yaml|json: print the manifests; alone: server-side dry run of every object
  -o, --output FORMAT         yaml|json, with --dry-run

${globalFlagsHelp}
`,
  uninstall: `Remove what 'kubectl irsa install' created, webhook first and the CRDs just before the namespace.

Examples:
  # Delete the custom resources while the daemon runs, then remove everything
  kubectl delete irsa,irsasetup --all -A
  kubectl irsa uninstall

  # Remove the daemon but keep the CRDs and every IRSA and IRSASetup
  kubectl irsa uninstall --keep-crds

  # Show what would be deleted and change nothing
  kubectl irsa uninstall --dry-run

Deletes, in order: the webhook (so no pod creation waits for a daemon that is going away), the Deployment, the
AWS CA ConfigMap, RBAC, the CRDs and the daemon's namespace with its aws-secret. Deleting the CRDs deletes every
IRSA and IRSASetup without AWS cleanup, so uninstall stops while any exist: delete them first while the daemon
still runs (those with cleanup: true then remove their AWS resources), or keep them with --keep-crds. The setup
record and key in kube-system stay.

Flags:
  -n, --namespace NS    Namespace of the daemon (default: irsa-manager-system)
      --keep-crds       Leave both CRDs and their objects in place
      --dry-run         Show what would be deleted (server-side dry run) and change nothing

${globalFlagsHelp}
`,
  doctor: `Check every link of the IRSA chain against live data, in the order STS walks it, and print a fix for each
broken one: the setup record, the discovery document (anonymous HTTPS, trusted certificate), the exact issuer,
the JWKS and the apiserver's signing key, the IAM OIDC provider (URL, client ID, thumbprint) and the apiserver's
audiences. With 'sa NAME' also the ServiceAccount's annotation, role, trust policy, policies, its pods and the
pod identity webhook (behind a Service it is proven with a server-side dry-run pod of the ServiceAccount, which
needs 'create' on pods and persists nothing). Changes nothing. Exits 1 when a check fails; warnings do not fail.

Examples:
  # Check the cluster-wide chain
  kubectl irsa doctor

  # Also check the binding of ServiceAccount shop/api, its pods and the webhook
  kubectl irsa doctor sa api -n shop

  # Also ask STS for credentials with a freshly minted token, and decode any error
  kubectl irsa doctor sa api -n shop --sts

  # Every check as JSON, for scripts
  kubectl irsa doctor sa api -n shop -o json

Flags:
  -n, --namespace NS    Namespace of the ServiceAccount (default: the context's namespace)
      --sts             Run a live sts:AssumeRoleWithWebIdentity as the ServiceAccount (needs 'sa NAME')
  -o, --output FORMAT   json: {"checks":[...],"ok":...}

${globalFlagsHelp}
`,
  "rotate-key":
    `Rotate the key the kube-apiserver signs ServiceAccount tokens with, in stages that can be resumed, so no
token that verifies today stops verifying before it expires:
  prepare   Obtain the new key and publish old and new keys together; print the kube-apiserver change
            (sign with the new key, verify with both). Generate mode (init --key-source generate) creates a
            new key pair: kube-system/irsa-manager-key then holds the new key and irsa-manager-key-previous the
            old one. Cluster mode reads the new key the admin added as another --service-account-key-file.
  verify    Mint a token: it must carry the new key's kid and verify like STS. Records the switch time.
  retire    Remove the old keys from the published JWKS once the longest token lifetime has passed since the
            switch (default grace 25h). Never removes the key the apiserver signs with, even with --force.
  status    Print the stage, the keys and when retiring is allowed.
The state is kept in ConfigMap kube-system/kubectl-irsa-setup (key rotation.json).

Examples:
  # Generate mode: new key pair, key files written for the control plane, JWKS with both keys
  kubectl irsa rotate-key prepare --out-dir /etc/kubernetes/pki

  # After restarting the kube-apiserver with the printed flags
  kubectl irsa rotate-key verify

  # A day later: drop the old keys from the JWKS (see the plan first)
  kubectl irsa rotate-key retire --dry-run
  kubectl irsa rotate-key retire

  # Where the rotation stands, as JSON
  kubectl irsa rotate-key status -o json

Flags:
      --out-dir DIR        prepare, generate mode: write irsa-manager-<kid>.key (0600) and .pub there
      --kid KID            prepare, cluster mode: the new key, when the apiserver serves several new ones
      --distro NAME        prepare: render the change for kubeadm|static-pod|k3s|rke2|kind|raw (default: detected)
      --force              prepare: start a new rotation, overwrite key files; retire: do not wait for the grace
                           period (the apiserver's signing key is still never retired)
      --grace DURATION     verify, retire, status: time from the switch until retiring, like 25h or 0s
                           (default 25h: the 24h pod token lifetime plus 1h)
      --dry-run            Print the plan and change nothing
  -o, --output FORMAT      json|yaml

${globalFlagsHelp}
`,
  version: `Print the plugin version.

Examples:
  kubectl irsa version
  kubectl irsa version -o json

${globalFlagsHelp}
`,
  completion: `Print a shell completion script for the kubectl-irsa program. It completes commands, flags, the values of
flags that have a fixed set (-o, --distro, --key-source, ...), namespaces after -n and ServiceAccount names after
'sa'. Namespaces and ServiceAccounts are read from the cluster with the connection flags already on the command
line (--kubeconfig, --context, --as, ...); when the cluster does not answer within 2 seconds nothing is offered.

Through kubectl ('kubectl irsa <TAB>', kubectl 1.26 or later), kubectl's own completion script is used
('kubectl completion bash|zsh|fish'): kubectl asks the program kubectl_complete-irsa on PATH, which the krew
archive ships beside kubectl-irsa. Krew links only kubectl-irsa onto PATH, so copy the helper next to that link
once (the copy keeps working across 'kubectl krew upgrade'). From a checkout, link krew/kubectl_complete-irsa.

Examples:
  # kubectl irsa <TAB>, after 'kubectl krew install irsa'
  cp "$(dirname "$(readlink "\${KREW_ROOT:-$HOME/.krew}/bin/kubectl-irsa")")/kubectl_complete-irsa" \\
      "\${KREW_ROOT:-$HOME/.krew}/bin/"

  # kubectl-irsa <TAB> in bash: this shell, then every new one
  source <(kubectl irsa completion bash)
  kubectl irsa completion bash > ~/.local/share/bash-completion/completions/kubectl-irsa

  # zsh (after compinit) and fish
  kubectl irsa completion zsh > "\${fpath[1]}/_kubectl-irsa"
  kubectl irsa completion fish > ~/.config/fish/completions/kubectl-irsa.fish

${globalFlagsHelp}
`,
};

const usage: Partial<Record<CommandName, string>> = {
  bind: "bind sa NAME [flags]",
  unbind: "unbind sa NAME [flags]",
  doctor: "doctor [sa NAME] [flags]",
  "rotate-key": "rotate-key prepare|verify|retire|status [flags]",
  completion: "completion bash|zsh|fish",
};

/** The help text for the top level or one command. */
export function helpText(command?: HelpTopic): string {
  if (command === undefined) return topLevel();
  if (command === "daemon") return daemonHelp;
  if (command === "signer") return signerHelp;
  return `Usage: kubectl irsa ${usage[command] ?? `${command} [flags]`}\n\n${commandHelp[command]}`;
}
