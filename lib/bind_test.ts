import { deepStrictEqual, equal, notEqual, ok, rejects, throws } from "node:assert/strict";
import {
  applyBindActions,
  type BindPorts,
  type BindRequest,
  gatherInventory,
  loadSetup,
  resolveBinding,
  validateBindRequest,
} from "./bind.ts";
import type { BindAction } from "./bind_plan.ts";
import { isIrsaError } from "./errors.ts";
import { serializeSetupRecord, type SetupRecord } from "./setup_record.ts";
import { testSetup } from "./testdata/setup_fixture.ts";

const setup = testSetup;

function request(over: Partial<BindRequest> = {}): BindRequest {
  return { serviceAccount: "app", namespaces: ["ns1"], policies: ["ReadOnlyAccess"], ...over };
}

/** Asserts an "invalid" IrsaError whose one-line message names `named`. */
function assertInvalid(fn: () => unknown, named: string): void {
  throws(fn, (e: unknown) => {
    ok(isIrsaError(e, "invalid"), `expected IrsaError kind invalid, got ${String(e)}`);
    ok(e.message.includes(named), `message ${JSON.stringify(e.message)} does not name ${JSON.stringify(named)}`);
    ok(!e.message.includes("\n"), "message is one line");
    return true;
  });
}

const manyTags = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, "v"]));
const manyPolicies = (n: number) => Array.from({ length: n }, (_, i) => `Policy${i}`);

/** A valid inline policy of more than 10240 characters without whitespace. */
const hugeInline = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{
    Effect: "Allow",
    Action: Array.from({ length: 600 }, (_, i) => `s3:GetObjectNumber${i}`),
    Resource: "*",
  }],
});
const hugeSize = hugeInline.replace(/\s/g, "").length;

