import { deepStrictEqual, equal, throws } from "node:assert/strict";
import { isIrsaError } from "./errors.ts";
import { algorithmsOf, discoveryDocument, jwksEqual, mergeJwks, parseJwks, serializeDocument } from "./discovery.ts";
import type { EcJwk, Jwks, RsaJwk } from "./keys.ts";

const rsa = (kid: string, n = `n-${kid}`): RsaJwk => ({ use: "sig", kty: "RSA", kid, alg: "RS256", n, e: "AQAB" });
const ec = (kid: string): EcJwk => ({ use: "sig", kty: "EC", kid, crv: "P-256", alg: "ES256", x: "x", y: "y" });
const set = (...keys: (RsaJwk | EcJwk)[]): Jwks => ({ keys });
const kids = (j: Jwks) => j.keys.map((k) => k.kid);

Deno.test("discoveryDocument() writes the fields STS reads, in a fixed order", async (t) => {
  const issuer = "https://s3.eu-west-1.amazonaws.com/b";
  const cases = [
    { name: "no options lists RS256", options: undefined, algs: ["RS256"] },
    { name: "RSA keys", options: { algorithms: ["RS256"] as const }, algs: ["RS256"] },
    { name: "RSA and EC keys", options: { algorithms: ["ES256", "RS256"] as const }, algs: ["RS256", "ES256"] },
    { name: "EC keys only still lists RS256", options: { algorithms: ["ES256"] as const }, algs: ["RS256", "ES256"] },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const doc = discoveryDocument(issuer, c.options);
      equal(
        serializeDocument(doc),
        `{
  "issuer": "https://s3.eu-west-1.amazonaws.com/b",
  "jwks_uri": "https://s3.eu-west-1.amazonaws.com/b/keys.json",
  "response_types_supported": [
    "id_token"
  ],
  "subject_types_supported": [
    "public"
  ],
  "id_token_signing_alg_values_supported": ${JSON.stringify(c.algs, null, 2).replace(/\n/g, "\n  ")},
  "claims_supported": [
    "sub",
    "iss"
  ]
}
`,
      );
    });
  }
});

Deno.test("discoveryDocument() refuses issuers that would never match iss", async (t) => {
  const cases = [
    { name: "trailing slash (the seed's bug)", issuer: "https://s3.eu-west-1.amazonaws.com/b/" },
    { name: "http", issuer: "http://s3.eu-west-1.amazonaws.com/b" },
    { name: "query", issuer: "https://a.io/b?x" },
    { name: "fragment", issuer: "https://a.io/b#x" },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      throws(() => discoveryDocument(c.issuer), (e) => isIrsaError(e, "invalid") && e.reason === "InvalidIssuerUrl");
    });
  }
});

Deno.test("algorithmsOf() lists each algorithm once, RS256 first", async (t) => {
  const cases = [
    { name: "empty", jwks: set(), want: [] },
    { name: "RSA", jwks: set(rsa("a"), rsa("b")), want: ["RS256"] },
    { name: "EC", jwks: set(ec("a")), want: ["ES256"] },
    { name: "EC then RSA", jwks: set(ec("a"), rsa("b")), want: ["RS256", "ES256"] },
  ];
  for (const c of cases) await t.step(c.name, () => deepStrictEqual(algorithmsOf(c.jwks), c.want));
});

Deno.test("mergeJwks() keeps old keys published until they are retired", async (t) => {
  const cases = [
    { name: "nothing published", published: set(), current: set(rsa("a")), retire: undefined, want: ["a"] },
    { name: "same key", published: set(rsa("a")), current: set(rsa("a")), retire: undefined, want: ["a"] },
    {
      name: "rotation keeps old",
      published: set(rsa("a")),
      current: set(rsa("b")),
      retire: undefined,
      want: ["b", "a"],
    },
    {
      name: "retired old key dropped",
      published: set(rsa("a")),
      current: set(rsa("b")),
      retire: new Set(["a"]),
      want: ["b"],
    },
    {
      name: "current key is never retired",
      published: set(rsa("a")),
      current: set(rsa("a")),
      retire: new Set(["a"]),
      want: ["a"],
    },
    {
      name: "order: current first, then published in order",
      published: set(rsa("c"), rsa("a"), ec("d")),
      current: set(rsa("b"), rsa("a")),
      retire: undefined,
      want: ["b", "a", "c", "d"],
    },
    {
      name: "duplicates in published collapse",
      published: set(rsa("a"), rsa("a")),
      current: set(),
      retire: undefined,
      want: ["a"],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const merged = mergeJwks(c.published, c.current, c.retire === undefined ? {} : { retire: c.retire });
      deepStrictEqual(kids(merged), c.want);
    });
  }
  await t.step("current content wins over a stale published copy", () => {
    deepStrictEqual(mergeJwks(set(rsa("a", "old")), set(rsa("a", "new"))), set(rsa("a", "new")));
  });
});

