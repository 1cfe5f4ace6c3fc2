// Upstream behaviour that surprises, read from aws/amazon-eks-pod-identity-webhook at commit
// 31a56c0707a332b104840ef7a6595ba3675c29ff (pkg/handler/handler.go getPodSpecPatch, addEnvToContainer,
// parsePodAnnotations, getContainersToSkip; pkg/cache/cache.go addSA; main.go flags), with its fixtures in
// pkg/handler/testdata. We follow upstream in every point unless the point says otherwise.
//
// 1. Containers are not patched env by env. Upstream sends `add /spec/containers` (and `add /spec/initContainers`
//    when there are any) with the whole list, mutated or not. So a re-invocation adds no duplicates, but its patch
//    is not empty: it sends the unchanged containers again.
// 2. The token volume goes first. When the pod has a volumes list, upstream uses `add /spec/volumes/0`, not
//    `/spec/volumes/-`. Without a list (absent or null), it adds `/spec/volumes` as a one-element array. An empty
//    list `[]` counts as a list.
// 3. A container that already sets a web identity variable, a region variable and AWS_STS_REGIONAL_ENDPOINTS is
//    left alone completely: it does not even get the volume mount. The pod volume is still added (fixture
//    rawPodHasAll).
// 4. AWS_ROLE_ARN or AWS_WEB_IDENTITY_TOKEN_FILE alone blocks both of them, even one set by valueFrom. The
//    container still gets the region variables and the mount (fixture rawPodSkip).
// 5. Env order is AWS_STS_REGIONAL_ENDPOINTS, AWS_DEFAULT_REGION, AWS_REGION, AWS_ROLE_ARN,
//    AWS_WEB_IDENTITY_TOKEN_FILE, appended after the container's own variables. If either region variable is set,
//    neither is added.
// 6. skip-containers is read as the first record of Go's encoding/csv with default settings, and the names are
//    not trimmed. So "sidecar, app" skips "sidecar" and " app", which means the container "app" is NOT skipped. A
//    stray quote makes csv fail, and then nothing is skipped. Only the first line counts. parseCsvFirstRecord was
//    checked against Go 1.26's encoding/csv on every input in its table.
// 7. Windows (`kubernetes.io/os` or `beta.kubernetes.io/os` equal to `windows`) changes only the
//    AWS_WEB_IDENTITY_TOKEN_FILE value, to "C:" + the path with `\`. The volumeMount keeps the POSIX mount path.
// 8. An existing volume named aws-iam-token of ANY kind counts as already injected: no volume op, and containers
//    still get env and a mount. The same goes for an existing mount of that name at another path. Stored upstream
//    commit 604af92 instead leaves the pod unmutated when that volume is not the webhook's own projected token.
//    Mainline 31a56c07 does not do that, so neither do we.
// 9. Token expiration: pod annotation > SA annotation > flag. Each one that applies is raised to 600 s. The values
//    are parsed as Go int64, so "+3600" and "-5" are valid, while " 3600" and "1h" are ignored and the next source
//    applies. Upstream adds random jitter (79200-86400) to the default only for EKS Pod Identity (container
//    credentials), not for IRSA web identity; we never add jitter. Recent upstream fixtures still show 79200 for
//    web identity pods, from their test harness.
// 10. An empty role-arn annotation means no mutation. An empty audience annotation is used as it is, and Go's
//     omitempty then drops `audience`, so the API server's own audience applies. sts-regional-endpoints uses Go's
//     ParseBool ("1", "t", "TRUE", …), and an invalid value falls back to the flag.
// 11. The handler never reads the opt-out label eks.amazonaws.com/skip-pod-identity-webhook; only the
//     MutatingWebhookConfiguration's objectSelector does. mutatePod ignores it too.
// 12. Upstream round-trips containers through Go structs: it adds `"resources":{}` and drops unknown fields. We
//     pass containers through untouched, which gives the same pod after the API server's defaulting.

import { deepStrictEqual, equal, throws } from "node:assert/strict";
import {
  applyJsonPatch,
  defaultWebhookConfig,
  type EnvVar,
  identityFromAnnotations,
  type JsonPatchOp,
  mutatePod,
  parseCsvFirstRecord,
  type Pod,
  type ServiceAccountIdentity,
  type WebhookConfig,
} from "./pod_mutation.ts";
import { type ListedPod, missesCredentials } from "./pod_mutation.ts";
import { tokenMount } from "./names.ts";

