import { equal, throws } from "node:assert/strict";
import { isIrsaError } from "./errors.ts";
import {
  defaultIssuerUrl,
  issuerHostPath,
  partitionOfRegion,
  validateBucketName,
  validateIssuerUrl,
  validateRegion,
} from "./issuer.ts";

function failsWith(reason: string, text: RegExp) {
  return (e: unknown) => isIrsaError(e, "invalid") && e.reason === reason && text.test(e.message);
}

Deno.test("defaultIssuerUrl() builds the path-style regional S3 URL", async (t) => {
  const cases = [
    { name: "eu-west-1", bucket: "bkt", region: "eu-west-1", want: "https://s3.eu-west-1.amazonaws.com/bkt" },
    {
      name: "us-east-1 keeps the region",
      bucket: "my-oidc",
      region: "us-east-1",
      want: "https://s3.us-east-1.amazonaws.com/my-oidc",
    },
    { name: "dotted bucket", bucket: "a.b.c", region: "ap-south-1", want: "https://s3.ap-south-1.amazonaws.com/a.b.c" },
    { name: "China", bucket: "b0b", region: "cn-north-1", want: "https://s3.cn-north-1.amazonaws.com.cn/b0b" },
    { name: "GovCloud", bucket: "b0b", region: "us-gov-west-1", want: "https://s3.us-gov-west-1.amazonaws.com/b0b" },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      equal(defaultIssuerUrl(c.bucket, c.region), c.want);
      equal(validateIssuerUrl(c.want), c.want);
    });
  }
  await t.step("bad bucket is refused", () => {
    throws(() => defaultIssuerUrl("B", "eu-west-1"), failsWith("InvalidBucketName", /3 to 63/));
  });
  await t.step("bad region is refused", () => {
    throws(() => defaultIssuerUrl("bucket", "europe"), failsWith("InvalidRegion", /eu-west-1/));
  });
});

Deno.test("partitionOfRegion() guesses the partition from the region prefix", async (t) => {
  const cases = [
    { region: "eu-west-1", want: "aws" },
    { region: "us-east-1", want: "aws" },
    { region: "cn-northwest-1", want: "aws-cn" },
    { region: "us-gov-east-1", want: "aws-us-gov" },
    { region: "us-iso-east-1", want: "aws-iso" },
    { region: "us-isob-east-1", want: "aws-iso-b" },
  ];
  for (const c of cases) await t.step(c.region, () => equal(partitionOfRegion(c.region), c.want));
});

Deno.test("issuerHostPath() drops the scheme as IAM does", async (t) => {
  const cases = [
    { url: "https://s3.eu-west-1.amazonaws.com/b", want: "s3.eu-west-1.amazonaws.com/b" },
    { url: "https://oidc.example.com", want: "oidc.example.com" },
    { url: "https://localhost:4566/bucket/prefix", want: "localhost:4566/bucket/prefix" },
  ];
  for (const c of cases) await t.step(c.url, () => equal(issuerHostPath(c.url), c.want));
});

Deno.test("validateIssuerUrl() accepts exact issuers and returns them unchanged", async (t) => {
  const cases = [
    "https://s3.eu-west-1.amazonaws.com/bucket",
    "https://oidc.example.com",
    "https://localhost:4566/irsa",
    "https://127.0.0.1:5000/b/cluster-1",
    "https://example.com/a_b/c~d/E.F",
  ];
  for (const c of cases) await t.step(c, () => equal(validateIssuerUrl(c), c));
  await t.step(
    "surrounding whitespace is trimmed",
    () => equal(validateIssuerUrl(" https://a.io/b\n"), "https://a.io/b"),
  );
});

