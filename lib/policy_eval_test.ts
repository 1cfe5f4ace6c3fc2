import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import { evaluateTrust, type TrustRequest, wildcardMatch } from "./policy_eval.ts";
import { buildTrustPolicy, type ConditionBlock, type PolicyDocument, type PolicyStatement } from "./trust_policy.ts";

const host = "s3.eu-west-1.amazonaws.com/b";
const provider = `arn:aws:iam::123456789012:oidc-provider/${host}`;
const action = "sts:AssumeRoleWithWebIdentity";

const request = (claims: TrustRequest["claims"], extra: Partial<TrustRequest> = {}): TrustRequest => ({
  principalArn: provider,
  action,
  claims,
  ...extra,
});
const token = (ns: string, sa = "app", aud: string | string[] = "sts.amazonaws.com") => ({
  sub: `system:serviceaccount:${ns}:${sa}`,
  aud,
});
const withCondition = (condition: ConditionBlock, extra: Partial<PolicyStatement> = {}): PolicyDocument => ({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Federated: provider }, Action: action, Condition: condition, ...extra }],
});
const built = buildTrustPolicy({
  providerArn: provider,
  issuerHostPath: host,
  subjects: [{ namespace: "ns1", serviceAccount: "app" }, { namespace: "ns2", serviceAccount: "app" }],
});

Deno.test("evaluateTrust() decides like STS", async (t) => {
  const cases: { name: string; policy: PolicyDocument | string; req: TrustRequest; allowed: boolean }[] = [
    { name: "built policy allows ns1", policy: built, req: request(token("ns1")), allowed: true },
    { name: "built policy allows ns2", policy: built, req: request(token("ns2")), allowed: true },
    { name: "built policy refuses ns3", policy: built, req: request(token("ns3")), allowed: false },
    { name: "built policy refuses another SA", policy: built, req: request(token("ns1", "other")), allowed: false },
    { name: "wrong audience", policy: built, req: request(token("ns1", "app", "other")), allowed: false },
    {
      name: "aud list containing STS",
      policy: built,
      req: request(token("ns1", "app", ["x", "sts.amazonaws.com"])),
      allowed: true,
    },
    { name: "missing sub claim", policy: built, req: request({ aud: "sts.amazonaws.com" }), allowed: false },
    {
      name: "other provider",
      policy: built,
      req: request(token("ns1"), {
        principalArn: "arn:aws:iam::123456789012:oidc-provider/evil/x",
        issuerHostPath: host,
      }),
      allowed: false,
    },
    { name: "other action", policy: built, req: request(token("ns1"), { action: "sts:AssumeRole" }), allowed: false },
    {
      name: "URL-encoded policy text",
      policy: encodeURIComponent(JSON.stringify(built)),
      req: request(token("ns1")),
      allowed: true,
    },
    {
      name: "* in StringEquals never matches",
      policy: withCondition({ StringEquals: { [`${host}:sub`]: "system:serviceaccount:ns1:*" } }),
      req: request(token("ns1")),
      allowed: false,
    },
    {
      name: "* in StringEquals matches only a literal *",
      policy: withCondition({ StringEquals: { [`${host}:sub`]: "system:serviceaccount:ns1:*" } }),
      req: request({ sub: "system:serviceaccount:ns1:*" }),
      allowed: true,
    },
    {
      name: "StringLike with *",
      policy: withCondition({ StringLike: { [`${host}:sub`]: "system:serviceaccount:ns1:*" } }),
      req: request(token("ns1", "anything")),
      allowed: true,
    },
    {
      name: "StringLike with ? needs exactly one character",
      policy: withCondition({ StringLike: { [`${host}:sub`]: "system:serviceaccount:ns?:app" } }),
      req: request(token("ns10")),
      allowed: false,
    },
    {
      name: "StringNotEquals excludes",
      policy: withCondition({ StringNotEquals: { [`${host}:sub`]: "system:serviceaccount:ns1:app" } }),
      req: request(token("ns1")),
      allowed: false,
    },
    {
      name: "StringNotEquals matches an absent claim",
      policy: withCondition({ StringNotEquals: { [`${host}:amr`]: "x" } }),
      req: request(token("ns1")),
      allowed: true,
    },
    {
      name: "StringNotLike",
      policy: withCondition({ StringNotLike: { [`${host}:sub`]: "system:serviceaccount:kube-*" } }),
      req: request(token("ns1")),
      allowed: true,
    },
    {
      name: "StringEqualsIgnoreCase",
      policy: withCondition({ StringEqualsIgnoreCase: { [`${host}:sub`]: "SYSTEM:serviceaccount:NS1:app" } }),
      req: request(token("ns1")),
      allowed: true,
    },
    {
      name: "condition key case does not matter",
      policy: withCondition({ StringEquals: { [`${host.toUpperCase()}:SUB`]: "system:serviceaccount:ns1:app" } }),
      req: request(token("ns1")),
      allowed: true,
    },
    {
      name: "operators are AND-ed",
      policy: withCondition({
        StringEquals: { [`${host}:aud`]: "sts.amazonaws.com" },
        StringLike: { [`${host}:sub`]: "system:serviceaccount:ns2:*" },
      }),
      req: request(token("ns1")),
      allowed: false,
    },
    {
      name: "ForAnyValue on a list claim",
      policy: withCondition({ "ForAnyValue:StringEquals": { [`${host}:amr`]: ["a", "b"] } }),
      req: request({ amr: ["c", "b"] }),
      allowed: true,
    },
    {
      name: "ForAllValues requires every value",
      policy: withCondition({ "ForAllValues:StringEquals": { [`${host}:amr`]: ["a", "b"] } }),
      req: request({ amr: ["a", "c"] }),
      allowed: false,
    },
    {
      name: "ForAllValues matches an absent claim",
      policy: withCondition({ "ForAllValues:StringEquals": { [`${host}:amr`]: ["a"] } }),
      req: request({}),
      allowed: true,
    },
    {
      name: "StringEqualsIfExists matches an absent claim",
      policy: withCondition({ StringEqualsIfExists: { [`${host}:amr`]: "a" } }),
      req: request({}),
      allowed: true,
    },
    {
      name: "explicit Deny wins",
      policy: {
        Statement: [
          ...[built.Statement].flat(),
          {
            Effect: "Deny",
            Principal: { Federated: provider },
            Action: "sts:*",
            Condition: { StringLike: { [`${host}:sub`]: "*:ns1:*" } },
          },
        ],
      },
      req: request(token("ns1")),
      allowed: false,
    },
    {
      name: "wildcard action and principal *",
      policy: { Statement: { Effect: "Allow", Principal: "*", Action: "sts:AssumeRoleWith*" } },
      req: request(token("ns1")),
      allowed: true,
    },
    {
      name: "no Principal",
      policy: { Statement: { Effect: "Allow", Action: action } },
      req: request(token("ns1")),
      allowed: false,
    },
    {
      name: "unknown operator",
      policy: withCondition({ DateGreaterThan: { "aws:CurrentTime": "2020-01-01T00:00:00Z" } }),
      req: request(token("ns1")),
      allowed: false,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const d = evaluateTrust(c.policy, c.req);
      equal(d.allowed, c.allowed, d.reasons.join("; "));
      ok(d.reasons.length > 0);
    });
  }
});

