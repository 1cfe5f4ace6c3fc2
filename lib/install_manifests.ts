// Everything `kubectl irsa install` puts in a cluster, as plain objects in apply order. Pure: the same options
// give the same objects, so `install --dry-run -o yaml`, the real install, uninstall and the tests all read one
// list. RBAC is least privilege: each rule says which daemon code path needs it.
import { createHash } from "node:crypto";
import { stringify } from "yaml";
import { admissionPolicyManifests } from "./admission_policy.ts";
import { crdManifests } from "./crds.ts";
import { invalid } from "./errors.ts";
import {
  awsCaBundle,
  awsEndpointEnv,
  awsSecret,
  crdGroup,
  irsaAnnotation,
  keySecret,
  label,
  leaderLease,
  managedByValue,
  podAnnotation,
  setupRecord,
  systemNamespace,
  webhookObjects,
} from "./names.ts";

/** A Kubernetes object as applied. */
export type Manifest = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
};

/** Container resources of the daemon. */
export interface Resources {
  requests: { cpu: string; memory: string };
  limits: { cpu: string; memory: string };
}

/** Options of {@link installManifests}. */
export interface InstallOptions {
  /** Namespace of the daemon (default `irsa-manager-system`, the seed's). */
  namespace?: string;
  /** Daemon image; see {@link defaultImage}. */
  image: string;
  /** Daemon replicas (default 2: one leads the reconcilers, both serve the webhook). */
  replicas?: number;
  /** What the apiserver does when the webhook cannot answer (default Ignore: pods still start, without credentials). */
  failurePolicy?: "Ignore" | "Fail";
  /**
   * Namespaces whose pods the webhook never sees, besides the daemon's own (always skipped). Default kube-system:
   * with failurePolicy Fail the control plane's pods would otherwise wait for the webhook.
   */
  webhookSkipNamespaces?: readonly string[];
  /** Webhook timeout in seconds, 1-30 (default 10). */
  webhookTimeoutSeconds?: number;
  resources?: Resources;
  /** Pass the seed's aws-secret keys to the daemon as environment variables, each optional (default true). */
  awsSecret?: boolean;
  /** AWS_ENDPOINT_URL of the daemon: a VPC endpoint, an S3-compatible store or an emulator (checked by the CLI). */
  awsEndpointUrl?: string;
  /**
   * PEM text the daemon trusts for AWS endpoints besides the system roots (checked by the CLI): a ConfigMap in the
   * daemon's namespace, mounted read-only, named by AWS_CA_BUNDLE.
   */
  awsCaBundlePem?: string;
  /** AWS_S3_FORCE_PATH_STYLE=true on the daemon, for S3-compatible stores without virtual-host buckets. */
  awsS3PathStyle?: boolean;
  /** A NetworkPolicy in front of the daemon's pods (default none: every pod may reach both ports). */
  networkPolicy?: NetworkPolicyOptions;
}

/** Who may reach the daemon's pods; see {@link InstallOptions.networkPolicy}. */
export interface NetworkPolicyOptions {
  /**
   * CIDRs that may reach the webhook port: the kube-apiserver's source addresses. At least one, since an ingress
   * rule without peers admits everyone. The CLI reads them from the `default/kubernetes` EndpointSlices by default.
   */
  webhookSources: readonly string[];
  /** Namespaces whose pods may reach the metrics port; none: no rule, so only the kubelet's probes reach it. */
  metricsNamespaces?: readonly string[];
}

/** Namespaces the webhook skips by default, besides the daemon's own. */
export const defaultWebhookSkipNamespaces: readonly string[] = ["kube-system"];

/** Name of the daemon's ServiceAccount, Deployment, Service and RBAC objects. */
export const daemonName = "kubectl-irsa";

/** The image `install` deploys by default: the release matching the plugin's version, never `latest`. */
export function defaultImage(version: string): string {
  return `ghcr.io/kubectl-irsa/kubectl-irsa:${version}`;
}

/** Default container resources of the daemon. */
export const defaultResources: Resources = {
  requests: { cpu: "50m", memory: "128Mi" },
  limits: { cpu: "500m", memory: "256Mi" },
};

