import { deepStrictEqual, equal, throws } from "node:assert/strict";
import type { DistributionSettings, ObservedDistribution, ObservedOriginAccessControl } from "./aws/cloudfront_port.ts";
import { IrsaError } from "./errors.ts";
import {
  type CloudFrontAction,
  type CloudFrontHostingDesired,
  describeCloudFrontAction,
  desiredDistributionSettings,
  distributionMatch,
  originAccessControlConfig,
  originAccessControlName,
  planCloudFrontHosting,
  planCloudFrontTeardown,
  s3RestEndpoint,
  withOriginAccessControl,
} from "./hosting_plan.ts";

const desired: CloudFrontHostingDesired = { bucket: "b", region: "eu-west-1" };
const oac: ObservedOriginAccessControl = { id: "OAC1", etag: "E1", ...originAccessControlConfig("b") };
const tags = { "kubectl-irsa/managed-by": "kubectl-irsa", "kubectl-irsa/bucket": "b" };

function distribution(
  change: Partial<DistributionSettings> = {},
  more: Partial<ObservedDistribution> = {},
): ObservedDistribution {
  return {
    id: "E2",
    arn: "arn:aws:cloudfront::123456789012:distribution/E2",
    domainName: "d1.cloudfront.net",
    status: "Deployed",
    etag: "ETAG2",
    settings: { ...desiredDistributionSettings(desired, "OAC1"), ...change },
    tags,
    ...more,
  };
}

const kinds = (actions: CloudFrontAction[]) => actions.map((a) => a.kind);

Deno.test("planCloudFrontHosting() creates the OAC, then a distribution signing with it", () => {
  const actions = planCloudFrontHosting(desired, { originAccessControl: undefined, distribution: undefined });
  deepStrictEqual(kinds(actions), ["CreateOriginAccessControl", "CreateDistribution"]);
  deepStrictEqual(actions[0], {
    kind: "CreateOriginAccessControl",
    config: {
      name: "kubectl-irsa-b",
      description: "kubectl-irsa: CloudFront reads the OIDC discovery documents in s3://b",
      signingProtocol: "sigv4",
      signingBehavior: "always",
      originType: "s3",
    },
  });
  deepStrictEqual(actions[1], {
    kind: "CreateDistribution",
    originAccessControl: { createdByPlan: "kubectl-irsa-b" },
    tags,
    settings: {
      comment: "kubectl-irsa OIDC issuer for s3://b",
      enabled: true,
      origins: [{
        id: "kubectl-irsa-discovery-bucket",
        domainName: "b.s3.eu-west-1.amazonaws.com",
        originPath: "",
        originAccessControlId: "",
        s3OriginAccessIdentity: "",
      }],
      targetOriginId: "kubectl-irsa-discovery-bucket",
      viewerProtocolPolicy: "https-only",
      cachePolicyId: "658327ea-f89d-4fab-a63d-7e88639e58f6",
      allowedMethods: ["GET", "HEAD"],
      cachedMethods: ["GET", "HEAD"],
      compress: true,
      edgeFunctions: 0,
      cacheBehaviors: 0,
      httpVersion: "http2and3",
      priceClass: "PriceClass_100",
      defaultRootObject: "",
      aliases: [],
      certificateArn: undefined,
    },
  });
});

Deno.test("planCloudFrontHosting() plans nothing when OAC and distribution are as wanted", () => {
  deepStrictEqual(planCloudFrontHosting(desired, { originAccessControl: oac, distribution: distribution() }), []);
});

Deno.test("planCloudFrontHosting() creates only the distribution when the OAC exists", () => {
  const actions = planCloudFrontHosting(desired, { originAccessControl: oac, distribution: undefined });
  deepStrictEqual(kinds(actions), ["CreateDistribution"]);
  const create = actions[0] as Extract<CloudFrontAction, { kind: "CreateDistribution" }>;
  deepStrictEqual(create.originAccessControl, { id: "OAC1" });
  equal(create.settings.origins[0]?.originAccessControlId, "OAC1");
});

