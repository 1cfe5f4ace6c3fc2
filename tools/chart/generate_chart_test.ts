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
  // Every object install can render, the optional CA ConfigMap included.
  const objects = installManifests({ image: defaultImage("0.1.0"), awsCaBundlePem: "" });
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
