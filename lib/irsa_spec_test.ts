import { deepStrictEqual, equal, notEqual, ok } from "node:assert/strict";
import { type BindRequest, resolveBinding } from "./bind.ts";
import type { Binding } from "./bind_plan.ts";
import { bindRequestOf, irsaInventory, irsaManifest, irsaObjectName, irsaSpecOf } from "./irsa_spec.ts";
import { validateDnsSubdomain } from "./validate.ts";
import { testSetup } from "./testdata/setup_fixture.ts";

const setup = testSetup;

const inline =
  '{\n  "Version": "2012-10-17",\n  "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]\n}\n';

// Required<Binding>: a field added to Binding fails the type check here until the round trip below covers it.
const full: Required<Binding> = {
  serviceAccount: "app",
  namespaces: ["team-b", "team-a"],
  roleName: "shop-app",
  rolePath: "/k8s/apps/",
  policyArns: ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess", "arn:aws:iam::123456789012:policy/queue"],
  inlinePolicy: inline,
  permissionsBoundaryArn: "arn:aws:iam::123456789012:policy/k8s/boundary",
  tags: { team: "payments", "cost center": "42" },
  maxSessionDuration: 7200,
  audience: "sts.example.com",
  stsRegionalEndpoints: false,
  tokenExpiration: 3600,
  adopt: true,
};

const roundTrip = (b: Binding) => resolveBinding(setup, bindRequestOf(irsaSpecOf(b)));

Deno.test("irsaSpecOf() then bindRequestOf() gives the daemon the binding bind resolved, field for field", async (t) => {
  await t.step("every field set", () => deepStrictEqual(roundTrip(full), full));
  await t.step("stsRegionalEndpoints true and adopt false", () => {
    const b = { ...full, stsRegionalEndpoints: true, adopt: false };
    deepStrictEqual(roundTrip(b), b);
  });
  await t.step("only what bind always has", () => {
    const b: Binding = {
      serviceAccount: "app",
      namespaces: ["demo"],
      roleName: "irsa-b-demo_app",
      rolePath: "/",
      policyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
      tags: {},
      adopt: false,
    };
    deepStrictEqual(roundTrip(b), b);
  });
  await t.step("from a request with bare names, duplicates and a defaulted role name", () => {
    const req: BindRequest = {
      serviceAccount: "app",
      namespaces: ["ns2", "ns1", "ns2"],
      policies: ["ReadOnlyAccess", "arn:aws:iam::aws:policy/ReadOnlyAccess", "service-role/AWSLambdaRole"],
      inlinePolicy: inline,
      tokenExpiration: 600,
    };
    const b = resolveBinding(setup, req);
    deepStrictEqual(roundTrip(b), b);
    deepStrictEqual(irsaSpecOf(b).iamPolicies, [
      "arn:aws:iam::aws:policy/ReadOnlyAccess",
      "arn:aws:iam::aws:policy/service-role/AWSLambdaRole",
    ]);
    equal(irsaSpecOf(b).iamRole?.name, "irsa-b-ns1.ns2_app", "the resolved default name is pinned");
  });
});

Deno.test("irsaManifest() is the whole IRSA object: every bind option, in the daemon's namespace", () => {
  deepStrictEqual(irsaManifest(full), {
    apiVersion: "irsa-manager.kkb0318.github.io/v1alpha1",
    kind: "IRSA",
    metadata: { name: irsaObjectName("app", ["team-a", "team-b"]), namespace: "irsa-manager-system" },
    spec: {
      cleanup: true,
      serviceAccount: { name: "app", namespaces: ["team-b", "team-a"] },
      iamRole: { name: "shop-app", path: "/k8s/apps/", maxSessionDuration: 7200 },
      iamPolicies: ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess", "arn:aws:iam::123456789012:policy/queue"],
      inlinePolicy: inline,
      permissionsBoundary: "arn:aws:iam::123456789012:policy/k8s/boundary",
      tags: { team: "payments", "cost center": "42" },
      audience: "sts.example.com",
      stsRegionalEndpoints: false,
      tokenExpiration: 3600,
      adopt: true,
    },
  });
});