/**
 * How a daemon pod stops. Deleting a pod takes it out of the Service's endpoints at once, but kube-proxy and the
 * apiserver learn of it seconds later, and the apiserver's pooled connections stay pinned to the pod by conntrack
 * until they close. So the kubelet's preStop sleep keeps the pod serving normally meanwhile; then SIGTERM stops the
 * controllers (the Lease is released) while the webhook drains with /readyz 503, each answer closing its connection,
 * and then closes.
 */
export const shutdownTiming = {
  // The sleep action (GA in Kubernetes 1.34, on by default since 1.30): the image has no shell and no sleep binary.
  preStopSeconds: 5,
  // The daemon's --shutdown-drain, the whole wait on its own if preStop is unsupported or SIGTERM comes from elsewhere.
  drainSeconds: 10,
  // Counted from the start of preStop: 5 s, then the longer of the webhook's 10 s drain and 5 s close grace and the
  // controllers' stop (an AWS request in flight, at most --aws-request-timeout 30 s, then the Lease release), plus
  // margin.
  terminationGracePeriodSeconds: 45,
} as const;

/** Ports of the daemon container. */
export const daemonPorts = { webhook: 9443, metrics: 8080 } as const;

/**
 * Environment variables filled from the seed's aws-secret keys, for the AWS SDK's default chain. The daemon also
 * reads the Secret itself (so rotated keys apply without a restart, and `aws-role-arn` is taken from there).
 */
export const awsSecretEnv: readonly { env: string; key: string }[] = [
  { env: "AWS_ACCESS_KEY_ID", key: awsSecret.accessKeyId },
  { env: "AWS_SECRET_ACCESS_KEY", key: awsSecret.secretAccessKey },
  { env: "AWS_SESSION_TOKEN", key: awsSecret.sessionToken },
  { env: "AWS_REGION", key: awsSecret.region },
];

/** Namespaces `install` refuses: uninstall deletes the daemon's namespace. */
export const reservedNamespaces: readonly string[] = ["kube-system", "kube-public", "kube-node-lease", "default"];

/** A PolicyRule with the reason it exists (the reason becomes a comment in `-o yaml`, never an API field). */
export interface ExplainedRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
  verbs: string[];
  why: string;
}

/** The daemon's cluster-wide rules. */
export const clusterRules: readonly ExplainedRule[] = [
  {
    apiGroups: [crdGroup],
    resources: ["irsas", "irsasetups"],
    verbs: ["get", "list", "watch", "update", "patch"],
    why: "The reconcilers watch both kinds in every namespace and add or remove the seed finalizer",
  },
  {
    apiGroups: [crdGroup],
    resources: ["irsas/status", "irsasetups/status"],
    verbs: ["update", "patch"],
    why: "The reconcilers write Ready conditions, the role ARN and the issuer into status",
  },
  {
    apiGroups: [crdGroup],
    resources: ["irsas/finalizers", "irsasetups/finalizers"],
    verbs: ["update"],
    why: "Setting blockOwnerDeletion on objects owned by a CR needs update on its finalizers subresource",
  },
  {
    apiGroups: [""],
    resources: ["serviceaccounts"],
    verbs: ["get", "list", "watch", "create", "patch", "delete"],
    why:
      "The webhook's ServiceAccount informer (list/watch, get on a cache miss); IRSA reconciles create or annotate " +
      "ServiceAccounts with server-side apply (create/patch) and delete only the ones kubectl-irsa created",
  },
  {
    apiGroups: [""],
    resources: ["namespaces"],
    verbs: ["get"],
    why: "An IRSA reconcile checks that each namespace of spec.serviceAccount.namespaces exists; the " +
      "missed-mutation scan reads a namespace's labels to tell whether the webhook selects it",
  },
  {
    apiGroups: [""],
    resources: ["pods"],
    verbs: ["list", "watch"],
    why: "The missed-mutation scan finds pods that started without the credentials their ServiceAccount asks for",
  },
  {
    apiGroups: [""],
    resources: ["events"],
    verbs: ["create", "patch"],
    why: "Events on CRs and on the owners of pods that missed the webhook, which live in any namespace",
  },
  {
    apiGroups: ["admissionregistration.k8s.io"],
    resources: ["mutatingwebhookconfigurations"],
    resourceNames: [webhookObjects.configuration],
    verbs: ["get", "patch"],
    why: "The daemon writes its self-managed CA into the webhook's caBundle, and only into its own configuration",
  },
];