/** `needsSetup`: the rule depends on the setup (the account's partition), so only resolveBinding can apply it. */
const badCases: { name: string; req: Partial<BindRequest>; named: string; needsSetup?: true }[] = [
  { name: "ServiceAccount name with upper case", req: { serviceAccount: "App" }, named: '"App"' },
  { name: "ServiceAccount name too long", req: { serviceAccount: "a".repeat(254) }, named: "a".repeat(254) },
  { name: "ServiceAccount name with underscore", req: { serviceAccount: "my_app" }, named: '"my_app"' },
  { name: "ServiceAccount name empty", req: { serviceAccount: "" }, named: 'ServiceAccount name ""' },
  { name: "ServiceAccount name starting with '-'", req: { serviceAccount: "-app" }, named: '"-app"' },
  { name: "ServiceAccount name with wildcard", req: { serviceAccount: "app*" }, named: '"app*"' },
  { name: "namespace with upper case", req: { namespaces: ["Prod"] }, named: '"Prod"' },
  { name: "namespace with a dot", req: { namespaces: ["a.b"] }, named: '"a.b"' },
  { name: "namespace too long", req: { namespaces: ["n".repeat(64)] }, named: "n".repeat(64) },
  { name: "namespace with underscore", req: { namespaces: ["ns_1"] }, named: '"ns_1"' },
  { name: "namespace wildcard", req: { namespaces: ["*"] }, named: '"*"' },
  { name: "one bad namespace among good ones", req: { namespaces: ["ok", "Bad"] }, named: '"Bad"' },
  { name: "empty namespace list", req: { namespaces: [] }, named: "namespace", needsSetup: true },
  { name: "role name too long", req: { roleName: "r".repeat(65) }, named: "r".repeat(65) },
  { name: "role name with a space", req: { roleName: "my role" }, named: '"my role"' },
  { name: "role name with a slash", req: { roleName: "team/app" }, named: '"team/app"' },
  { name: "role name with non-ASCII", req: { roleName: "rôle" }, named: '"rôle"' },
  { name: "role name empty", req: { roleName: "" }, named: 'role name ""' },
  { name: "role path without trailing slash", req: { rolePath: "/team" }, named: '"/team"' },
  { name: "role path without leading slash", req: { rolePath: "team/" }, named: '"team/"' },
  { name: "role path with //", req: { rolePath: "/team//app/" }, named: '"/team//app/"' },
  { name: "role path too long", req: { rolePath: `/${"p".repeat(511)}/` }, named: "p".repeat(511) },
  { name: "51 tags", req: { tags: manyTags(51) }, named: "51" },
  { name: "tag key too long", req: { tags: { ["k".repeat(129)]: "v" } }, named: "k".repeat(129) },
  { name: "tag value too long", req: { tags: { team: "v".repeat(257) } }, named: "v".repeat(257) },
  { name: "tag key with a bad character", req: { tags: { "a#b": "v" } }, named: '"a#b"' },
  {
    name: "reserved kubectl-irsa/ tag key",
    req: { tags: { "kubectl-irsa/cluster": "x" } },
    named: "kubectl-irsa/cluster",
  },
  {
    name: "reserved tag key in another case",
    req: { tags: { "Kubectl-IRSA/Cluster": "x" } },
    named: "Kubectl-IRSA/Cluster",
  },
  { name: "aws: tag key", req: { tags: { "aws:team": "x" } }, named: '"aws:team"' },
  { name: "AWS: tag key", req: { tags: { "AWS:team": "x" } }, named: '"AWS:team"' },
  { name: "policy ARN of another service", req: { policies: ["arn:aws:s3:::x"] }, named: "arn:aws:s3:::x" },
  {
    name: "policy ARN of another partition",
    req: { policies: ["arn:aws-cn:iam::aws:policy/X"] },
    named: "arn:aws-cn:iam::aws:policy/X",
    needsSetup: true,
  },
  {
    name: "policy ARN that is a role",
    req: { policies: ["arn:aws:iam::123456789012:role/x"] },
    named: "arn:aws:iam::123456789012:role/x",
  },
  { name: "policy name with a space", req: { policies: ["Read Only"] }, named: '"Read Only"' },
  { name: "policy path with an empty segment", req: { policies: ["service-role//X"] }, named: "service-role//X" },
  { name: "11 managed policies", req: { policies: manyPolicies(11) }, named: "11" },
  { name: "boundary as a bare name", req: { permissionsBoundary: "Boundary" }, named: '"Boundary"' },
  {
    name: "boundary that is a role ARN",
    req: { permissionsBoundary: "arn:aws:iam::123456789012:role/b" },
    named: "arn:aws:iam::123456789012:role/b",
  },
  {
    name: "boundary of another partition",
    req: { permissionsBoundary: "arn:aws-us-gov:iam::aws:policy/B" },
    named: "arn:aws-us-gov:iam::aws:policy/B",
    needsSetup: true,
  },
  { name: "inline policy not JSON", req: { inlinePolicy: "{nope" }, named: "{nope" },
  { name: "inline policy an array", req: { inlinePolicy: "[]" }, named: '"[]"' },
  { name: "inline policy a string", req: { inlinePolicy: '"x"' }, named: '"\\"x\\""' },
  {
    name: "inline policy without Statement",
    req: { inlinePolicy: '{"Version":"2012-10-17"}' },
    named: "Statement",
  },
  {
    name: "inline policy without Version",
    req: { inlinePolicy: '{"Statement":[]}' },
    named: "Version",
  },
  { name: "inline policy over 10240 characters", req: { inlinePolicy: hugeInline }, named: String(hugeSize) },
  { name: "maxSessionDuration 3599", req: { maxSessionDuration: 3599 }, named: "3599" },
  { name: "maxSessionDuration 43201", req: { maxSessionDuration: 43201 }, named: "43201" },
  { name: "maxSessionDuration fractional", req: { maxSessionDuration: 3600.5 }, named: "3600.5" },
  { name: "tokenExpiration 599", req: { tokenExpiration: 599 }, named: "599" },
  { name: "audience *", req: { audience: "*" }, named: '"*"' },
  { name: "audience empty", req: { audience: "" }, named: 'audience ""' },
  { name: "audience with a wildcard", req: { audience: "sts.*" }, named: '"sts.*"' },
];

Deno.test("resolveBinding() refuses bad input before any AWS call", async (t) => {
  ok(hugeSize > 10240);
  for (const c of badCases) {
    await t.step(c.name, () => assertInvalid(() => resolveBinding(setup, request(c.req)), c.named));
  }
});

Deno.test("validateBindRequest() refuses, without the setup, every bad input whose rule needs none", async (t) => {
  for (const c of badCases.filter((c) => !c.needsSetup)) {
    await t.step(c.name, () => assertInvalid(() => validateBindRequest(request(c.req)), c.named));
  }
});

Deno.test("validateBindRequest() leaves what needs the setup or the cluster to later", async (t) => {
  const cases: { name: string; req: Partial<BindRequest> }[] = [
    { name: "no namespace yet: the context's comes from the kubeconfig", req: { namespaces: [] } },
    { name: "an ARN of another partition", req: { policies: ["arn:aws-cn:iam::aws:policy/X"] } },
    { name: "a boundary of another partition", req: { permissionsBoundary: "arn:aws-cn:iam::aws:policy/B" } },
    {
      name: "10 policies, one named twice (by name and by ARN), are 10",
      req: { policies: [...manyPolicies(10), "arn:aws:iam::aws:policy/Policy0"] },
    },
    { name: "limits themselves", req: { tags: manyTags(50), maxSessionDuration: 43200, tokenExpiration: 600 } },
  ];
  for (const c of cases) await t.step(c.name, () => validateBindRequest(request(c.req)));
});

