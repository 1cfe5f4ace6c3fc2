import { equal, notEqual } from "node:assert/strict";
import { cliRemedy } from "../cli/remedy.ts";
import { IrsaError, type Remedy } from "../lib/errors.ts";
import { MissingRegionError } from "../lib/aws/clients.ts";
import { daemonMessage, daemonRemedy } from "./remedy.ts";

// One row per kind: a kind added to Remedy without a row fails the type check.
const cases: { [K in Remedy["kind"]]: [Extract<Remedy, { kind: K }>, string] } = {
  adopt: [{ kind: "adopt", to: "manage it" }, "set spec.adopt: true to manage it"],
  roleName: [{ kind: "roleName" }, "choose another spec.iamRole.name"],
  rolePath: [{ kind: "rolePath", path: "/team/" }, "set spec.iamRole.path: /team/"],
  otherServiceAccount: [{ kind: "otherServiceAccount" }, "name another ServiceAccount in spec.serviceAccount.name"],
  bindAgain: [
    { kind: "bindAgain" },
    "apply its IRSA object (or 'kubectl irsa bind') again to record the binding again",
  ],
  force: [
    { kind: "force", to: "replace it" },
    "the daemon never does that; run 'kubectl irsa init --force' to replace it",
  ],
  bucket: [{ kind: "bucket" }, "choose another spec.discovery.s3.bucketName"],
  bucketRegion: [{ kind: "bucketRegion", region: "eu-west-1" }, "set spec.discovery.s3.region: eu-west-1"],
  awsRegion: [{ kind: "awsRegion" }, "set AWS_REGION in the daemon's environment"],
  clusterName: [{ kind: "clusterName" }, "set spec.clusterName in the IRSASetup"],
  issuerUrl: [{ kind: "issuerUrl", to: "host the issuer elsewhere" }, "host the issuer elsewhere with spec.issuerUrl"],
  generateKey: [{ kind: "generateKey" }, "set spec.keySource: generate"],
  cloudFrontHosting: [
    { kind: "cloudFrontHosting" },
    "keep the bucket private behind CloudFront with spec.hosting: cloudfront",
  ],
  init: [{ kind: "init", again: false }, "create an IRSASetup (or run 'kubectl irsa init')"],
  other: [{ kind: "other", text: "allow it with 'aws s3control …'" }, "allow it with 'aws s3control …'"],
};

Deno.test("daemonRemedy() words each remedy as the object field or environment a cluster admin edits", async (t) => {
  const rows: [Remedy, string][] = [
    ...Object.values(cases),
    [{ kind: "bucketRegion" }, "set spec.discovery.s3.region to its region"],
    [{ kind: "init", again: true }, "let the IRSASetup rewrite it (or run 'kubectl irsa init' again)"],
  ];
  for (const [remedy, want] of rows) {
    await t.step(JSON.stringify(remedy), () => equal(daemonRemedy(remedy), want));
  }
});

Deno.test("daemonRemedy() never words a remedy as the plugin does, except text outside kubectl-irsa", async (t) => {
  for (const [remedy] of Object.values(cases)) {
    if (remedy.kind === "other") continue;
    await t.step(remedy.kind, () => notEqual(daemonRemedy(remedy), cliRemedy(remedy)));
  }
});

Deno.test("daemonMessage() puts the remedies after the first line of the message, as alternatives", () => {
  const e = new IrsaError("invalid", "BucketRegionMismatch", 'bucket "b" is in us-west-2, not us-east-1\nmore', {
    remedies: [{ kind: "bucketRegion", region: "us-west-2" }, { kind: "bucket" }],
  });
  equal(
    daemonMessage(e),
    'bucket "b" is in us-west-2, not us-east-1; set spec.discovery.s3.region: us-west-2, or choose another ' +
      "spec.discovery.s3.bucketName",
  );
  equal(daemonMessage(new Error("plain")), "plain");
  equal(
    daemonMessage(new MissingRegionError("no AWS region is configured")),
    "no AWS region is configured; set AWS_REGION in the daemon's environment",
  );
});
