import assert from "node:assert/strict";
import { parseSignerOptions } from "./options.ts";

const env = (vars: Record<string, string> = {}) => ({ get: (n: string) => vars[n] });
const key = "1234abcd-12ab-34cd-56ef-1234567890ab";

Deno.test("parseSignerOptions() defaults: the well-known socket, 24h tokens, 10m refresh, 2s KMS timeout", () => {
  assert.deepEqual(parseSignerOptions(["--kms-key", key], env()), {
    socket: "/run/kubectl-irsa/signer.sock",
    kmsKeys: [key],
    verifyKeyFiles: [],
    maxTokenExpirationSeconds: 86400,
    refreshHintSeconds: 600,
    kmsTimeoutMs: 2000,
    logLevel: "info",
  });
});

Deno.test("parseSignerOptions() keeps the keys in order, the signing one first, and reads AWS_CA_BUNDLE", () => {
  const o = parseSignerOptions(
    [
      "--kms-key",
      "alias/new",
      "--kms-key",
      key,
      "--verify-key-file",
      "/etc/kubernetes/pki/sa.pub",
      "--socket",
      "@irsa",
    ],
    env({ AWS_CA_BUNDLE: "/ca.pem" }),
  );
  assert.deepEqual(o.kmsKeys, ["alias/new", key]);
  assert.deepEqual(o.verifyKeyFiles, ["/etc/kubernetes/pki/sa.pub"]);
  assert.equal(o.socket, "@irsa");
  assert.equal(o.awsCaBundlePath, "/ca.pem");
});

Deno.test("parseSignerOptions() refuses bad input with one line", async (t) => {
  const cases: [string, string[], RegExp][] = [
    ["no key", [], /required flag "--kms-key"/],
    ["a bad key", ["--kms-key", "my-key"], /not a key ID/],
    ["a repeated key", ["--kms-key", key, "--kms-key", key], /named twice/],
    ["a relative socket", ["--kms-key", key, "--socket", "signer.sock"], /absolute path/],
    ["tokens under 10m", ["--kms-key", key, "--max-token-expiration", "5m"], /at least 10m/],
    ["a bad duration", ["--kms-key", key, "--kms-timeout", "2"], /duration like/],
    ["a zero timeout", ["--kms-key", key, "--kms-timeout", "0s"], /more than 0/],
    ["a relative key file", ["--kms-key", key, "--verify-key-file", "sa.pub"], /absolute path/],
    ["an unknown flag", ["--kms-key", key, "--nope"], /Unknown option/],
    ["a positional", ["--kms-key", key, "extra"], /unexpected argument/],
  ];
  for (const [name, argv, error] of cases) {
    await t.step(name, () => {
      assert.throws(
        () => parseSignerOptions(argv, env()),
        (e: Error) => error.test(e.message) && !e.message.includes("\n"),
      );
    });
  }
});