Deno.test("evaluateTrust() explains its decision", async (t) => {
  await t.step("warns about * in StringEquals naming the key", () => {
    const d = evaluateTrust(
      withCondition({ StringEquals: { [`${host}:sub`]: "system:serviceaccount:ns1:*" } }),
      request(token("ns1")),
    );
    deepStrictEqual(d.warnings, [`Condition key ${host}:sub: '*' in StringEquals is literal; use StringLike`]);
    ok(
      d.reasons.some((r) => r.includes(`${host}:sub`) && r.includes("system:serviceaccount:ns1:app")),
      d.reasons.join("; "),
    );
  });
  await t.step("names the unsupported operator", () => {
    const d = evaluateTrust(withCondition({ DateGreaterThan: { "aws:CurrentTime": "x" } }), request(token("ns1")));
    ok(d.reasons.some((r) => r.includes("DateGreaterThan")), d.reasons.join("; "));
  });
  await t.step("names the denying statement", () => {
    const d = evaluateTrust({ Statement: { Sid: "NoOne", Effect: "Deny", Principal: "*", Action: "*" } }, request({}));
    deepStrictEqual(d.reasons, ["statement 0 (NoOne) explicitly denies"]);
  });
  await t.step(
    "no warnings for the built policy",
    () => deepStrictEqual(evaluateTrust(built, request(token("ns1"))).warnings, []),
  );
  await t.step("rejects a broken document", () => throws(() => evaluateTrust("{", request({}))));
});

Deno.test("wildcardMatch() handles * and ? and escapes regex characters", async (t) => {
  const cases = [
    { p: "a*", v: "abc", want: true },
    { p: "a?c", v: "abc", want: true },
    { p: "a?c", v: "ac", want: false },
    { p: "a.c", v: "abc", want: false },
    { p: "(x)", v: "(x)", want: true },
    { p: "*", v: "", want: true },
  ];
  for (const c of cases) await t.step(`${c.p} vs ${c.v}`, () => equal(wildcardMatch(c.p, c.v), c.want));
});