/** The daemon's rules in kube-system, where `init` keeps the setup record and the seed kept its key. */
export const kubeSystemRules: readonly ExplainedRule[] = [
  {
    apiGroups: [""],
    resources: ["configmaps"],
    resourceNames: [setupRecord.name],
    verbs: ["get", "patch", "delete"],
    why: "IRSASetup reconciles read and server-side apply the setup record that bind and doctor read, and delete it " +
      "when an IRSASetup with cleanup: true is deleted",
  },
  {
    apiGroups: [""],
    resources: ["secrets"],
    resourceNames: [keySecret.name],
    verbs: ["get", "patch"],
    why: "keySource generate keeps the signing key pair in the seed's Secret (the seed README reads it from there)",
  },
  {
    apiGroups: [""],
    resources: ["configmaps", "secrets"],
    verbs: ["create"],
    why: "The first apply of the setup record or key Secret creates it; RBAC cannot limit create by name",
  },
];

/** The daemon's rules in its own namespace. */
export function namespaceRules(): ExplainedRule[] {
  return [
    {
      apiGroups: ["coordination.k8s.io"],
      resources: ["leases"],
      resourceNames: [leaderLease],
      verbs: ["get", "update"],
      why: "Leader election: one replica runs the reconcilers (every replica serves the webhook)",
    },
    {
      apiGroups: ["coordination.k8s.io"],
      resources: ["leases"],
      verbs: ["create"],
      why: "The first replica creates the leader Lease; RBAC cannot limit create by name",
    },
    {
      apiGroups: [""],
      resources: ["secrets"],
      resourceNames: [webhookObjects.tlsSecret],
      verbs: ["get", "update"],
      why: "The webhook CA and serving certificate, shared by the replicas and renewed in place",
    },
    {
      apiGroups: [""],
      resources: ["secrets"],
      verbs: ["create"],
      why: "The first replica creates the webhook TLS Secret; RBAC cannot limit create by name",
    },
    {
      apiGroups: [""],
      resources: ["secrets"],
      resourceNames: [awsSecret.name],
      verbs: ["get"],
      why: "The seed's AWS credentials Secret, re-read so rotated keys apply without a restart",
    },
  ];
}

/** Names of the ClusterRoles that aggregate into the built-in admin, edit and view roles. */
export const tenantRoleNames = { edit: `${daemonName}-edit`, view: `${daemonName}-view` } as const;

/**
 * What a namespace's admins and editors may do with IRSA objects there (aggregated into admin and edit). Never
 * irsas/status, whose role ARN and inventory drive cleanup, and never IRSASetups, which are the cluster's issuer.
 */
export const tenantEditRules: readonly ExplainedRule[] = [
  {
    apiGroups: [crdGroup],
    resources: ["irsas"],
    verbs: ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"],
    why: "Namespace admins and editors manage the IRSA objects of their namespace; the namespace-scope admission " +
      "policy and the reconciler keep each one to its own namespace's ServiceAccounts",
  },
];

/** What a namespace's viewers may read (aggregated into view, and through it into edit and admin). */
export const tenantViewRules: readonly ExplainedRule[] = [
  {
    apiGroups: [crdGroup],
    resources: ["irsas"],
    verbs: ["get", "list", "watch"],
    why: "Namespace viewers see the IRSA objects of their namespace and their status",
  },
];

/** The API resource of each kind `install` applies: how the CLI turns a manifest into a REST path. */
export const kindResources: Record<string, { resource: string; namespaced: boolean }> = {
  Namespace: { resource: "namespaces", namespaced: false },
  CustomResourceDefinition: { resource: "customresourcedefinitions", namespaced: false },
  ServiceAccount: { resource: "serviceaccounts", namespaced: true },
  ClusterRole: { resource: "clusterroles", namespaced: false },
  ClusterRoleBinding: { resource: "clusterrolebindings", namespaced: false },
  Role: { resource: "roles", namespaced: true },
  RoleBinding: { resource: "rolebindings", namespaced: true },
  Deployment: { resource: "deployments", namespaced: true },
  PodDisruptionBudget: { resource: "poddisruptionbudgets", namespaced: true },
  Service: { resource: "services", namespaced: true },
  ConfigMap: { resource: "configmaps", namespaced: true },
  MutatingWebhookConfiguration: { resource: "mutatingwebhookconfigurations", namespaced: false },
  ValidatingAdmissionPolicy: { resource: "validatingadmissionpolicies", namespaced: false },
  ValidatingAdmissionPolicyBinding: { resource: "validatingadmissionpolicybindings", namespaced: false },
  NetworkPolicy: { resource: "networkpolicies", namespaced: true },
};

