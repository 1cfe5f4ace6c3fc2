import { deepStrictEqual, equal } from "node:assert/strict";
import type { DistributionConfig } from "@aws-sdk/client-cloudfront";
import { distributionConfigFor, settingsOf } from "./cloudfront_port.ts";
import { desiredDistributionSettings } from "../hosting_plan.ts";

const plain = desiredDistributionSettings({ bucket: "b", region: "eu-west-1" }, "OAC1");
const custom = desiredDistributionSettings(
  {
    bucket: "b",
    region: "eu-west-1",
    customDomain: { name: "oidc.example.com", certificateArn: "arn:aws:acm:us-east-1:123456789012:certificate/1" },
  },
  "OAC1",
);

Deno.test("settingsOf() reads back what distributionConfigFor() writes", async (t) => {
  for (const [name, settings] of [["CloudFront domain", plain], ["custom domain", custom]] as const) {
    await t.step(name, () => {
      deepStrictEqual(settingsOf(distributionConfigFor(undefined, settings, { callerReference: "r" })), settings);
    });
  }
});

Deno.test("distributionConfigFor() writes a new distribution's fixed fields", () => {
  const config = distributionConfigFor(undefined, plain, { callerReference: "r" });
  equal(config.CallerReference, "r");
  deepStrictEqual(config.Origins?.Items?.[0]?.S3OriginConfig, { OriginAccessIdentity: "" });
  deepStrictEqual(config.ViewerCertificate, { CloudFrontDefaultCertificate: true });
  deepStrictEqual(config.Aliases, { Quantity: 0, Items: undefined });
  equal(config.IsIPV6Enabled, true);
  equal(config.DefaultCacheBehavior?.ForwardedValues, undefined);
});

Deno.test("distributionConfigFor() keeps what it does not decide and replaces what it does", () => {
  const base: DistributionConfig = {
    CallerReference: "original",
    Comment: "old",
    Enabled: false,
    Logging: { Enabled: true, IncludeCookies: false, Bucket: "logs.s3.amazonaws.com", Prefix: "cf/" },
    WebACLId: "arn:aws:wafv2:us-east-1:123456789012:global/webacl/x/1",
    IsIPV6Enabled: false,
    Origins: {
      Quantity: 1,
      Items: [{
        Id: "kubectl-irsa-discovery-bucket",
        DomainName: "b.s3-website-eu-west-1.amazonaws.com",
        ConnectionAttempts: 2,
        CustomOriginConfig: { HTTPPort: 80, HTTPSPort: 443, OriginProtocolPolicy: "http-only" },
      }],
    },
    DefaultCacheBehavior: {
      TargetOriginId: "kubectl-irsa-discovery-bucket",
      ViewerProtocolPolicy: "allow-all",
      ForwardedValues: { QueryString: true, Cookies: { Forward: "all" } },
      MinTTL: 0,
      FunctionAssociations: { Quantity: 1, Items: [{ FunctionARN: "arn:f", EventType: "viewer-request" }] },
    },
    CacheBehaviors: {
      Quantity: 1,
      Items: [{ PathPattern: "keys.json", TargetOriginId: "x", ViewerProtocolPolicy: "allow-all" }],
    },
  };
  const config = distributionConfigFor(base, plain, { callerReference: "new" });
  equal(config.CallerReference, "original");
  deepStrictEqual(config.Logging, base.Logging);
  equal(config.WebACLId, base.WebACLId);
  equal(config.IsIPV6Enabled, false);
  const origin = config.Origins?.Items?.[0];
  equal(origin?.ConnectionAttempts, 2);
  equal(origin?.CustomOriginConfig, undefined);
  equal(config.DefaultCacheBehavior?.ForwardedValues, undefined);
  deepStrictEqual(settingsOf(config), plain);
});

Deno.test("settingsOf() reads absent fields as CloudFront's defaults", () => {
  const settings = settingsOf({
    CallerReference: "r",
    Comment: "c",
    Enabled: true,
    Origins: { Quantity: 1, Items: [{ Id: "o", DomainName: "example.com" }] },
    DefaultCacheBehavior: { TargetOriginId: "o", ViewerProtocolPolicy: "allow-all" },
    ViewerCertificate: { CloudFrontDefaultCertificate: true, ACMCertificateArn: "" },
  });
  deepStrictEqual(settings.origins, [{
    id: "o",
    domainName: "example.com",
    originPath: "",
    originAccessControlId: "",
    s3OriginAccessIdentity: undefined,
  }]);
  equal(settings.certificateArn, undefined);
  equal(settings.httpVersion, "http2");
  equal(settings.priceClass, "PriceClass_All");
  deepStrictEqual(settings.allowedMethods, []);
});
