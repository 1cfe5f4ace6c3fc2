// @peculiar/x509 is the oracle here (test-only): it parses and verifies what lib/pki.ts writes, and writes
// certificates lib/pki.ts must read.
import "reflect-metadata";
import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import type * as X509 from "@peculiar/x509";
import {
  certificatePem,
  certificatesFromPem,
  certificateSignedBy,
  createRootCa,
  issueCertificate,
  loadCertifiedKey,
  parseCertificate,
  subjectAltNames,
} from "./pki.ts";

const x509: typeof X509 = await import("@peculiar/x509");
x509.cryptoProvider.set(crypto);

const hex = (b: ArrayBuffer | Uint8Array) =>
  Array.from(new Uint8Array(b), (v) => v.toString(16).padStart(2, "0")).join("");

Deno.test("issueCertificate() builds a chain that verifies up to the root, by our check and the oracle's", async () => {
  const root = await createRootCa("test root");
  const intermediate = await issueCertificate(root, "test intermediate", { usage: { kind: "ca" } });
  const leaf = await issueCertificate(intermediate, "server", {
    usage: { kind: "server", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] },
  });
  ok(await certificateSignedBy(intermediate.certPem, root.certPem));
  ok(await certificateSignedBy(leaf.certPem, intermediate.certPem));
  ok(!(await certificateSignedBy(leaf.certPem, root.certPem)));
  const [r, i, l] = [root, intermediate, leaf].map((c) => new x509.X509Certificate(c.certPem));
  ok(await r!.verify({ publicKey: r!.publicKey, signatureOnly: true }), "the root is self-signed");
  ok(await i!.verify({ publicKey: r!.publicKey, signatureOnly: true }));
  ok(await l!.verify({ publicKey: i!.publicKey, signatureOnly: true }));
  ok(!(await l!.verify({ publicKey: r!.publicKey, signatureOnly: true })));
  equal(subjectAltNames(leaf.certPem).join(","), "localhost,127.0.0.1");
  equal(certificatesFromPem(leaf.certPem + intermediate.certPem).length, 2);
});

Deno.test("the oracle reads the extensions each kind of certificate needs", async () => {
  const root = await createRootCa("test root");
  const intermediate = await issueCertificate(root, "test intermediate", { usage: { kind: "ca" } });
  const server = await issueCertificate(intermediate, "server", {
    usage: { kind: "server", dnsNames: ["a.example", "*.b.example"], ipAddresses: ["10.0.0.1", "fd00::2"] },
  });
  const client = await issueCertificate(root, "admin", {
    usage: { kind: "client", organizations: ["system:masters", "team"] },
  });
  const parse = (pem: string) => new x509.X509Certificate(pem);
  const [r, i, s, c] = [root, intermediate, server, client].map((k) => parse(k.certPem));
  for (const cert of [r!, i!, s!, c!]) {
    equal(cert.signatureAlgorithm.name, "ECDSA");
    const hash = (cert.signatureAlgorithm as EcdsaParams).hash;
    equal(typeof hash === "string" ? hash : hash.name, "SHA-256");
    equal(cert.serialNumber.length, 32, "16 random bytes, positive");
    ok(parseInt(cert.serialNumber.slice(0, 1), 16) < 8);
  }
  const bc = (cert: X509.X509Certificate) => cert.getExtension(x509.BasicConstraintsExtension)!;
  const ku = (cert: X509.X509Certificate) => cert.getExtension(x509.KeyUsagesExtension)!;
  const ski = (cert: X509.X509Certificate) => cert.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId;
  const aki = (cert: X509.X509Certificate) => cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;
  deepStrictEqual([bc(r!).ca, bc(r!).critical, bc(r!).pathLength], [true, true, undefined]);
  deepStrictEqual([bc(i!).ca, bc(i!).pathLength], [true, 0]);
  deepStrictEqual([bc(s!).ca, bc(s!).critical], [false, true]);
  const caUsage = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;
  const leafUsage = x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment;
  deepStrictEqual([ku(r!).usages, ku(i!).usages, ku(s!).usages, ku(c!).usages], [
    caUsage,
    caUsage,
    leafUsage,
    leafUsage,
  ]);
  ok(ku(s!).critical);
  deepStrictEqual([...s!.getExtension(x509.ExtendedKeyUsageExtension)!.usages], [x509.ExtendedKeyUsage.serverAuth]);
  deepStrictEqual([...c!.getExtension(x509.ExtendedKeyUsageExtension)!.usages], [x509.ExtendedKeyUsage.clientAuth]);
  deepStrictEqual(
    s!.getExtension(x509.SubjectAlternativeNameExtension)!.names.items.map((n) => [n.type, n.value]),
    [["dns", "a.example"], ["dns", "*.b.example"], ["ip", "10.0.0.1"], ["ip", "fd00::2"]],
  );
  equal(aki(i!), ski(r!));
  equal(aki(s!), ski(i!));
  equal(aki(r!), undefined);
  const keyId = await crypto.subtle.digest("SHA-1", new Uint8Array(s!.publicKey.rawData).slice(-65));
  equal(ski(s!), hex(keyId), "RFC 5280 method 1");
  equal(c!.subject, "CN=admin, O=system:masters, O=team");
  equal(s!.issuer, "CN=test intermediate");
  equal(parseCertificate(new Uint8Array(c!.rawData)).subject, "CN=admin, O=system:masters, O=team");
  deepStrictEqual(subjectAltNames(server.certPem), ["a.example", "*.b.example", "10.0.0.1", "fd00::2"]);
});