/** The REST coordinates of a manifest (group "" for the core API). */
export function resourceRefOf(m: Manifest): {
  group: string;
  version: string;
  resource: string;
  namespace?: string;
  name: string;
} {
  const known = kindResources[m.kind];
  if (!known) throw new Error(`no API resource known for kind ${m.kind}`);
  const slash = m.apiVersion.indexOf("/");
  const group = slash === -1 ? "" : m.apiVersion.slice(0, slash);
  const version = m.apiVersion.slice(slash + 1);
  return {
    group,
    version,
    resource: known.resource,
    name: m.metadata.name,
    ...(known.namespaced && m.metadata.namespace ? { namespace: m.metadata.namespace } : {}),
  };
}

function rbacRules(rules: readonly ExplainedRule[]): Record<string, unknown>[] {
  return rules.map(({ why: _why, ...rule }) => rule);
}

/** All objects of an installation, in apply order. */
export function installManifests(options: InstallOptions): Manifest[] {
  const namespace = options.namespace ?? systemNamespace;
  const replicas = options.replicas ?? 2;
  const failurePolicy = options.failurePolicy ?? "Ignore";
  const timeoutSeconds = options.webhookTimeoutSeconds ?? 10;
  const resources = options.resources ?? defaultResources;
  const labels = { "app.kubernetes.io/name": daemonName, [label.managedBy]: managedByValue };
  const selector = { "app.kubernetes.io/name": daemonName };
  const meta = (name: string, ns?: string) => ({ name, ...(ns ? { namespace: ns } : {}), labels });
  const subject = { kind: "ServiceAccount", name: daemonName, namespace };
  const rbac = "rbac.authorization.k8s.io";

  const env: Record<string, unknown>[] = [
    { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
    // The leader-election identity.
    { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
    // The root filesystem is read-only; anything that wants a home gets the writable /tmp. No DENO_DIR: the image
    // brings its own (a from-source image bakes a read-only one), and one pointing into /tmp would be empty.
    { name: "HOME", value: "/tmp" },
  ];
  if (options.awsSecret ?? true) {
    for (const { env: name, key } of awsSecretEnv) {
      // optional: the default AWS credential chain still works when the Secret or a key is absent.
      env.push({ name, valueFrom: { secretKeyRef: { name: awsSecret.name, key, optional: true } } });
    }
  }
  if (options.awsEndpointUrl !== undefined) {
    env.push({ name: awsEndpointEnv.endpointUrl, value: options.awsEndpointUrl });
  }
  if (options.awsS3PathStyle) env.push({ name: awsEndpointEnv.s3ForcePathStyle, value: "true" });
  const caBundle = options.awsCaBundlePem;
  const volumeMounts: Record<string, unknown>[] = [{ name: "tmp", mountPath: "/tmp" }];
  const volumes: Record<string, unknown>[] = [{ name: "tmp", emptyDir: { sizeLimit: "64Mi" } }];
  if (caBundle !== undefined) {
    env.push({ name: awsEndpointEnv.caBundle, value: `${awsCaBundle.mountPath}/${awsCaBundle.key}` });
    volumeMounts.push({ name: awsCaBundle.volume, mountPath: awsCaBundle.mountPath, readOnly: true });
    volumes.push({ name: awsCaBundle.volume, configMap: { name: awsCaBundle.configMap } });
  }

  const aggregateTo = (...roles: string[]) => ({
    ...labels,
    ...Object.fromEntries(roles.map((r) => [`${rbac}/aggregate-to-${r}`, "true"])),
  });

  return [
    { apiVersion: "v1", kind: "Namespace", metadata: meta(namespace) },
    ...(crdManifests() as Manifest[]).map((crd) => ({ ...crd, metadata: { ...crd.metadata, labels } })),
    // Right after the CRDs and before the tenant roles, so no one those roles let in meets a cluster without the
    // checks.
    ...(admissionPolicyManifests(namespace, labels) as Manifest[]),
    { apiVersion: "v1", kind: "ServiceAccount", metadata: meta(daemonName, namespace) },
    {
      apiVersion: `${rbac}/v1`,
      kind: "ClusterRole",
      metadata: meta(daemonName),
      rules: rbacRules(clusterRules),
    },
    {
      apiVersion: `${rbac}/v1`,
      kind: "ClusterRoleBinding",
      metadata: meta(daemonName),
      roleRef: { apiGroup: rbac, kind: "ClusterRole", name: daemonName },
      subjects: [subject],
    },
    {
      // The built-in role for /.well-known/openid-configuration and /openid/v1/jwks (keySource cluster). It is
      // bound to all ServiceAccounts by default; binding it by name keeps working where that default was removed.
      apiVersion: `${rbac}/v1`,
      kind: "ClusterRoleBinding",
      metadata: meta(`${daemonName}-issuer-discovery`),
      roleRef: { apiGroup: rbac, kind: "ClusterRole", name: "system:service-account-issuer-discovery" },
      subjects: [subject],
    },
    {
      // Aggregated by kube-controller-manager into the built-in roles, so whoever a RoleBinding makes admin or
      // editor of a namespace may manage its IRSA objects; nothing is bound here.
      apiVersion: `${rbac}/v1`,
      kind: "ClusterRole",
      metadata: { name: tenantRoleNames.edit, labels: aggregateTo("admin", "edit") },
      rules: rbacRules(tenantEditRules),
    },
    {
      apiVersion: `${rbac}/v1`,
      kind: "ClusterRole",
      metadata: { name: tenantRoleNames.view, labels: aggregateTo("view") },
      rules: rbacRules(tenantViewRules),
    },
    {
      apiVersion: `${rbac}/v1`,
      kind: "Role",
      metadata: meta(daemonName, keySecret.namespace),
      rules: rbacRules(kubeSystemRules),
    },
    {
      apiVersion: `${rbac}/v1`,
      kind: "RoleBinding",
      metadata: meta(daemonName, keySecret.namespace),
      roleRef: { apiGroup: rbac, kind: "Role", name: daemonName },
      subjects: [subject],
    },
    {
      apiVersion: `${rbac}/v1`,
      kind: "Role",
      metadata: meta(daemonName, namespace),
      rules: rbacRules(namespaceRules()),
    },
    {
      apiVersion: `${rbac}/v1`,
      kind: "RoleBinding",
      metadata: meta(daemonName, namespace),
      roleRef: { apiGroup: rbac, kind: "Role", name: daemonName },
      subjects: [subject],
    },
    // Before the Deployment, so its first pods are never reachable from everywhere.
    ...(options.networkPolicy
      ? [networkPolicy(options.networkPolicy, { metadata: meta(daemonName, namespace), selector })]
      : []),
    // Before the Deployment, so its first pods find the file they mount.
    ...(caBundle !== undefined
      ? [{
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: meta(awsCaBundle.configMap, namespace),
        data: { [awsCaBundle.key]: caBundle },
      }]
      : []),
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: meta(daemonName, namespace),
      spec: {
        replicas,
        selector: { matchLabels: selector },
        // Never fewer ready webhook replicas than asked for during a rollout: with failurePolicy Ignore a gap
        // silently starts pods without credentials.
        strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
        template: {
          // The daemon reads the bundle once at startup; a new bundle changes the template and so rolls the pods.
          metadata: caBundle !== undefined
            ? { labels, annotations: { [irsaAnnotation.awsCaSha256]: sha256(caBundle) } }
            : { labels },
          spec: {
            serviceAccountName: daemonName,
            terminationGracePeriodSeconds: shutdownTiming.terminationGracePeriodSeconds,
            securityContext: {
              runAsNonRoot: true,
              // distroless's "nonroot" user.
              runAsUser: 65532,
              runAsGroup: 65532,
              seccompProfile: { type: "RuntimeDefault" },
            },
            affinity: {
              podAntiAffinity: {
                preferredDuringSchedulingIgnoredDuringExecution: [{
                  weight: 100,
                  podAffinityTerm: { topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: selector } },
                }],
              },
            },
            containers: [{
              name: "daemon",
              image: options.image,
              imagePullPolicy: "IfNotPresent",
              args: [
                "daemon",
                "--namespace=$(POD_NAMESPACE)",
                "--leader-elect=true",
                `--webhook-bind-address=:${daemonPorts.webhook}`,
                `--metrics-bind-address=:${daemonPorts.metrics}`,
                `--shutdown-drain=${shutdownTiming.drainSeconds}s`,
              ],
              env,
              ports: [
                { name: "webhook", containerPort: daemonPorts.webhook, protocol: "TCP" },
                { name: "metrics", containerPort: daemonPorts.metrics, protocol: "TCP" },
              ],
              livenessProbe: {
                httpGet: { path: "/healthz", port: "metrics" },
                initialDelaySeconds: 5,
                periodSeconds: 10,
              },
              readinessProbe: {
                httpGet: { path: "/readyz", port: "metrics" },
                initialDelaySeconds: 2,
                periodSeconds: 5,
              },
              lifecycle: { preStop: { sleep: { seconds: shutdownTiming.preStopSeconds } } },
              resources,
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                capabilities: { drop: ["ALL"] },
              },
              volumeMounts,
            }],
            volumes,
          },
        },
      },
    },
    {
      apiVersion: "policy/v1",
      kind: "PodDisruptionBudget",
      metadata: meta(daemonName, namespace),
      spec: { minAvailable: 1, selector: { matchLabels: selector } },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: meta(webhookObjects.service, namespace),
      spec: {
        type: "ClusterIP",
        selector,
        ports: [
          { name: "webhook", port: 443, targetPort: "webhook", protocol: "TCP" },
          { name: "metrics", port: daemonPorts.metrics, targetPort: "metrics", protocol: "TCP" },
        ],
      },
    },
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "MutatingWebhookConfiguration",
      metadata: meta(webhookObjects.configuration),
      webhooks: [{
        name: webhookObjects.webhookName,
        admissionReviewVersions: ["v1"],
        sideEffects: "None",
        failurePolicy,
        timeoutSeconds,
        matchPolicy: "Equivalent",
        reinvocationPolicy: "IfNeeded",
        rules: [{
          operations: ["CREATE"],
          apiGroups: [""],
          apiVersions: ["v1"],
          resources: ["pods"],
          scope: "Namespaced",
        }],
        // Never the control plane's pods or the daemon's own: with failurePolicy Fail they could not start
        // without the webhook they are meant to run.
        namespaceSelector: {
          matchExpressions: [{
            key: "kubernetes.io/metadata.name",
            operator: "NotIn",
            values: [...new Set([...(options.webhookSkipNamespaces ?? defaultWebhookSkipNamespaces), namespace])],
          }],
        },
        objectSelector: { matchExpressions: [{ key: podAnnotation.skipLabel, operator: "DoesNotExist" }] },
        // No caBundle: the daemon writes its self-managed CA, and apply never owns (or clears) that field.
        clientConfig: {
          service: { name: webhookObjects.service, namespace, path: webhookObjects.path, port: 443 },
        },
      }],
    },
  ];
}

