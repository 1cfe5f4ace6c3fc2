// The RBAC rules are pinned in lib/testdata/install_rbac.yaml; regenerate with
// `UPDATE_GOLDEN=1 deno test -A lib/install_manifests_test.ts` and review the diff.
import assert from "node:assert/strict";
import { parseAllDocuments, stringify } from "yaml";
import {
  apiserverSourceCidrs,
  clusterRules,
  defaultImage,
  installManifests,
  kindResources,
  kubeSystemRules,
  type Manifest,
  namespaceRules,
  parseCidr,
  resourceRefOf,
  tenantEditRules,
  tenantViewRules,
  toYamlStream,
  uninstallManifests,
  uninstallOrder,
} from "./install_manifests.ts";
import { admissionPolicyManifests } from "./admission_policy.ts";
import { isIrsaError } from "./errors.ts";
import { awsConfigFromEnv } from "./aws/clients.ts";

const image = defaultImage("0.1.0");
const find = (objects: Manifest[], kind: string, namespace?: string) => {
  const found = objects.find((o) => o.kind === kind && (namespace === undefined || o.metadata.namespace === namespace));
  assert.ok(found, `no ${kind}`);
  return found as Manifest & Record<string, unknown>;
};
// deno-lint-ignore no-explicit-any
type Any = any;

