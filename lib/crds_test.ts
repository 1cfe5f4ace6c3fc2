import { seedEksYaml, seedIrsaYaml, seedSetupYaml } from "./testdata/seed_manifests.ts";
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { type CrdKindName, crdKinds, crdManifests, crdName, objectSchema, patterns, type Schema } from "./crds.ts";
import { type BindRequest, resolveBinding } from "./bind.ts";
import { irsaManifest } from "./irsa_spec.ts";
import { validateBucketName, validateIssuerUrl, validateRegion } from "./issuer.ts";
import { crdGroup, crdVersion } from "./names.ts";
import { validateDnsLabel, validateDnsSubdomain, validateRoleName, validateRolePath } from "./validate.ts";
import { testSetup } from "./testdata/setup_fixture.ts";

/**
 * A structural validator for the subset of OpenAPI the CRDs use (types, required, enum, pattern, lengths,
 * minimum/maximum, maxProperties). Unknown fields are errors here, where the API server would prune them, so a
 * typo in a test manifest cannot pass unnoticed. CEL rules are left to the e2e test on the real API server.
 */
function validate(schema: Schema, value: unknown, path = ""): string[] {
  const at = path || "<root>";
  const errors: string[] = [];
  const typeOk = {
    object: value !== null && typeof value === "object" && !Array.isArray(value),
    array: Array.isArray(value),
    string: typeof value === "string",
    boolean: typeof value === "boolean",
    integer: Number.isInteger(value),
  }[schema.type];
  if (!typeOk) return [`${at}: expected ${schema.type}, got ${JSON.stringify(value)}`];
  if (schema.enum && !schema.enum.includes(value as string)) errors.push(`${at}: ${JSON.stringify(value)} not in enum`);
  if (typeof value === "string") {
    const length = [...value].length;
    if (schema.minLength !== undefined && length < schema.minLength) errors.push(`${at}: shorter than minLength`);
    if (schema.maxLength !== undefined && length > schema.maxLength) errors.push(`${at}: longer than maxLength`);
    if (schema.pattern && !new RegExp(schema.pattern, "u").test(value)) {
      errors.push(`${at}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
    }
  }
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${at}: below minimum ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${at}: above maximum ${schema.maximum}`);
  }
  if (Array.isArray(value)) {
    if (schema.maxItems !== undefined && value.length > schema.maxItems) errors.push(`${at}: too many items`);
    value.forEach((v, i) => errors.push(...validate(schema.items!, v, `${path}[${i}]`)));
  }
  if (schema.type === "object") {
    const object = value as Record<string, unknown>;
    const keys = Object.keys(object);
    if (schema.maxProperties !== undefined && keys.length > schema.maxProperties) {
      errors.push(`${at}: more than ${schema.maxProperties} properties`);
    }
    for (const r of schema.required ?? []) if (!(r in object)) errors.push(`${at}: missing required ${r}`);
    for (const k of keys) {
      const child = path ? `${path}.${k}` : k;
      const sub = schema.properties?.[k] ?? schema.additionalProperties;
      if (sub) errors.push(...validate(sub, object[k], child));
      else if (schema.properties) errors.push(`${child}: unknown field`);
    }
  }
  return errors;
}

function kindOf(manifest: Record<string, unknown>): CrdKindName {
  const kind = manifest.kind;
  const name = (Object.keys(crdKinds) as CrdKindName[]).find((k) => crdKinds[k].kind === kind);
  if (!name) throw new Error(`not one of our kinds: ${String(kind)}`);
  return name;
}

function validateManifest(manifest: Record<string, unknown>): string[] {
  return validate(objectSchema(kindOf(manifest)), manifest);
}

const seedSetup = seedSetupYaml({ region: "eu-west-1", bucket: "my-cluster-oidc" });
const seedIrsa = seedIrsaYaml;
const seedEks = seedEksYaml({ provider: "oidc.eks.eu-west-1.amazonaws.com/id/0123456789ABCDEF" });

const parse = (text: string) => parseYaml(text) as Record<string, unknown>;

function withSpec(base: string, patch: (spec: Record<string, unknown>) => void): Record<string, unknown> {
  const m = parse(base);
  patch(m.spec as Record<string, unknown>);
  return m;
}

Deno.test("crdManifests() accepts the seed README's IRSASetup and IRSA manifests and the seed's eks example", () => {
  for (const text of [seedSetup, seedIrsa, seedEks]) assert.deepEqual(validateManifest(parse(text)), []);
});

Deno.test("crdManifests() accepts every new optional field with valid values", () => {
  const setup = withSpec(seedSetup, (s) => {
    s.mode = "selfhosted";
    s.keySource = "cluster";
    s.issuerUrl = "https://s3.eu-west-1.amazonaws.com/my-cluster-oidc";
    s.clusterName = "prod-1";
  });
  const irsa = withSpec(seedIrsa, (s) => {
    s.audience = "sts.amazonaws.com";
    s.permissionsBoundary = "arn:aws:iam::123456789012:policy/k8s/boundary";
    s.iamRole = { name: "irsa1-role", path: "/k8s/apps/", maxSessionDuration: 7200 };
    s.iamPolicies = ["AmazonS3FullAccess", "service-role/AWSLambdaRole", "arn:aws-cn:iam::aws:policy/ReadOnlyAccess"];
    s.tags = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`team-${i}`, "shop: api/v1=+@"]));
    s.inlinePolicy = '{"Version":"2012-10-17","Statement":[]}';
    s.stsRegionalEndpoints = true;
    s.tokenExpiration = 600;
    s.adopt = false;
  });
  assert.deepEqual(validateManifest(setup), []);
  assert.deepEqual(validateManifest(irsa), []);
});

