import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import { isIrsaError } from "./errors.ts";
import {
  parseTag,
  policySize,
  validateDnsLabel,
  validateDnsSubdomain,
  validateEndpointUrl,
  validateInlinePolicyJson,
  validateMaxSessionDuration,
  validatePolicyDocumentSize,
  validateRoleName,
  validateRolePath,
  validateTags,
  validateTokenExpiration,
} from "./validate.ts";

/** Asserts an "invalid" IrsaError whose message names `named`. */
function assertInvalid(fn: () => unknown, named: string): void {
  throws(fn, (e: unknown) => {
    ok(isIrsaError(e, "invalid"), `expected IrsaError kind invalid, got ${String(e)}`);
    ok(e.message.includes(named), `message ${JSON.stringify(e.message)} does not name ${JSON.stringify(named)}`);
    ok(!e.message.includes("\n"), "message is one line");
    return true;
  });
}

const manyTags = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, "v"]));

const badCases: { name: string; fn: () => unknown; named: string }[] = [
  { name: "namespace with upper case", fn: () => validateDnsLabel("namespace", "Prod"), named: "Prod" },
  { name: "namespace with a dot", fn: () => validateDnsLabel("namespace", "a.b"), named: "a.b" },
  { name: "empty namespace", fn: () => validateDnsLabel("namespace", ""), named: '""' },
  { name: "namespace starting with '-'", fn: () => validateDnsLabel("namespace", "-ns"), named: "-ns" },
  {
    name: "namespace of 64 characters",
    fn: () => validateDnsLabel("namespace", "a".repeat(64)),
    named: "a".repeat(64),
  },
  { name: "namespace with a wildcard", fn: () => validateDnsLabel("namespace", "team-*"), named: "team-*" },
  { name: "SA with underscore", fn: () => validateDnsSubdomain("ServiceAccount", "my_sa"), named: "my_sa" },
  { name: "SA ending with '.'", fn: () => validateDnsSubdomain("ServiceAccount", "sa."), named: "sa." },
  { name: "SA of 254 characters", fn: () => validateDnsSubdomain("ServiceAccount", "a".repeat(254)), named: "aaaa" },
  { name: "empty role name", fn: () => validateRoleName(""), named: '""' },
  { name: "role name of 65 characters", fn: () => validateRoleName("r".repeat(65)), named: "r".repeat(65) },
  { name: "role name with a slash", fn: () => validateRoleName("team/app"), named: "team/app" },
  { name: "role name with a space", fn: () => validateRoleName("my role"), named: "my role" },
  { name: "role path without leading slash", fn: () => validateRolePath("team/"), named: "team/" },
  { name: "role path without trailing slash", fn: () => validateRolePath("/team"), named: "/team" },
  { name: "role path with '//'", fn: () => validateRolePath("/a//b/"), named: "/a//b/" },
  { name: "role path with a space", fn: () => validateRolePath("/a b/"), named: "/a b/" },
  { name: "role path over 512", fn: () => validateRolePath(`/${"a".repeat(511)}/`), named: "aaaa" },
  { name: "51 tags", fn: () => validateTags(manyTags), named: "51" },
  { name: "tag key with aws: prefix", fn: () => validateTags({ "aws:owner": "x" }), named: "aws:owner" },
  { name: "tag key with AWS: prefix", fn: () => validateTags({ "AWS:Owner": "x" }), named: "AWS:Owner" },
  { name: "tag key of 129 characters", fn: () => validateTags({ ["k".repeat(129)]: "v" }), named: "k".repeat(129) },
  { name: "empty tag key", fn: () => validateTags({ "": "v" }), named: '""' },
  { name: "tag value of 257 characters", fn: () => validateTags({ k: "v".repeat(257) }), named: "v".repeat(257) },
  { name: "tag key with '!'", fn: () => validateTags({ "team!": "v" }), named: "team!" },
  { name: "tag value with '#'", fn: () => validateTags({ team: "a#b" }), named: "a#b" },
  { name: "tag flag without '='", fn: () => parseTag("team"), named: "team" },
  { name: "tag flag with empty key", fn: () => parseTag("=v"), named: '""' },
  { name: "session duration 3599", fn: () => validateMaxSessionDuration(3599), named: "3599" },
  { name: "session duration 43201", fn: () => validateMaxSessionDuration(43201), named: "43201" },
  { name: "session duration 3600.5", fn: () => validateMaxSessionDuration(3600.5), named: "3600.5" },
  { name: "session duration NaN", fn: () => validateMaxSessionDuration(NaN), named: "NaN" },
  { name: "token expiration 599", fn: () => validateTokenExpiration(599), named: "599" },
  { name: "token expiration 2^32+1", fn: () => validateTokenExpiration(2 ** 32 + 1), named: String(2 ** 32 + 1) },
  { name: "token expiration 1000.5", fn: () => validateTokenExpiration(1000.5), named: "1000.5" },
  {
    name: "trust policy of 2049 characters",
    fn: () => validatePolicyDocumentSize("trust", "x".repeat(2049)),
    named: "2049",
  },
  {
    name: "inline policy of 10241 characters",
    fn: () => validatePolicyDocumentSize("inline", "x".repeat(10241)),
    named: "10241",
  },
  { name: "inline policy not JSON", fn: () => validateInlinePolicyJson("{nope"), named: "{nope" },
  { name: "inline policy is an array", fn: () => validateInlinePolicyJson("[1]"), named: "[1]" },
  {
    name: "inline policy without Version",
    fn: () => validateInlinePolicyJson('{"Statement":[]}'),
    named: '{\\"Statement\\":[]}',
  },
  {
    name: "inline policy without Statement",
    fn: () => validateInlinePolicyJson('{"Version":"2012-10-17"}'),
    named: "Version",
  },
  { name: "endpoint without a scheme", fn: () => validateEndpointUrl("s3.internal:9000"), named: "s3.internal:9000" },
  { name: "endpoint with another scheme", fn: () => validateEndpointUrl("ftp://s3.internal"), named: "ftp://" },
  { name: "relative endpoint", fn: () => validateEndpointUrl("/s3"), named: '"/s3"' },
  { name: "endpoint without a host", fn: () => validateEndpointUrl("https://"), named: "https://" },
  { name: "endpoint with whitespace", fn: () => validateEndpointUrl("https://s3 .internal"), named: "s3 .internal" },
  { name: "endpoint with credentials", fn: () => validateEndpointUrl("https://u:p@s3.internal"), named: "credentials" },
  { name: "endpoint with a query", fn: () => validateEndpointUrl("https://s3.internal/?a=b"), named: "query" },
];

