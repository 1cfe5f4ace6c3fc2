// Every Kubernetes and AWS string that kubectl-irsa writes or matches lives here, so that ownership checks,
// cleanup and the seed-compatible API all agree on the same spelling.

/** Field manager for every server-side apply. */
export const fieldManager = "kubectl-irsa";

/** Value of the managed-by label and tag. */
export const managedByValue = "kubectl-irsa";

/** The seed operator's API group; its CRDs must keep working unchanged. */
export const crdGroup = "irsa-manager.kkb0318.github.io";
/** The seed operator's API version. */
export const crdVersion = "v1alpha1";
/** Finalizer the seed operator put on its objects. */
export const seedFinalizer = "irsa-manager.kkb0318.github.io/finalizers";

/** Namespace the daemon runs in (the seed's). */
export const systemNamespace = "irsa-manager-system";
/** Secret holding AWS credentials for the daemon (the seed's name and keys). */
export const awsSecret = {
  name: "aws-secret",
  accessKeyId: "aws-access-key-id",
  secretAccessKey: "aws-secret-access-key",
  sessionToken: "aws-session-token",
  region: "aws-region",
  roleArn: "aws-role-arn",
} as const;

/** The seed's generated signing key Secret. */
export const keySecret = {
  namespace: "kube-system",
  name: "irsa-manager-key",
  type: "kubernetes.io/ssh-auth",
  privateKey: "ssh-privatekey",
  publicKey: "ssh-publickey",
} as const;

/**
 * During a key rotation (generate mode) the key the apiserver signed with before; same type and data keys as
 * {@linkcode keySecret}, which always holds the current signing key.
 */
export const previousKeySecret = { namespace: "kube-system", name: "irsa-manager-key-previous" } as const;

/**
 * Key of the setup ConfigMap holding the state of `rotate-key`. It is written with a merge patch, not with
 * server-side apply, so `init` applying `setup.json` never removes it.
 */
export const rotationStateKey = "rotation.json";

/** ConfigMap in which `init` records the setup that `bind`, `doctor` and the daemon read. */
export const setupRecord = { namespace: "kube-system", name: "kubectl-irsa-setup", key: "setup.json" } as const;

/** Annotations the pod identity webhook reads (amazon-eks-pod-identity-webhook contract). */
export const saAnnotation = {
  prefix: "eks.amazonaws.com",
  roleArn: "eks.amazonaws.com/role-arn",
  audience: "eks.amazonaws.com/audience",
  stsRegionalEndpoints: "eks.amazonaws.com/sts-regional-endpoints",
  tokenExpiration: "eks.amazonaws.com/token-expiration",
} as const;

/** Pod annotations and labels of the webhook contract. */
export const podAnnotation = {
  skipContainers: "eks.amazonaws.com/skip-containers",
  tokenExpiration: "eks.amazonaws.com/token-expiration",
  skipLabel: "eks.amazonaws.com/skip-pod-identity-webhook",
} as const;

/** Labels kubectl-irsa puts on Kubernetes objects it creates. */
export const label = {
  managedBy: "app.kubernetes.io/managed-by",
} as const;

/** Annotations kubectl-irsa puts on Kubernetes objects. */
export const irsaAnnotation = {
  /** Set on a ServiceAccount that kubectl-irsa created, so unbind may delete it. */
  createdBy: "irsa.kubectl.io/created-by",
  /**
   * Set on every ServiceAccount bind binds: the binding as bind resolved it (JSON), so `list` can plan the same
   * binding again and report any difference as drift.
   */
  binding: "irsa.kubectl.io/binding",
  /** On the webhook's TLS Secret: when the staged successor CA entered the caBundle. */
  caStagedAt: "irsa.kubectl.io/ca-staged-at",
  /** On the daemon's pod template: the AWS CA bundle's SHA-256, so a new bundle rolls the pods that read it once. */
  awsCaSha256: "irsa.kubectl.io/aws-ca-sha256",
} as const;

/** The extra CA bundle for the daemon's AWS calls: a ConfigMap in the daemon's namespace, mounted as a file. */
export const awsCaBundle = {
  configMap: "kubectl-irsa-aws-ca",
  key: "ca.pem",
  volume: "aws-ca",
  mountPath: "/etc/kubectl-irsa/aws-ca",
} as const;

