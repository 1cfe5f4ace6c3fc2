import assert from "node:assert/strict";
import { parse } from "yaml";
import { defaultImage, installManifests } from "../../lib/install_manifests.ts";
import { chartDir, generateChart, writeChart } from "./generate_chart.ts";

const repo = new URL("../../", import.meta.url).pathname;

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${dir}/${prefix}`)) {
    const path = `${prefix}${e.name}`;
    if (e.isDirectory) out.push(...await listFiles(dir, `${path}/`));
    else out.push(path);
  }
  return out.sort();
}

Deno.test("the checked-in chart is what generate_chart.ts writes (run `deno task chart` to update it)", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "chart-" });
  try {
    await writeChart(`${tmp}/kubectl-irsa`);
    const fresh = await listFiles(`${tmp}/kubectl-irsa`);
    const checkedIn = await listFiles(`${repo}${chartDir}`);
    assert.deepEqual(checkedIn, fresh, "files differ: run `deno task chart`");
    for (const path of fresh) {
      assert.equal(
        await Deno.readTextFile(`${repo}${chartDir}/${path}`),
        await Deno.readTextFile(`${tmp}/kubectl-irsa/${path}`),
        `${chartDir}/${path} is stale: run \`deno task chart\``,
      );
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("generateChart() puts install's CRDs in crds/ unchanged and templates every other object", () => {
  const files = generateChart("0.1.0");
  // Every object install can render, the optional CA ConfigMap and NetworkPolicy included.
  const objects = installManifests({
    image: defaultImage("0.1.0"),
    awsCaBundlePem: "",
    networkPolicy: { webhookSources: ["10.0.0.1/32"] },
  });
  const crds = objects.filter((o) => o.kind === "CustomResourceDefinition");
  for (const crd of crds) assert.deepEqual(parse(files.get(`crds/${crd.metadata.name}.yaml`)!), crd);
  const templates = [...files.keys()].filter((p) => p.startsWith("templates/"));
  assert.equal(templates.length, objects.length - crds.length);
  for (const path of templates) {
    const text = files.get(path)!;
    assert.ok(!text.includes("@@"), `${path} still holds a marker`);
    assert.ok(!text.includes("&a1"), `${path} holds a YAML anchor`);
  }
});

Deno.test("generateChart() takes Chart.yaml's version and appVersion from the plugin version", () => {
  const chart = parse(generateChart("1.2.3").get("Chart.yaml")!);
  assert.equal(chart.version, "1.2.3");
  assert.equal(chart.appVersion, "1.2.3");
  const values = parse(generateChart("1.2.3").get("values.yaml")!);
  assert.equal(`${values.image.repository}:1.2.3`, defaultImage("1.2.3"));
});

Deno.test("generateChart() renders the AWS endpoint, CA bundle and path style only behind their values", () => {
  const files = generateChart("0.1.0");
  const values = parse(files.get("values.yaml")!);
  assert.deepEqual(
    [values.aws.endpointUrl, values.aws.caBundle, values.aws.s3PathStyle],
    ["", "", false],
    "off by default, as install renders without the flags",
  );
  const configMap = files.get("templates/configmap-aws-ca.yaml")!;
  assert.match(configMap, /^# Generated[^\n]*\n\{\{- if \.Values\.aws\.caBundle \}\}\n/);
  assert.match(configMap, /\n {2}ca\.pem: \{\{ \.Values\.aws\.caBundle \| quote \}\}\n\{\{- end \}\}\n$/);
  const deployment = files.get("templates/deployment.yaml")!;
  const guarded = (cond: string, firstLine: string) =>
    assert.ok(
      new RegExp(`\\{\\{- if ${cond.replaceAll(".", "\\.")} \\}\\}\\n\\s*${firstLine}`).test(deployment),
      `${firstLine} behind ${cond}`,
    );
  guarded(".Values.aws.endpointUrl", "- name: AWS_ENDPOINT_URL");
  guarded(".Values.aws.s3PathStyle", "- name: AWS_S3_FORCE_PATH_STYLE");
  guarded(".Values.aws.caBundle", "- name: AWS_CA_BUNDLE");
  guarded(".Values.aws.caBundle", "- name: aws-ca\\n\\s*mountPath: /etc/kubectl-irsa/aws-ca\\n\\s*readOnly: true");
  guarded(".Values.aws.caBundle", "- name: aws-ca\\n\\s*configMap:");
  assert.ok(deployment.includes("irsa.kubectl.io/aws-ca-sha256: {{ . | sha256sum | quote }}"));
  assert.ok(!deployment.includes("DENO_DIR"), "the image brings its own DENO_DIR");
});

Deno.test("generateChart() puts the release namespace into the admission policies' CEL as a string literal", () => {
  const files = generateChart("0.1.0");
  for (const name of ["namespace-scope", "binding-policy"]) {
    const text = files.get(`templates/validatingadmissionpolicy-${name}.yaml`)!;
    assert.ok(text.includes("request.namespace != '{{ .Release.Namespace }}'"), name);
    assert.ok(!text.includes("irsa-manager-system"), `${name} names no fixed namespace`);
  }
  for (const name of ["edit", "view"]) {
    const role = parse(files.get(`templates/clusterrole-${name}.yaml`)!);
    assert.equal(role.metadata.labels[`rbac.authorization.k8s.io/aggregate-to-${name}`], "true");
  }
});

Deno.test("generateChart() renders the NetworkPolicy only when enabled, with a peer per webhook source", () => {
  const files = generateChart("0.1.0");
  const values = parse(files.get("values.yaml")!);
  assert.deepEqual(values.networkPolicy, { enabled: false, webhookSources: [], metricsNamespaces: [] });
  const text = files.get("templates/networkpolicy.yaml")!;
  assert.match(text, /^# Generated[^\n]*\n\{\{- if \.Values\.networkPolicy\.enabled \}\}\n/);
  // Without sources the rule would have no peers, which admits everyone: rendering must fail instead.
  assert.match(text, /\{\{- if not \.Values\.networkPolicy\.webhookSources \}\}\n\{\{- fail "[^"]+" \}\}\n/);
  assert.match(
    text,
    / {8}\{\{- range \.Values\.networkPolicy\.webhookSources \}\}\n {8}- ipBlock:\n {12}cidr: \{\{ \. \| quote \}\}\n/,
  );
  assert.match(text, /\{\{- if \.Values\.networkPolicy\.metricsNamespaces \}\}\n {4}- from:/);
  assert.ok(text.includes("values: {{ toJson .Values.networkPolicy.metricsNamespaces }}"));
  assert.ok(text.includes("port: {{ .Values.metrics.port }}"), "the metrics rule follows metrics.port");
  const schema = JSON.parse(files.get("values.schema.json")!);
  const pattern = new RegExp(schema.properties.networkPolicy.properties.webhookSources.items.pattern);
  for (const ok of ["10.0.0.1/32", "2001:db8::/32"]) assert.ok(pattern.test(ok), ok);
  for (const bad of ["10.0.0.1", "apiserver/32"]) assert.ok(!pattern.test(bad), bad);
});