Deno.test("resolveBinding() resolves valid input", async (t) => {
  const cases: {
    name: string;
    req: Partial<BindRequest>;
    setup?: Partial<SetupRecord>;
    check: (b: ReturnType<typeof resolveBinding>) => void;
  }[] = [
    {
      name: "minimal request: defaults and no optional keys",
      req: {},
      check: (b) =>
        deepStrictEqual(b, {
          serviceAccount: "app",
          namespaces: ["ns1"],
          roleName: "irsa-b-ns1_app",
          rolePath: "/",
          policyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
          tags: {},
          adopt: false,
        }),
    },
    {
      name: "every option is carried over",
      req: {
        inlinePolicy: '{"Version":"2012-10-17","Statement":[]}',
        roleName: "custom",
        rolePath: "/team/app/",
        permissionsBoundary: "arn:aws:iam::123456789012:policy/boundary",
        tags: { team: "payments" },
        maxSessionDuration: 43200,
        audience: "custom-aud",
        stsRegionalEndpoints: false,
        tokenExpiration: 600,
        adopt: true,
      },
      check: (b) =>
        deepStrictEqual(b, {
          serviceAccount: "app",
          namespaces: ["ns1"],
          roleName: "custom",
          rolePath: "/team/app/",
          policyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
          inlinePolicy: '{"Version":"2012-10-17","Statement":[]}',
          permissionsBoundaryArn: "arn:aws:iam::123456789012:policy/boundary",
          tags: { team: "payments" },
          maxSessionDuration: 43200,
          audience: "custom-aud",
          stsRegionalEndpoints: false,
          tokenExpiration: 600,
          adopt: true,
        }),
    },
    {
      name: "bare policy name resolves to an AWS managed policy",
      req: { policies: ["AmazonS3ReadOnlyAccess"] },
      check: (b) => deepStrictEqual(b.policyArns, ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"]),
    },
    {
      name: "service-role/X resolves under the path",
      req: { policies: ["service-role/AmazonEC2RoleforSSM"] },
      check: (b) => deepStrictEqual(b.policyArns, ["arn:aws:iam::aws:policy/service-role/AmazonEC2RoleforSSM"]),
    },
    {
      name: "bare names take the setup's partition",
      req: { policies: ["ReadOnlyAccess", "arn:aws-cn:iam::123456789012:policy/mine"] },
      setup: { partition: "aws-cn" },
      check: (b) =>
        deepStrictEqual(b.policyArns, [
          "arn:aws-cn:iam::aws:policy/ReadOnlyAccess",
          "arn:aws-cn:iam::123456789012:policy/mine",
        ]),
    },
    {
      name: "duplicate namespaces and policies are de-duplicated",
      req: {
        namespaces: ["b", "a", "b"],
        policies: ["ReadOnlyAccess", "arn:aws:iam::aws:policy/ReadOnlyAccess", "ReadOnlyAccess"],
      },
      check: (b) => {
        deepStrictEqual(b.namespaces, ["b", "a"]);
        deepStrictEqual(b.policyArns, ["arn:aws:iam::aws:policy/ReadOnlyAccess"]);
        equal(b.roleName, "irsa-b-a.b_app");
      },
    },
    {
      name: "limits themselves are accepted: 10 policies, 50 tags, 3600 s, 600 s, 10240 characters",
      req: {
        policies: manyPolicies(10),
        tags: manyTags(50),
        maxSessionDuration: 3600,
        tokenExpiration: 600,
        inlinePolicy: JSON.stringify({ Version: "2012-10-17", Statement: [], Pad: "x".repeat(10240 - 48) }),
      },
      check: (b) => {
        equal(b.policyArns.length, 10);
        equal(Object.keys(b.tags).length, 50);
        equal(b.inlinePolicy?.replace(/\s/g, "").length, 10240);
      },
    },
    {
      name: "policies may be empty",
      req: { policies: [] },
      check: (b) => deepStrictEqual(b.policyArns, []),
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => c.check(resolveBinding({ ...setup, ...c.setup }, request(c.req))));
  }
});

Deno.test("resolveBinding() default role names are deterministic, distinct and at most 64 characters", () => {
  const longSa = `${"s".repeat(120)}.${"a".repeat(120)}`;
  const longNs = ["n".repeat(63), "m".repeat(63)];
  const a = resolveBinding(setup, request({ serviceAccount: longSa, namespaces: longNs }));
  const b = resolveBinding(setup, request({ serviceAccount: longSa, namespaces: [...longNs].reverse() }));
  const c = resolveBinding(setup, request({ serviceAccount: `${longSa}x`, namespaces: longNs }));
  equal(a.roleName, b.roleName);
  notEqual(a.roleName, c.roleName);
  for (const name of [a.roleName, c.roleName]) {
    ok(name.length <= 64, `${name} is ${name.length} characters`);
    ok(/^[\w+=,.@-]+$/.test(name), name);
    ok(name.startsWith("irsa-b-"), name);
  }
  equal(resolveBinding(setup, request()).roleName, "irsa-b-ns1_app");
});

function setupPort(text: string | undefined) {
  return { setupRecord: () => Promise.resolve(text) };
}

Deno.test("loadSetup() reads the record init wrote", async () => {
  deepStrictEqual(await loadSetup(setupPort(serializeSetupRecord(setup))), setup);
});

Deno.test("loadSetup() fails as a precondition when init has not run or the record is damaged", async (t) => {
  const cases: { name: string; text: string | undefined; reason: string; named: string }[] = [
    { name: "no record", text: undefined, reason: "NotInitialized", named: "no IRSA setup recorded" },
    { name: "empty record", text: "", reason: "SetupRecordDamaged", named: "is damaged" },
    { name: "not JSON", text: "{nope", reason: "SetupRecordDamaged", named: "not JSON" },
    {
      name: "a field missing",
      text: JSON.stringify({ ...setup, providerArn: undefined }),
      reason: "SetupRecordDamaged",
      named: "providerArn",
    },
    {
      name: "unknown partition",
      text: JSON.stringify({ ...setup, partition: "aws-xx" }),
      reason: "SetupRecordDamaged",
      named: "aws-xx",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      await rejects(loadSetup(setupPort(c.text)), (e: unknown) => {
        ok(isIrsaError(e, "precondition"), `expected a precondition, got ${String(e)}`);
        equal(e.reason, c.reason);
        ok(e.message.includes(c.named), e.message);
        ok(!e.message.includes("\n"));
        deepStrictEqual(e.remedies, [{ kind: "init", again: c.reason !== "NotInitialized" }]);
        return true;
      });
    });
  }
});