const role = "arn:aws:iam::111122223333:role/s3-reader";
const tokenFile = "/var/run/secrets/eks.amazonaws.com/serviceaccount/token";
const windowsTokenFile = "C:\\var\\run\\secrets\\eks.amazonaws.com\\serviceaccount\\token";
const sa = { "eks.amazonaws.com/role-arn": role };
const mount = { name: "aws-iam-token", readOnly: true, mountPath: "/var/run/secrets/eks.amazonaws.com/serviceaccount" };
const creds = (file = tokenFile) => [
  { name: "AWS_ROLE_ARN", value: role },
  { name: "AWS_WEB_IDENTITY_TOKEN_FILE", value: file },
];
const sts = { name: "AWS_STS_REGIONAL_ENDPOINTS", value: "regional" };
const region = (r: string) => [{ name: "AWS_DEFAULT_REGION", value: r }, { name: "AWS_REGION", value: r }];
const tokenVolume = (expirationSeconds = 86400, audience: string | null = "sts.amazonaws.com") => ({
  name: "aws-iam-token",
  projected: {
    sources: [{
      serviceAccountToken: { ...(audience === null ? {} : { audience }), expirationSeconds, path: "token" },
    }],
  },
});
const app = { name: "app", image: "amazonlinux" };
const sidecar = { name: "sidecar", image: "amazonlinux" };
const mutated = (c: { name: string; image: string }, env: EnvVar[] = creds()) => ({
  ...c,
  env,
  volumeMounts: [mount],
});

function pod(spec: Partial<Pod["spec"]>, annotations?: Record<string, string>): Pod {
  return {
    metadata: { name: "p", namespace: "default", ...(annotations ? { annotations } : {}) },
    spec: { serviceAccountName: "default", containers: [app], ...spec },
  };
}

interface Case {
  name: string;
  pod: Pod;
  sa?: Record<string, string>;
  config?: Partial<WebhookConfig>;
  /** "op path" of each operation, when the form of the patch matters. */
  ops?: string[];
  want: Pod;
}