Deno.test("crdManifests() accepts the export of every binding bind accepts, at bind's own bounds", async (t) => {
  const setup = testSetup;
  const accepts = (req: BindRequest): boolean => {
    try {
      resolveBinding(setup, req);
      return true;
    } catch {
      return false;
    }
  };
  const base: BindRequest = { serviceAccount: "app", namespaces: ["demo"], policies: ["ReadOnlyAccess"] };
  // The longest audience bind accepts is bounded by the trust policy's size, not by a length of its own.
  let audience = 1;
  while (accepts({ ...base, audience: "a".repeat(audience + 1) })) audience++;
  assert.ok(audience > 255, `bind accepts audiences of ${audience} characters`);
  const requests: [string, BindRequest][] = [
    ["the seed's shape", { ...base, namespaces: ["kube-system", "default"], policies: ["AmazonS3FullAccess"] }],
    ["the longest audience", { ...base, audience: "a".repeat(audience) }],
    ["every field at its bound", {
      serviceAccount: "s".repeat(253),
      namespaces: Array.from({ length: 3 }, (_, i) => `${i}${"n".repeat(62)}`),
      policies: Array.from({ length: 10 }, (_, i) => `service-role/${"p".repeat(127)}${i}`),
      inlinePolicy: JSON.stringify({ Version: "2012-10-17", Statement: [] }),
      roleName: "r".repeat(64),
      rolePath: `/${"p".repeat(510)}/`,
      permissionsBoundary: `arn:aws:iam::123456789012:policy/${"b".repeat(128)}`,
      tags: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`${i}`.padEnd(128, "k"), "v".repeat(256)])),
      maxSessionDuration: 43200,
      audience: "sts.amazonaws.com",
      stsRegionalEndpoints: true,
      tokenExpiration: 2 ** 32,
      adopt: true,
    }],
  ];
  for (const [name, req] of requests) {
    await t.step(name, () => {
      const manifest = irsaManifest(resolveBinding(setup, req)) as unknown as Record<string, unknown>;
      assert.deepEqual(validateManifest(manifest), []);
      const objectName = (manifest.metadata as { name: string }).name;
      assert.ok(objectName.length <= 253 && new RegExp(patterns.dnsSubdomain).test(objectName), objectName);
    });
  }
});

