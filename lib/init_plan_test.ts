import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { oidcProviderArn } from "./arn.ts";
import type { ObservedBucket } from "./aws/s3_port.ts";
import { discoverySid } from "./bucket_policy.ts";
import { cloudFrontReadSid } from "./cloudfront_bucket_policy.ts";
import { parseJwks } from "./discovery.ts";
import {
  describeInitAction,
  type InitAction,
  type InitDesired,
  type InitObserved,
  ownershipTags,
  planInit,
} from "./init_plan.ts";
import type { Jwk } from "./keys.ts";
import { discoveryKeys, stsAudience } from "./names.ts";
import { type CloudFrontHostingRecord, serializeSetupRecord } from "./setup_record.ts";
import type { PolicyDocument, PolicyStatement } from "./trust_policy.ts";

const account = "123456789012";
const bucket = "my-cluster-oidc";
const region = "eu-west-1";
const thumbprint = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280";
const hosting: CloudFrontHostingRecord = {
  kind: "cloudfront",
  distributionId: "E2QWRUHAPOMQZL",
  distributionArn: `arn:aws:cloudfront::${account}:distribution/E2QWRUHAPOMQZL`,
  domainName: "d111111abcdef8.cloudfront.net",
};
const objectArns = [
  `arn:aws:s3:::${bucket}/${discoveryKeys.configuration}`,
  `arn:aws:s3:::${bucket}/${discoveryKeys.jwks}`,
];

function rsaKey(kid: string): Jwk {
  return { use: "sig", kty: "RSA", kid, alg: "RS256", n: `n-of-${kid}`, e: "AQAB" };
}

function desired(extra: Partial<InitDesired> = {}): InitDesired {
  return {
    issuer: `https://${hosting.domainName}`,
    bucket,
    region,
    account,
    partition: "aws",
    clusterName: "prod",
    keySource: "cluster",
    currentKeys: { keys: [rsaKey("cluster-1")] },
    thumbprint,
    previousIssuers: ["https://kubernetes.default.svc.cluster.local"],
    force: false,
    hosting,
    ...extra,
  };
}

const nothing: InitObserved = {
  bucket: { exists: false },
  provider: undefined,
  setupRecord: undefined,
  keySecret: undefined,
  keyFiles: {},
};

function existingBucket(extra: Partial<Extract<ObservedBucket, { exists: true }>> = {}): ObservedBucket {
  return {
    exists: true,
    region,
    tags: {},
    publicAccessBlock: undefined,
    policy: undefined,
    objects: {},
    ...extra,
  };
}

