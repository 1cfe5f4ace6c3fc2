import { equal } from "node:assert/strict";
import { IrsaError, type Remedy } from "../lib/errors.ts";
import { MissingRegionError } from "../lib/aws/clients.ts";
import { describeError } from "./describe_error.ts";
import { cliMessage, cliRemedy } from "./remedy.ts";

// One row per kind: a kind added to Remedy without a row fails the type check.
const cases: { [K in Remedy["kind"]]: [Extract<Remedy, { kind: K }>, string] } = {
  adopt: [{ kind: "adopt", to: "manage it" }, "pass --adopt to manage it"],
  roleName: [{ kind: "roleName" }, "choose another --role-name"],
  rolePath: [{ kind: "rolePath", path: "/team/" }, "pass --role-path /team/"],
  otherServiceAccount: [{ kind: "otherServiceAccount" }, "bind another ServiceAccount"],
  bindAgain: [{ kind: "bindAgain" }, "rerun 'kubectl irsa bind' to record the binding again"],
  force: [{ kind: "force", to: "replace it" }, "pass --force to replace it"],
  bucket: [{ kind: "bucket" }, "choose another --bucket"],
  bucketRegion: [{ kind: "bucketRegion", region: "eu-west-1" }, "pass --region eu-west-1"],
  awsRegion: [{ kind: "awsRegion" }, "pass --region or set AWS_REGION"],
  clusterName: [{ kind: "clusterName" }, "pass --cluster-name"],
  issuerUrl: [{ kind: "issuerUrl", to: "host the issuer elsewhere" }, "host the issuer elsewhere with --issuer-url"],
  generateKey: [{ kind: "generateKey" }, "rerun with --key-source generate"],
  cloudFrontHosting: [
    { kind: "cloudFrontHosting" },
    "keep the bucket private behind CloudFront with --hosting cloudfront",
  ],
  init: [{ kind: "init", again: false }, "run 'kubectl irsa init' first"],
  other: [{ kind: "other", text: "allow it with 'aws s3control …'" }, "allow it with 'aws s3control …'"],
};

Deno.test("cliRemedy() words each remedy as the flag or command a plugin user types", async (t) => {
  const rows: [Remedy, string][] = [
    ...Object.values(cases),
    [{ kind: "bucketRegion" }, "pass its region with --region"],
    [{ kind: "init", again: true }, "run 'kubectl irsa init' again"],
  ];
  for (const [remedy, want] of rows) {
    await t.step(JSON.stringify(remedy), () => equal(cliRemedy(remedy), want));
  }
});

Deno.test("describeError() puts the remedies after the message, as alternatives", () => {
  const e = new IrsaError("conflict", "RoleNotOwned", 'IAM role "r" exists but was not created by kubectl-irsa', {
    remedies: [{ kind: "adopt", to: "manage it" }, { kind: "roleName" }],
  });
  equal(
    describeError(e, { verbose: false }).message,
    'error: IAM role "r" exists but was not created by kubectl-irsa; pass --adopt to manage it, or choose another ' +
      "--role-name",
  );
  equal(describeError(new IrsaError("invalid", "X", "plain"), { verbose: false }).message, "error: plain");
  equal(
    cliMessage(new MissingRegionError("no AWS region is configured")),
    "no AWS region is configured; pass --region or set AWS_REGION",
  );
});