/**
 * The daemon's NetworkPolicy: the webhook port from the given CIDRs only, the metrics port from pods of the given
 * namespaces only (no rule without any). The kubelet's probes on the metrics port come from the node, which
 * NetworkPolicy engines let through.
 */
function networkPolicy(
  options: NetworkPolicyOptions,
  { metadata, selector }: { metadata: Manifest["metadata"]; selector: Record<string, string> },
): Manifest {
  // An ingress rule without peers admits every source: an empty list must never reach the API.
  if (options.webhookSources.length === 0) {
    throw invalid("NoWebhookSources", "a NetworkPolicy needs at least one CIDR that may reach the webhook");
  }
  const metricsNamespaces = options.metricsNamespaces ?? [];
  const ingress: Record<string, unknown>[] = [{
    from: options.webhookSources.map((cidr) => ({ ipBlock: { cidr } })),
    ports: [{ protocol: "TCP", port: daemonPorts.webhook }],
  }];
  if (metricsNamespaces.length > 0) {
    ingress.push({
      from: [{
        namespaceSelector: {
          matchExpressions: [{ key: namespaceNameLabel, operator: "In", values: [...metricsNamespaces] }],
        },
      }],
      ports: [{ protocol: "TCP", port: daemonPorts.metrics }],
    });
  }
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata,
    spec: { podSelector: { matchLabels: selector }, policyTypes: ["Ingress"], ingress },
  };
}

