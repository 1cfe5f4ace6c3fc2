import { deepStrictEqual, equal } from "node:assert/strict";
import { applyJsonPatch, defaultWebhookConfig, type JsonPatchOp, type Pod } from "../lib/pod_mutation.ts";
import { reviewAdmission } from "./admission.ts";

const roleArn = "arn:aws:iam::123456789012:role/app";
const accounts: Record<string, Record<string, string>> = {
  "ns/app": { "eks.amazonaws.com/role-arn": roleArn },
  "ns/default": {},
};
const deps = {
  lookup: (ns: string, name: string) => Promise.resolve(accounts[`${ns}/${name}`]),
  config: defaultWebhookConfig,
};
const pod = (serviceAccountName?: string): Pod => ({
  metadata: { name: "p" },
  spec: { ...(serviceAccountName ? { serviceAccountName } : {}), containers: [{ name: "c", image: "busybox" }] },
} as Pod);
const review = (object: unknown, extra: Record<string, unknown> = {}) => ({
  apiVersion: "admission.k8s.io/v1",
  kind: "AdmissionReview",
  request: { uid: "u1", namespace: "ns", kind: { group: "", version: "v1", kind: "Pod" }, object, ...extra },
});

Deno.test("reviewAdmission() rejects malformed reviews with 400 and a message", async (t) => {
  const cases: { name: string; body: unknown }[] = [
    { name: "not an object", body: null },
    { name: "wrong apiVersion", body: { apiVersion: "admission.k8s.io/v1beta1", kind: "AdmissionReview" } },
    { name: "no request", body: { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview" } },
    { name: "request without uid", body: { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: {} } },
    {
      name: "pod without namespace",
      body: { ...review(pod("app")), request: { ...review(pod("app")).request, namespace: "" } },
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const out = await reviewAdmission(c.body, deps);
      equal(out.status, 400);
      equal(typeof (out.body as { error: string }).error, "string");
    });
  }
});

Deno.test("reviewAdmission() patches pods of annotated ServiceAccounts only, once", async (t) => {
  await t.step("annotated ServiceAccount: JSONPatch response with the uid", async () => {
    const out = await reviewAdmission(review(pod("app")), deps);
    equal(out.result, "mutated");
    const response =
      (out.body as { response: { uid: string; allowed: boolean; patchType: string; patch: string } }).response;
    deepStrictEqual([response.uid, response.allowed, response.patchType], ["u1", true, "JSONPatch"]);
    const patched = applyJsonPatch(pod("app"), JSON.parse(atob(response.patch)) as JsonPatchOp[]);
    equal(patched.spec.containers[0]!.env?.[0]?.value, roleArn);
  });
  await t.step("text outside Latin-1 survives the base64 patch as UTF-8", async () => {
    const text = "Grüße, 世界 🚀";
    const unicodePod = pod("app");
    unicodePod.spec.containers[0]!.env = [{ name: "GREETING", value: text }];
    const out = await reviewAdmission(review(unicodePod), deps);
    const encoded = (out.body as { response: { patch: string } }).response.patch;
    const bytes = Uint8Array.from(atob(encoded), (ch) => ch.charCodeAt(0));
    const patched = applyJsonPatch(unicodePod, JSON.parse(new TextDecoder().decode(bytes)) as JsonPatchOp[]);
    equal(patched.spec.containers[0]!.env?.find((e) => e.name === "GREETING")?.value, text);
  });
  await t.step("reinvocation on the mutated pod: allowed without a patch", async () => {
    const first = await reviewAdmission(review(pod("app")), deps);
    const mutated = applyJsonPatch(pod("app"), first.patch);
    const again = await reviewAdmission(review(mutated), deps);
    equal(again.result, "unchanged");
    equal((again.body as { response: { patch?: string } }).response.patch, undefined);
  });
  await t.step(
    "pod without a ServiceAccount name: unchanged, as upstream (the apiserver would refuse a token)",
    async () => {
      const annotatedDefault = { ...deps, lookup: () => Promise.resolve({ "eks.amazonaws.com/role-arn": roleArn }) };
      equal((await reviewAdmission(review(pod()), annotatedDefault)).result, "unchanged");
    },
  );
  await t.step("ServiceAccount without annotation: unchanged", async () => {
    equal((await reviewAdmission(review(pod("default")), deps)).result, "unchanged");
  });
  await t.step("unknown ServiceAccount: unchanged", async () => {
    equal((await reviewAdmission(review(pod("ghost")), deps)).result, "unchanged");
  });
  await t.step("not a pod: allowed untouched", async () => {
    const body = review({ metadata: {} }, { kind: { group: "", version: "v1", kind: "Secret" } });
    equal((await reviewAdmission(body, deps)).result, "unchanged");
  });
  await t.step("dry-run requests are answered the same way (no side effects)", async () => {
    equal((await reviewAdmission(review(pod("app"), { dryRun: true }), deps)).result, "mutated");
  });
});

Deno.test("reviewAdmission() fails closed when the ServiceAccount cannot be read", async (t) => {
  const cases: { name: string; lookup: () => Promise<Record<string, string> | undefined>; status: number }[] = [
    { name: "forbidden (403)", lookup: () => Promise.reject(new Error("HTTP 403: forbidden")), status: 500 },
    { name: "server error (500)", lookup: () => Promise.reject(new Error("HTTP 500: etcd timeout")), status: 500 },
    {
      name: "timeout",
      lookup: () => Promise.reject(new DOMException("The operation timed out", "TimeoutError")),
      status: 500,
    },
    { name: "absent (404): admitted unmutated", lookup: () => Promise.resolve(undefined), status: 200 },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const out = await reviewAdmission(review(pod("app")), { ...deps, lookup: c.lookup });
      equal(out.status, c.status);
      equal(out.result, c.status === 200 ? "unchanged" : "error");
      if (c.status === 500) {
        const body = out.body as { error: string; response?: unknown };
        equal(body.response, undefined, "an HTTP error, not an AdmissionReview, so the failure policy applies");
        equal(body.error.startsWith("cannot read ServiceAccount ns/app: "), true);
        deepStrictEqual(out.patch, []);
      }
    });
  }
});
