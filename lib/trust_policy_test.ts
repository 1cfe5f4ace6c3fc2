import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import { isIrsaError } from "./errors.ts";
import {
  buildTrustPolicy,
  normalizePolicy,
  parsePolicyDocument,
  policiesEqual,
  type PolicyDocument,
  trustPolicyDiff,
} from "./trust_policy.ts";

const host = "s3.eu-west-1.amazonaws.com/b";
const provider = `arn:aws:iam::123456789012:oidc-provider/${host}`;

// Verbatim from REFERENCE §2.
const referenceText = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
 "Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/s3.eu-west-1.amazonaws.com/b"},
 "Action":"sts:AssumeRoleWithWebIdentity",
 "Condition":{"StringEquals":{
   "s3.eu-west-1.amazonaws.com/b:sub":["system:serviceaccount:ns1:app","system:serviceaccount:ns2:app"],
   "s3.eu-west-1.amazonaws.com/b:aud":"sts.amazonaws.com"}}}]}`;

const twoNamespaces = () =>
  buildTrustPolicy({
    providerArn: provider,
    issuerHostPath: host,
    subjects: [{ namespace: "ns2", serviceAccount: "app" }, { namespace: "ns1", serviceAccount: "app" }],
    audience: "sts.amazonaws.com",
  });

Deno.test("buildTrustPolicy() matches REFERENCE §2 exactly for two namespaces", () => {
  const doc = twoNamespaces();
  deepStrictEqual(doc, JSON.parse(referenceText));
  equal(JSON.stringify(doc), JSON.stringify(JSON.parse(referenceText)));
});

Deno.test("buildTrustPolicy() handles its inputs", async (t) => {
  const cases = [
    {
      name: "one subject is still a list and aud defaults to STS",
      input: {
        providerArn: provider,
        issuerHostPath: `https://${host}`,
        subjects: [{ namespace: "a", serviceAccount: "s" }],
      },
      sub: ["system:serviceaccount:a:s"],
      aud: "sts.amazonaws.com",
    },
    {
      name: "duplicates collapse",
      input: {
        providerArn: provider,
        issuerHostPath: host,
        subjects: [{ namespace: "a", serviceAccount: "s" }, { namespace: "a", serviceAccount: "s" }],
        audience: "custom",
      },
      sub: ["system:serviceaccount:a:s"],
      aud: "custom",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const doc = buildTrustPolicy(c.input);
      const st = Array.isArray(doc.Statement) ? doc.Statement[0] : doc.Statement;
      deepStrictEqual(st?.Condition?.StringEquals, { [`${host}:sub`]: c.sub, [`${host}:aud`]: c.aud });
    });
  }
  const bad = [
    { name: "wildcard namespace", subjects: [{ namespace: "*", serviceAccount: "app" }], reason: "WildcardSubject" },
    { name: "wildcard SA", subjects: [{ namespace: "ns", serviceAccount: "app-?" }], reason: "WildcardSubject" },
    { name: "no subjects", subjects: [], reason: "InvalidTrustPolicy" },
    { name: "bad namespace", subjects: [{ namespace: "NS", serviceAccount: "app" }], reason: "InvalidName" },
  ];
  for (const c of bad) {
    await t.step(`rejects ${c.name}`, () => {
      throws(
        () => buildTrustPolicy({ providerArn: provider, issuerHostPath: host, subjects: c.subjects }),
        (e: unknown) => isIrsaError(e, "invalid") && e.reason === c.reason,
      );
    });
  }
  await t.step("rejects a provider of another issuer", () => {
    throws(
      () =>
        buildTrustPolicy({
          providerArn: provider,
          issuerHostPath: "other/x",
          subjects: [{ namespace: "a", serviceAccount: "s" }],
        }),
      (e: unknown) => isIrsaError(e, "invalid"),
    );
  });
});

Deno.test("parsePolicyDocument() reads JSON and URL-encoded JSON", async (t) => {
  const cases = [
    { name: "plain JSON", text: referenceText },
    { name: "URL-encoded as IAM returns it", text: encodeURIComponent(referenceText) },
  ];
  for (const c of cases) {
    await t.step(c.name, () => ok(policiesEqual(parsePolicyDocument(c.text), twoNamespaces())));
  }
  await t.step("keeps a literal % in valid JSON", () => {
    const doc = parsePolicyDocument('{"Statement":{"Effect":"Allow","Sid":"100%25"}}');
    deepStrictEqual(doc.Statement, { Effect: "Allow", Sid: "100%25" });
  });
  for (const text of ["%7Bnope", "[]", '{"Statement":3}', "null"]) {
    await t.step(`rejects ${text}`, () => {
      throws(() => parsePolicyDocument(text), (e: unknown) => isIrsaError(e, "invalid"));
    });
  }
});