Deno.test("validity: notBefore five minutes back by default, whole seconds, and GeneralizedTime from 2050", async () => {
  const before = Date.now();
  const root = await createRootCa("r");
  const cert = new x509.X509Certificate(root.certPem);
  ok(cert.notBefore.getTime() <= before - 5 * 60_000 + 1000 && cert.notBefore.getTime() >= before - 5 * 60_000 - 1000);
  equal(cert.notAfter.getTime() - cert.notBefore.getTime(), 3650 * 86_400_000);
  const late = await issueCertificate(root, "late", {
    usage: { kind: "server", dnsNames: ["x"] },
    notBefore: new Date("2049-12-31T12:00:00Z"),
    days: 2,
  });
  const parsed = new x509.X509Certificate(late.certPem);
  equal(parsed.notBefore.toISOString(), "2049-12-31T12:00:00.000Z");
  equal(parsed.notAfter.toISOString(), "2050-01-02T12:00:00.000Z");
  const ours = parseCertificate(certificatesFromPem(late.certPem)[0]!);
  deepStrictEqual([ours.notBefore, ours.notAfter], [parsed.notBefore, parsed.notAfter]);
});

Deno.test("parseCertificate() and certificateSignedBy() read what the oracle writes, RSA and P-384 included", async () => {
  for (
    const algorithm of [
      { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256", publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 },
      { name: "ECDSA", namedCurve: "P-384", hash: "SHA-384" },
    ]
  ) {
    const keys = await crypto.subtle.generateKey(algorithm, true, ["sign", "verify"]) as CryptoKeyPair;
    const ca = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: "01",
      name: "CN=Other CA, O=Example, C=DE",
      notBefore: new Date("2025-01-01T00:00:00Z"),
      notAfter: new Date("2035-01-01T00:00:00Z"),
      signingAlgorithm: algorithm,
      keys,
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
    });
    const leafKeys = await crypto.subtle.generateKey(algorithm, true, ["sign", "verify"]) as CryptoKeyPair;
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: "02",
      subject: "CN=leaf",
      issuer: ca.subject,
      notBefore: new Date("2025-01-01T00:00:00Z"),
      notAfter: new Date("2026-01-01T00:00:00Z"),
      signingAlgorithm: algorithm,
      signingKey: keys.privateKey,
      publicKey: leafKeys.publicKey,
      extensions: [
        new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "leaf.example" }, {
          type: "ip",
          value: "2001:db8::1:0:0:1",
        }]),
      ],
    });
    const info = parseCertificate(new Uint8Array(ca.rawData));
    equal(info.subject, "CN=Other CA, O=Example, C=DE");
    equal(info.isCa, true);
    equal(hex(info.subjectDer), hex(ca.subjectName.toArrayBuffer()));
    equal(hex(info.issuerDer), hex(ca.issuerName.toArrayBuffer()));
    deepStrictEqual([info.notBefore, info.notAfter], [ca.notBefore, ca.notAfter]);
    const leafInfo = parseCertificate(new Uint8Array(leaf.rawData));
    deepStrictEqual([leafInfo.isCa, leafInfo.sans], [false, ["leaf.example", "2001:db8::1:0:0:1"]]);
    ok(await certificateSignedBy(leaf.toString("pem"), ca.toString("pem")), algorithm.name);
    ok(!(await certificateSignedBy(leaf.toString("pem"), leaf.toString("pem"))), algorithm.name);
  }
});

Deno.test("certificateSignedBy() refuses a certificate whose signed part was altered", async () => {
  const root = await createRootCa("test root");
  const leaf = await issueCertificate(root, "server", { usage: { kind: "server", dnsNames: ["original"] } });
  const der = certificatesFromPem(leaf.certPem)[0]!;
  const at = hex(der).indexOf(hex(new TextEncoder().encode("original"))) / 2;
  const forged = der.slice();
  forged.set(new TextEncoder().encode("0riginal"), at);
  ok(!(await certificateSignedBy(certificatePem(forged), root.certPem)));
});

Deno.test("loadCertifiedKey() restores a CA that can sign again", async () => {
  const root = await createRootCa("test root");
  const restored = await loadCertifiedKey(root.certPem, root.keyPem);
  const leaf = await issueCertificate(restored, "x", { usage: { kind: "server", dnsNames: ["x"] } });
  ok(await certificateSignedBy(leaf.certPem, root.certPem));
  ok(
    await new x509.X509Certificate(leaf.certPem).verify({
      publicKey: new x509.X509Certificate(root.certPem).publicKey,
    }),
  );
  await rejects(loadCertifiedKey(root.certPem, "not a key"), /no PEM block in private key/);
});

Deno.test("PEM: certificates in order, other blocks skipped, 64-column lines", async () => {
  const root = await createRootCa("test root");
  const other = await createRootCa("other");
  const bundle = `${root.certPem}${root.keyPem}junk\n${other.certPem}`;
  const ders = certificatesFromPem(bundle);
  deepStrictEqual(ders.map((d) => parseCertificate(d).subject), ["CN=test root", "CN=other"]);
  equal(certificatePem(ders[0]!), root.certPem);
  ok(root.certPem.split("\n").slice(1, -2).every((l) => l.length <= 64));
  equal(hex(new x509.X509Certificate(root.certPem).rawData), hex(ders[0]!));
});