/** Ports that record every call; `failing` names a call that rejects. */
function recordingPorts(failing?: string) {
  const calls: string[] = [];
  const call = (name: string, value: unknown = undefined) => {
    calls.push(name);
    return name === failing ? Promise.reject(new Error(`${name} failed`)) : Promise.resolve(value);
  };
  const ports = {
    iam: new Proxy({} as Record<string, unknown>, {
      get: (target, name) => target[String(name)] ?? (() => call(String(name))),
      set: (target, name, value) => (target[String(name)] = value, true),
    }),
    serviceAccounts: {
      get: () => call("getServiceAccount", { exists: true, annotations: {}, ownedAnnotations: [] }),
      apply: () => call("applyServiceAccount"),
      delete: () => call("deleteServiceAccount"),
    },
    setupRecord: () => Promise.resolve(undefined),
  } as unknown as BindPorts;
  return { ports, calls };
}

Deno.test("applyBindActions() stops before the next action once the signal aborts", async () => {
  const { ports, calls } = recordingPorts();
  const controller = new AbortController();
  const actions: BindAction[] = [
    { kind: "AttachPolicy", roleName: "r", policyArn: "arn:aws:iam::aws:policy/ReadOnlyAccess" },
    { kind: "DeleteRole", roleName: "r" },
  ];
  // Leadership is lost while the first call is in flight.
  const attach = ports.iam.attachPolicy;
  ports.iam.attachPolicy = (...args) => attach(...args).finally(() => controller.abort());
  await rejects(
    applyBindActions(actions, ports, { signal: controller.signal }),
    (e: unknown) => (e as Error).name === "AbortError",
  );
  deepStrictEqual(calls, ["attachPolicy"]);
  await rejects(applyBindActions(actions, ports, { signal: controller.signal }));
  deepStrictEqual(calls, ["attachPolicy"], "an aborted signal starts nothing");
});

Deno.test("gatherInventory() reads every role and ServiceAccount, and a failed read throws", async (t) => {
  const inventory = { roleNames: ["r"], serviceAccounts: [{ namespace: "ns1", name: "app" }] };
  await t.step("all read", async () => {
    const { ports, calls } = recordingPorts();
    const observed = await gatherInventory(inventory, ports);
    deepStrictEqual(calls, ["getRole", "getServiceAccount"]);
    deepStrictEqual(Object.keys(observed.serviceAccounts), ["ns1/app"]);
  });
  for (const failing of ["getRole", "getServiceAccount"]) {
    await t.step(`${failing} fails`, async () => {
      const { ports } = recordingPorts(failing);
      await rejects(gatherInventory(inventory, ports), new RegExp(`${failing} failed`));
    });
  }
});
