// The pod/ServiceAccount corpus that the webhook differential test and the webhook benchmark share: every input
// of the pod identity webhook contract (REFERENCE.md §7) and the upstream quirks listed in lib/pod_mutation_test.ts.
import { podAnnotation, saAnnotation } from "../../lib/names.ts";

const roleArn = "arn:aws:iam::123456789012:role/app";

/** A ServiceAccount to create, identically, in every namespace that runs the corpus. */
export interface CorpusServiceAccount {
  name: string;
  annotations: Record<string, string>;
}

/** ServiceAccounts the corpus pods refer to. */
export const corpusServiceAccounts: CorpusServiceAccount[] = [
  { name: "plain", annotations: {} },
  { name: "app", annotations: { [saAnnotation.roleArn]: roleArn } },
  // Only used by pods that name no ServiceAccount.
  { name: "default", annotations: { [saAnnotation.roleArn]: roleArn } },
  { name: "aud", annotations: { [saAnnotation.roleArn]: roleArn, [saAnnotation.audience]: "custom-aud" } },
  { name: "aud-empty", annotations: { [saAnnotation.roleArn]: roleArn, [saAnnotation.audience]: "" } },
  {
    name: "regional-true",
    annotations: { [saAnnotation.roleArn]: roleArn, [saAnnotation.stsRegionalEndpoints]: "true" },
  },
  {
    name: "regional-false",
    annotations: { [saAnnotation.roleArn]: roleArn, [saAnnotation.stsRegionalEndpoints]: "false" },
  },
  { name: "regional-one", annotations: { [saAnnotation.roleArn]: roleArn, [saAnnotation.stsRegionalEndpoints]: "1" } },
  {
    name: "regional-garbage",
    annotations: { [saAnnotation.roleArn]: roleArn, [saAnnotation.stsRegionalEndpoints]: "yes" },
  },
  { name: "exp", annotations: { [saAnnotation.roleArn]: roleArn, [saAnnotation.tokenExpiration]: "7200" } },
  { name: "exp-low", annotations: { [saAnnotation.roleArn]: roleArn, [saAnnotation.tokenExpiration]: "100" } },
  { name: "exp-garbage", annotations: { [saAnnotation.roleArn]: roleArn, [saAnnotation.tokenExpiration]: "2h" } },
  { name: "role-empty", annotations: { [saAnnotation.roleArn]: "" } },
  { name: "role-invalid", annotations: { [saAnnotation.roleArn]: "not-an-arn" } },
  {
    name: "everything",
    annotations: {
      [saAnnotation.roleArn]: "arn:aws:iam::123456789012:role/path/to/everything",
      [saAnnotation.audience]: "everything-aud",
      [saAnnotation.stsRegionalEndpoints]: "true",
      [saAnnotation.tokenExpiration]: "3600",
    },
  },
];

type Json = Record<string, unknown>;

/** One pod of the corpus: a manifest without namespace, created as is. */
export interface CorpusCase {
  name: string;
  pod: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: Json };
}

const image = "busybox";
const c = (name: string, extra: Json = {}): Json => ({ name, image, ...extra });
const env = (pairs: Record<string, string>) => Object.entries(pairs).map(([name, value]) => ({ name, value }));
const spec = (serviceAccountName: string | undefined, extra: Json = {}): Json => ({
  ...(serviceAccountName === undefined ? {} : { serviceAccountName }),
  containers: [c("app")],
  ...extra,
});
const annotated = (annotations: Record<string, string>, s: Json): CorpusCase["pod"] => ({
  metadata: { annotations },
  spec: s,
});