Deno.test("crdManifests() rejects bad IRSASetup and IRSA specs", async (t) => {
  const cases: { name: string; manifest: Record<string, unknown>; error: RegExp }[] = [
    { name: "an unknown mode", manifest: withSpec(seedSetup, (s) => (s.mode = "foo")), error: /spec\.mode.*enum/ },
    {
      name: "a missing cleanup",
      manifest: withSpec(seedSetup, (s) => delete s.cleanup),
      error: /missing required cleanup/,
    },
    {
      name: 'cleanup given as the string "yes"',
      manifest: withSpec(seedIrsa, (s) => (s.cleanup = "yes")),
      error: /spec\.cleanup: expected boolean/,
    },
    {
      name: "a missing discovery.s3.region",
      manifest: withSpec(seedSetup, (s) => delete (s.discovery as { s3: Record<string, unknown> }).s3.region),
      error: /missing required region/,
    },
    {
      name: "a bucket name with capitals and underscore",
      manifest: withSpec(seedSetup, (s) => ((s.discovery as { s3: Record<string, unknown> }).s3.bucketName = "My_B")),
      error: /bucketName/,
    },
    {
      name: "a region that is not a region code",
      manifest: withSpec(seedSetup, (s) => ((s.discovery as { s3: Record<string, unknown> }).s3.region = "europe")),
      error: /region/,
    },
    {
      name: "an unknown keySource",
      manifest: withSpec(seedSetup, (s) => (s.keySource = "file")),
      error: /keySource.*enum/,
    },
    {
      name: "an http issuer URL",
      manifest: withSpec(seedSetup, (s) => (s.issuerUrl = "http://s3.eu-west-1.amazonaws.com/b")),
      error: /issuerUrl/,
    },
    {
      name: "an issuer URL with a trailing slash (the seed's defect)",
      manifest: withSpec(seedSetup, (s) => (s.issuerUrl = "https://s3-eu-west-1.amazonaws.com/b/")),
      error: /issuerUrl/,
    },
    {
      name: "an IAM role name with a slash",
      manifest: withSpec(seedIrsa, (s) => (s.iamRole = { name: "team/app" })),
      error: /iamRole\.name/,
    },
    {
      name: "an IAM role name of 65 characters",
      manifest: withSpec(seedIrsa, (s) => (s.iamRole = { name: "r".repeat(65) })),
      error: /iamRole\.name/,
    },
    {
      name: "a role path without a leading slash",
      manifest: withSpec(seedIrsa, (s) => (s.iamRole = { name: "r", path: "k8s/" })),
      error: /iamRole\.path/,
    },
    {
      name: "a role path with an empty segment",
      manifest: withSpec(seedIrsa, (s) => (s.iamRole = { name: "r", path: "/a//b/" })),
      error: /iamRole\.path/,
    },
    {
      name: "a maxSessionDuration under an hour",
      manifest: withSpec(seedIrsa, (s) => (s.iamRole = { name: "r", maxSessionDuration: 60 })),
      error: /maxSessionDuration: below minimum/,
    },
    {
      name: "an upper-case ServiceAccount name",
      manifest: withSpec(seedIrsa, (s) => (s.serviceAccount = { name: "App", namespaces: ["default"] })),
      error: /serviceAccount\.name/,
    },
    {
      name: "a namespace with a dot",
      manifest: withSpec(seedIrsa, (s) => (s.serviceAccount = { name: "app", namespaces: ["a.b"] })),
      error: /namespaces\[0\]/,
    },
    {
      name: "a policy ARN of another service",
      manifest: withSpec(seedIrsa, (s) => (s.iamPolicies = ["arn:aws:s3:::bucket"])),
      error: /iamPolicies\[0\]/,
    },
    {
      name: "a permissions boundary that is not a policy ARN",
      manifest: withSpec(seedIrsa, (s) => (s.permissionsBoundary = "k8s-boundary")),
      error: /permissionsBoundary/,
    },
    {
      name: "a token expiration of 10 seconds",
      manifest: withSpec(seedIrsa, (s) => (s.tokenExpiration = 10)),
      error: /tokenExpiration: below minimum 600/,
    },
    {
      name: "51 tags",
      manifest: withSpec(seedIrsa, (s) => (s.tags = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [i, ""])))),
      error: /more than 50 properties/,
    },
    {
      name: "a tag value with a character IAM refuses",
      manifest: withSpec(seedIrsa, (s) => (s.tags = { team: "shop!" })),
      error: /tags\.team/,
    },
    {
      name: "stsRegionalEndpoints given as a string",
      manifest: withSpec(seedIrsa, (s) => (s.stsRegionalEndpoints = "true")),
      error: /expected boolean/,
    },
  ];
  for (const c of cases) {
    await t.step(`rejects ${c.name}`, () => {
      const errors = validateManifest(c.manifest);
      assert.ok(errors.some((e) => c.error.test(e)), `errors ${JSON.stringify(errors)} do not match ${c.error}`);
    });
  }
});

