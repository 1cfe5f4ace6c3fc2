import { deepStrictEqual, equal } from "node:assert/strict";
import { parse, stringify } from "yaml";
import { toYaml, type YamlValue } from "./yaml_emit.ts";

// What the apiserver steps print: the `yaml` package (the oracle) writes the same text.
const documents: YamlValue[] = [
  ["--service-account-issuer=https://bucket.s3.eu-west-1.amazonaws.com/cluster", "--api-audiences=sts.amazonaws.com"],
  [{ name: "service-account-issuer", value: "https://issuer.example.com" }, { name: "api-audiences", value: "x,y" }],
  ["service-account-key-file=/var/lib/rancher/k3s/server/tls/irsa.pub"],
  // Longer than the yaml package's 80-column line width: strings without spaces are never folded.
  ["--service-account-jwks-uri=https://a-very-long-bucket-name-for-a-cluster.s3.ap-southeast-2.amazonaws.com/x/keys.json"],
  {
    apiVersion: "kubeadm.k8s.io/v1beta4",
    kind: "ClusterConfiguration",
    apiServer: { extraArgs: [{ name: "service-account-jwks-uri", value: "https://a.example/keys.json" }] },
  },
  {
    apiServer: {
      extraVolumes: [{ name: "irsa-keys", hostPath: "/etc/irsa", mountPath: "/etc/irsa", readOnly: true }],
      extraArgs: { "service-account-issuer": "https://x.example" },
    },
  },
  { spec: { volumes: [{ name: "irsa-keys", hostPath: { path: "/etc/irsa", type: "DirectoryOrCreate" } }] } },
  { list: [], map: {}, nested: [["a", "b"], [{ k: "v" }]], n: 3, t: false, z: null },
  [],
  {},
];

Deno.test("toYaml writes what the yaml package writes for the steps' documents", () => {
  for (const doc of documents) equal(toYaml(doc), stringify(doc), JSON.stringify(doc));
});

// Strings a plain scalar would misread or that YAML forbids unquoted; each must read back as the same string.
const tricky = [
  "",
  "true",
  "False",
  "null",
  "~",
  "123",
  "-1.5e3",
  "0x1F",
  "0o17",
  ".inf",
  ".NaN",
  "yes",
  "a: b",
  "a #b",
  "#comment",
  "- item",
  "-",
  "key:",
  ":x",
  "?x",
  "*alias",
  "&anchor",
  "!tag",
  "|",
  ">",
  "'quoted'",
  '"double"',
  "%directive",
  "@at",
  "`tick",
  "[a]",
  "{a}",
  "a,b",
  " leading",
  "trailing ",
  "multi\nline",
  "tab\there",
  "back\\slash",
  "ünïcode",
  "--flag=value",
  "/etc/kubernetes/pki/sa.pub",
];

Deno.test("toYaml quotes every string that would not read back as itself", () => {
  for (const s of tricky) {
    deepStrictEqual(parse(toYaml([s])), [s], JSON.stringify(s));
    deepStrictEqual(parse(toYaml({ [s]: s })), { [s]: s }, JSON.stringify(s));
  }
});

Deno.test("toYaml leaves flags, URLs and paths plain, as kube-apiserver manifests write them", () => {
  equal(toYaml(["--a=https://b.example/c", "/etc/x.pub", "k=v"]), "- --a=https://b.example/c\n- /etc/x.pub\n- k=v\n");
  equal(toYaml({ a: "true", b: "" }), 'a: "true"\nb: ""\n');
});
