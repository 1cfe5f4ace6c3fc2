import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import { isIrsaError } from "./errors.ts";
import { managedPolicyArn, oidcProviderArn, parseArn, roleArn, validatePolicyArn, validateRoleArn } from "./arn.ts";

function assertInvalid(fn: () => unknown, named: string, extra?: string): void {
  throws(fn, (e: unknown) => {
    ok(isIrsaError(e, "invalid"), String(e));
    ok(e.message.includes(named), e.message);
    if (extra !== undefined) ok(e.message.includes(extra), e.message);
    return true;
  });
}

Deno.test("parseArn() splits valid ARNs", async (t) => {
  const cases = [
    {
      name: "role",
      arn: "arn:aws:iam::123456789012:role/app",
      want: { partition: "aws", service: "iam", region: "", account: "123456789012", resource: "role/app" },
    },
    {
      name: "resource with colons",
      arn: "arn:aws-cn:logs:cn-north-1:123456789012:log-group:g:*",
      want: {
        partition: "aws-cn",
        service: "logs",
        region: "cn-north-1",
        account: "123456789012",
        resource: "log-group:g:*",
      },
    },
    {
      name: "s3 object",
      arn: "arn:aws-us-gov:s3:::b/keys.json",
      want: { partition: "aws-us-gov", service: "s3", region: "", account: "", resource: "b/keys.json" },
    },
  ];
  for (const c of cases) await t.step(c.name, () => deepStrictEqual(parseArn(c.arn), c.want));
});

Deno.test("parseArn() rejects malformed ARNs", async (t) => {
  const cases = [
    { name: "not an ARN", arn: "role/app" },
    { name: "too few parts", arn: "arn:aws:iam::123456789012" },
    { name: "unknown partition", arn: "arn:aws-xx:iam::123456789012:role/a" },
    { name: "empty resource", arn: "arn:aws:iam::123456789012:" },
    { name: "whitespace", arn: "arn:aws:iam::123456789012:role/a b" },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      throws(() => parseArn(c.arn), (e: unknown) => isIrsaError(e, "invalid") && e.reason === "InvalidArn");
    });
  }
});

Deno.test("oidcProviderArn() and roleArn() use the given partition", async (t) => {
  const cases = [
    {
      name: "provider from host/path",
      got: () => oidcProviderArn("aws", "123456789012", "s3.eu-west-1.amazonaws.com/b"),
      want: "arn:aws:iam::123456789012:oidc-provider/s3.eu-west-1.amazonaws.com/b",
    },
    {
      name: "provider from URL",
      got: () => oidcProviderArn("aws-cn", "123456789012", "https://s3.cn-north-1.amazonaws.com.cn/b"),
      want: "arn:aws-cn:iam::123456789012:oidc-provider/s3.cn-north-1.amazonaws.com.cn/b",
    },
    {
      name: "role default path",
      got: () => roleArn("aws-us-gov", "123456789012", "app"),
      want: "arn:aws-us-gov:iam::123456789012:role/app",
    },
    {
      name: "role with path",
      got: () => roleArn("aws", "123456789012", "app", { path: "/irsa/prod/" }),
      want: "arn:aws:iam::123456789012:role/irsa/prod/app",
    },
  ];
  for (const c of cases) await t.step(c.name, () => equal(c.got(), c.want));
  await t.step(
    "issuer with a trailing slash (the seed's defect)",
    () => assertInvalid(() => oidcProviderArn("aws", "123456789012", "https://h/p/"), "https://h/p/"),
  );
  await t.step("short account", () => assertInvalid(() => roleArn("aws", "12345", "app"), "12345"));
  await t.step("bad role path", () => assertInvalid(() => roleArn("aws", "123456789012", "a", { path: "x" }), '"x"'));
});

Deno.test("managedPolicyArn() resolves names and checks ARNs", async (t) => {
  const cases = [
    { name: "bare name", p: "aws", in: "AmazonS3FullAccess", want: "arn:aws:iam::aws:policy/AmazonS3FullAccess" },
    {
      name: "name under a path",
      p: "aws",
      in: "service-role/AmazonEC2RoleforSSM",
      want: "arn:aws:iam::aws:policy/service-role/AmazonEC2RoleforSSM",
    },
    { name: "china partition", p: "aws-cn", in: "ReadOnlyAccess", want: "arn:aws-cn:iam::aws:policy/ReadOnlyAccess" },
    {
      name: "customer ARN as is",
      p: "aws",
      in: "arn:aws:iam::123456789012:policy/team/MyPolicy",
      want: "arn:aws:iam::123456789012:policy/team/MyPolicy",
    },
    {
      name: "managed ARN as is",
      p: "aws-us-gov",
      in: "arn:aws-us-gov:iam::aws:policy/ReadOnlyAccess",
      want: "arn:aws-us-gov:iam::aws:policy/ReadOnlyAccess",
    },
  ] as const;
  for (const c of cases) await t.step(c.name, () => equal(managedPolicyArn(c.p, c.in), c.want));
  const bad = [
    { name: "other partition", in: "arn:aws-cn:iam::aws:policy/ReadOnlyAccess", named: "aws-cn" },
    { name: "not iam", in: "arn:aws:s3:::bucket", named: "s3" },
    { name: "role not policy", in: "arn:aws:iam::123456789012:role/x", named: "role/x" },
    { name: "bad account", in: "arn:aws:iam::12:policy/x", named: '"12"' },
    { name: "empty segment", in: "service-role//X", named: "service-role//X" },
    { name: "bad character", in: "Amazon S3", named: "Amazon S3" },
  ];
  for (const c of bad) {
    await t.step(`rejects ${c.name}`, () => assertInvalid(() => managedPolicyArn("aws", c.in), c.named));
  }
  await t.step("validatePolicyArn returns the parts", () => {
    equal(validatePolicyArn("arn:aws:iam::aws:policy/ReadOnlyAccess").account, "aws");
  });
});

Deno.test("validateRoleArn() checks the ServiceAccount annotation", async (t) => {
  await t.step("plain", () => {
    deepStrictEqual(validateRoleArn("arn:aws:iam::123456789012:role/app"), {
      partition: "aws",
      account: "123456789012",
      path: "/",
      name: "app",
    });
  });
  await t.step("with path", () => {
    deepStrictEqual(validateRoleArn("arn:aws:iam::123456789012:role/a/b/app"), {
      partition: "aws",
      account: "123456789012",
      path: "/a/b/",
      name: "app",
    });
  });
  const bad = [
    { name: "role name only", in: "app" },
    { name: "wrong service", in: "arn:aws:sts::123456789012:role/app" },
    { name: "short account", in: "arn:aws:iam::1234:role/app" },
    { name: "region set", in: "arn:aws:iam:us-east-1:123456789012:role/app" },
    { name: "user not role", in: "arn:aws:iam::123456789012:user/app" },
    { name: "empty name", in: "arn:aws:iam::123456789012:role/" },
    { name: "name too long", in: `arn:aws:iam::123456789012:role/${"x".repeat(65)}` },
  ];
  for (const c of bad) {
    await t.step(`rejects ${c.name}`, () => assertInvalid(() => validateRoleArn(c.in), c.in, "Request ARN is invalid"));
  }
});