Deno.test("crdManifests() keeps the seed's group, names, scope, required fields and status subresource", () => {
  const crds = crdManifests() as {
    metadata: { name: string };
    spec: {
      group: string;
      scope: string;
      names: { kind: string; plural: string; singular: string; listKind: string };
      versions: {
        name: string;
        served: boolean;
        storage: boolean;
        subresources: unknown;
        additionalPrinterColumns: { name: string; jsonPath: string; type: string }[];
        schema: { openAPIV3Schema: Schema };
      }[];
    };
  }[];
  assert.deepEqual(crds.map((c) => c.metadata.name), [
    "irsasetups.irsa-manager.kkb0318.github.io",
    "irsas.irsa-manager.kkb0318.github.io",
  ]);
  assert.deepEqual(crds.map((c) => c.spec.names), [
    { kind: "IRSASetup", listKind: "IRSASetupList", plural: "irsasetups", singular: "irsasetup" },
    { kind: "IRSA", listKind: "IRSAList", plural: "irsas", singular: "irsa" },
  ]);
  for (const crd of crds) {
    assert.equal(crd.spec.group, crdGroup);
    assert.equal(crd.spec.scope, "Namespaced");
    assert.equal(crd.spec.versions.length, 1);
    const v = crd.spec.versions[0]!;
    assert.deepEqual([v.name, v.served, v.storage, v.subresources], [crdVersion, true, true, { status: {} }]);
    assert.deepEqual(v.additionalPrinterColumns[0], {
      name: "Ready",
      type: "string",
      jsonPath: '.status.conditions[?(@.type=="Ready")].status',
    });
    assert.deepEqual(v.additionalPrinterColumns[2], {
      name: "Age",
      type: "date",
      jsonPath: ".metadata.creationTimestamp",
    });
    const spec = v.schema.openAPIV3Schema.properties!.spec!;
    assert.deepEqual(spec.required, ["cleanup"]);
  }
  assert.deepEqual(crds[0]!.spec.versions[0]!.additionalPrinterColumns[1]!.jsonPath, ".status.issuer");
  assert.deepEqual(crds[1]!.spec.versions[0]!.additionalPrinterColumns[1]!.jsonPath, ".status.roleArn");
  assert.equal(crdName("irsa"), "irsas.irsa-manager.kkb0318.github.io");
});

Deno.test("crdManifests() IRSASetup.spec.mode has the seed's enum, default and immutability rule", () => {
  const spec = crdKinds.irsaSetup.spec;
  const mode = spec.properties!.mode!;
  assert.deepEqual(mode.enum, ["selfhosted", "eks"]);
  assert.equal(mode.default, "selfhosted");
  assert.deepEqual(mode["x-kubernetes-validations"], [{ rule: "self == oldSelf", message: "Value is immutable" }]);
  assert.deepEqual(spec.properties!.discovery!.properties!.s3!.required, ["bucketName", "region"]);
  // The seed required discovery; it stays required, but only in selfhosted mode.
  assert.match(spec["x-kubernetes-validations"]![0]!.rule, /has\(self\.discovery\)/);
  assert.equal(spec.properties!.keySource!.default, "generate");
});

