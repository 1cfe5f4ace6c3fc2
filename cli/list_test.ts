import { deepStrictEqual, equal, ok } from "node:assert/strict";
import type { ObservedRole } from "../lib/aws/iam_port.ts";
import { type Binding, bindingRoleArn, serializeBindingRecord } from "../lib/bind_plan.ts";
import { buildTrustPolicy } from "../lib/trust_policy.ts";
import { recordedState, unrecordedState } from "./list.ts";
import { testIssuerHost, testSetup } from "../lib/testdata/setup_fixture.ts";

const host = testIssuerHost;
const setup = testSetup;
const s3Full = "arn:aws:iam::aws:policy/AmazonS3FullAccess";
const binding: Binding = {
  serviceAccount: "app",
  namespaces: ["demo"],
  roleName: "irsa-b-demo_app",
  rolePath: "/",
  policyArns: [s3Full],
  tags: {},
  adopt: false,
};
const trust = (namespace: string) =>
  encodeURIComponent(JSON.stringify(buildTrustPolicy({
    providerArn: setup.providerArn,
    issuerHostPath: host,
    subjects: [{ namespace, serviceAccount: "app" }],
  })));
const role = (over: Partial<ObservedRole> = {}): ObservedRole => ({
  arn: bindingRoleArn(setup, binding),
  name: binding.roleName,
  path: "/",
  trustPolicy: trust("demo"),
  tags: {
    "kubectl-irsa/managed-by": "kubectl-irsa",
    "kubectl-irsa/cluster": host,
    "kubectl-irsa/service-account": "demo/app",
  },
  maxSessionDuration: 3600,
  permissionsBoundaryArn: undefined,
  attachedPolicyArns: [s3Full],
  inlinePolicies: {},
  ...over,
});
const annotations = {
  "eks.amazonaws.com/role-arn": bindingRoleArn(setup, binding),
  "irsa.kubectl.io/binding": serializeBindingRecord(binding),
};
const bound = { exists: true, annotations, ownedAnnotations: Object.keys(annotations) };

Deno.test("recordedState() calls a binding ok only when bind would change nothing", async (t) => {
  await t.step("in place: ok", () => {
    deepStrictEqual(recordedState(setup, binding, { role: role(), serviceAccounts: { demo: bound } }), { state: "ok" });
  });
  await t.step("a detached policy: drifted, naming it", () => {
    const got = recordedState(setup, binding, {
      role: role({ attachedPolicyArns: [] }),
      serviceAccounts: { demo: bound },
    });
    deepStrictEqual(got, {
      state: "drifted",
      detail: `${s3Full} is not attached`,
      drift: [`${s3Full} is not attached`],
    });
  });
  await t.step("a role deleted: missing role", () => {
    const got = recordedState(setup, binding, { role: undefined, serviceAccounts: { demo: bound } });
    equal(got.state, "missing role");
    ok(got.detail?.startsWith(`IAM role "${binding.roleName}" does not exist`), got.detail);
  });
  await t.step("a role that lost its ownership tags: conflict, since bind would refuse", () => {
    const got = recordedState(setup, binding, { role: role({ tags: {} }), serviceAccounts: { demo: bound } });
    equal(got.state, "conflict");
    ok(got.detail?.includes("--adopt"), got.detail);
  });
});

Deno.test("unrecordedState() checks only the trust policy, and says whose annotation it is", async (t) => {
  const sa = { namespace: "demo", name: "app", audience: "sts.amazonaws.com", ours: true };
  await t.step("bound by an older kubectl-irsa and trusted: ok, with the caveat", () => {
    const got = unrecordedState(setup, sa, role());
    equal(got.state, "ok");
    ok(got.detail?.includes("rerun bind"), got.detail);
  });
  await t.step("bound by an older kubectl-irsa, not trusted: drifted", () => {
    equal(unrecordedState(setup, sa, role({ trustPolicy: trust("elsewhere") })).state, "drifted");
  });
  await t.step("bound by an older kubectl-irsa, role gone: missing role", () => {
    equal(unrecordedState(setup, sa, undefined).state, "missing role");
  });
  await t.step("annotated by someone else: unmanaged, with whether the role trusts it", () => {
    const trusted = unrecordedState(setup, { ...sa, ours: false }, role());
    equal(trusted.state, "unmanaged");
    ok(trusted.detail?.endsWith("the role trusts it"), trusted.detail);
    const untrusted = unrecordedState(setup, { ...sa, ours: false }, role({ trustPolicy: trust("elsewhere") }));
    equal(untrusted.state, "unmanaged");
    ok(untrusted.detail?.includes("the role does not trust it"), untrusted.detail);
  });
});