/** Tags kubectl-irsa puts on AWS resources it owns; a resource without them is never changed or deleted. */
export const awsTag = {
  managedBy: "kubectl-irsa/managed-by",
  cluster: "kubectl-irsa/cluster",
  serviceAccount: "kubectl-irsa/service-account",
} as const;

/** The audience that STS expects in web identity tokens. */
export const stsAudience = "sts.amazonaws.com";

/** Object keys of the OIDC discovery documents in the bucket. */
export const discoveryKeys = {
  configuration: ".well-known/openid-configuration",
  jwks: "keys.json",
} as const;

/** Mount path and volume of the projected token (webhook contract). */
export const tokenMount = {
  volume: "aws-iam-token",
  path: "/var/run/secrets/eks.amazonaws.com/serviceaccount",
  windowsPath: "C:\\var\\run\\secrets\\eks.amazonaws.com\\serviceaccount",
  file: "token",
} as const;

/**
 * Webhook annotation names without their domain: the webhook's annotation prefix (default
 * `saAnnotation.prefix`) is configurable, so the full keys are built as `${prefix}/${name}`.
 */
export const webhookAnnotationName = {
  roleArn: "role-arn",
  audience: "audience",
  stsRegionalEndpoints: "sts-regional-endpoints",
  tokenExpiration: "token-expiration",
  skipContainers: "skip-containers",
} as const;

/** Environment variables the pod identity webhook injects (names the AWS SDKs read). */
export const awsEnv = {
  stsRegionalEndpoints: "AWS_STS_REGIONAL_ENDPOINTS",
  defaultRegion: "AWS_DEFAULT_REGION",
  region: "AWS_REGION",
  roleArn: "AWS_ROLE_ARN",
  webIdentityTokenFile: "AWS_WEB_IDENTITY_TOKEN_FILE",
} as const;

/**
 * Environment variables that point the AWS SDK somewhere private: `install` renders them on the daemon, and the CLI
 * and the daemon read them alike (lib/aws/clients.ts).
 */
export const awsEndpointEnv = {
  endpointUrl: "AWS_ENDPOINT_URL",
  caBundle: "AWS_CA_BUNDLE",
  s3ForcePathStyle: "AWS_S3_FORCE_PATH_STYLE",
} as const;

/** Where the KMS-backed signer listens unless told otherwise: kube-apiserver's --service-account-signing-endpoint. */
export const signerSocketPath = "/run/kubectl-irsa/signer.sock";

/** Value of `AWS_STS_REGIONAL_ENDPOINTS` when regional STS is on. */
export const stsRegionalEndpointsValue = "regional";

/** Lifetime of the projected token in seconds: the webhook's default, and the kube-apiserver floor. */
export const tokenExpirationSeconds = { default: 86400, min: 600 } as const;

/** Node selector labels whose value `windows` switches the token file path to a Windows path. */
export const osNodeSelector = ["kubernetes.io/os", "beta.kubernetes.io/os"] as const;

/** The Lease the daemon replicas elect a leader with. */
export const leaderLease = "kubectl-irsa-leader";

/** Keys of the webhook's TLS Secret: the kubernetes.io/tls pair, the CA bundle and key, and a staged successor CA. */
export const webhookTlsKeys = {
  caBundle: "ca.crt",
  caKey: "ca.key",
  cert: "tls.crt",
  key: "tls.key",
  stagedCa: "staged-ca.crt",
  stagedCaKey: "staged-ca.key",
} as const;

/** The webhook's objects: its MutatingWebhookConfiguration and the Secret holding its CA and serving certificate. */
export const webhookObjects = {
  configuration: "kubectl-irsa",
  webhookName: "pod-identity.kubectl-irsa.io",
  tlsSecret: "kubectl-irsa-webhook-tls",
  service: "kubectl-irsa",
  path: "/mutate",
} as const;

/** The pod `doctor` creates with dryRun=All to see what admission does to a pod; a dry run persists nothing. */
export const doctorProbe = {
  generateName: "kubectl-irsa-doctor-probe-",
  container: "probe",
  // Never pulled: a dry-run pod is admitted but never scheduled.
  image: "kubectl-irsa.invalid/probe",
} as const;