// What IAM's GetRole returns for the REFERENCE policy: URL-encoded, one-element lists collapsed, keys reordered.
const iamEncoded = encodeURIComponent(JSON.stringify({
  Version: "2012-10-17",
  Statement: {
    Condition: {
      StringEquals: {
        [`${host}:aud`]: ["sts.amazonaws.com"],
        [`${host}:sub`]: [
          "system:serviceaccount:ns2:app",
          "system:serviceaccount:ns1:app",
          "system:serviceaccount:ns1:app",
        ],
      },
    },
    Action: ["sts:AssumeRoleWithWebIdentity"],
    Principal: { Federated: [provider] },
    Effect: "Allow",
  },
}));

Deno.test("policiesEqual() compares semantically", async (t) => {
  const base: PolicyDocument = twoNamespaces();
  const cases: { name: string; a: PolicyDocument | string; b: PolicyDocument | string; want: boolean }[] = [
    { name: "URL-encoded IAM document equals the built one", a: iamEncoded, b: base, want: true },
    {
      name: "statement order does not matter",
      a: { Statement: [{ Effect: "Allow", Action: "a" }, { Effect: "Deny", Action: "b" }] },
      b: { Statement: [{ Effect: "Deny", Action: ["b"] }, { Effect: "Allow", Action: "a" }] },
      want: true,
    },
    {
      name: "principal * equals AWS *",
      a: { Statement: { Effect: "Allow", Principal: "*" } },
      b: { Statement: { Effect: "Allow", Principal: { AWS: ["*"] } } },
      want: true,
    },
    {
      name: "another subject differs",
      a: base,
      b: buildTrustPolicy({
        providerArn: provider,
        issuerHostPath: host,
        subjects: [{ namespace: "ns1", serviceAccount: "app" }],
      }),
      want: false,
    },
    {
      name: "Version is kept",
      a: { Version: "2008-10-17", Statement: [] },
      b: { Version: "2012-10-17", Statement: [] },
      want: false,
    },
    {
      name: "StringLike differs from StringEquals",
      a: { Statement: { Effect: "Allow", Condition: { StringLike: { k: "v" } } } },
      b: { Statement: { Effect: "Allow", Condition: { StringEquals: { k: "v" } } } },
      want: false,
    },
  ];
  for (const c of cases) await t.step(c.name, () => equal(policiesEqual(c.a, c.b), c.want));
});

Deno.test("normalizePolicy() produces canonical key order and lists", () => {
  const n = normalizePolicy(parsePolicyDocument(iamEncoded));
  equal(
    JSON.stringify(n),
    JSON.stringify({
      Version: "2012-10-17",
      Statement: [{
        Effect: "Allow",
        Principal: { Federated: [provider] },
        Action: ["sts:AssumeRoleWithWebIdentity"],
        Condition: {
          StringEquals: {
            [`${host}:aud`]: ["sts.amazonaws.com"],
            [`${host}:sub`]: ["system:serviceaccount:ns1:app", "system:serviceaccount:ns2:app"],
          },
        },
      }],
    }),
  );
});

Deno.test("trustPolicyDiff() describes changes", async (t) => {
  const one = (ns: string[], audience?: string, hostPath = host) =>
    buildTrustPolicy({
      providerArn: `arn:aws:iam::123456789012:oidc-provider/${hostPath}`,
      issuerHostPath: hostPath,
      subjects: ns.map((namespace) => ({ namespace, serviceAccount: "app" })),
      ...(audience === undefined ? {} : { audience }),
    });
  const cases: {
    name: string;
    current: PolicyDocument | string | undefined;
    desired: PolicyDocument;
    want: string[];
  }[] = [
    { name: "equal after IAM encoding", current: iamEncoded, desired: twoNamespaces(), want: [] },
    {
      name: "namespace added and removed",
      current: one(["ns1", "ns3"]),
      desired: one(["ns1", "ns2"]),
      want: ["+ subject system:serviceaccount:ns2:app", "- subject system:serviceaccount:ns3:app"],
    },
    {
      name: "audience changed",
      current: one(["ns1"], "old"),
      desired: one(["ns1"]),
      want: ['~ audience "old" -> "sts.amazonaws.com"'],
    },
    {
      name: "role missing",
      current: undefined,
      desired: one(["ns1"]),
      want: [
        "+ trust policy (the role does not exist yet)",
        "+ subject system:serviceaccount:ns1:app",
        '~ audience (none) -> "sts.amazonaws.com"',
        `~ principal (none) -> "${provider}"`,
      ],
    },
    {
      name: "other change",
      current: {
        Version: "2012-10-17",
        Statement: [...[one(["ns1"]).Statement].flat(), { Effect: "Deny", Action: "x" }],
      },
      desired: one(["ns1"]),
      want: ["~ other trust policy changes (statements differ beyond subjects and audience)"],
    },
  ];
  for (const c of cases) await t.step(c.name, () => deepStrictEqual(trustPolicyDiff(c.current, c.desired), c.want));
  await t.step("principal changed", () => {
    const lines = trustPolicyDiff(one(["ns1"], undefined, "old.example.com/x"), one(["ns1"]));
    ok(lines.some((l) => l.startsWith("~ principal") && l.includes("old.example.com/x")), lines.join("\n"));
  });
});