Deno.test("installManifests() lists the objects in apply order", () => {
  const objects = installManifests({ image });
  assert.deepEqual(objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`), [
    "Namespace//irsa-manager-system",
    "CustomResourceDefinition//irsasetups.irsa-manager.kkb0318.github.io",
    "CustomResourceDefinition//irsas.irsa-manager.kkb0318.github.io",
    "ValidatingAdmissionPolicy//kubectl-irsa-namespace-scope",
    "ValidatingAdmissionPolicyBinding//kubectl-irsa-namespace-scope",
    "ValidatingAdmissionPolicy//kubectl-irsa-binding-policy",
    "ValidatingAdmissionPolicyBinding//kubectl-irsa-binding-policy",
    "ServiceAccount/irsa-manager-system/kubectl-irsa",
    "ClusterRole//kubectl-irsa",
    "ClusterRoleBinding//kubectl-irsa",
    "ClusterRoleBinding//kubectl-irsa-issuer-discovery",
    "ClusterRole//kubectl-irsa-edit",
    "ClusterRole//kubectl-irsa-view",
    "Role/kube-system/kubectl-irsa",
    "RoleBinding/kube-system/kubectl-irsa",
    "Role/irsa-manager-system/kubectl-irsa",
    "RoleBinding/irsa-manager-system/kubectl-irsa",
    "Deployment/irsa-manager-system/kubectl-irsa",
    "PodDisruptionBudget/irsa-manager-system/kubectl-irsa",
    "Service/irsa-manager-system/kubectl-irsa",
    "MutatingWebhookConfiguration//kubectl-irsa",
  ]);
  for (const o of objects) assert.equal(o.metadata.labels?.["app.kubernetes.io/managed-by"], "kubectl-irsa");
});

Deno.test("installManifests() RBAC rules match the golden file", async () => {
  const text = stringify({
    clusterRole: clusterRules,
    kubeSystemRole: kubeSystemRules,
    namespaceRole: namespaceRules(),
    tenantEditRole: tenantEditRules,
    tenantViewRole: tenantViewRules,
  }, {
    lineWidth: 0,
  });
  const file = new URL("testdata/install_rbac.yaml", import.meta.url);
  if (Deno.env.get("UPDATE_GOLDEN") === "1") {
    await Deno.mkdir(new URL("testdata/", import.meta.url), { recursive: true });
    await Deno.writeTextFile(file, text);
  }
  assert.equal(text, await Deno.readTextFile(file), "RBAC differs from lib/testdata/install_rbac.yaml");
});

Deno.test("installManifests() RBAC is least privilege", () => {
  const objects = installManifests({ image });
  const all = [...clusterRules, ...kubeSystemRules, ...namespaceRules(), ...tenantEditRules, ...tenantViewRules];
  for (const r of all) {
    assert.ok(r.why.length > 20, `rule without a reason: ${JSON.stringify(r)}`);
    for (const field of [r.apiGroups, r.resources, r.verbs, r.resourceNames]) assert.ok(!field?.includes("*"));
  }
  const clusterResources = clusterRules.flatMap((r) => r.resources ?? []);
  for (const forbidden of ["secrets", "configmaps", "serviceaccounts/token", "tokenreviews", "leases"]) {
    assert.ok(!clusterResources.includes(forbidden), `${forbidden} must not be granted cluster-wide`);
  }
  for (const r of all) {
    if (r.resources?.includes("secrets") || r.resources?.includes("configmaps")) {
      assert.ok(!r.verbs.some((v) => ["list", "watch"].includes(v)), `secrets/configmaps: ${r.verbs}`);
      // Reads and writes of existing objects are limited by name; only create cannot be.
      if (!r.resourceNames) assert.deepEqual(r.verbs, ["create"]);
    }
  }
  for (const r of namespaceRules()) if (!r.resourceNames) assert.deepEqual(r.verbs, ["create"]);
  const mwcRule = clusterRules.find((r) => r.resources?.includes("mutatingwebhookconfigurations"))!;
  assert.deepEqual([mwcRule.resourceNames, mwcRule.verbs], [["kubectl-irsa"], ["get", "patch"]]);
  // The API objects carry the rules without their reasons.
  const role = find(objects, "ClusterRole");
  assert.deepEqual((role.rules as Any[])[0], {
    apiGroups: ["irsa-manager.kkb0318.github.io"],
    resources: ["irsas", "irsasetups"],
    verbs: ["get", "list", "watch", "update", "patch"],
  });
  const discovery = objects.find((o) => o.metadata.name === "kubectl-irsa-issuer-discovery") as Any;
  assert.equal(discovery.roleRef.name, "system:service-account-issuer-discovery");
  const rbacBindings = objects.filter((o) => o.apiVersion.startsWith("rbac.") && o.kind.endsWith("Binding"));
  assert.equal(rbacBindings.length, 4);
  for (const binding of rbacBindings as Any[]) {
    assert.deepEqual(binding.subjects, [
      { kind: "ServiceAccount", name: "kubectl-irsa", namespace: "irsa-manager-system" },
    ]);
  }
  // The tenant roles are only aggregated, never bound by install.
  for (const binding of rbacBindings as Any[]) assert.ok(!binding.roleRef.name.startsWith("kubectl-irsa-edit"));
});

Deno.test("installManifests() lets namespace admins manage IRSA objects, but never their status or IRSASetups", () => {
  const objects = installManifests({ image });
  const role = (name: string) => {
    const found = objects.find((o) => o.kind === "ClusterRole" && o.metadata.name === name) as Any;
    assert.ok(found, name);
    return found;
  };
  const edit = role("kubectl-irsa-edit");
  assert.deepEqual(edit.metadata.labels, {
    "app.kubernetes.io/name": "kubectl-irsa",
    "app.kubernetes.io/managed-by": "kubectl-irsa",
    "rbac.authorization.k8s.io/aggregate-to-admin": "true",
    "rbac.authorization.k8s.io/aggregate-to-edit": "true",
  });
  assert.deepEqual(edit.rules, [{
    apiGroups: ["irsa-manager.kkb0318.github.io"],
    resources: ["irsas"],
    verbs: ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"],
  }]);
  const view = role("kubectl-irsa-view");
  assert.deepEqual(view.metadata.labels["rbac.authorization.k8s.io/aggregate-to-view"], "true");
  assert.equal(view.metadata.labels["rbac.authorization.k8s.io/aggregate-to-edit"], undefined);
  assert.deepEqual(view.rules, [{
    apiGroups: ["irsa-manager.kkb0318.github.io"],
    resources: ["irsas"],
    verbs: ["get", "list", "watch"],
  }]);
  // A tenant who wrote status could rewrite the inventory that cleanup deletes from; one who created an
  // IRSASetup could repoint the cluster's issuer.
  for (const r of [...edit.rules, ...view.rules] as Any[]) {
    for (const resource of r.resources as string[]) {
      assert.ok(!resource.includes("/"), `no subresource: ${resource}`);
      assert.ok(!resource.startsWith("irsasetups"), `no IRSASetups: ${resource}`);
    }
    assert.deepEqual(r.apiGroups, ["irsa-manager.kkb0318.github.io"]);
    assert.equal(r.resourceNames, undefined);
  }
  // Applied after the admission policies, so no IRSA a tenant may create is ever unchecked.
  const index = (kind: string, name: string) => objects.findIndex((o) => o.kind === kind && o.metadata.name === name);
  for (const policy of ["kubectl-irsa-namespace-scope", "kubectl-irsa-binding-policy"]) {
    assert.ok(index("ValidatingAdmissionPolicyBinding", policy) < index("ClusterRole", "kubectl-irsa-edit"));
  }
});

Deno.test("installManifests() renders the admission policies for the daemon's namespace, with the usual labels", () => {
  for (const namespace of ["irsa-manager-system", "irsa-ops"]) {
    const objects = installManifests({ image, namespace });
    const admission = objects.filter((o) =>
      o.apiVersion === "admissionregistration.k8s.io/v1" && o.kind !== "MutatingWebhookConfiguration"
    );
    const labels = { "app.kubernetes.io/name": "kubectl-irsa", "app.kubernetes.io/managed-by": "kubectl-irsa" };
    assert.deepEqual(admission, admissionPolicyManifests(namespace, labels));
    assert.equal(admission.length, 4);
    for (const o of admission) {
      assert.equal(o.metadata.namespace, undefined, "cluster-scoped");
      assert.deepEqual(o.metadata.labels, labels);
      const ref = resourceRefOf(o);
      assert.deepEqual([ref.group, ref.version, ref.namespace], ["admissionregistration.k8s.io", "v1", undefined]);
    }
    const text = JSON.stringify(admission);
    assert.ok(text.includes(`request.namespace != '${namespace}'`), namespace);
    const other = namespace === "irsa-ops" ? "irsa-manager-system" : "irsa-ops";
    assert.ok(!text.includes(`'${other}'`), `no other namespace than ${namespace}`);
  }
  assert.deepEqual(kindResources.ValidatingAdmissionPolicy, {
    resource: "validatingadmissionpolicies",
    namespaced: false,
  });
  assert.deepEqual(kindResources.ValidatingAdmissionPolicyBinding, {
    resource: "validatingadmissionpolicybindings",
    namespaced: false,
  });
});

Deno.test("installManifests() renders the NetworkPolicy only when asked, with the webhook and metrics rules", async (t) => {
  const policyOf = (objects: Manifest[]) => objects.filter((o) => o.kind === "NetworkPolicy") as Any[];
  await t.step("none by default", () => assert.deepEqual(policyOf(installManifests({ image })), []));
  await t.step("the webhook port from the CIDRs, the metrics port from the namespaces: exactly two rules", () => {
    const objects = installManifests({
      image,
      namespace: "irsa",
      networkPolicy: { webhookSources: ["172.18.0.2/32", "fd00::2/128"], metricsNamespaces: ["monitoring", "obs"] },
    });
    const [policy, ...more] = policyOf(objects);
    assert.deepEqual(more, []);
    assert.deepEqual(policy.metadata, {
      name: "kubectl-irsa",
      namespace: "irsa",
      labels: { "app.kubernetes.io/name": "kubectl-irsa", "app.kubernetes.io/managed-by": "kubectl-irsa" },
    });
    const deployment = find(objects, "Deployment") as Any;
    assert.deepEqual(policy.spec.podSelector, { matchLabels: deployment.spec.selector.matchLabels });
    assert.deepEqual(policy.spec.policyTypes, ["Ingress"]);
    assert.deepEqual(policy.spec.ingress, [
      {
        from: [{ ipBlock: { cidr: "172.18.0.2/32" } }, { ipBlock: { cidr: "fd00::2/128" } }],
        ports: [{ protocol: "TCP", port: 9443 }],
      },
      {
        from: [{
          namespaceSelector: {
            matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "In", values: ["monitoring", "obs"] }],
          },
        }],
        ports: [{ protocol: "TCP", port: 8080 }],
      },
    ]);
    // The ports are the container's: a NetworkPolicy sees the pod's port, not the Service's 443.
    const ports = deployment.spec.template.spec.containers[0].ports as Any[];
    assert.deepEqual(ports.map((p) => p.containerPort), [9443, 8080]);
    const kinds = objects.map((o) => o.kind);
    assert.ok(kinds.indexOf("NetworkPolicy") < kinds.indexOf("Deployment"), "no pod runs unprotected");
    assert.deepEqual(resourceRefOf(policy), {
      group: "networking.k8s.io",
      version: "v1",
      resource: "networkpolicies",
      namespace: "irsa",
      name: "kubectl-irsa",
    });
  });
  await t.step("no metrics namespaces: no metrics rule, so no pod reaches the metrics port", () => {
    for (const metricsNamespaces of [undefined, []]) {
      const [policy] = policyOf(installManifests({
        image,
        networkPolicy: { webhookSources: ["10.0.0.1/32"], ...(metricsNamespaces ? { metricsNamespaces } : {}) },
      }));
      assert.deepEqual(policy.spec.ingress, [
        { from: [{ ipBlock: { cidr: "10.0.0.1/32" } }], ports: [{ protocol: "TCP", port: 9443 }] },
      ]);
    }
  });
  await t.step("no webhook sources is refused: a rule without peers would admit everyone", () => {
    assert.throws(
      () => installManifests({ image, networkPolicy: { webhookSources: [] } }),
      (e) => isIrsaError(e, "invalid") && /at least one CIDR/.test(e.message),
    );
  });
});

Deno.test("parseCidr() returns the canonical CIDR or refuses it with the reason", async (t) => {
  const good: [string, string][] = [
    ["10.0.0.0/8", "10.0.0.0/8"],
    ["172.18.0.2/32", "172.18.0.2/32"],
    ["0.0.0.0/0", "0.0.0.0/0"],
    ["2001:DB8::/32", "2001:db8::/32"],
    ["2001:db8:0:0:0:0:0:0/48", "2001:db8::/48"],
    ["fd00::0002/128", "fd00::2/128"],
    ["1:0:0:1:0:0:0:1/128", "1:0:0:1::1/128"],
    ["1:2:3:4:5:6:7::/128", "1:2:3:4:5:6:7:0/128"],
    ["::/0", "::/0"],
  ];
  for (const [text, want] of good) await t.step(`${text} -> ${want}`, () => assert.equal(parseCidr(text), want));
  const bad: [string, RegExp][] = [
    ["10.0.0.1", /give a prefix length/],
    ["10.0.0.1/8", /host bits are set; use 10\.0\.0\.0\/8, or \/32 for the single address/],
    ["2001:db8::1/32", /host bits are set; use 2001:db8::\/32/],
    ["10.0.0.0/33", /from 0 to 32/],
    ["10.0.0.0/08", /from 0 to 32/],
    ["::/129", /from 0 to 128/],
    ["10.0.0.256/32", /not an IPv4 or IPv6 address/],
    ["10.0.0.01/32", /not an IPv4 or IPv6 address/],
    ["1::1::1/128", /not an IPv4 or IPv6 address/],
    ["1:2:3:4:5:6:7:8:9/128", /not an IPv4 or IPv6 address/],
    ["apiserver/32", /not an IPv4 or IPv6 address/],
    ["::ffff:10.0.0.1/128", /IPv4-mapped/],
    ["", /give a prefix length/],
  ];
  for (const [text, reason] of bad) {
    await t.step(`refuses ${JSON.stringify(text)}`, () => {
      assert.throws(
        () => parseCidr(text),
        (e) =>
          isIrsaError(e, "invalid") && e.message.startsWith(`Invalid CIDR ${JSON.stringify(text)}: `) &&
          reason.test(e.message),
      );
    });
  }
});

Deno.test("apiserverSourceCidrs() turns the kubernetes EndpointSlices into single-address CIDRs", () => {
  assert.deepEqual(
    apiserverSourceCidrs([
      { addressType: "IPv4", endpoints: [{ addresses: ["172.18.0.3"] }, { addresses: ["172.18.0.2"] }] },
      { addressType: "IPv6", endpoints: [{ addresses: ["fd00::0002"] }, { addresses: ["::ffff:172.18.0.2"] }] },
      { addressType: "IPv4", endpoints: [{ addresses: ["172.18.0.2"] }] },
      { addressType: "FQDN", endpoints: [{ addresses: ["api.example.com"] }] },
      { addressType: "IPv4", endpoints: null },
      { addressType: "IPv4", endpoints: [{}, { addresses: ["not-an-ip"] }] },
    ]),
    ["172.18.0.2/32", "172.18.0.3/32", "fd00::2/128"],
  );
  assert.deepEqual(apiserverSourceCidrs([]), []);
});

Deno.test("installManifests() Deployment runs hardened, with probes, ports, resources and the daemon's args", () => {
  const d = find(installManifests({ image }), "Deployment") as Any;
  assert.equal(d.spec.replicas, 2);
  const pod = d.spec.template.spec;
  assert.equal(pod.serviceAccountName, "kubectl-irsa");
  assert.deepEqual(pod.securityContext, {
    runAsNonRoot: true,
    runAsUser: 65532,
    runAsGroup: 65532,
    seccompProfile: { type: "RuntimeDefault" },
  });
  const c = pod.containers[0];
  assert.equal(c.image, "ghcr.io/kubectl-irsa/kubectl-irsa:0.1.0");
  assert.deepEqual(c.securityContext, {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    capabilities: { drop: ["ALL"] },
  });
  assert.deepEqual(c.args.slice(0, 3), ["daemon", "--namespace=$(POD_NAMESPACE)", "--leader-elect=true"]);
  assert.deepEqual(c.env[0], { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } });
  assert.ok(c.env.some((e: Any) => e.name === "HOME" && e.value === "/tmp"), "HOME is the writable /tmp");
  // The image brings its DENO_DIR (baked read-only into a from-source image); one in the empty /tmp would hide it.
  assert.ok(!c.env.some((e: Any) => e.name === "DENO_DIR"), "no DENO_DIR on the container");
  assert.deepEqual(c.ports, [
    { name: "webhook", containerPort: 9443, protocol: "TCP" },
    { name: "metrics", containerPort: 8080, protocol: "TCP" },
  ]);
  assert.deepEqual(c.livenessProbe.httpGet, { path: "/healthz", port: "metrics" });
  assert.deepEqual(c.readinessProbe.httpGet, { path: "/readyz", port: "metrics" });
  assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory);
  assert.deepEqual(d.spec.strategy.rollingUpdate, { maxUnavailable: 0, maxSurge: 1 });
  const pdb = find(installManifests({ image }), "PodDisruptionBudget") as Any;
  assert.equal(pdb.spec.minAvailable, 1);
});

Deno.test("installManifests() passes the seed's aws-secret keys as optional env, or none", () => {
  const envOf = (awsSecret: boolean) =>
    (find(installManifests({ image, awsSecret }), "Deployment") as Any).spec.template.spec.containers[0].env as Any[];
  const fromSecret = envOf(true).filter((e) => e.valueFrom?.secretKeyRef);
  assert.deepEqual(fromSecret.map((e) => [e.name, e.valueFrom.secretKeyRef]), [
    ["AWS_ACCESS_KEY_ID", { name: "aws-secret", key: "aws-access-key-id", optional: true }],
    ["AWS_SECRET_ACCESS_KEY", { name: "aws-secret", key: "aws-secret-access-key", optional: true }],
    ["AWS_SESSION_TOKEN", { name: "aws-secret", key: "aws-session-token", optional: true }],
    ["AWS_REGION", { name: "aws-secret", key: "aws-region", optional: true }],
  ]);
  assert.deepEqual(envOf(false).filter((e) => e.valueFrom?.secretKeyRef), []);
});

const pem = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";

Deno.test("installManifests() points the daemon at a private AWS endpoint only when asked", async (t) => {
  const podOf = (objects: Manifest[]) => (find(objects, "Deployment") as Any).spec.template;
  const named = (env: Any[], name: string) => env.filter((e) => e.name === name);
  await t.step("by default: no endpoint, CA or path style anywhere", () => {
    const objects = installManifests({ image });
    assert.ok(!objects.some((o) => o.kind === "ConfigMap"));
    const pod = podOf(objects);
    const c = pod.spec.containers[0];
    for (const name of ["AWS_ENDPOINT_URL", "AWS_CA_BUNDLE", "AWS_S3_FORCE_PATH_STYLE"]) {
      assert.deepEqual(named(c.env, name), [], name);
    }
    assert.deepEqual(c.volumeMounts, [{ name: "tmp", mountPath: "/tmp" }]);
    assert.deepEqual(pod.spec.volumes, [{ name: "tmp", emptyDir: { sizeLimit: "64Mi" } }]);
    assert.equal(pod.metadata.annotations, undefined);
  });
  await t.step("endpoint, CA bundle and path style render env, ConfigMap, mount and volume", () => {
    const objects = installManifests({
      image,
      namespace: "irsa",
      awsEndpointUrl: "https://s3.internal.example:9000",
      awsCaBundlePem: pem,
      awsS3PathStyle: true,
    });
    const cm = find(objects, "ConfigMap") as Any;
    assert.deepEqual([cm.metadata.namespace, cm.metadata.name, cm.data], ["irsa", "kubectl-irsa-aws-ca", {
      "ca.pem": pem,
    }]);
    assert.equal(cm.metadata.labels["app.kubernetes.io/managed-by"], "kubectl-irsa");
    const pod = podOf(objects);
    const c = pod.spec.containers[0];
    assert.deepEqual(c.env.slice(-3), [
      { name: "AWS_ENDPOINT_URL", value: "https://s3.internal.example:9000" },
      { name: "AWS_S3_FORCE_PATH_STYLE", value: "true" },
      { name: "AWS_CA_BUNDLE", value: "/etc/kubectl-irsa/aws-ca/ca.pem" },
    ]);
    assert.deepEqual(c.volumeMounts, [
      { name: "tmp", mountPath: "/tmp" },
      { name: "aws-ca", mountPath: "/etc/kubectl-irsa/aws-ca", readOnly: true },
    ]);
    assert.deepEqual(pod.spec.volumes, [
      { name: "tmp", emptyDir: { sizeLimit: "64Mi" } },
      { name: "aws-ca", configMap: { name: "kubectl-irsa-aws-ca" } },
    ]);
    const kinds = objects.map((o) => o.kind);
    assert.ok(kinds.indexOf("ConfigMap") < kinds.indexOf("Deployment"), "the ConfigMap exists before pods mount it");
  });
  await t.step("each option alone renders only its own variable", () => {
    const envOf = (o: Partial<Parameters<typeof installManifests>[0]>) =>
      (podOf(installManifests({ image, awsSecret: false, ...o })).spec.containers[0].env as Any[]).slice(3);
    assert.deepEqual(envOf({ awsEndpointUrl: "http://127.0.0.1:4566" }), [
      { name: "AWS_ENDPOINT_URL", value: "http://127.0.0.1:4566" },
    ]);
    assert.deepEqual(envOf({ awsS3PathStyle: true }), [{ name: "AWS_S3_FORCE_PATH_STYLE", value: "true" }]);
    assert.deepEqual(envOf({ awsS3PathStyle: false }), []);
    assert.deepEqual(envOf({ awsCaBundlePem: pem }), [
      { name: "AWS_CA_BUNDLE", value: "/etc/kubectl-irsa/aws-ca/ca.pem" },
    ]);
  });
  await t.step("a different CA bundle changes the pod template, so the pods that read it once roll", () => {
    const annotations = (text: string) => podOf(installManifests({ image, awsCaBundlePem: text })).metadata.annotations;
    const hex = annotations(pem)["irsa.kubectl.io/aws-ca-sha256"];
    assert.match(hex, /^[0-9a-f]{64}$/);
    assert.deepEqual(annotations(pem), { "irsa.kubectl.io/aws-ca-sha256": hex });
    assert.notEqual(annotations(pem + pem)["irsa.kubectl.io/aws-ca-sha256"], hex);
  });
  await t.step("the daemon reads the same variables back: endpoint, path style and the mounted file", async () => {
    const c = podOf(installManifests({
      image,
      awsEndpointUrl: "https://s3.internal.example:9000",
      awsCaBundlePem: pem,
      awsS3PathStyle: true,
    })).spec.containers[0];
    const env = new Map<string, string>(
      (c.env as Any[]).filter((e) => e.value !== undefined).map((e) => [e.name, e.value]),
    );
    const config = awsConfigFromEnv({ get: (k) => env.get(k) });
    assert.deepEqual([config.endpoints, config.s3PathStyle], [{ default: "https://s3.internal.example:9000" }, true]);
    const { parseDaemonOptions } = await import("../daemon/options.ts");
    const caPath = parseDaemonOptions([], { get: (k) => env.get(k) }).awsCaBundlePath;
    assert.equal(caPath, "/etc/kubectl-irsa/aws-ca/ca.pem");
    const mount = (c.volumeMounts as Any[]).find((m) => caPath!.startsWith(`${m.mountPath}/`));
    assert.ok(mount, "AWS_CA_BUNDLE names a file under a mount");
  });
});

Deno.test("installManifests() MutatingWebhookConfiguration has exactly the required fields", () => {
  const mwc = find(installManifests({ image }), "MutatingWebhookConfiguration") as Any;
  assert.equal(mwc.metadata.name, "kubectl-irsa");
  assert.deepEqual(mwc.webhooks, [{
    name: "pod-identity.kubectl-irsa.io",
    admissionReviewVersions: ["v1"],
    sideEffects: "None",
    failurePolicy: "Ignore",
    timeoutSeconds: 10,
    matchPolicy: "Equivalent",
    reinvocationPolicy: "IfNeeded",
    rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"], scope: "Namespaced" }],
    namespaceSelector: {
      matchExpressions: [{
        key: "kubernetes.io/metadata.name",
        operator: "NotIn",
        values: ["kube-system", "irsa-manager-system"],
      }],
    },
    objectSelector: {
      matchExpressions: [{ key: "eks.amazonaws.com/skip-pod-identity-webhook", operator: "DoesNotExist" }],
    },
    clientConfig: { service: { name: "kubectl-irsa", namespace: "irsa-manager-system", path: "/mutate", port: 443 } },
  }]);
  const svc = find(installManifests({ image }), "Service") as Any;
  assert.deepEqual(svc.spec.ports, [
    { name: "webhook", port: 443, targetPort: "webhook", protocol: "TCP" },
    { name: "metrics", port: 8080, targetPort: "metrics", protocol: "TCP" },
  ]);
});

Deno.test("installManifests() applies the options everywhere they matter", () => {
  const objects = installManifests({
    image: "registry.example.com/irsa:1",
    namespace: "irsa",
    replicas: 3,
    failurePolicy: "Fail",
    webhookTimeoutSeconds: 5,
  });
  const d = find(objects, "Deployment") as Any;
  assert.equal(d.metadata.namespace, "irsa");
  assert.equal(d.spec.replicas, 3);
  assert.equal(d.spec.template.spec.containers[0].image, "registry.example.com/irsa:1");
  const hook = (find(objects, "MutatingWebhookConfiguration") as Any).webhooks[0];
  assert.deepEqual([hook.failurePolicy, hook.timeoutSeconds], ["Fail", 5]);
  assert.equal(hook.clientConfig.service.namespace, "irsa");
  assert.deepEqual(hook.namespaceSelector.matchExpressions[0].values, ["kube-system", "irsa"]);
  const skipping = (skip: string[]) =>
    (find(
      installManifests({ image, namespace: "irsa", webhookSkipNamespaces: skip }),
      "MutatingWebhookConfiguration",
    ) as Any)
      .webhooks[0].namespaceSelector.matchExpressions[0].values;
  assert.deepEqual(skipping([]), ["irsa"], "kube-system mutated too, never the daemon's own namespace");
  assert.deepEqual(skipping(["monitoring", "irsa"]), ["monitoring", "irsa"]);
  assert.equal(find(objects, "Namespace").metadata.name, "irsa");
  assert.equal(find(objects, "Role", "kube-system").metadata.name, "kubectl-irsa");
  assert.ok(find(objects, "Role", "irsa"));
  for (
    const binding of objects.filter((o) => o.apiVersion.startsWith("rbac.") && o.kind.endsWith("Binding")) as Any[]
  ) {
    assert.equal(binding.subjects[0].namespace, "irsa");
  }
});

Deno.test("uninstallOrder() deletes the webhook first and the CRDs just before the namespace", () => {
  const order = uninstallOrder(installManifests({ image })).map((o) => o.kind);
  assert.deepEqual(order, [
    "MutatingWebhookConfiguration",
    "Service",
    "PodDisruptionBudget",
    "Deployment",
    "RoleBinding",
    "Role",
    "RoleBinding",
    "Role",
    "ClusterRole",
    "ClusterRole",
    "ClusterRoleBinding",
    "ClusterRoleBinding",
    "ClusterRole",
    "ServiceAccount",
    // After the tenant roles: access goes before the checks on it.
    "ValidatingAdmissionPolicyBinding",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingAdmissionPolicy",
    "CustomResourceDefinition",
    "CustomResourceDefinition",
    "Namespace",
  ]);
});

Deno.test("uninstallManifests() also deletes the optional CA ConfigMap and NetworkPolicy, after the Deployment", () => {
  const objects = uninstallManifests("irsa");
  const keys = objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`);
  const defaults = uninstallOrder(installManifests({ image, namespace: "irsa" }));
  const optional = ["ConfigMap/irsa/kubectl-irsa-aws-ca", "NetworkPolicy/irsa/kubectl-irsa"];
  assert.deepEqual(
    keys.filter((k) => !optional.includes(k)),
    defaults.map((o) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`),
  );
  for (const key of optional) {
    assert.ok(keys.includes(key), key);
    assert.ok(keys.indexOf(key) > keys.indexOf("Deployment/irsa/kubectl-irsa"), key);
  }
  for (const o of objects) assert.ok(resourceRefOf(o).resource, `${o.kind} has an API resource`);
});

Deno.test("toYamlStream() round-trips every object and explains each RBAC rule in a comment", () => {
  const objects = installManifests({ image });
  const text = toYamlStream(objects);
  const docs = parseAllDocuments(text);
  assert.deepEqual(docs.map((d) => d.toJS()), JSON.parse(JSON.stringify(objects)));
  for (const r of [...clusterRules, ...kubeSystemRules, ...namespaceRules(), ...tenantEditRules, ...tenantViewRules]) {
    assert.ok(text.includes(`# ${r.why}\n`));
  }
  // YAML 1.1 readers (kubectl, the API server) must not see booleans where strings are meant.
  assert.ok(text.includes(`- "True"`));
});

Deno.test("installManifests() names the Lease and flags the daemon actually uses", async () => {
  // The Lease is granted by name; the daemon takes the same constant from lib/names.ts.
  const daemonMain = await Deno.readTextFile(new URL("../daemon/main.ts", import.meta.url));
  assert.ok(daemonMain.includes("name: leaderLease"), "daemon/main.ts must elect on names.ts' leaderLease");
  const { parseDaemonOptions } = await import("../daemon/options.ts");
  const c = (find(installManifests({ image }), "Deployment") as Any).spec.template.spec.containers[0];
  const env = new Map([["POD_NAMESPACE", "irsa-manager-system"]]);
  const argv = (c.args as string[]).slice(1).map((a) => a.replace("$(POD_NAMESPACE)", "irsa-manager-system"));
  const options = parseDaemonOptions(argv, { get: (k) => env.get(k) });
  assert.equal(options.namespace, "irsa-manager-system");
  assert.equal(options.leaderElect, true);
  assert.deepEqual(options.metricsAddress, { hostname: "0.0.0.0", port: 8080 });
});

Deno.test("installManifests() gives a stopping pod time to drain the webhook and stop the controllers", async () => {
  const { parseDaemonOptions } = await import("../daemon/options.ts");
  const { defaultLimits } = await import("../daemon/https_server.ts");
  const pod = (find(installManifests({ image }), "Deployment") as Any).spec.template.spec;
  const c = pod.containers[0];
  // An action the kubelet runs itself: the image has no shell or sleep binary for an exec hook.
  assert.deepEqual(c.lifecycle, { preStop: { sleep: { seconds: 5 } } });
  const argv = (c.args as string[]).slice(1).map((a) => a.replace("$(POD_NAMESPACE)", "irsa-manager-system"));
  const options = parseDaemonOptions(argv, { get: () => undefined });
  assert.equal(options.shutdownDrainMs, 10_000);
  const preStopMs = c.lifecycle.preStop.sleep.seconds * 1000;
  const webhookMs = options.shutdownDrainMs + defaultLimits.closeGraceMs;
  const controllersMs = options.awsRequestTimeoutMs;
  assert.ok(
    pod.terminationGracePeriodSeconds * 1000 > preStopMs + Math.max(webhookMs, controllersMs),
    `grace ${pod.terminationGracePeriodSeconds}s`,
  );
});