Deno.test("planCloudFrontHosting() updates the distribution when a field drifted", async (t) => {
  const origin = desiredDistributionSettings(desired, "OAC1").origins[0]!;
  const cases: { name: string; change: Partial<DistributionSettings>; field: string; before: string }[] = [
    { name: "comment", change: { comment: "mine" }, field: "comment", before: "mine" },
    { name: "disabled", change: { enabled: false }, field: "enabled", before: "false" },
    {
      name: "origin domain",
      change: { origins: [{ ...origin, domainName: "b.s3-website-eu-west-1.amazonaws.com" }] },
      field: "origins",
      before: "kubectl-irsa-discovery-bucket=b.s3-website-eu-west-1.amazonaws.com (OAC OAC1, OAI none)",
    },
    {
      name: "another OAC",
      change: { origins: [{ ...origin, originAccessControlId: "OTHER" }] },
      field: "origins",
      before: "kubectl-irsa-discovery-bucket=b.s3.eu-west-1.amazonaws.com (OAC OTHER, OAI none)",
    },
    {
      name: "no OAC",
      change: { origins: [{ ...origin, originAccessControlId: "" }] },
      field: "origins",
      before: "kubectl-irsa-discovery-bucket=b.s3.eu-west-1.amazonaws.com (OAC none, OAI none)",
    },
    {
      name: "a legacy OAI",
      change: { origins: [{ ...origin, s3OriginAccessIdentity: "origin-access-identity/cloudfront/E3" }] },
      field: "origins",
      before:
        "kubectl-irsa-discovery-bucket=b.s3.eu-west-1.amazonaws.com (OAC OAC1, OAI origin-access-identity/cloudfront/E3)",
    },
    {
      name: "a custom origin",
      change: { origins: [{ ...origin, s3OriginAccessIdentity: undefined }] },
      field: "origins",
      before: "kubectl-irsa-discovery-bucket=b.s3.eu-west-1.amazonaws.com (OAC OAC1, OAI custom origin)",
    },
    {
      name: "a second origin",
      change: { origins: [origin, { ...origin, id: "x", domainName: "x.example.com" }] },
      field: "origins",
      before:
        "kubectl-irsa-discovery-bucket=b.s3.eu-west-1.amazonaws.com (OAC OAC1, OAI none); x=x.example.com (OAC OAC1, OAI none)",
    },
    { name: "target origin", change: { targetOriginId: "x" }, field: "targetOriginId", before: "x" },
    {
      name: "viewer protocol",
      change: { viewerProtocolPolicy: "allow-all" },
      field: "viewerProtocolPolicy",
      before: "allow-all",
    },
    { name: "cache policy", change: { cachePolicyId: "" }, field: "cachePolicyId", before: "none" },
    {
      name: "methods",
      change: { allowedMethods: ["GET", "HEAD", "OPTIONS"] },
      field: "allowedMethods",
      before: "GET,HEAD,OPTIONS",
    },
    { name: "cached methods", change: { cachedMethods: ["HEAD"] }, field: "cachedMethods", before: "HEAD" },
    { name: "compression", change: { compress: false }, field: "compress", before: "false" },
    { name: "an edge function", change: { edgeFunctions: 1 }, field: "edgeFunctions", before: "1" },
    { name: "a path behaviour", change: { cacheBehaviors: 2 }, field: "cacheBehaviors", before: "2" },
    { name: "HTTP version", change: { httpVersion: "http2" }, field: "httpVersion", before: "http2" },
    { name: "price class", change: { priceClass: "PriceClass_All" }, field: "priceClass", before: "PriceClass_All" },
    {
      name: "default root object",
      change: { defaultRootObject: "index.html" },
      field: "defaultRootObject",
      before: "index.html",
    },
    { name: "an alias", change: { aliases: ["oidc.example.com"] }, field: "aliases", before: "oidc.example.com" },
    {
      name: "a certificate",
      change: { certificateArn: "arn:aws:acm:us-east-1:123456789012:certificate/1" },
      field: "certificate",
      before: "arn:aws:acm:us-east-1:123456789012:certificate/1",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const actions = planCloudFrontHosting(desired, {
        originAccessControl: oac,
        distribution: distribution(c.change),
      });
      deepStrictEqual(kinds(actions), ["UpdateDistribution"]);
      const update = actions[0] as Extract<CloudFrontAction, { kind: "UpdateDistribution" }>;
      equal(update.id, "E2");
      equal(update.etag, "ETAG2");
      deepStrictEqual(update.settings, desiredDistributionSettings(desired, "OAC1"));
      deepStrictEqual(update.changes.map((ch) => [ch.field, ch.before]), [[c.field, c.before]]);
    });
  }
});

