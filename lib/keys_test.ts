import { deepStrictEqual, equal, match, ok, rejects, throws } from "node:assert/strict";
import { isIrsaError } from "./errors.ts";
import {
  generateRsaKeyPair,
  importPrivatePem,
  jwkFromPublicPem,
  jwksFromPublicPems,
  keyIdFromSpki,
  pemBlocks,
  pemDecode,
  pemEncode,
  publicPemFromPrivatePem,
  spkiAlgorithm,
  spkiFromPem,
} from "./keys.ts";

// The seed's (kkb0318/irsa-manager) public test fixtures internal/selfhosted/testdata/{rsa,ecdsa}.pub.
const seedRsaPub = `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA249XwEo9k4tM8fMxV7zx
OhcrP+WvXn917koM5Qr2ZXs4vo26e4ytdlrV0bQ9SlcLpQVSYjIxNfhTZdDt+ecI
zshKuv1gKIxbbLQMOuK1eA/4HALyEkFgmS/tleLJrhc65tKPMGD+pKQ/xhmzRuCG
51RoiMgbQxaCyYxGfNLpLAZK9L0Tctv9a0mJmGIYnIOQM4kC1A1I1n3EsXMWmeJU
j7OTh/AjjCnMnkgvKT2tpKxYQ59PgDgU8Ssc7RDSmSkLxnrv+OrN80j6xrw0OjEi
B4Ycr0PqfzZcvy8efTtFQ/Jnc4Bp1zUtFXt7+QeevePtQ2EcyELXE0i63T1CujRM
WwIDAQAB
-----END PUBLIC KEY-----
`;
const seedRsaKid = "JHJehTTTZlsspKHT-GaJxK7Kd1NQgZJu3fyK6K_QDYU";
const seedRsaN =
  "249XwEo9k4tM8fMxV7zxOhcrP-WvXn917koM5Qr2ZXs4vo26e4ytdlrV0bQ9SlcLpQVSYjIxNfhTZdDt-ecIzshKuv1gKIxbbLQMOuK1eA_4HALyEkFgmS_tleLJrhc65tKPMGD-pKQ_xhmzRuCG51RoiMgbQxaCyYxGfNLpLAZK9L0Tctv9a0mJmGIYnIOQM4kC1A1I1n3EsXMWmeJUj7OTh_AjjCnMnkgvKT2tpKxYQ59PgDgU8Ssc7RDSmSkLxnrv-OrN80j6xrw0OjEiB4Ycr0PqfzZcvy8efTtFQ_Jnc4Bp1zUtFXt7-QeevePtQ2EcyELXE0i63T1CujRMWw";

// The same key as PKCS#1 (`openssl rsa -pubin -RSAPublicKey_out`).
const seedRsaPkcs1Pub = `-----BEGIN RSA PUBLIC KEY-----
MIIBCgKCAQEA249XwEo9k4tM8fMxV7zxOhcrP+WvXn917koM5Qr2ZXs4vo26e4yt
dlrV0bQ9SlcLpQVSYjIxNfhTZdDt+ecIzshKuv1gKIxbbLQMOuK1eA/4HALyEkFg
mS/tleLJrhc65tKPMGD+pKQ/xhmzRuCG51RoiMgbQxaCyYxGfNLpLAZK9L0Tctv9
a0mJmGIYnIOQM4kC1A1I1n3EsXMWmeJUj7OTh/AjjCnMnkgvKT2tpKxYQ59PgDgU
8Ssc7RDSmSkLxnrv+OrN80j6xrw0OjEiB4Ycr0PqfzZcvy8efTtFQ/Jnc4Bp1zUt
FXt7+QeevePtQ2EcyELXE0i63T1CujRMWwIDAQAB
-----END RSA PUBLIC KEY-----
`;