Deno.test("validateIssuerUrl() refuses issuers that cannot match iss exactly and says how to fix them", async (t) => {
  const cases = [
    { name: "empty", url: "", text: /empty/ },
    { name: "http", url: "http://a.io/b", text: /https:\/\/a\.io\/b/ },
    { name: "no scheme", url: "a.io/b", text: /start with https/ },
    { name: "upper-case scheme", url: "HTTPS://a.io/b", text: /start with https/ },
    {
      name: "trailing slash",
      url: "https://s3.eu-west-1.amazonaws.com/b/",
      text: /use "https:\/\/s3\.eu-west-1\.amazonaws\.com\/b"/,
    },
    { name: "host with trailing slash", url: "https://a.io/", text: /must not end with/ },
    { name: "query", url: "https://a.io/b?x=1", text: /query/ },
    { name: "fragment", url: "https://a.io/b#k", text: /fragment/ },
    { name: "empty path segment", url: "https://a.io//b", text: /empty path segment/ },
    { name: "dot segment", url: "https://a.io/b/../c", text: /"\.\."/ },
    { name: "user info", url: "https://u:p@a.io/b", text: /user information/ },
    { name: "upper-case host", url: "https://S3.amazonaws.com/b", text: /"s3\.amazonaws\.com"/ },
    { name: "no host", url: "https:///b", text: /no valid host/ },
    { name: "bad host", url: "https://a_b.io/b", text: /invalid host/ },
    { name: "bad port", url: "https://a.io:99999/b", text: /invalid port/ },
    { name: "non-numeric port", url: "https://a.io:x/b", text: /no valid host/ },
    { name: "percent-encoding", url: "https://a.io/b%20c", text: /percent/ },
    { name: "whitespace inside", url: "https://a.io/b c", text: /whitespace/ },
    { name: "too long", url: `https://a.io/${"x".repeat(250)}`, text: /255/ },
  ];
  for (const c of cases) {
    await t.step(c.name, () => throws(() => validateIssuerUrl(c.url), failsWith("InvalidIssuerUrl", c.text)));
  }
});

Deno.test("validateBucketName() accepts valid general-purpose bucket names", async (t) => {
  const cases = ["abc", "my-oidc-bucket", "a.b.c", "0123", "x".repeat(63), "1.2.3.4.5", "bucket-s3alias-x"];
  for (const c of cases) await t.step(c, () => equal(validateBucketName(c), c));
});

Deno.test("validateBucketName() names the S3 rule a bad bucket breaks", async (t) => {
  const cases = [
    { name: "too short", bucket: "ab", text: /3 to 63.*has 2/ },
    { name: "empty", bucket: "", text: /3 to 63/ },
    { name: "too long", bucket: "x".repeat(64), text: /3 to 63.*has 64/ },
    { name: "upper case", bucket: "My-Bucket", text: /use "my-bucket"/ },
    { name: "underscore", bucket: "my_bucket", text: /only lower-case letters/ },
    { name: "space", bucket: "my bucket", text: /only lower-case letters/ },
    { name: "slash", bucket: "a/b", text: /only lower-case letters/ },
    { name: "starts with hyphen", bucket: "-bucket", text: /start and end/ },
    { name: "ends with hyphen", bucket: "bucket-", text: /start and end/ },
    { name: "starts with dot", bucket: ".bucket", text: /start and end/ },
    { name: "ends with dot", bucket: "bucket.", text: /start and end/ },
    { name: "adjacent dots", bucket: "a..b", text: /adjacent dots/ },
    { name: "IP address", bucket: "192.168.5.4", text: /IP address/ },
    { name: "xn-- prefix", bucket: "xn--bucket", text: /"xn--"/ },
    { name: "sthree- prefix", bucket: "sthree-bucket", text: /"sthree-"/ },
    { name: "amzn-s3-demo- prefix", bucket: "amzn-s3-demo-bucket", text: /"amzn-s3-demo-"/ },
    { name: "-s3alias suffix", bucket: "bucket-s3alias", text: /"-s3alias"/ },
    { name: "--ol-s3 suffix", bucket: "bucket--ol-s3", text: /"--ol-s3"/ },
    { name: ".mrap suffix", bucket: "bucket.mrap", text: /"\.mrap"/ },
    { name: "--x-s3 suffix", bucket: "bucket--x-s3", text: /"--x-s3"/ },
    { name: "--table-s3 suffix", bucket: "bucket--table-s3", text: /"--table-s3"/ },
  ];
  for (const c of cases) {
    await t.step(c.name, () => throws(() => validateBucketName(c.bucket), failsWith("InvalidBucketName", c.text)));
  }
});

Deno.test("validateRegion() accepts region codes and refuses anything else", async (t) => {
  const good = [
    "eu-west-1",
    "us-east-1",
    "ap-southeast-2",
    "cn-north-1",
    "us-gov-west-1",
    "us-iso-east-1",
    "us-isob-east-1",
    "il-central-1",
  ];
  for (const r of good) await t.step(`accepts ${r}`, () => equal(validateRegion(r), r));
  const bad = ["", "eu-west", "EU-WEST-1", "euwest1", "eu-west-1a", "eu_west_1", " eu-west-1", "global"];
  for (const r of bad) {
    await t.step(
      `refuses "${r}"`,
      () => throws(() => validateRegion(r), failsWith("InvalidRegion", /not an AWS region/)),
    );
  }
});