/** What AWS and the cluster hold after `actions` ran on `observed`, as the next gather would read it. */
function afterApply(d: InitDesired, observed: InitObserved, actions: InitAction[]): InitObserved {
  const next: InitObserved = structuredClone(observed);
  const b = () => {
    if (!next.bucket.exists) throw new Error("the plan writes to a bucket it did not create");
    return next.bucket;
  };
  for (const a of actions) {
    switch (a.kind) {
      case "CreateBucket":
        next.bucket = existingBucket({ region: a.region });
        break;
      case "PutBucketTagging":
        b().tags = { ...a.tags };
        break;
      case "PutPublicAccessBlock":
        b().publicAccessBlock = { ...a.config };
        break;
      case "PutBucketPolicy":
        b().policy = a.policy;
        break;
      case "PutObject":
        b().objects[a.key] = a.body;
        break;
      case "CreateOidcProvider":
        next.provider = {
          arn: oidcProviderArn(d.partition, d.account, a.url),
          url: a.url.replace(/^https:\/\//, ""),
          clientIds: a.clientIds,
          thumbprints: a.thumbprints,
          tags: a.tags,
        };
        break;
      case "UpdateOidcThumbprints":
        next.provider!.thumbprints = a.thumbprints;
        break;
      case "TagOidcProvider":
        break;
      case "ApplyKeySecret":
        next.keySecret = a.key;
        break;
      case "WriteKeyFile":
        break;
      case "ApplySetupRecord":
        next.setupRecord = serializeSetupRecord(a.record);
        break;
      case "CloudFront":
        break;
    }
  }
  return next;
}

const kinds = (actions: InitAction[]) => actions.map((a) => a.kind);
const only = <K extends InitAction["kind"]>(actions: InitAction[], kind: K) =>
  actions.filter((a): a is Extract<InitAction, { kind: K }> => a.kind === kind);
const statements = (policy: string) => [(JSON.parse(policy) as PolicyDocument).Statement].flat();

const cloudFrontStatement: PolicyStatement = {
  Sid: cloudFrontReadSid,
  Effect: "Allow",
  Principal: { Service: "cloudfront.amazonaws.com" },
  Action: "s3:GetObject",
  Resource: objectArns,
  Condition: { StringEquals: { "AWS:SourceArn": hosting.distributionArn } },
};

Deno.test("planInit() makes a new bucket private and readable only by the CloudFront distribution", () => {
  const plan = planInit(desired(), nothing);
  deepStrictEqual(kinds(plan.actions), [
    "CreateBucket",
    "PutBucketTagging",
    "PutPublicAccessBlock",
    "PutBucketPolicy",
    "PutObject",
    "PutObject",
    "CreateOidcProvider",
    "ApplySetupRecord",
  ]);
  const [pab] = only(plan.actions, "PutPublicAccessBlock");
  deepStrictEqual(pab?.config, {
    BlockPublicAcls: true,
    IgnorePublicAcls: true,
    BlockPublicPolicy: true,
    RestrictPublicBuckets: true,
  });
  const [policy] = only(plan.actions, "PutBucketPolicy");
  deepStrictEqual(statements(policy!.policy), [cloudFrontStatement]);
  ok(!policy!.policy.includes(discoverySid), policy!.policy);
  deepStrictEqual(plan.record.hosting, hosting);
  equal(plan.record.issuer, `https://${hosting.domainName}`);
  equal(plan.record.jwksUri, `https://${hosting.domainName}/keys.json`);
  equal(JSON.parse(plan.discovery).issuer, `https://${hosting.domainName}`);
  const [provider] = only(plan.actions, "CreateOidcProvider");
  equal(provider?.url, `https://${hosting.domainName}`);
  deepStrictEqual(provider?.clientIds, [stsAudience]);
});

Deno.test("planInit() behind CloudFront drops the public statement and keeps foreign ones", async (t) => {
  const foreign: PolicyStatement = {
    Sid: "DenyInsecureTransport",
    Effect: "Deny",
    Principal: "*",
    Action: "s3:*",
    Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`],
    Condition: { Bool: { "aws:SecureTransport": "false" } },
  };
  const publicRead: PolicyStatement = {
    Sid: discoverySid,
    Effect: "Allow",
    Principal: "*",
    Action: "s3:GetObject",
    Resource: objectArns,
  };
  const directPab = {
    BlockPublicAcls: true,
    IgnorePublicAcls: true,
    BlockPublicPolicy: false,
    RestrictPublicBuckets: false,
  };
  const cases: { name: string; before: PolicyStatement[] }[] = [
    { name: "switching from direct S3 hosting", before: [foreign, publicRead] },
    {
      name: "the CloudFront statement is there but so is the public one",
      before: [publicRead, cloudFrontStatement, foreign],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const before = JSON.stringify({ Version: "2012-10-17", Statement: c.before });
      const observed: InitObserved = {
        ...nothing,
        bucket: existingBucket({ tags: ownershipTags(desired()), publicAccessBlock: directPab, policy: before }),
      };
      const plan = planInit(desired(), observed);
      const [pab] = only(plan.actions, "PutPublicAccessBlock");
      equal(pab?.config.BlockPublicPolicy, true);
      deepStrictEqual(pab?.before, directPab);
      const [policy] = only(plan.actions, "PutBucketPolicy");
      ok(policy, kinds(plan.actions).join(", "));
      equal(policy.before, before);
      const after = statements(policy.policy);
      ok(!after.some((s) => s.Sid === discoverySid), policy.policy);
      deepStrictEqual(after.filter((s) => s.Sid === foreign.Sid), [foreign]);
      deepStrictEqual(after.filter((s) => s.Sid === cloudFrontReadSid), [cloudFrontStatement]);
      equal(after.length, 2, policy.policy);
    });
  }
});

Deno.test("planInit() has nothing to do when the CloudFront setup is already in place", async (t) => {
  await t.step("planning again after applying the plan", () => {
    const first = planInit(desired(), nothing);
    const observed = afterApply(desired(), nothing, first.actions);
    const again = planInit(desired(), observed);
    deepStrictEqual(again.actions, []);
    deepStrictEqual(again.warnings, []);
    deepStrictEqual(again.record, first.record);
  });
  await t.step("a bucket observed in the right state from the start", () => {
    const plan = planInit(desired(), nothing);
    const observed: InitObserved = {
      ...nothing,
      bucket: existingBucket({
        tags: { ...ownershipTags(desired()), team: "platform" },
        publicAccessBlock: {
          BlockPublicAcls: true,
          IgnorePublicAcls: true,
          BlockPublicPolicy: true,
          RestrictPublicBuckets: true,
        },
        // Re-serialized as S3 returns it: other member order, one-element list.
        policy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [{
            Condition: { StringEquals: { "AWS:SourceArn": [hosting.distributionArn] } },
            Resource: [...objectArns].reverse(),
            Action: ["s3:GetObject"],
            Principal: { Service: "cloudfront.amazonaws.com" },
            Effect: "Allow",
            Sid: cloudFrontReadSid,
          }],
        }),
        objects: { [discoveryKeys.configuration]: plan.discovery, [discoveryKeys.jwks]: plan.keysJson },
      }),
      provider: {
        arn: oidcProviderArn("aws", account, hosting.domainName),
        url: hosting.domainName,
        clientIds: [stsAudience],
        thumbprints: [thumbprint],
        tags: ownershipTags(desired()),
      },
      setupRecord: serializeSetupRecord(plan.record),
    };
    deepStrictEqual(planInit(desired(), observed).actions, []);
  });
});

Deno.test("planInit() with KMS keys retires only the dropped kid from keys.json", () => {
  const published = JSON.stringify({ keys: [rsaKey("kms-old"), rsaKey("cluster-1"), rsaKey("kms-kept")] });
  const kmsKeys = [
    { key: "alias/irsa-signer-2", kid: "kms-new" },
    { key: "alias/irsa-signer-1", kid: "kms-kept" },
  ];
  const d = desired({
    keySource: "kms",
    currentKeys: { keys: [rsaKey("kms-new"), rsaKey("kms-kept")] },
    kmsKeys,
    retiredKids: ["kms-old"],
  });
  const observed: InitObserved = { ...nothing, bucket: existingBucket({ objects: { "keys.json": published } }) };
  const plan = planInit(d, observed);
  deepStrictEqual(plan.jwks.keys.map((k) => k.kid), ["kms-new", "kms-kept", "cluster-1"]);
  const [keys] = only(plan.actions, "PutObject").filter((a) => a.key === discoveryKeys.jwks);
  deepStrictEqual(parseJwks(keys!.body).keys.map((k) => k.kid), ["kms-new", "kms-kept", "cluster-1"]);
  equal(keys!.before, published);
  equal(plan.record.keySource, "kms");
  deepStrictEqual(plan.record.kmsKeys, kmsKeys);
  const [record] = only(plan.actions, "ApplySetupRecord");
  deepStrictEqual(record?.record.kmsKeys, kmsKeys);
  // A second run with the same keys and nothing more to retire changes nothing.
  const again = planInit({ ...d, retiredKids: [] }, afterApply(d, observed, plan.actions));
  deepStrictEqual(again.actions, []);
});

Deno.test("describeInitAction() tells CloudFront hosting's bucket settings from direct hosting's", () => {
  const cloudFront = planInit(desired(), nothing).actions;
  const [pab] = only(cloudFront, "PutPublicAccessBlock");
  const [policy] = only(cloudFront, "PutBucketPolicy");
  equal(describeInitAction(pab!), `set public access block of "${bucket}": all public access blocked`);
  equal(
    describeInitAction(policy!),
    `set bucket policy of "${bucket}": s3:GetObject for the CloudFront distribution on the two discovery objects only`,
  );
  const { hosting: _, ...direct } = desired({ issuer: `https://s3.${region}.amazonaws.com/${bucket}` });
  const s3 = planInit(direct, nothing).actions;
  ok(describeInitAction(only(s3, "PutPublicAccessBlock")[0]!).endsWith("bucket policy allowed"));
  ok(describeInitAction(only(s3, "PutBucketPolicy")[0]!).includes(": public s3:GetObject on"));
});
