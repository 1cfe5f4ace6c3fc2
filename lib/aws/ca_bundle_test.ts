import { equal, ok, rejects, throws } from "node:assert/strict";
import { isIrsaError } from "../errors.ts";
import { createRootCa } from "../pki.ts";
import { readCaBundle, validateCaBundle } from "./ca_bundle.ts";

const ca = await createRootCa("private AWS endpoint CA");
const other = await createRootCa("another CA");

/** A one-line "invalid" IrsaError with `reason` whose message names the bundle's path. */
function isInvalid(reason: string, path: string) {
  return (e: unknown) => {
    ok(isIrsaError(e, "invalid"), `expected IrsaError kind invalid, got ${String(e)}`);
    equal(e.reason, reason);
    ok(e.message.includes(`"${path}"`), `message ${JSON.stringify(e.message)} does not name ${path}`);
    ok(!e.message.includes("\n"), "message is one line");
    return true;
  };
}

Deno.test("validateCaBundle() refuses what the SDK could not trust, naming the file", async (t) => {
  const cases: { name: string; text: string; reason: string }[] = [
    { name: "empty file", text: "", reason: "CaBundleNotPem" },
    { name: "JSON instead of PEM", text: '{"ca": "x"}\n', reason: "CaBundleNotPem" },
    { name: "DER bytes read as text", text: "0\u0082\u0003\u00c1\u0002\u0001", reason: "CaBundleNotPem" },
    {
      name: "a public key, not a certificate",
      text: "-----BEGIN PUBLIC KEY-----\nMFk=\n-----END PUBLIC KEY-----\n",
      reason: "CaBundleNotPem",
    },
    {
      name: "a CERTIFICATE block that is not base64",
      text: "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
      reason: "CaBundleNotPem",
    },
    {
      name: "a CERTIFICATE block that is not DER",
      text: `-----BEGIN CERTIFICATE-----\n${btoa("hello")}\n-----END CERTIFICATE-----\n`,
      reason: "CaBundleNotPem",
    },
    { name: "a good certificate and its private key", text: ca.certPem + ca.keyPem, reason: "CaBundleHasPrivateKey" },
    { name: "only a private key", text: ca.keyPem, reason: "CaBundleHasPrivateKey" },
  ];
  for (const c of cases) {
    await t.step(
      c.name,
      () => throws(() => validateCaBundle(c.text, "/etc/ca.pem"), isInvalid(c.reason, "/etc/ca.pem")),
    );
  }
});

Deno.test("validateCaBundle() accepts certificates with text between them and returns the text unchanged", async (t) => {
  const cases: { name: string; text: string }[] = [
    { name: "one certificate", text: ca.certPem },
    {
      name: "a bundle with comments, as system bundles have",
      text: `# private\n${ca.certPem}\n# other\n${other.certPem}`,
    },
    { name: "CRLF line ends", text: ca.certPem.replaceAll("\n", "\r\n") },
  ];
  for (const c of cases) await t.step(c.name, () => equal(validateCaBundle(c.text, "ca.pem"), c.text));
});

Deno.test("readCaBundle() reads and checks the file; an unreadable one is invalid input with its path", async () => {
  const files = new Map([["/ok.pem", ca.certPem], ["/notes.txt", "remember the CA\n"]]);
  const readTextFile = (path: string) => {
    const text = files.get(path);
    return text === undefined
      ? Promise.reject(new Deno.errors.NotFound(`No such file: ${path}`))
      : Promise.resolve(text);
  };
  equal(await readCaBundle("/ok.pem", { readTextFile }), ca.certPem);
  await rejects(readCaBundle("/missing.pem", { readTextFile }), isInvalid("CaBundleUnreadable", "/missing.pem"));
  await rejects(readCaBundle("/notes.txt", { readTextFile }), isInvalid("CaBundleNotPem", "/notes.txt"));
  const dir = await Deno.makeTempDir({ prefix: "ca-bundle-" });
  try {
    await rejects(readCaBundle(dir), isInvalid("CaBundleUnreadable", dir));
  } finally {
    await Deno.remove(dir);
  }
});