/** The label the API server sets on every namespace to its name. */
const namespaceNameLabel = "kubernetes.io/metadata.name";

/**
 * `text` as a CIDR in canonical form (`10.0.0.0/8`, `2001:db8::/32`), or an "invalid" error naming it: an
 * address with its prefix length and no host bits set, as the API server's strict IP validation wants it.
 */
export function parseCidr(text: string): string {
  const bad = (why: string) => invalid("InvalidCidr", `Invalid CIDR ${JSON.stringify(text)}: ${why}`);
  const slash = text.indexOf("/");
  if (slash === -1) {
    throw bad("give a prefix length, like 10.0.0.0/16, or /32 (IPv4) or /128 (IPv6) for a single address");
  }
  const address = parseIp(text.slice(0, slash));
  if (address === undefined) throw bad("not an IPv4 or IPv6 address");
  // NetworkPolicy engines differ on whether ::ffff:a.b.c.d matches a.b.c.d, so only the IPv4 form is accepted.
  if (isIpv4Mapped(address)) throw bad("an IPv4-mapped IPv6 address; use the IPv4 form");
  const prefixText = text.slice(slash + 1);
  const bits = address.v6 ? 128 : 32;
  const prefix = Number(prefixText);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText) || prefix > bits) {
    throw bad(`the prefix length must be a whole number from 0 to ${bits}`);
  }
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  if ((address.value & hostMask) !== 0n) {
    const network = formatIp({ v6: address.v6, value: address.value & ~hostMask });
    throw bad(`host bits are set; use ${network}/${prefix}, or /${bits} for the single address`);
  }
  return `${formatIp(address)}/${prefix}`;
}

