import { equal, ok } from "node:assert/strict";
import { certificatesFromPem, createRootCa, issueCertificate, loadCertifiedKey, subjectAltNames } from "./pki.ts";

Deno.test("issueCertificate() builds a chain that verifies up to the root", async () => {
  const root = await createRootCa("test root");
  const intermediate = await issueCertificate(root, "test intermediate", { usage: { kind: "ca" } });
  const leaf = await issueCertificate(intermediate, "server", {
    usage: { kind: "server", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] },
  });
  ok(await intermediate.cert.verify({ publicKey: root.cert.publicKey }));
  ok(await leaf.cert.verify({ publicKey: intermediate.cert.publicKey }));
  ok(!(await leaf.cert.verify({ publicKey: root.cert.publicKey })));
  equal(subjectAltNames(leaf.cert).join(","), "localhost,127.0.0.1");
  equal(certificatesFromPem(leaf.certPem + intermediate.certPem).length, 2);
});

Deno.test("issueCertificate() puts client organizations into the subject", async () => {
  const root = await createRootCa("test root");
  const admin = await issueCertificate(root, "admin", { usage: { kind: "client", organizations: ["system:masters"] } });
  equal(admin.cert.subject, "CN=admin, O=system:masters");
});

Deno.test("loadCertifiedKey() restores a CA that can sign again", async () => {
  const root = await createRootCa("test root");
  const restored = await loadCertifiedKey(root.certPem, root.keyPem);
  const leaf = await issueCertificate(restored, "x", { usage: { kind: "server", dnsNames: ["x"] } });
  ok(await leaf.cert.verify({ publicKey: root.cert.publicKey }));
});