Deno.test("planCloudFrontHosting() ignores the order of methods and aliases", () => {
  const observed = distribution({ allowedMethods: ["HEAD", "GET"], cachedMethods: ["HEAD", "GET"] });
  deepStrictEqual(planCloudFrontHosting(desired, { originAccessControl: oac, distribution: observed }), []);
});

Deno.test("planCloudFrontHosting() serves a custom domain with its certificate", () => {
  const custom = {
    ...desired,
    customDomain: { name: "oidc.example.com", certificateArn: "arn:aws:acm:us-east-1:123456789012:certificate/1" },
  };
  const actions = planCloudFrontHosting(custom, { originAccessControl: oac, distribution: distribution() });
  const update = actions[0] as Extract<CloudFrontAction, { kind: "UpdateDistribution" }>;
  deepStrictEqual(update.changes, [
    { field: "aliases", before: "none", after: "oidc.example.com" },
    { field: "certificate", before: "CloudFront default", after: "arn:aws:acm:us-east-1:123456789012:certificate/1" },
  ]);
  const settled = distribution({ aliases: ["oidc.example.com"], certificateArn: custom.customDomain.certificateArn });
  deepStrictEqual(planCloudFrontHosting(custom, { originAccessControl: oac, distribution: settled }), []);
});

Deno.test("planCloudFrontHosting() updates an OAC whose signing drifted", () => {
  const drifted = { ...oac, signingBehavior: "no-override" };
  const actions = planCloudFrontHosting(desired, { originAccessControl: drifted, distribution: distribution() });
  deepStrictEqual(actions, [{
    kind: "UpdateOriginAccessControl",
    id: "OAC1",
    etag: "E1",
    config: originAccessControlConfig("b"),
    changes: [{ field: "signingBehavior", before: "no-override", after: "always" }],
  }]);
});

Deno.test("planCloudFrontHosting() recreates a deleted OAC and points the distribution at it", () => {
  const actions = planCloudFrontHosting(desired, { originAccessControl: undefined, distribution: distribution() });
  deepStrictEqual(kinds(actions), ["CreateOriginAccessControl", "UpdateDistribution"]);
  const update = actions[1] as Extract<CloudFrontAction, { kind: "UpdateDistribution" }>;
  deepStrictEqual(update.originAccessControl, { createdByPlan: "kubectl-irsa-b" });
  deepStrictEqual(update.changes.map((c) => c.after), [
    "kubectl-irsa-discovery-bucket=b.s3.eu-west-1.amazonaws.com (OAC new kubectl-irsa-b, OAI none)",
  ]);
  equal(withOriginAccessControl(update.settings, "NEW").origins[0]?.originAccessControlId, "NEW");
});

Deno.test("planCloudFrontHosting() tags back our distribution found by its comment", () => {
  const actions = planCloudFrontHosting(desired, {
    originAccessControl: oac,
    distribution: distribution({}, { tags: { team: "x" } }),
  });
  deepStrictEqual(actions, [{
    kind: "TagDistribution",
    id: "E2",
    arn: "arn:aws:cloudfront::123456789012:distribution/E2",
    tags,
  }]);
});

Deno.test("planCloudFrontHosting() refuses a distribution with our comment and other tags", async (t) => {
  const cases = [
    { name: "managed by someone else", tags: { "kubectl-irsa/managed-by": "terraform" } },
    { name: "ours for another bucket", tags: { ...tags, "kubectl-irsa/bucket": "other" } },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      throws(
        () =>
          planCloudFrontHosting(desired, {
            originAccessControl: oac,
            distribution: distribution({}, { tags: c.tags }),
          }),
        (e: unknown) => e instanceof IrsaError && e.kind === "conflict" && e.reason === "DistributionNotOwned",
      );
    });
  }
});