/** An address as a number, IPv4 or IPv6. */
interface Ip {
  v6: boolean;
  value: bigint;
}

function parseIpv4(text: string): bigint | undefined {
  const octets = text.split(".");
  if (octets.length !== 4 || !octets.every((o) => /^(0|[1-9][0-9]{0,2})$/.test(o) && Number(o) <= 255)) {
    return undefined;
  }
  return octets.reduce((n, octet) => (n << 8n) | BigInt(octet), 0n);
}

/** Dotted IPv4 or RFC 4291 IPv6 text (no zone, no brackets); undefined for anything else. */
function parseIp(text: string): Ip | undefined {
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return { v6: false, value: v4 };
  if (!text.includes(":") || !/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  let groups = text;
  // An embedded IPv4 tail (::ffff:192.0.2.1) stands for the last two groups.
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) {
    const tail = parseIpv4(text.slice(lastColon + 1));
    if (tail === undefined) return undefined;
    groups = `${text.slice(0, lastColon + 1)}${(tail >> 16n).toString(16)}:${(tail & 0xffffn).toString(16)}`;
  }
  const halves = groups.split("::");
  if (halves.length > 2) return undefined;
  const split = (h: string) => (h === "" ? [] : h.split(":"));
  const head = split(halves[0]!);
  const tail = halves.length === 2 ? split(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  if (!all.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  return { v6: true, value: all.reduce((n, g) => (n << 16n) | BigInt(`0x${g}`), 0n) };
}

function isIpv4Mapped(ip: Ip): boolean {
  return ip.v6 && ip.value >> 32n === 0xffffn;
}

/** RFC 5952 text of an address: lower case, no leading zeros, the longest run of two or more zero groups as `::`. */
function formatIp(ip: Ip): string {
  if (!ip.v6) return [24n, 16n, 8n, 0n].map((s) => ((ip.value >> s) & 0xffn).toString()).join(".");
  const groups = Array.from({ length: 8 }, (_, i) => Number((ip.value >> BigInt(112 - 16 * i)) & 0xffffn));
  let best = { start: -1, length: 1 };
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.length) best = { start: i, length: j - i };
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.start === -1) return hex.join(":");
  return `${hex.slice(0, best.start).join(":")}::${hex.slice(best.start + best.length).join(":")}`;
}