/** The pods, each created as is in every namespace; the names say what each one exercises. */
export const corpusCases: CorpusCase[] = [
  { name: "ServiceAccount without a role annotation", pod: { spec: spec("plain") } },
  { name: "ServiceAccount with a role annotation only", pod: { spec: spec("app") } },
  { name: "ServiceAccount that does not exist", pod: { spec: spec("nobody") } },
  { name: "empty role-arn annotation", pod: { spec: spec("role-empty") } },
  { name: "role-arn annotation that is not an ARN", pod: { spec: spec("role-invalid") } },
  { name: "custom audience", pod: { spec: spec("aud") } },
  { name: "empty audience annotation", pod: { spec: spec("aud-empty") } },
  { name: "sts-regional-endpoints true", pod: { spec: spec("regional-true") } },
  { name: "sts-regional-endpoints false", pod: { spec: spec("regional-false") } },
  { name: "sts-regional-endpoints 1 (Go ParseBool)", pod: { spec: spec("regional-one") } },
  { name: "sts-regional-endpoints garbage falls back to the flag", pod: { spec: spec("regional-garbage") } },
  { name: "all ServiceAccount annotations at once", pod: { spec: spec("everything") } },
  { name: "token-expiration on the ServiceAccount", pod: { spec: spec("exp") } },
  {
    name: "token-expiration on the pod",
    pod: annotated({ [podAnnotation.tokenExpiration]: "3600" }, spec("app")),
  },
  {
    name: "token-expiration on both: the pod wins",
    pod: annotated({ [podAnnotation.tokenExpiration]: "3600" }, spec("exp")),
  },
  {
    name: "pod token-expiration below 600 is raised",
    pod: annotated({ [podAnnotation.tokenExpiration]: "100" }, spec("app")),
  },
  { name: "ServiceAccount token-expiration below 600 is raised", pod: { spec: spec("exp-low") } },
  { name: "garbage ServiceAccount token-expiration", pod: { spec: spec("exp-garbage") } },
  {
    name: "garbage pod token-expiration falls back to the ServiceAccount",
    pod: annotated({ [podAnnotation.tokenExpiration]: "1h" }, spec("exp")),
  },
  {
    name: "pod token-expiration with a plus sign (Go ParseInt)",
    pod: annotated({ [podAnnotation.tokenExpiration]: "+3600" }, spec("app")),
  },
  {
    name: "negative pod token-expiration",
    pod: annotated({ [podAnnotation.tokenExpiration]: "-5" }, spec("app")),
  },
  {
    name: "skip-containers with one name",
    pod: annotated(
      { [podAnnotation.skipContainers]: "sidecar" },
      spec("app", { containers: [c("app"), c("sidecar")] }),
    ),
  },
  {
    name: "skip-containers with several names",
    pod: annotated(
      { [podAnnotation.skipContainers]: "sidecar,debug" },
      spec("app", { containers: [c("app"), c("sidecar"), c("debug")] }),
    ),
  },
  {
    name: "skip-containers with spaces keeps them (csv)",
    pod: annotated(
      { [podAnnotation.skipContainers]: "sidecar, app" },
      spec("app", { containers: [c("app"), c("sidecar")] }),
    ),
  },
  {
    name: "skip-containers with a stray quote skips nothing",
    pod: annotated(
      { [podAnnotation.skipContainers]: 'side"car' },
      spec("app", { containers: [c("app"), c("sidecar")] }),
    ),
  },
  {
    name: "skip-containers quoted and on several lines",
    pod: annotated(
      { [podAnnotation.skipContainers]: '"sidecar","app"\ninit' },
      spec("app", { containers: [c("app"), c("sidecar")], initContainers: [c("init")] }),
    ),
  },
  {
    name: "skip-containers naming an init container",
    pod: annotated(
      { [podAnnotation.skipContainers]: "init" },
      spec("app", { initContainers: [c("init"), c("init2")] }),
    ),
  },
  {
    name: "existing AWS_ROLE_ARN",
    pod: { spec: spec("app", { containers: [c("app", { env: env({ AWS_ROLE_ARN: "arn:aws:iam::1:role/mine" }) })] }) },
  },
  {
    name: "existing AWS_WEB_IDENTITY_TOKEN_FILE",
    pod: { spec: spec("app", { containers: [c("app", { env: env({ AWS_WEB_IDENTITY_TOKEN_FILE: "/tok" }) })] }) },
  },
  {
    name: "existing AWS_REGION",
    pod: { spec: spec("app", { containers: [c("app", { env: env({ AWS_REGION: "us-east-2" }) })] }) },
  },
  {
    name: "existing AWS_DEFAULT_REGION",
    pod: { spec: spec("app", { containers: [c("app", { env: env({ AWS_DEFAULT_REGION: "us-east-2" }) })] }) },
  },
  {
    name: "existing AWS_STS_REGIONAL_ENDPOINTS with a regional ServiceAccount",
    pod: {
      spec: spec("regional-true", {
        containers: [c("app", { env: env({ AWS_STS_REGIONAL_ENDPOINTS: "legacy" }) })],
      }),
    },
  },
  {
    name: "identity, region and STS variables all present: no mount either",
    pod: {
      spec: spec("app", {
        containers: [
          c("app", {
            env: env({
              AWS_ROLE_ARN: "arn:aws:iam::1:role/mine",
              AWS_REGION: "us-east-2",
              AWS_STS_REGIONAL_ENDPOINTS: "x",
            }),
          }),
        ],
      }),
    },
  },
  {
    name: "AWS_ROLE_ARN set by valueFrom",
    pod: {
      spec: spec("app", {
        containers: [
          c("app", {
            env: [{ name: "AWS_ROLE_ARN", valueFrom: { fieldRef: { fieldPath: "metadata.annotations['role']" } } }],
          }),
        ],
      }),
    },
  },
  {
    name: "unrelated env with valueFrom",
    pod: {
      spec: spec("app", {
        containers: [
          c("app", { env: [{ name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } }] }),
        ],
      }),
    },
  },
  {
    // The patch rewrites whole containers, so their text must survive base64 as UTF-8 (btoa would throw).
    name: "non-Latin-1 text in env, args and annotations",
    pod: {
      metadata: { annotations: { "description": "ジョブ 🚀" } },
      spec: spec("app", {
        containers: [c("app", { args: ["--greeting=こんにちは"], env: env({ GREETING: "Grüße, 世界 🚀" }) })],
      }),
    },
  },
  { name: "empty env list", pod: { spec: spec("app", { containers: [c("app", { env: [] })] }) } },
  {
    name: "init containers",
    pod: { spec: spec("regional-true", { initContainers: [c("init", { env: env({ A: "1" }) }), c("init2")] }) },
  },
  {
    name: "multiple containers",
    pod: {
      spec: spec("app", { containers: [c("app"), c("sidecar", { env: env({ X: "y" }) }), c("third")] }),
    },
  },
  {
    name: "existing volumes: the token volume goes first",
    pod: {
      spec: spec("app", {
        volumes: [{ name: "data", emptyDir: {} }, { name: "cfg", configMap: { name: "cfg" } }],
        containers: [c("app", { volumeMounts: [{ name: "data", mountPath: "/data" }] })],
      }),
    },
  },
  { name: "empty volumes list", pod: { spec: spec("app", { volumes: [] }) } },
  {
    name: "existing volume named aws-iam-token",
    pod: { spec: spec("app", { volumes: [{ name: "aws-iam-token", emptyDir: {} }] }) },
  },
  {
    name: "existing aws-iam-token mount at another path",
    pod: {
      spec: spec("app", {
        volumes: [{ name: "aws-iam-token", emptyDir: {} }],
        containers: [c("app", { volumeMounts: [{ name: "aws-iam-token", mountPath: "/elsewhere" }] }), c("other")],
      }),
    },
  },
  {
    name: "Windows node selector kubernetes.io/os",
    pod: { spec: spec("app", { nodeSelector: { "kubernetes.io/os": "windows" } }) },
  },
  {
    name: "Windows node selector beta.kubernetes.io/os",
    pod: { spec: spec("regional-true", { nodeSelector: { "beta.kubernetes.io/os": "windows" } }) },
  },
  {
    name: "Linux node selector",
    pod: { spec: spec("app", { nodeSelector: { "kubernetes.io/os": "linux" } }) },
  },
  {
    name: "opt-out label",
    pod: { metadata: { labels: { "eks.amazonaws.com/skip-pod-identity-webhook": "true" } }, spec: spec("app") },
  },
  {
    name: "opt-out label with the value false still opts out",
    pod: { metadata: { labels: { "eks.amazonaws.com/skip-pod-identity-webhook": "false" } }, spec: spec("app") },
  },
  {
    name: "deprecated serviceAccount field",
    pod: { spec: { serviceAccount: "app", containers: [c("app")] } },
  },
  { name: "no serviceAccountName (the default ServiceAccount has a role)", pod: { spec: spec(undefined) } },
  {
    name: "containers with ports, resources, probes and a security context",
    pod: {
      spec: spec("everything", {
        containers: [
          c("app", {
            command: ["sh", "-c", "sleep 1"],
            ports: [{ containerPort: 8080, name: "http" }],
            resources: { limits: { cpu: "1", memory: "128Mi" }, requests: { cpu: "100m" } },
            readinessProbe: { httpGet: { path: "/", port: 8080 } },
            securityContext: { runAsNonRoot: true, readOnlyRootFilesystem: true },
            env: env({ FOO: "bar" }),
            volumeMounts: [{ name: "data", mountPath: "/data", readOnly: true }],
          }),
        ],
        volumes: [{ name: "data", emptyDir: {} }],
      }),
    },
  },
];