const cases: Case[] = [
  {
    name: "plain pod gets the volume, the env and the mount",
    pod: pod({}),
    ops: ["add /spec/volumes", "add /spec/containers"],
    want: pod({ containers: [mutated(app)], volumes: [tokenVolume()] }),
  },
  { name: "no role annotation: no patch", pod: pod({}), sa: {}, ops: [], want: pod({}) },
  {
    name: "empty role annotation: no patch",
    pod: pod({}),
    sa: { "eks.amazonaws.com/role-arn": "" },
    ops: [],
    want: pod({}),
  },
  {
    name: "SA audience annotation sets the token audience",
    pod: pod({}),
    sa: { ...sa, "eks.amazonaws.com/audience": "vault" },
    want: pod({ containers: [mutated(app)], volumes: [tokenVolume(86400, "vault")] }),
  },
  {
    name: "empty SA audience annotation omits the audience",
    pod: pod({}),
    sa: { ...sa, "eks.amazonaws.com/audience": "" },
    want: pod({ containers: [mutated(app)], volumes: [tokenVolume(86400, null)] }),
  },
  {
    name: "config audience is the default",
    pod: pod({}),
    config: { defaultAudience: "other" },
    want: pod({ containers: [mutated(app)], volumes: [tokenVolume(86400, "other")] }),
  },
  {
    name: "regional STS via SA annotation",
    pod: pod({}),
    sa: { ...sa, "eks.amazonaws.com/sts-regional-endpoints": "true" },
    want: pod({ containers: [mutated(app, [sts, ...creds()])], volumes: [tokenVolume()] }),
  },
  {
    name: "regional STS via config",
    pod: pod({}),
    config: { regionalSts: true },
    want: pod({ containers: [mutated(app, [sts, ...creds()])], volumes: [tokenVolume()] }),
  },
  {
    name: "SA annotation false overrides regional STS config",
    pod: pod({}),
    sa: { ...sa, "eks.amazonaws.com/sts-regional-endpoints": "false" },
    config: { regionalSts: true },
    want: pod({ containers: [mutated(app)], volumes: [tokenVolume()] }),
  },
  {
    name: "unparsable SA regional annotation falls back to config",
    pod: pod({}),
    sa: { ...sa, "eks.amazonaws.com/sts-regional-endpoints": "yes" },
    config: { regionalSts: true },
    want: pod({ containers: [mutated(app, [sts, ...creds()])], volumes: [tokenVolume()] }),
  },
  {
    name: "default region adds AWS_DEFAULT_REGION then AWS_REGION",
    pod: pod({}),
    config: { defaultRegion: "eu-west-1" },
    want: pod({ containers: [mutated(app, [...region("eu-west-1"), ...creds()])], volumes: [tokenVolume()] }),
  },
  {
    name: "empty default region adds nothing",
    pod: pod({}),
    config: { defaultRegion: "" },
    want: pod({ containers: [mutated(app)], volumes: [tokenVolume()] }),
  },
  {
    name: "full env order is STS, default region, region, role, token file, after the container's own",
    pod: pod({ containers: [{ ...app, env: [{ name: "FOO", value: "bar" }] }] }),
    config: { regionalSts: true, defaultRegion: "us-west-2" },
    want: pod({
      containers: [mutated(app, [{ name: "FOO", value: "bar" }, sts, ...region("us-west-2"), ...creds()])],
      volumes: [tokenVolume()],
    }),
  },
  {
    name: "an existing AWS_REGION blocks both region variables",
    pod: pod({ containers: [{ ...app, env: [{ name: "AWS_REGION", value: "ap-south-1" }] }] }),
    config: { defaultRegion: "us-west-2" },
    want: pod({
      containers: [mutated(app, [{ name: "AWS_REGION", value: "ap-south-1" }, ...creds()])],
      volumes: [tokenVolume()],
    }),
  },
  {
    name: "an existing AWS_STS_REGIONAL_ENDPOINTS is kept",
    pod: pod({ containers: [{ ...app, env: [{ name: "AWS_STS_REGIONAL_ENDPOINTS", value: "legacy" }] }] }),
    config: { regionalSts: true },
    want: pod({
      containers: [mutated(app, [{ name: "AWS_STS_REGIONAL_ENDPOINTS", value: "legacy" }, ...creds()])],
      volumes: [tokenVolume()],
    }),
  },
  {
    name: "AWS_ROLE_ARN already set: no credential env, but region and mount",
    pod: pod({ containers: [sidecar, { ...app, env: [{ name: "AWS_ROLE_ARN", value: "already-defined" }] }] }),
    config: { defaultRegion: "us-west-2" },
    want: pod({
      containers: [
        mutated(sidecar, [...region("us-west-2"), ...creds()]),
        mutated(app, [{ name: "AWS_ROLE_ARN", value: "already-defined" }, ...region("us-west-2")]),
      ],
      volumes: [tokenVolume()],
    }),
  },
  {
    name: "AWS_WEB_IDENTITY_TOKEN_FILE by valueFrom blocks both credential variables",
    pod: pod({
      containers: [{
        ...app,
        env: [{ name: "AWS_WEB_IDENTITY_TOKEN_FILE", valueFrom: { fieldRef: { fieldPath: "x" } } }],
      }],
    }),
    want: pod({
      containers: [{
        ...app,
        env: [{ name: "AWS_WEB_IDENTITY_TOKEN_FILE", valueFrom: { fieldRef: { fieldPath: "x" } } }],
        volumeMounts: [mount],
      }],
      volumes: [tokenVolume()],
    }),
  },
  {
    name: "container with role, region and STS env is left alone, without a mount",
    pod: pod({
      containers: [{
        ...app,
        env: [{ name: "AWS_REGION", value: "cn-northwest-1" }, sts, { name: "AWS_ROLE_ARN", value: role }],
      }],
    }),
    config: { regionalSts: true, defaultRegion: "cn-north-1" },
    ops: ["add /spec/volumes", "add /spec/containers"],
    want: pod({
      containers: [{
        ...app,
        env: [{ name: "AWS_REGION", value: "cn-northwest-1" }, sts, { name: "AWS_ROLE_ARN", value: role }],
      }],
      volumes: [tokenVolume()],
    }),
  },
  {
    name: "skip-containers skips the named container",
    pod: pod({ containers: [sidecar, app] }, { "eks.amazonaws.com/skip-containers": "sidecar" }),
    want: pod({ containers: [sidecar, mutated(app)], volumes: [tokenVolume()] }, {
      "eks.amazonaws.com/skip-containers": "sidecar",
    }),
  },
  {
    name: "skip-containers with spaces keeps the space, so the second name is not skipped",
    pod: pod({ containers: [sidecar, app] }, { "eks.amazonaws.com/skip-containers": "sidecar, app" }),
    want: pod({ containers: [sidecar, mutated(app)], volumes: [tokenVolume()] }, {
      "eks.amazonaws.com/skip-containers": "sidecar, app",
    }),
  },
  {
    name: "skip-containers without spaces skips every name",
    pod: pod({ containers: [sidecar, app] }, { "eks.amazonaws.com/skip-containers": "sidecar,app" }),
    want: pod({ containers: [sidecar, app], volumes: [tokenVolume()] }, {
      "eks.amazonaws.com/skip-containers": "sidecar,app",
    }),
  },
  {
    name: "skip-containers with a stray quote skips nothing",
    pod: pod({ containers: [sidecar, app] }, { "eks.amazonaws.com/skip-containers": 'sidecar,"app' }),
    want: pod({ containers: [mutated(sidecar), mutated(app)], volumes: [tokenVolume()] }, {
      "eks.amazonaws.com/skip-containers": 'sidecar,"app',
    }),
  },
  {
    name: "init containers are mutated and patched after containers",
    pod: pod({ initContainers: [{ name: "init", image: "amazonlinux" }, { ...sidecar, restartPolicy: "Always" }] }),
    config: { defaultRegion: "seattle" },
    ops: ["add /spec/volumes", "add /spec/containers", "add /spec/initContainers"],
    want: pod({
      containers: [mutated(app, [...region("seattle"), ...creds()])],
      initContainers: [
        mutated({ name: "init", image: "amazonlinux" }, [...region("seattle"), ...creds()]),
        { ...mutated(sidecar, [...region("seattle"), ...creds()]), restartPolicy: "Always" },
      ],
      volumes: [tokenVolume()],
    }),
  },
  {
    name: "skip-containers applies to init containers",
    pod: pod({ initContainers: [{ name: "init", image: "amazonlinux" }] }, {
      "eks.amazonaws.com/skip-containers": "init",
    }),
    want: pod({
      containers: [mutated(app)],
      initContainers: [{ name: "init", image: "amazonlinux" }],
      volumes: [tokenVolume()],
    }, { "eks.amazonaws.com/skip-containers": "init" }),
  },
  {
    name: "an empty initContainers list gets no patch",
    pod: pod({ initContainers: [] }),
    ops: ["add /spec/volumes", "add /spec/containers"],
    want: pod({ containers: [mutated(app)], initContainers: [], volumes: [tokenVolume()] }),
  },
  {
    name: "token expiration: pod annotation wins over SA annotation",
    pod: pod({}, { "eks.amazonaws.com/token-expiration": "3600" }),
    sa: { ...sa, "eks.amazonaws.com/token-expiration": "7200" },
    want: pod({ containers: [mutated(app)], volumes: [tokenVolume(3600)] }, {
      "eks.amazonaws.com/token-expiration": "3600",
    }),
  },
  {
    name: "token expiration: SA annotation wins over the flag",
    pod: pod({}),
    sa: { ...sa, "eks.amazonaws.com/token-expiration": "7200" },
    config: { defaultTokenExpiration: 43200 },
    want: pod({ containers: [mutated(app)], volumes: [tokenVolume(7200)] }),
  },
  {
    name: "token expiration: the flag applies without annotations",
    pod: pod({}),
    config: { defaultTokenExpiration: 43200 },
    want: pod({ containers: [mutated(app)], volumes: [tokenVolume(43200)] }),
  },
  {
    name: "token expiration: pod annotation below 600 is raised to 600",
    pod: pod({}, { "eks.amazonaws.com/token-expiration": "0" }),
    want: pod({ containers: [mutated(app)], volumes: [tokenVolume(600)] }, {
      "eks.amazonaws.com/token-expiration": "0",
    }),
  },
  {
    name: "token expiration: negative SA annotation is raised to 600",
    pod: pod({}),
    sa: { ...sa, "eks.amazonaws.com/token-expiration": "-5" },
    want: pod({ containers: [mutated(app)], volumes: [tokenVolume(600)] }),
  },
  {
    name: "token expiration: flag below 600 is raised to 600",
    pod: pod({}),
    config: { defaultTokenExpiration: 300 },
    want: pod({ containers: [mutated(app)], volumes: [tokenVolume(600)] }),
  },
  {
    name: "token expiration: garbage pod annotation falls back to the SA annotation",
    pod: pod({}, { "eks.amazonaws.com/token-expiration": "1h" }),
    sa: { ...sa, "eks.amazonaws.com/token-expiration": "7200" },
    want: pod({ containers: [mutated(app)], volumes: [tokenVolume(7200)] }, {
      "eks.amazonaws.com/token-expiration": "1h",
    }),
  },
  {
    name: "token expiration: garbage SA annotation and padded pod annotation fall back to the flag",
    pod: pod({}, { "eks.amazonaws.com/token-expiration": " 3600" }),
    sa: { ...sa, "eks.amazonaws.com/token-expiration": "abc" },
    want: pod({ containers: [mutated(app)], volumes: [tokenVolume(86400)] }, {
      "eks.amazonaws.com/token-expiration": " 3600",
    }),
  },
  {
    name: "token expiration: a leading plus sign parses as in Go",
    pod: pod({}, { "eks.amazonaws.com/token-expiration": "+3600" }),
    want: pod({ containers: [mutated(app)], volumes: [tokenVolume(3600)] }, {
      "eks.amazonaws.com/token-expiration": "+3600",
    }),
  },
  {
    name: "Windows nodeSelector switches only the token file path",
    pod: pod({ nodeSelector: { "kubernetes.io/os": "windows" } }),
    want: pod({
      nodeSelector: { "kubernetes.io/os": "windows" },
      containers: [mutated(app, creds(windowsTokenFile))],
      volumes: [tokenVolume()],
    }),
  },
  {
    name: "beta Windows nodeSelector also switches the path",
    pod: pod({ nodeSelector: { "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "windows" } }),
    want: pod({
      nodeSelector: { "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "windows" },
      containers: [mutated(app, creds(windowsTokenFile))],
      volumes: [tokenVolume()],
    }),
  },
  {
    name: "Linux nodeSelector keeps the POSIX path",
    pod: pod({ nodeSelector: { "kubernetes.io/os": "linux" } }),
    want: pod({ nodeSelector: { "kubernetes.io/os": "linux" }, containers: [mutated(app)], volumes: [tokenVolume()] }),
  },
  {
    name: "existing volumes: the token volume is prepended at /spec/volumes/0",
    pod: pod({ volumes: [{ name: "my-volume", emptyDir: {} }] }),
    ops: ["add /spec/volumes/0", "add /spec/containers"],
    want: pod({ containers: [mutated(app)], volumes: [tokenVolume(), { name: "my-volume", emptyDir: {} }] }),
  },
  {
    name: "an empty volumes list counts as a list",
    pod: pod({ volumes: [] }),
    ops: ["add /spec/volumes/0", "add /spec/containers"],
    want: pod({ containers: [mutated(app)], volumes: [tokenVolume()] }),
  },
  {
    name: "a null volumes list counts as absent",
    pod: pod({ volumes: null }),
    ops: ["add /spec/volumes", "add /spec/containers"],
    want: pod({ containers: [mutated(app)], volumes: [tokenVolume()] }),
  },
  {
    name: "token volume already present: not added again, containers still completed",
    pod: pod({
      containers: [{ ...app, env: creds(), volumeMounts: [mount] }, sidecar],
      volumes: [tokenVolume()],
    }),
    ops: ["add /spec/containers"],
    want: pod({ containers: [mutated(app), mutated(sidecar)], volumes: [tokenVolume()] }),
  },
  {
    name: "a foreign volume named aws-iam-token counts as present",
    pod: pod({ volumes: [{ name: "aws-iam-token", hostPath: { path: "/x" } }] }),
    ops: ["add /spec/containers"],
    want: pod({ containers: [mutated(app)], volumes: [{ name: "aws-iam-token", hostPath: { path: "/x" } }] }),
  },
  {
    name: "an existing mount named aws-iam-token is kept, even at another path",
    pod: pod({ containers: [{ ...app, volumeMounts: [{ name: "aws-iam-token", mountPath: "/elsewhere" }] }] }),
    want: pod({
      containers: [{ ...app, env: creds(), volumeMounts: [{ name: "aws-iam-token", mountPath: "/elsewhere" }] }],
      volumes: [tokenVolume()],
    }),
  },
  {
    name: "existing mounts are kept and the token mount appended",
    pod: pod({ containers: [{ ...app, volumeMounts: [{ name: "data", mountPath: "/data" }] }] }),
    want: pod({
      containers: [{ ...app, env: creds(), volumeMounts: [{ name: "data", mountPath: "/data" }, mount] }],
      volumes: [tokenVolume()],
    }),
  },
  {
    name: "null env and mounts are treated as empty",
    pod: pod({ containers: [{ ...app, env: null, volumeMounts: null }] }),
    want: pod({ containers: [mutated(app)], volumes: [tokenVolume()] }),
  },
  {
    name: "custom annotation prefix is used for SA and pod annotations",
    pod: pod({ containers: [sidecar, app] }, {
      "example.com/skip-containers": "sidecar",
      "example.com/token-expiration": "1200",
      "eks.amazonaws.com/token-expiration": "9999",
    }),
    sa: { "example.com/role-arn": role, "example.com/audience": "custom", "eks.amazonaws.com/audience": "ignored" },
    config: { annotationPrefix: "example.com" },
    want: pod({ containers: [sidecar, mutated(app)], volumes: [tokenVolume(1200, "custom")] }, {
      "example.com/skip-containers": "sidecar",
      "example.com/token-expiration": "1200",
      "eks.amazonaws.com/token-expiration": "9999",
    }),
  },
  {
    name: "custom annotation prefix ignores the default prefix's role",
    pod: pod({}),
    sa: { "eks.amazonaws.com/role-arn": role },
    config: { annotationPrefix: "example.com" },
    ops: [],
    want: pod({}),
  },
  {
    name: "custom mount path: token file path is cleaned, the mount path is used as given",
    pod: pod({}),
    config: { mountPath: "/custom//path/" },
    want: pod({
      containers: [{
        ...app,
        env: creds("/custom/path/token"),
        volumeMounts: [{ name: "aws-iam-token", readOnly: true, mountPath: "/custom//path/" }],
      }],
      volumes: [tokenVolume()],
    }),
  },
  {
    name: "custom mount path on Windows",
    pod: pod({ nodeSelector: { "kubernetes.io/os": "windows" } }),
    config: { mountPath: "/run/aws" },
    want: pod({
      nodeSelector: { "kubernetes.io/os": "windows" },
      containers: [{
        ...app,
        env: creds("C:\\run\\aws\\token"),
        volumeMounts: [{ name: "aws-iam-token", readOnly: true, mountPath: "/run/aws" }],
      }],
      volumes: [tokenVolume()],
    }),
  },
  {
    name: "other container and pod fields pass through untouched",
    pod: {
      metadata: { name: "p", labels: { a: "b" }, ownerReferences: [] },
      spec: {
        containers: [{ ...app, ports: [{ containerPort: 80 }], resources: { limits: { cpu: "1" } } }],
        securityContext: { runAsNonRoot: true },
      },
    },
    want: {
      metadata: { name: "p", labels: { a: "b" }, ownerReferences: [] },
      spec: {
        containers: [{
          ...app,
          ports: [{ containerPort: 80 }],
          resources: { limits: { cpu: "1" } },
          env: creds(),
          volumeMounts: [mount],
        }],
        securityContext: { runAsNonRoot: true },
        volumes: [tokenVolume()],
      },
    },
  },
  {
    name: "the opt-out label is not the handler's business",
    pod: {
      metadata: { labels: { "eks.amazonaws.com/skip-pod-identity-webhook": "true" } },
      spec: { containers: [app] },
    },
    want: {
      metadata: { labels: { "eks.amazonaws.com/skip-pod-identity-webhook": "true" } },
      spec: { containers: [mutated(app)], volumes: [tokenVolume()] },
    },
  },
];

function run(c: { pod: Pod; sa?: Record<string, string>; config?: Partial<WebhookConfig> }): JsonPatchOp[] {
  const config: WebhookConfig = { ...defaultWebhookConfig, ...c.config };
  return mutatePod(c.pod, identityFromAnnotations(c.sa ?? sa, config), config);
}

Deno.test("mutatePod() builds upstream's patch, and a re-invocation adds nothing", async (t) => {
  for (const c of cases) {
    await t.step(c.name, () => {
      const before = structuredClone(c.pod);
      const ops = run(c);
      deepStrictEqual(c.pod, before, "the input pod must not be modified");
      if (c.ops) deepStrictEqual(ops.map((o) => `${o.op} ${o.path}`), c.ops);
      const after = applyJsonPatch(c.pod, ops);
      deepStrictEqual(after, c.want);
      // Re-invocation: the API server may call the webhook again on its own output.
      const again = applyJsonPatch(after, run({ ...c, pod: after }));
      deepStrictEqual(again, after);
    });
  }
});

Deno.test("mutatePod() re-sends the unchanged containers on re-invocation, as upstream does", () => {
  const config = { ...defaultWebhookConfig, defaultRegion: "us-east-1" };
  const identity = identityFromAnnotations(sa, config);
  const p = pod({ initContainers: [{ name: "init", image: "x" }] });
  const once = applyJsonPatch(p, mutatePod(p, identity, config));
  equal(once.spec.volumes?.length, 1);
  deepStrictEqual(mutatePod(once, identity, config), [
    { op: "add", path: "/spec/containers", value: once.spec.containers },
    { op: "add", path: "/spec/initContainers", value: once.spec.initContainers },
  ]);
});

Deno.test("mutatePod() emits the projected volume in upstream's exact form", () => {
  const ops = run({ pod: pod({}), sa: { ...sa, "eks.amazonaws.com/token-expiration": "3600" } });
  deepStrictEqual(ops[0], {
    op: "add",
    path: "/spec/volumes",
    value: [{
      name: tokenMount.volume,
      projected: {
        sources: [{ serviceAccountToken: { audience: "sts.amazonaws.com", expirationSeconds: 3600, path: "token" } }],
      },
    }],
  });
});

Deno.test("identityFromAnnotations() reads a ServiceAccount like upstream's cache", async (t) => {
  const cases: {
    name: string;
    annotations: Record<string, string> | undefined;
    prefix?: string;
    want: ServiceAccountIdentity;
  }[] = [
    { name: "no annotations", annotations: undefined, want: {} },
    { name: "role only", annotations: sa, want: { roleArn: role } },
    {
      name: "all annotations",
      annotations: {
        ...sa,
        "eks.amazonaws.com/audience": "aud",
        "eks.amazonaws.com/sts-regional-endpoints": "true",
        "eks.amazonaws.com/token-expiration": "3600",
      },
      want: { roleArn: role, audience: "aud", stsRegionalEndpoints: true, tokenExpiration: 3600 },
    },
    {
      name: "Go bool spellings",
      annotations: { "eks.amazonaws.com/sts-regional-endpoints": "F" },
      want: { stsRegionalEndpoints: false },
    },
    {
      name: "invalid bool and int are dropped",
      annotations: { "eks.amazonaws.com/sts-regional-endpoints": "yes", "eks.amazonaws.com/token-expiration": "1e4" },
      want: {},
    },
    {
      name: "int64 overflow is invalid",
      annotations: { "eks.amazonaws.com/token-expiration": "9223372036854775808" },
      want: {},
    },
    {
      name: "low expiration is raised",
      annotations: { "eks.amazonaws.com/token-expiration": "599" },
      want: { tokenExpiration: 600 },
    },
    {
      name: "other prefix",
      annotations: { "a.example/role-arn": "r", ...sa },
      prefix: "a.example",
      want: { roleArn: "r" },
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      deepStrictEqual(
        identityFromAnnotations(c.annotations, { annotationPrefix: c.prefix ?? "eks.amazonaws.com" }),
        c.want,
      );
    });
  }
});

Deno.test("parseCsvFirstRecord() matches Go's encoding/csv first record", async (t) => {
  // Each expectation was produced by Go 1.26 csv.NewReader(strings.NewReader(input)).Read(); undefined is an error.
  const cases: [string, string[] | undefined][] = [
    ["sidecar", ["sidecar"]],
    ["a,b", ["a", "b"]],
    ["a, b", ["a", " b"]],
    ["a,,b", ["a", "", "b"]],
    ["", undefined],
    ["\n", undefined],
    ["\nsidecar", ["sidecar"]],
    ["a\nb", ["a"]],
    ["a,b\r\n", ["a", "b"]],
    ["a\r", ["a"]],
    ['"a,b",c', ["a,b", "c"]],
    ['"a""b"', ['a"b']],
    ['"a"x', undefined],
    ['a"b', undefined],
    ['"unterminated', undefined],
    ['"multi\nline",x', ["multi\nline", "x"]],
    [' "a"', undefined],
    ["a,", ["a", ""]],
    ['""', [""]],
    [",", ["", ""]],
    ["\r\n\r\na", ["a"]],
    ['"a\r\nb"', ["a\nb"]],
    ["a\rb", ["a\rb"]],
    ['"a" ,b', undefined],
  ];
  for (const [input, want] of cases) {
    await t.step(JSON.stringify(input), () => deepStrictEqual(parseCsvFirstRecord(input), want));
  }
});

Deno.test("applyJsonPatch() applies add and replace like RFC 6902", async (t) => {
  const doc = { a: { b: [1, 2] }, "x/y": { "m~n": 1 } };
  const cases: { name: string; ops: JsonPatchOp[]; want?: unknown; error?: RegExp }[] = [
    { name: "add member", ops: [{ op: "add", path: "/c", value: 3 }], want: { ...doc, c: 3 } },
    { name: "add replaces a member", ops: [{ op: "add", path: "/a", value: 1 }], want: { ...doc, a: 1 } },
    { name: "add at index", ops: [{ op: "add", path: "/a/b/0", value: 0 }], want: { ...doc, a: { b: [0, 1, 2] } } },
    { name: "add at end", ops: [{ op: "add", path: "/a/b/-", value: 3 }], want: { ...doc, a: { b: [1, 2, 3] } } },
    { name: "add at length", ops: [{ op: "add", path: "/a/b/2", value: 3 }], want: { ...doc, a: { b: [1, 2, 3] } } },
    {
      name: "escaped tokens",
      ops: [{ op: "replace", path: "/x~1y/m~0n", value: 2 }],
      want: { ...doc, "x/y": { "m~n": 2 } },
    },
    { name: "replace element", ops: [{ op: "replace", path: "/a/b/1", value: 9 }], want: { ...doc, a: { b: [1, 9] } } },
    { name: "replace root", ops: [{ op: "replace", path: "", value: 1 }], want: 1 },
    { name: "missing parent", ops: [{ op: "add", path: "/nope/x", value: 1 }], error: /does not exist/ },
    { name: "replace missing member", ops: [{ op: "replace", path: "/nope", value: 1 }], error: /does not exist/ },
    { name: "index past end", ops: [{ op: "add", path: "/a/b/3", value: 1 }], error: /out of range/ },
    { name: "leading zero index", ops: [{ op: "add", path: "/a/b/01", value: 1 }], error: /Invalid array index/ },
    { name: "replace at end", ops: [{ op: "replace", path: "/a/b/-", value: 1 }], error: /Invalid array index/ },
    { name: "pointer without slash", ops: [{ op: "add", path: "a", value: 1 }], error: /must start/ },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const before = structuredClone(doc);
      if (c.error) throws(() => applyJsonPatch(doc, c.ops), c.error);
      else deepStrictEqual(applyJsonPatch(doc, c.ops), c.want);
      deepStrictEqual(doc, before, "the input document must not be modified");
    });
  }
});

const annotatedSa = { "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/app" };
const listedPod = (labels: Record<string, string> = {}): ListedPod => ({
  metadata: { name: "p", namespace: "ns", uid: "u", labels },
  spec: { serviceAccountName: "app", containers: [{ name: "c", image: "busybox" }] },
} as ListedPod);
const mutatedListedPod = applyJsonPatch(
  listedPod(),
  mutatePod(listedPod(), identityFromAnnotations(annotatedSa, defaultWebhookConfig), defaultWebhookConfig),
);

Deno.test("missesCredentials() flags only annotated, unmutated, not opted-out pods", async (t) => {
  const cases: { name: string; pod: ListedPod; sa: Record<string, string> | undefined; want: boolean }[] = [
    { name: "unmutated pod of an annotated SA", pod: listedPod(), sa: annotatedSa, want: true },
    { name: "mutated pod", pod: mutatedListedPod, sa: annotatedSa, want: false },
    { name: "SA without a role", pod: listedPod(), sa: {}, want: false },
    { name: "unknown SA", pod: listedPod(), sa: undefined, want: false },
    {
      name: "opted-out pod",
      pod: listedPod({ "eks.amazonaws.com/skip-pod-identity-webhook": "true" }),
      sa: annotatedSa,
      want: false,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => equal(missesCredentials(c.pod, c.sa, defaultWebhookConfig), c.want));
  }
});
