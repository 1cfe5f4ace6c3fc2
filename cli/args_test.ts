import assert from "node:assert/strict";
import { type Command, type GlobalFlags, parseCommand } from "./args.ts";
import { UsageError } from "./usage_error.ts";

function flags(overrides: Partial<GlobalFlags> = {}): GlobalFlags {
  return { namespaces: [], allNamespaces: false, dryRun: false, verbose: false, s3PathStyle: false, ...overrides };
}

type Case =
  | { name: string; argv: string[]; want: Command }
  | { name: string; argv: string[]; error: string; command: string | undefined };

const cases: Case[] = [
  // Help
  { name: "shows top-level help with no arguments", argv: [], want: { name: "help" } },
  { name: "shows top-level help for `help`", argv: ["help"], want: { name: "help" } },
  { name: "shows top-level help for `--help`", argv: ["--help"], want: { name: "help" } },
  { name: "shows top-level help for `-h`", argv: ["-h"], want: { name: "help" } },
  { name: "shows command help for `help init`", argv: ["help", "init"], want: { name: "help", topic: "init" } },
  {
    name: "shows command help for `help version`",
    argv: ["help", "version"],
    want: { name: "help", topic: "version" },
  },
  { name: "shows command help for `init --help`", argv: ["init", "--help"], want: { name: "help", topic: "init" } },
  { name: "shows command help for `version -h`", argv: ["version", "-h"], want: { name: "help", topic: "version" } },
  {
    name: "shows init help even when required flags are missing",
    argv: ["init", "--key-source", "generate", "-h"],
    want: { name: "help", topic: "init" },
  },
  {
    name: "rejects help for an unknown command",
    argv: ["help", "bogus"],
    error: `unknown command "bogus"`,
    command: undefined,
  },

  // Version
  { name: "parses `version`", argv: ["version"], want: { name: "version", flags: flags() } },
  { name: "treats `--version` as `version`", argv: ["--version"], want: { name: "version", flags: flags() } },
  {
    name: "parses `version -o json`",
    argv: ["version", "-o", "json"],
    want: { name: "version", flags: flags({ output: "json" }) },
  },
  {
    name: "parses `--output=yaml`",
    argv: ["version", "--output=yaml"],
    want: { name: "version", flags: flags({ output: "yaml" }) },
  },
  {
    name: "collects repeated -n/--namespace in order",
    argv: ["version", "-n", "b", "--namespace", "a", "-n", "c"],
    want: { name: "version", flags: flags({ namespaces: ["b", "a", "c"] }) },
  },
  {
    name: "parses every global flag",
    argv: [
      "version",
      "--kubeconfig",
      "/k/config",
      "--context",
      "ctx",
      "-A",
      "--dry-run",
      "-v",
      "--region",
      "eu-west-1",
      "--profile",
      "prod",
      "--ca-bundle",
      "/ca.pem",
      "--s3-path-style",
    ],
    want: {
      name: "version",
      flags: flags({
        kubeconfig: "/k/config",
        context: "ctx",
        allNamespaces: true,
        dryRun: true,
        verbose: true,
        region: "eu-west-1",
        profile: "prod",
        caBundle: "/ca.pem",
        s3PathStyle: true,
      }),
    },
  },

  // Command errors
  { name: "rejects an unknown command", argv: ["bogus"], error: `unknown command "bogus"`, command: undefined },
  {
    name: "rejects a flag before the command",
    argv: ["-n", "default", "version"],
    error: `a command must come first, got flag "-n"`,
    command: undefined,
  },
  {
    name: "rejects an unknown long flag",
    argv: ["version", "--nope"],
    error: `unknown flag "--nope"`,
    command: "version",
  },
  { name: "rejects an unknown short flag", argv: ["version", "-x"], error: `unknown flag "-x"`, command: "version" },
  {
    name: "rejects a flag of another command",
    argv: ["version", "--bucket", "b"],
    error: `unknown flag "--bucket"`,
    command: "version",
  },
  {
    name: "rejects a long flag missing its value",
    argv: ["init", "--bucket"],
    error: `flag "--bucket" needs a value`,
    command: "init",
  },
  {
    name: "names the long flag when a short flag misses its value",
    argv: ["version", "-n"],
    error: `flag "--namespace" needs a value`,
    command: "version",
  },
  {
    name: "rejects a value given to a boolean flag",
    argv: ["version", "--dry-run=true"],
    error: `flag "--dry-run" takes no value`,
    command: "version",
  },
  {
    name: "rejects an empty --region value",
    argv: ["version", "--region="],
    error: `flag "--region" needs a value`,
    command: "version",
  },
  {
    name: "rejects an empty --kubeconfig value",
    argv: ["version", "--kubeconfig", ""],
    error: `flag "--kubeconfig" needs a value`,
    command: "version",
  },
  {
    name: "rejects an unknown output format",
    argv: ["version", "-o", "xml"],
    error: `unknown output format "xml"; use one of json, yaml, wide, name`,
    command: "version",
  },
  {
    name: "rejects -A together with -n",
    argv: ["version", "-A", "-n", "default"],
    error: `"-A" and "-n" cannot be used together`,
    command: "version",
  },
  {
    name: "rejects positional arguments after the command",
    argv: ["version", "extra", "junk"],
    error: `unexpected argument "extra junk"`,
    command: "version",
  },
  {
    name: "rejects positional arguments after --",
    argv: ["init", "--bucket", "b", "--", "x"],
    error: `unexpected argument "x"`,
    command: "init",
  },

  // init
  {
    name: "parses init with defaults",
    argv: ["init", "--bucket", "my-oidc"],
    want: {
      name: "init",
      flags: flags(),
      bucket: "my-oidc",
      keySource: "cluster",
      force: false,
      noThumbprint: false,
    },
  },
  {
    name: "parses init with every flag",
    argv: [
      "init",
      "--bucket=my-oidc",
      "--issuer-url",
      "https://issuer.example.com",
      "--key-source",
      "generate",
      "--out-dir",
      "/etc/kubernetes/pki",
      "--distro",
      "k3s",
      "--force",
      "--no-thumbprint",
      "--dry-run",
      "-o",
      "yaml",
      "--region",
      "eu-west-1",
    ],
    want: {
      name: "init",
      flags: flags({ dryRun: true, output: "yaml", region: "eu-west-1" }),
      bucket: "my-oidc",
      issuerUrl: "https://issuer.example.com",
      keySource: "generate",
      outDir: "/etc/kubernetes/pki",
      distro: "k3s",
      force: true,
      noThumbprint: true,
    },
  },
  {
    name: "accepts init -o json",
    argv: ["init", "--bucket", "b", "-o", "json"],
    want: {
      name: "init",
      flags: flags({ output: "json" }),
      bucket: "b",
      keySource: "cluster",
      force: false,
      noThumbprint: false,
    },
  },
  { name: "requires --bucket for init", argv: ["init"], error: `required flag "--bucket" is missing`, command: "init" },
  {
    name: "rejects an empty --bucket",
    argv: ["init", "--bucket="],
    error: `required flag "--bucket" is missing`,
    command: "init",
  },
  {
    name: "rejects an unknown --key-source",
    argv: ["init", "--bucket", "b", "--key-source", "vault"],
    error: `"--key-source" must be "cluster" or "generate", got "vault"`,
    command: "init",
  },
  {
    name: "rejects an unknown --distro",
    argv: ["init", "--bucket", "b", "--distro", "eks"],
    error: `"--distro" must be one of kubeadm, static-pod, k3s, rke2, kind, raw; got "eks"`,
    command: "init",
  },
  {
    name: "rejects --out-dir without --key-source generate",
    argv: ["init", "--bucket", "b", "--out-dir", "/tmp/keys"],
    error: `"--out-dir" only applies with "--key-source generate"`,
    command: "init",
  },
  {
    name: "rejects init -o wide",
    argv: ["init", "--bucket", "b", "-o", "wide"],
    error: `init supports "-o json" and "-o yaml" only`,
    command: "init",
  },
  {
    name: "rejects init -o name",
    argv: ["init", "--bucket", "b", "-o", "name"],
    error: `init supports "-o json" and "-o yaml" only`,
    command: "init",
  },
  {
    name: "points init's global-flag errors at init's help",
    argv: ["init", "--bucket", "b", "-A", "-n", "x"],
    error: `"-A" and "-n" cannot be used together`,
    command: "init",
  },
];

Deno.test("parseCommand() turns argv into a typed command or a UsageError", async (t) => {
  for (const c of cases) {
    await t.step(c.name, () => {
      if ("want" in c) {
        assert.deepStrictEqual(parseCommand(c.argv), c.want);
        return;
      }
      assert.throws(
        () => parseCommand(c.argv),
        (e: unknown) => {
          assert.ok(e instanceof UsageError, `expected a UsageError, got ${String(e)}`);
          assert.ok(
            e.message.includes(c.error),
            `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(c.error)}`,
          );
          assert.equal(e.command, c.command);
          return true;
        },
      );
    });
  }
});

Deno.test("parseCommand() does not modify its argv", () => {
  const argv = ["init", "--bucket", "b", "-n", "x"];
  const copy = [...argv];
  parseCommand(argv);
  assert.deepStrictEqual(argv, copy);
});