const seedEcPub = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEH6cuzP8XuD5wal6wf9M6xDljTOPL
X2i8uIp/C/ASqiIGUeeKQtX0/IR3qCXyThP/dbCiHrF3v1cuhBOHY8CLVg==
-----END PUBLIC KEY-----
`;
// Computed with `openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary | basenc --base64url`.
const seedEcKid = "SoABiieYuNx4UdqYvZRVeuC6SihxgLrhLy9peHMHpTc";

// Throwaway test keys generated with `openssl genrsa -traditional 2048` and `openssl ecparam -genkey -noout`;
// kids computed with openssl from the derived public keys.
const pkcs1PrivatePem = `-----BEGIN RSA PRIVATE KEY-----
MIIEpAIBAAKCAQEAp/w1oz5eBagoOBhl7fxRAQ/0smbXq7Lh1utHng+EYkSlBUru
xDeTkQolGRbiGGYpXy/C9M3uqRfqg8/IgtsPcpXZ4e3zCX0iwkO7ktT15F4dzTU/
G6stTf/MpcOrBmaHD2pClvHWyFl2+2Ss9ZWIO3stm7B3/9wHdN0aRrEtFdmiSBvG
9pe+uad88WbE1X/TOF1CLSMwVJUx4J0dfkWRHEt6nFr00EUhiTNPQhJ9ksBMXRrE
c3ifrvVHGsQfHZeIuIVBdpXDyM8OY2IkqeknHPBKUHEy7ScmMVWd/PsveNINz3XR
xK7Ik3KtXtKOnrmW17QY3T119AbtP9ue+tw/qwIDAQABAoIBADx3Vj9KZcGXg9Kd
RaNiXS4KtkO5LQyKuSwJSKAmabqNhvDexg8vChj9E9lyGTQ7Ic03fe9saOnIyAtm
MYCYpXjTY7glVIQn3OkcRFpX+aKYFhYVgn/NH+OhneJVCiylnxv3XbzDlFJNkbxv
wqorhvwSHJqb7LXWV4DDTYAAqn/gX3Ml96cV+28oBKKEr+JstbGtAhKDFUfxC0sn
ZZtVK3T40ziqh4qgKxmwacDSPmjqgtnKsMUpCm5tN0YqZWMHyHUpTUJBTQjeweZU
w7oLMFrZcbgpXVI4JmwyfrGIgSKJFW5swm/2wVdRIBdb9tqlTxF36xoYJi8/7BPQ
l+w/+aECgYEA0YFycvzU3BwJWLvM0W/R28bVb0p2iq/SIUlYR9fh5W4ZVhQT52xj
0o8zHgTz8nn/52UBojyZmV/wIAl1F66MlP3qhe+adzoHfJOMTPC7MPwytBfbj46N
45vIib4CV8ysdHdyCsjAewZTdVJal63GexZVeGwju/cAXTG1AQwS2/kCgYEAzUPg
9/tvuyq+au/wQ364Ozii71hBNsSToL9ZUKOlbO6s/GKfpW/G8OQKncoQ2zzFNxrl
FMJossDtWLCe1wSi85aksK4WHIDCztqMyTdbeHt81lbZmW79syNP+OuSZE3GZ7Y6
8JVB6irXNgvyddaqCKW1OE4qPYWWNTRobTg2ecMCgYEAnJy20Ix+FriCqCljV+DO
MQu2+4XfjZcXbrikXLhd7qNaH0XNBz+4c2uG29b6AXX/vZt9GClS7RuRpnFLbdOW
1b3mdg8CGkRv2kl2JQID/P9aa9Q11l/LY61NwOIgYD/pXvr3bmZZtN2qv9Y7UI2g
BN1SMT4tjFJ9nC0PUOQUqQkCgYEAsc2nlQdu/GEFOtqGc+DTszDXKp53NvrGqkq2
Ejz+8cI5hBHmGkcdu9K9Q3siaNZWOuqIHxhb2uN1dQrhPH3erUQDeqwBqUT7+nSj
2TSjflTxiTUIHnlfN4pSHtvoHgyk3XejzHxt8WqUq1Nj/iEpfn4T4ScMPeh2ebXg
8yLrRUMCgYBU0H4ggvOLMCGKOZ1HOI5mfWIhjj1zeHhRaH9nPfXxtyUN/M4Mc/s1
vx883Ym5ivk8efKGbUjXPElgEE9jOds2IHonglAR/X9DZ1S6x4CiGh7/W194JVrl
IShENOppspHFZA04RhaVTdCivAR6QWx1pyUa4xXgANZ2HjywgaZJ1A==
-----END RSA PRIVATE KEY-----
`;
const pkcs1PrivateKid = "1yWoP2fJhWcmCOWKHVSbY1Gkz-qin5mwxVLv8_QMAV4";

const sec1PrivatePem = `-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIC94GN7m6/y7U1HTrNDgBM/2bIFFrvixihPhAM3N8SA3oAoGCCqGSM49
AwEHoUQDQgAE5jza+hffBQ+oYZ491Yup8UFjekPvf6xxgMmNfXA0MHr3gVvYdHzB
e1Khn7n09TrE1jcyd7L+5Pt1TVy5R8d0Eg==
-----END EC PRIVATE KEY-----
`;
const sec1PrivateKid = "W2U3dXzl8qwixOW9lZzg1qPFPl1qDDKAj44klrwWy98";

const p384Pub = `-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEdRlGVF9jJJR0/hLlOQ77VzFgKsbEn9bf
Yezd5jv/YElUxJkzE6jki1RTMbFQSSqfTkFsfsK/VnzVGDbW5uihh2zwB/Grvlcf
ff4yuj9HVDjpMs9CKevYCM0SofBs1k8Z
-----END PUBLIC KEY-----
`;
const ed25519Pub = `-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEA4SIvh5aDaggSz501uHKZ7nkWBuuK0kQD81rAd3FTg/I=
-----END PUBLIC KEY-----
`;

Deno.test("keyIdFromSpki() matches the kid kube-apiserver computes", async (t) => {
  const cases = [
    { name: "seed rsa.pub (PKIX)", pem: seedRsaPub, kid: seedRsaKid },
    { name: "seed rsa.pub as PKCS#1", pem: seedRsaPkcs1Pub, kid: seedRsaKid },
    { name: "seed ecdsa.pub", pem: seedEcPub, kid: seedEcKid },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      equal(await keyIdFromSpki(spkiFromPem(c.pem)), c.kid);
      equal((await jwkFromPublicPem(c.pem)).kid, c.kid);
    });
  }
});

Deno.test("jwkFromPublicPem() writes the JWKS entry with kube-apiserver's fields and order", async (t) => {
  const cases = [
    {
      name: "RSA",
      pem: seedRsaPub,
      json: JSON.stringify({ use: "sig", kty: "RSA", kid: seedRsaKid, alg: "RS256", n: seedRsaN, e: "AQAB" }),
    },
    {
      name: "RSA from PKCS#1",
      pem: seedRsaPkcs1Pub,
      json: JSON.stringify({ use: "sig", kty: "RSA", kid: seedRsaKid, alg: "RS256", n: seedRsaN, e: "AQAB" }),
    },
    {
      name: "EC P-256",
      pem: seedEcPub,
      json: JSON.stringify({
        use: "sig",
        kty: "EC",
        kid: seedEcKid,
        crv: "P-256",
        alg: "ES256",
        x: "H6cuzP8XuD5wal6wf9M6xDljTOPLX2i8uIp_C_ASqiI",
        y: "BlHnikLV9PyEd6gl8k4T_3Wwoh6xd79XLoQTh2PAi1Y",
      }),
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => equal(JSON.stringify(await jwkFromPublicPem(c.pem)), c.json));
  }
});

Deno.test("jwkFromPublicPem() rejects keys STS or kube-apiserver cannot use here", async (t) => {
  const cases = [
    { name: "EC P-384", pem: p384Pub, reason: "UnsupportedKey" },
    { name: "Ed25519", pem: ed25519Pub, reason: "UnsupportedKey" },
    { name: "private key instead of public", pem: sec1PrivatePem, reason: "InvalidKey" },
    { name: "no PEM at all", pem: "ssh-rsa AAAA", reason: "InvalidPem" },
    { name: "truncated DER", pem: pemEncode("PUBLIC KEY", new Uint8Array([0x30, 0x82, 0x01])), reason: "InvalidKey" },
    { name: "not a SEQUENCE", pem: pemEncode("PUBLIC KEY", Uint8Array.of(0x04, 0x01, 0x00)), reason: "InvalidKey" },
    {
      name: "no AlgorithmIdentifier",
      pem: pemEncode("PUBLIC KEY", Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x00)),
      reason: "InvalidKey",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      await rejects(jwkFromPublicPem(c.pem), (e) => isIrsaError(e, "invalid") && e.reason === c.reason);
    });
  }
});

Deno.test("publicPemFromPrivatePem() derives the public key of every private key format", async (t) => {
  const generated = await generateRsaKeyPair();
  const cases = [
    { name: "PKCS#8 RSA", pem: generated.privatePem, kid: (await jwkFromPublicPem(generated.publicPem)).kid },
    { name: "PKCS#1 RSA (the seed's Secret format)", pem: pkcs1PrivatePem, kid: pkcs1PrivateKid },
    { name: "SEC 1 EC", pem: sec1PrivatePem, kid: sec1PrivateKid },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const publicPem = await publicPemFromPrivatePem(c.pem);
      equal(pemDecode(publicPem).label, "PUBLIC KEY");
      equal((await jwkFromPublicPem(publicPem)).kid, c.kid);
    });
  }
});

Deno.test("generateRsaKeyPair() makes an RS256 pair whose halves belong together", async () => {
  const { privatePem, publicPem } = await generateRsaKeyPair();
  equal(pemDecode(privatePem).label, "PRIVATE KEY");
  equal(pemDecode(publicPem).label, "PUBLIC KEY");
  equal(await publicPemFromPrivatePem(privatePem), publicPem);
  const { key, alg } = await importPrivatePem(privatePem);
  equal(alg, "RS256");
  const data = new TextEncoder().encode("token");
  const sig = await crypto.subtle.sign("RSASSA-PKCS1-v1_5", key, data);
  const pub = await crypto.subtle.importKey(
    "spki",
    spkiFromPem(publicPem),
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["verify"],
  );
  ok(await crypto.subtle.verify("RSASSA-PKCS1-v1_5", pub, sig, data));
  const jwk = await jwkFromPublicPem(publicPem);
  equal(jwk.kty, "RSA");
  equal(jwk.kty === "RSA" && jwk.e, "AQAB");
  equal(spkiAlgorithm(spkiFromPem(publicPem)), "RS256");
});

Deno.test("pemEncode() and pemDecode() round-trip with 64-character lines", async (t) => {
  const cases = [
    { name: "empty", der: new Uint8Array([]) },
    { name: "one line exactly", der: new Uint8Array(48).fill(7) },
    { name: "several lines", der: new Uint8Array(200).map((_, i) => i) },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const pem = pemEncode("PUBLIC KEY", c.der);
      match(pem, /\n$/);
      ok(pem.split("\n").every((l) => l.length <= 64));
      deepStrictEqual(pemDecode(pem), { label: "PUBLIC KEY", der: c.der });
    });
  }
  await t.step("re-encoding the seed fixture gives the same bytes", () => {
    const { label, der } = pemDecode(seedRsaPub);
    equal(pemEncode(label, der), seedRsaPub);
  });
});

Deno.test("pemBlocks() returns every block of a multi-key file", async (t) => {
  await t.step("two keys with text around them", async () => {
    const text = `# rotation\n${seedRsaPub}\ncomment\n${seedEcPub}`;
    deepStrictEqual(pemBlocks(text).map((b) => b.label), ["PUBLIC KEY", "PUBLIC KEY"]);
    deepStrictEqual((await jwksFromPublicPems(text)).keys.map((k) => k.kid), [seedRsaKid, seedEcKid]);
  });
  await t.step("CRLF line endings", () => equal(pemBlocks(seedRsaPub.replace(/\n/g, "\r\n")).length, 1));
  await t.step("no blocks", () => deepStrictEqual(pemBlocks("nothing"), []));
  await t.step("encrypted block is refused", () => {
    const enc = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END RSA PRIVATE KEY-----\n";
    throws(() => pemBlocks(enc), (e) => isIrsaError(e, "invalid") && e.reason === "InvalidPem");
  });
  await t.step("an empty file is refused by jwksFromPublicPems", async () => {
    await rejects(jwksFromPublicPems(""), (e) => isIrsaError(e, "invalid"));
  });
});