Deno.test("validate* rejects bad input with an invalid error naming the value", async (t) => {
  ok(badCases.length >= 25);
  for (const c of badCases) await t.step(c.name, () => assertInvalid(c.fn, c.named));
});

Deno.test("validate* accepts good input", async (t) => {
  const cases: { name: string; fn: () => unknown }[] = [
    { name: "namespace", fn: () => validateDnsLabel("namespace", "kube-system") },
    { name: "namespace of 63", fn: () => validateDnsLabel("namespace", "a".repeat(63)) },
    { name: "SA with dots", fn: () => validateDnsSubdomain("ServiceAccount", "my.app-sa") },
    { name: "role name with all allowed characters", fn: () => validateRoleName("a+b=c,d.e@f_g-h") },
    { name: "role name of 64", fn: () => validateRoleName("r".repeat(64)) },
    { name: "root path", fn: () => validateRolePath("/") },
    { name: "nested path", fn: () => validateRolePath("/team/app/") },
    {
      name: "50 tags",
      fn: () => validateTags(Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, ""]))),
    },
    { name: "unicode tag", fn: () => validateTags({ "équipe": "données 1:2/3=4+5-6@7_8." }) },
    { name: "session bounds", fn: () => [3600, 43200].forEach(validateMaxSessionDuration) },
    { name: "token bounds", fn: () => [600, 86400, 2 ** 32].forEach(validateTokenExpiration) },
    { name: "trust policy of 2048 plus whitespace", fn: () => validatePolicyDocumentSize("trust", "x ".repeat(2048)) },
    { name: "https endpoint with a port", fn: () => validateEndpointUrl("https://s3.internal.example:9000") },
    { name: "http endpoint with a path", fn: () => validateEndpointUrl("http://127.0.0.1:4566/aws") },
    { name: "VPC endpoint", fn: () => validateEndpointUrl("https://vpce-0a1b.s3.eu-west-1.vpce.amazonaws.com") },
  ];
  for (const c of cases) await t.step(c.name, () => void c.fn());
});

Deno.test("parseTag() splits at the first '='", async (t) => {
  const cases = [
    { name: "plain", text: "team=payments", want: { key: "team", value: "payments" } },
    { name: "empty value", text: "team=", want: { key: "team", value: "" } },
    { name: "value with '='", text: "expr=a=b", want: { key: "expr", value: "a=b" } },
  ];
  for (const c of cases) await t.step(c.name, () => deepStrictEqual(parseTag(c.text), c.want));
});

Deno.test("policySize() ignores whitespace as IAM does", () => {
  equal(policySize('{ "a" :\n\t[1, 2] }'), '{"a":[1,2]}'.length);
});

Deno.test("validateInlinePolicyJson() returns the parsed document", () => {
  const doc = validateInlinePolicyJson('{"Version":"2012-10-17","Statement":{"Effect":"Allow"}}');
  equal(doc.Version, "2012-10-17");
});