/** The parts of a discovery.k8s.io/v1 EndpointSlice that {@link apiserverSourceCidrs} reads. */
export interface EndpointSliceAddresses {
  addressType?: string;
  endpoints?: readonly { addresses?: readonly string[] }[] | null;
}

/**
 * The kube-apiserver's addresses, each as a single-address CIDR, from the EndpointSlices of the `default/kubernetes`
 * Service (sorted, without repeats; FQDN slices and unparsable addresses are skipped). The apiserver calls webhooks
 * from these addresses where it runs on the nodes' network; elsewhere (konnectivity, some managed control planes)
 * the caller names the sources itself.
 */
export function apiserverSourceCidrs(slices: readonly EndpointSliceAddresses[]): string[] {
  const out = new Set<string>();
  for (const slice of slices) {
    if (slice.addressType !== "IPv4" && slice.addressType !== "IPv6") continue;
    for (const endpoint of slice.endpoints ?? []) {
      for (const address of endpoint.addresses ?? []) {
        const parsed = parseIp(address);
        if (parsed === undefined) continue;
        const ip = isIpv4Mapped(parsed) ? { v6: false, value: parsed.value & 0xffffffffn } : parsed;
        out.add(`${formatIp(ip)}/${ip.v6 ? 128 : 32}`);
      }
    }
  }
  return [...out].sort();
}

/**
 * Deletion order: the reverse of apply order, except that the CRDs go just before the namespace. Deleting a CRD
 * deletes every IRSA and IRSASetup, so it waits until nothing else of the installation is left.
 */
export function uninstallOrder(objects: readonly Manifest[]): Manifest[] {
  const reversed = [...objects].reverse();
  const isCrd = (m: Manifest) => m.kind === "CustomResourceDefinition";
  const isNamespace = (m: Manifest) => m.kind === "Namespace";
  return [
    ...reversed.filter((m) => !isCrd(m) && !isNamespace(m)),
    ...reversed.filter(isCrd),
    ...reversed.filter(isNamespace),
  ];
}

/**
 * What uninstall deletes, in deletion order: every object an installation in `namespace` can hold, whichever
 * options install ran with (the optional CA ConfigMap and NetworkPolicy included), since the cluster does not
 * record them.
 */
export function uninstallManifests(namespace: string): Manifest[] {
  // Neither the image, the bundle's text nor the CIDRs name an object; only whether the object exists matters.
  return uninstallOrder(
    installManifests({ namespace, image: "unused", awsCaBundlePem: "", networkPolicy: { webhookSources: ["::/0"] } }),
  );
}

/** Hex SHA-256 of UTF-8 text, as Helm's sha256sum computes it (the chart renders the same annotation). */
function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

// YAML 1.1 quoting: kubectl and the API server read YAML 1.1, where a bare on, yes or no is a boolean.
const yamlOptions = { version: "1.1", lineWidth: 0 } as const;

/** A multi-document YAML stream, with each RBAC rule's reason as a comment above it. */
export function toYamlStream(objects: readonly Manifest[]): string {
  const reasons = new Map<string, string>();
  for (const r of [...clusterRules, ...kubeSystemRules, ...namespaceRules(), ...tenantEditRules, ...tenantViewRules]) {
    reasons.set(JSON.stringify(rbacRules([r])[0]), r.why);
  }
  return objects.map((o) => {
    let text = stringify(o, yamlOptions);
    if (Array.isArray(o.rules)) {
      // Put each rule's reason above it; stringify has no comment API for plain objects, so use the document API.
      text = withRuleComments(o, reasons);
    }
    return `---\n${text}`;
  }).join("");
}

function withRuleComments(o: Manifest, reasons: Map<string, string>): string {
  const rules = o.rules as Record<string, unknown>[];
  const head = stringify({ ...o, rules: undefined }, yamlOptions).replace(/^rules:.*\n/m, "");
  const body = rules.map((rule) => {
    const why = reasons.get(JSON.stringify(rule));
    const item = stringify([rule], yamlOptions).replace(/^/gm, "  ").trimEnd();
    return `${why ? `  # ${why}\n` : ""}${item}\n`;
  }).join("");
  return `${head}rules:\n${body}`;
}