Deno.test("irsaSpecOf() leaves out what the binding leaves unset (absent keeps an existing role's value)", () => {
  const spec = irsaSpecOf({
    serviceAccount: "app",
    namespaces: ["demo"],
    roleName: "r",
    rolePath: "/",
    policyArns: [],
    tags: {},
    adopt: false,
  });
  deepStrictEqual(spec, {
    cleanup: true,
    serviceAccount: { name: "app", namespaces: ["demo"] },
    iamRole: { name: "r", path: "/" },
    iamPolicies: [],
  });
});

Deno.test("irsaObjectName() is deterministic, valid and distinct per namespace set and ServiceAccount", async (t) => {
  const hash = /-[0-9a-f]{10}$/;
  await t.step("readable head, hash suffix", () => {
    const name = irsaObjectName("app", ["team-b", "team-a"]);
    ok(name.startsWith("team-a.team-b.app-"), name);
    ok(hash.test(name), name);
  });
  await t.step("the namespace set decides, not the -n order or repeats", () => {
    equal(irsaObjectName("app", ["b", "a"]), irsaObjectName("app", ["a", "b", "a"]));
    equal(irsaObjectName("app", ["a"]), irsaObjectName("app", ["a"]));
  });
  const distinct: [string, string[]][] = [
    ["app", ["team-a"]],
    ["app", ["team-b"]],
    ["app", ["team-a", "team-b"]],
    ["app2", ["team-a"]],
    // The same readable text "a.b.app": only the hash tells these apart.
    ["b.app", ["a"]],
    ["app", ["a", "b"]],
    // "-" inside names: "a-b" + "c" against "a" + "b-c".
    ["c", ["a-b"]],
    ["b-c", ["a"]],
  ];
  await t.step("different bindings, different names", () => {
    const names = distinct.map(([sa, ns]) => irsaObjectName(sa, ns));
    equal(new Set(names).size, names.length, names.join(", "));
    notEqual(irsaObjectName("b.app", ["a"]), irsaObjectName("app", ["a", "b"]));
  });
  await t.step("long inputs stay within 253 characters and are DNS-1123 subdomains", () => {
    const abc = ["a", "b", "c"].map((c) => c.repeat(63));
    const longNs = Array.from({ length: 8 }, (_, i) => `${String(i)}${"n".repeat(62)}`);
    const cases: [string, string[]][] = [
      ["s".repeat(253), ["a"]],
      [`${"s".repeat(200)}.x`, longNs],
      ["app", longNs],
      ["app", [...longNs, "z"]],
      // The cut at 242 characters falls right after a "." and right after a "-".
      ["app", [...abc, "d".repeat(49)]],
      ["app", [...abc, `${"d".repeat(49)}-d`]],
    ];
    const names = cases.map(([sa, ns]) => irsaObjectName(sa, ns));
    equal(names[4], `${abc.join(".")}.${"d".repeat(49)}-${names[4]!.slice(-10)}`);
    equal(names[5], `${abc.join(".")}.${"d".repeat(49)}-${names[5]!.slice(-10)}`);
    for (const name of names) {
      ok(name.length <= 253, `${name.length} characters`);
      ok(hash.test(name), name);
      validateDnsSubdomain("IRSA name", name);
    }
    equal(new Set(names).size, names.length);
  });
});

Deno.test("irsaInventory() reads back what the status recorded as bound", async (t) => {
  const cases: { name: string; status: Parameters<typeof irsaInventory>[0]; want: ReturnType<typeof irsaInventory> }[] =
    [
      { name: "no status: nothing", status: undefined, want: { roleNames: [], serviceAccounts: [] } },
      {
        name: "the role (by name, whatever its path) and the ServiceAccounts",
        status: {
          roleArn: "arn:aws:iam::123456789012:role/team/app-role",
          serviceAccounts: [{ name: "app", namespace: "ns1" }, { name: "app", namespace: "ns2" }],
        },
        want: {
          roleNames: ["app-role"],
          serviceAccounts: [{ namespace: "ns1", name: "app" }, { namespace: "ns2", name: "app" }],
        },
      },
      {
        name: "an unreadable role ARN names no role; the ServiceAccounts still count",
        status: { roleArn: "not-an-arn", serviceAccounts: [{ name: "app", namespace: "ns1" }] },
        want: { roleNames: [], serviceAccounts: [{ namespace: "ns1", name: "app" }] },
      },
    ];
  for (const c of cases) await t.step(c.name, () => deepStrictEqual(irsaInventory(c.status), c.want));
});