Deno.test("planCloudFrontTeardown() disables, waits for and deletes our distribution, then the OAC", async (t) => {
  const cases = [
    {
      name: "enabled",
      observed: distribution(),
      want: ["DisableDistribution", "WaitForDistribution", "DeleteDistribution", "DeleteOriginAccessControl"],
    },
    {
      name: "disabled, still deploying",
      observed: distribution({ enabled: false }, { status: "InProgress" }),
      want: ["WaitForDistribution", "DeleteDistribution", "DeleteOriginAccessControl"],
    },
    {
      name: "disabled and deployed",
      observed: distribution({ enabled: false }),
      want: ["DeleteDistribution", "DeleteOriginAccessControl"],
    },
    {
      name: "untagged but with our comment",
      observed: distribution({ enabled: false }, { tags: {} }),
      want: ["DeleteDistribution", "DeleteOriginAccessControl"],
    },
    { name: "no distribution", observed: undefined, want: ["DeleteOriginAccessControl"] },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      deepStrictEqual(
        kinds(planCloudFrontTeardown(desired, { originAccessControl: oac, distribution: c.observed })),
        c.want,
      );
    });
  }
  await t.step("nothing left", () => {
    deepStrictEqual(planCloudFrontTeardown(desired, { originAccessControl: undefined, distribution: undefined }), []);
  });
});

Deno.test("planCloudFrontTeardown() leaves a foreign distribution, and our OAC while it signs with it", async (t) => {
  const foreign = { "kubectl-irsa/managed-by": "terraform" };
  await t.step("signing with our OAC", () => {
    const d = distribution({}, { tags: foreign });
    deepStrictEqual(planCloudFrontTeardown(desired, { originAccessControl: oac, distribution: d }), []);
  });
  await t.step("signing with another OAC", () => {
    const origin = { ...desiredDistributionSettings(desired, "OTHER").origins[0]! };
    const d = distribution({ origins: [origin] }, { tags: foreign });
    deepStrictEqual(kinds(planCloudFrontTeardown(desired, { originAccessControl: oac, distribution: d })), [
      "DeleteOriginAccessControl",
    ]);
  });
});

Deno.test("describeCloudFrontAction() gives one line per action", () => {
  const create = planCloudFrontHosting(desired, { originAccessControl: undefined, distribution: undefined });
  const update = planCloudFrontHosting(desired, {
    originAccessControl: oac,
    distribution: distribution({ priceClass: "PriceClass_All", httpVersion: "http2" }),
  });
  const teardown = planCloudFrontTeardown(desired, { originAccessControl: oac, distribution: distribution() });
  deepStrictEqual([...create, ...update, ...teardown].map(describeCloudFrontAction), [
    'create CloudFront origin access control "kubectl-irsa-b" (sigv4, sign always, origin type s3)',
    "create CloudFront distribution for b.s3.eu-west-1.amazonaws.com (OAC kubectl-irsa-b, https-only, PriceClass_100)",
    "update CloudFront distribution E2 (d1.cloudfront.net): httpVersion http2 -> http2and3; priceClass PriceClass_All -> PriceClass_100",
    "disable CloudFront distribution E2 (d1.cloudfront.net)",
    "wait for CloudFront distribution E2 to finish deploying",
    "delete CloudFront distribution E2 (d1.cloudfront.net)",
    'delete CloudFront origin access control "kubectl-irsa-b" (OAC1)',
  ]);
});

Deno.test("originAccessControlName() stays within 64 characters, stable and distinct", () => {
  equal(originAccessControlName("my-bucket"), "kubectl-irsa-my-bucket");
  const long = (c: string) => `${"a".repeat(60)}${c}xy`;
  const a = originAccessControlName(long("1"));
  const b = originAccessControlName(long("2"));
  equal(a.length <= 64, true, a);
  equal(b.length <= 64, true, b);
  equal(a === b, false);
  equal(originAccessControlName(long("1")), a);
  equal(a.startsWith("kubectl-irsa-aaaa"), true, a);
});

Deno.test("s3RestEndpoint() names the regional REST endpoint, in China too", () => {
  equal(s3RestEndpoint("b", "us-east-1"), "b.s3.us-east-1.amazonaws.com");
  equal(s3RestEndpoint("b", "cn-north-1"), "b.s3.cn-north-1.amazonaws.com.cn");
  deepStrictEqual(distributionMatch(desired), {
    tags,
    comment: "kubectl-irsa OIDC issuer for s3://b",
    originDomainName: "b.s3.eu-west-1.amazonaws.com",
  });
});
