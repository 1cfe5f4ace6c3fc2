import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import { isIrsaError } from "./errors.ts";
import { setupRecord as where } from "./names.ts";
import { parseSetupRecord, serializeSetupRecord, setupConfigMap, type SetupRecord } from "./setup_record.ts";
import { testSetup } from "./testdata/setup_fixture.ts";

const kmsKeys = [
  { key: "alias/irsa-signer", kid: "kid-new" },
  { key: "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", kid: "kid-old" },
];
const hosting = {
  kind: "cloudfront" as const,
  distributionId: "E2QWRUHAPOMQZL",
  distributionArn: "arn:aws:cloudfront::123456789012:distribution/E2QWRUHAPOMQZL",
  domainName: "d111111abcdef8.cloudfront.net",
};

const data = (text: string) => ({ [where.key]: text });
/** The record as JSON with some fields changed (undefined deletes one). */
const edited = (record: SetupRecord, change: Record<string, unknown>) => {
  const raw: Record<string, unknown> = { ...record, ...change };
  for (const [k, v] of Object.entries(change)) if (v === undefined) delete raw[k];
  return data(JSON.stringify(raw));
};

function damaged(e: unknown, why: string): boolean {
  return isIrsaError(e, "precondition") && e.reason === "SetupRecordDamaged" && e.message.includes(why);
}

Deno.test("parseSetupRecord() reads back what serializeSetupRecord() wrote", async (t) => {
  const cases: { name: string; record: SetupRecord }[] = [
    { name: "generate mode, no optional fields", record: testSetup },
    { name: "kms key source with its keys in order", record: { ...testSetup, keySource: "kms", kmsKeys } },
    {
      name: "CloudFront hosting",
      record: {
        ...testSetup,
        issuer: `https://${hosting.domainName}`,
        jwksUri: `https://${hosting.domainName}/keys.json`,
        hosting,
      },
    },
    {
      name: "kms behind CloudFront, with previous issuers",
      record: { ...testSetup, keySource: "kms", kmsKeys, hosting, previousIssuers: ["https://old.example"] },
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const text = serializeSetupRecord(c.record);
      const back = parseSetupRecord(data(text));
      deepStrictEqual(back, c.record);
      equal(serializeSetupRecord(back), text);
      // The ConfigMap carries the same text.
      equal((setupConfigMap(c.record).data as Record<string, string>)[where.key], text);
    });
  }
});

Deno.test("serializeSetupRecord() writes the same text whatever the field order", () => {
  const record: SetupRecord = { ...testSetup, keySource: "kms", kmsKeys, hosting };
  const reversed = Object.fromEntries(Object.entries(record).reverse()) as unknown as SetupRecord;
  equal(serializeSetupRecord(reversed), serializeSetupRecord(record));
  ok(serializeSetupRecord(record).endsWith("\n"));
});

Deno.test("parseSetupRecord() refuses a damaged KMS or hosting part", async (t) => {
  const kms: SetupRecord = { ...testSetup, keySource: "kms", kmsKeys };
  const cases: { name: string; data: Record<string, string>; why: string }[] = [
    { name: "kms key source without kmsKeys", data: edited(kms, { kmsKeys: undefined }), why: `"kmsKeys" missing` },
    { name: "kms key source with no keys", data: edited(kms, { kmsKeys: [] }), why: `"kmsKeys" missing` },
    {
      name: "kmsKeys not a list",
      data: edited(kms, { kmsKeys: "alias/irsa-signer" }),
      why: `"kmsKeys" not a list of keys`,
    },
    {
      name: "a KMS key without its kid",
      data: edited(kms, { kmsKeys: [{ key: "alias/irsa-signer" }] }),
      why: `"kmsKeys" not a list of keys`,
    },
    {
      name: "hosting of another kind",
      data: edited(testSetup, { hosting: { ...hosting, kind: "s3" } }),
      why: `"hosting" not a CloudFront distribution`,
    },
    {
      name: "hosting without a distribution ARN",
      data: edited(testSetup, { hosting: { ...hosting, distributionArn: undefined } }),
      why: `"hosting" not a CloudFront distribution`,
    },
    {
      name: "hosting with a numeric id",
      data: edited(testSetup, { hosting: { ...hosting, distributionId: 42 } }),
      why: `"hosting" not a CloudFront distribution`,
    },
    { name: "hosting a string", data: edited(testSetup, { hosting: "cloudfront" }), why: `"hosting"` },
    { name: "hosting null", data: edited(testSetup, { hosting: null }), why: `"hosting"` },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      throws(() => parseSetupRecord(c.data), (e) => damaged(e, c.why));
    });
  }
});

Deno.test("parseSetupRecord() leaves kmsKeys and hosting out of a record that has neither", () => {
  const back = parseSetupRecord(data(serializeSetupRecord(testSetup)));
  equal("kmsKeys" in back, false);
  equal("hosting" in back, false);
});