Deno.test("jwksEqual() compares key sets by content, ignoring order", async (t) => {
  const reordered = { kid: "a", n: "n-a", e: "AQAB", alg: "RS256", kty: "RSA", use: "sig" } as RsaJwk;
  const cases = [
    { name: "both empty", a: set(), b: set(), want: true },
    { name: "same keys", a: set(rsa("a"), ec("b")), b: set(rsa("a"), ec("b")), want: true },
    { name: "different key order", a: set(rsa("a"), ec("b")), b: set(ec("b"), rsa("a")), want: true },
    { name: "different member order", a: set(rsa("a")), b: set(reordered), want: true },
    { name: "extra key", a: set(rsa("a")), b: set(rsa("a"), rsa("b")), want: false },
    { name: "different kid", a: set(rsa("a")), b: set(rsa("b")), want: false },
    { name: "same kid, different modulus", a: set(rsa("a", "1")), b: set(rsa("a", "2")), want: false },
    { name: "duplicate kid against two keys", a: set(rsa("a"), rsa("a")), b: set(rsa("a"), rsa("b")), want: false },
    { name: "two keys against duplicates", a: set(rsa("a"), rsa("b")), b: set(rsa("a"), rsa("a")), want: false },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      equal(jwksEqual(c.a, c.b), c.want);
      equal(jwksEqual(c.b, c.a), c.want);
    });
  }
});

Deno.test("serializeDocument() gives stable bytes with a trailing newline", () => {
  equal(serializeDocument(set(rsa("a"))), serializeDocument(JSON.parse(serializeDocument(set(rsa("a"))))));
  equal(serializeDocument({ a: [1] }), '{\n  "a": [\n    1\n  ]\n}\n');
});

Deno.test("parseJwks() reads a published keys.json into normalised keys", async (t) => {
  const cases = [
    { name: "kube-apiserver format", text: serializeDocument(set(rsa("a"), ec("b"))), want: set(rsa("a"), ec("b")) },
    {
      name: "members in another order and no alg/use",
      text: '{"keys":[{"e":"AQAB","n":"n-a","kid":"a","kty":"RSA"}]}',
      want: set(rsa("a")),
    },
    { name: "empty set", text: '{"keys":[]}', want: set() },
  ];
  for (const c of cases) await t.step(c.name, () => deepStrictEqual(parseJwks(c.text), c.want));

  const bad = [
    { name: "not JSON", text: "<Error/>" },
    { name: "no keys array", text: "{}" },
    { name: "null", text: "null" },
    { name: "key not an object", text: '{"keys":[1]}' },
    { name: "missing kid", text: '{"keys":[{"kty":"RSA","n":"n","e":"AQAB"}]}' },
    { name: "missing n", text: '{"keys":[{"kty":"RSA","kid":"a","e":"AQAB"}]}' },
    { name: "encryption key", text: '{"keys":[{"use":"enc","kty":"RSA","kid":"a","n":"n","e":"AQAB"}]}' },
    { name: "P-384", text: '{"keys":[{"kty":"EC","crv":"P-384","kid":"a","x":"x","y":"y"}]}' },
    { name: "RSA with PS256", text: '{"keys":[{"kty":"RSA","alg":"PS256","kid":"a","n":"n","e":"AQAB"}]}' },
  ];
  for (const c of bad) {
    await t.step(`refuses ${c.name}`, () => {
      throws(() => parseJwks(c.text), (e) => isIrsaError(e, "invalid") && e.reason === "InvalidJwks");
    });
  }
});
