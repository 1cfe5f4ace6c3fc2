import { equal, match, rejects, throws } from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import * as tls from "node:tls";
import { isIrsaError } from "./errors.ts";
import { certificatesFromPem, type CertifiedKey, createRootCa, issueCertificate } from "./pki.ts";
import { fetchIssuerThumbprint, topIntermediateThumbprint } from "./thumbprint.ts";

// Computed with node:crypto's own parser, independent of the code under test.
function sha1Of(pem: string): string {
  return createHash("sha1").update(new X509Certificate(pem).raw).digest("hex");
}

const der = (c: CertifiedKey) => certificatesFromPem(c.certPem)[0]!;

const root = await createRootCa("test root");
const int1 = await issueCertificate(root, "intermediate 1", { usage: { kind: "ca" } });
const int2 = await issueCertificate(int1, "intermediate 2", { usage: { kind: "ca" } });
const leafOfRoot = await issueCertificate(root, "direct.example", { usage: { kind: "server", dnsNames: ["direct"] } });
const leaf = await issueCertificate(int1, "127.0.0.1", {
  usage: { kind: "server", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] },
});
const leafOfInt2 = await issueCertificate(int2, "deep.example", { usage: { kind: "server", dnsNames: ["deep"] } });

Deno.test("topIntermediateThumbprint() picks the top intermediate CA", async (t) => {
  const cases: { name: string; chain: CertifiedKey[]; want: CertifiedKey }[] = [
    { name: "leaf, intermediate and root give the intermediate", chain: [leaf, int1, root], want: int1 },
    { name: "leaf and intermediate give the intermediate", chain: [leaf, int1], want: int1 },
    { name: "leaf and root give the root", chain: [leafOfRoot, root], want: root },
    { name: "two intermediates give the upper one", chain: [leafOfInt2, int2, int1], want: int1 },
    {
      name: "two intermediates and root give the upper intermediate",
      chain: [leafOfInt2, int2, int1, root],
      want: int1,
    },
    { name: "a lone leaf gives the leaf", chain: [leaf], want: leaf },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const got = topIntermediateThumbprint(c.chain.map(der));
      match(got, /^[0-9a-f]{40}$/);
      equal(got, sha1Of(c.want.certPem));
    });
  }
  await t.step("an empty chain is refused", () => {
    throws(() => topIntermediateThumbprint([]), (e) => isIrsaError(e, "invalid"));
  });
});

async function withServer(chain: CertifiedKey[], fn: (port: number) => Promise<void>): Promise<void> {
  const server = tls.createServer({ cert: chain.map((c) => c.certPem).join(""), key: chain[0]!.keyPem });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    await fn((server.address() as { port: number }).port);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

Deno.test("fetchIssuerThumbprint() hashes the intermediate a TLS server presents", async (t) => {
  await withServer([leaf, int1], async (port) => {
    await t.step("trusted through caPem", async () => {
      const got = await fetchIssuerThumbprint(`https://127.0.0.1:${port}/bucket`, { caPem: root.certPem });
      equal(got, sha1Of(int1.certPem));
    });
    await t.step("untrusted without the CA", async () => {
      await rejects(
        fetchIssuerThumbprint(`https://127.0.0.1:${port}/bucket`),
        (e) => isIrsaError(e, "unavailable") && e.reason === "IssuerTlsUntrusted" && e.message.includes("127.0.0.1"),
      );
    });
    await t.step("untrusted when caPem is another CA", async () => {
      const other = await createRootCa("other root");
      await rejects(
        fetchIssuerThumbprint(`https://127.0.0.1:${port}/bucket`, { caPem: other.certPem }),
        (e) => isIrsaError(e, "unavailable") && e.reason === "IssuerTlsUntrusted",
      );
    });
  });
  await withServer([leafOfRoot], async (port) => {
    await t.step("untrusted when the host name does not match", async () => {
      await rejects(
        fetchIssuerThumbprint(`https://127.0.0.1:${port}/bucket`, { caPem: root.certPem }),
        (e) => isIrsaError(e, "unavailable") && e.reason === "IssuerTlsUntrusted" && /127\.0\.0\.1/.test(e.message),
      );
    });
  });
  await t.step("a closed port is unreachable", async () => {
    const probe = tls.createServer({});
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    await rejects(
      fetchIssuerThumbprint(`https://127.0.0.1:${port}`, { timeoutMs: 2000 }),
      (e) => isIrsaError(e, "unavailable") && e.reason === "IssuerUnreachable",
    );
  });
});