Deno.test("crdManifests() schemas are structural: every node has a type and none preserves unknown fields", () => {
  const walk = (node: unknown, path: string): void => {
    if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${path}[${i}]`));
    if (node === null || typeof node !== "object") return;
    const o = node as Record<string, unknown>;
    assert.ok(!("x-kubernetes-preserve-unknown-fields" in o), `${path} preserves unknown fields`);
    for (const key of ["properties", "additionalProperties", "items"] as const) {
      const sub = o[key];
      if (sub === undefined) continue;
      const children = key === "properties" ? Object.entries(sub as object) : [[key, sub] as const];
      for (const [name, child] of children) {
        assert.ok(typeof (child as Schema).type === "string", `${path}.${name} has no type`);
        walk(child, `${path}.${name}`);
      }
    }
  };
  for (const crd of crdManifests()) walk(crd, String((crd.metadata as { name: string }).name));
});

Deno.test("crd patterns agree with the library's validators", async (t) => {
  const agree = (pattern: string, check: (s: string) => unknown, values: string[]) => {
    for (const v of values) {
      let libOk = true;
      try {
        check(v);
      } catch {
        libOk = false;
      }
      assert.equal(new RegExp(pattern, "u").test(v), libOk, `${JSON.stringify(v)} against ${pattern}`);
    }
  };
  await t.step("role names", () =>
    agree(patterns.roleName, validateRoleName, [
      "a",
      "irsa1-role",
      "a+b=c,d.e@f_g-h",
      "r".repeat(64),
      "r".repeat(65),
      "",
      "team/app",
      "with space",
      "é",
    ]));
  await t.step(
    "role paths",
    () => agree(patterns.rolePath, validateRolePath, ["/", "/k8s/", "/a/b/", "k8s/", "/k8s", "/a//b/", "/a b/", "//"]),
  );
  await t.step(
    "namespaces",
    () => agree(patterns.dnsLabel, (s) => validateDnsLabel("namespace", s), ["default", "a-b", "a.b", "A", "-a", "a-"]),
  );
  await t.step(
    "ServiceAccount names",
    () => agree(patterns.dnsSubdomain, (s) => validateDnsSubdomain("sa", s), ["app", "a.b-c", "a..b", "App", "a_b"]),
  );
  await t.step(
    "regions",
    () => agree(patterns.region, validateRegion, ["eu-west-1", "us-gov-west-1", "cn-north-1", "europe", "EU-WEST-1"]),
  );
  // The schema is the coarse first line for these two; the library's finer rules may refuse more.
  await t.step("bucket names the library accepts also pass the schema", () => {
    for (const b of ["abc", "my-cluster-oidc", "a.b.c", "a".repeat(63)]) {
      validateBucketName(b);
      assert.ok(new RegExp(patterns.bucketName, "u").test(b), b);
    }
    for (const b of ["ab", "My-Bucket", "-abc", "abc-", "a_b"]) assert.ok(!new RegExp(patterns.bucketName).test(b), b);
  });
  await t.step("issuer URLs the library accepts also pass the schema", () => {
    for (
      const u of ["https://s3.eu-west-1.amazonaws.com/b", "https://127.0.0.1:4566/oidc/x", "https://issuer.example"]
    ) {
      validateIssuerUrl(u);
      assert.ok(new RegExp(patterns.issuerUrl, "u").test(u), u);
    }
    for (const u of ["http://a/b", "https://a/b/", "https://a/b?x=1", "https://a//b", "https://a/b#f"]) {
      assert.ok(!new RegExp(patterns.issuerUrl, "u").test(u), u);
    }
  });
});
