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
  // kubectl's impersonation and timeout flags
  {
    name: "reads --as and repeated --as-group in order",
    argv: ["list", "--as", "jane", "--as-group", "dev", "--as-group=ops"],
    want: { name: "list", flags: flags({ as: "jane", asGroups: ["dev", "ops"] }) },
  },
  {
    name: "reads --request-timeout as a Go duration",
    argv: ["list", "--request-timeout", "1m30s"],
    want: { name: "list", flags: flags({ requestTimeoutMs: 90_000 }) },
  },
  {
    name: "reads a bare --request-timeout integer as seconds",
    argv: ["list", "--request-timeout=45"],
    want: { name: "list", flags: flags({ requestTimeoutMs: 45_000 }) },
  },
  {
    name: "reads --request-timeout 0 as no timeout",
    argv: ["list", "--request-timeout", "0"],
    want: { name: "list", flags: flags({ requestTimeoutMs: 0 }) },
  },
  {
    name: "rejects a --request-timeout without a unit it knows",
    argv: ["list", "--request-timeout", "5x"],
    error:
      `invalid "--request-timeout" value "5x": use an integer number of seconds, or a duration with a unit (e.g. 1s, 2m, 3h); 0 means no timeout`,
    command: "list",
  },
  {
    name: "rejects a negative --request-timeout",
    argv: ["list", "--request-timeout=-1s"],
    error:
      `invalid "--request-timeout" value "-1s": use an integer number of seconds, or a duration with a unit (e.g. 1s, 2m, 3h); 0 means no timeout`,
    command: "list",
  },
  {
    name: "rejects an empty --as value",
    argv: ["list", "--as="],
    error: `flag "--as" needs a value`,
    command: "list",
  },
  {
    name: "rejects an empty --as-group value",
    argv: ["list", "--as", "jane", "--as-group="],
    error: `flag "--as-group" needs a value`,
    command: "list",
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
    argv: ["init", "--bucket", "b-oidc", "-o", "json"],
    want: {
      name: "init",
      flags: flags({ output: "json" }),
      bucket: "b-oidc",
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
    error: `"--key-source" must be "cluster", "generate" or "kms", got "vault"`,
    command: "init",
  },
  {
    name: "accepts init --key-source kms with keys in order and --hosting cloudfront",
    argv: [
      "init",
      "--bucket",
      "b-oidc",
      "--key-source",
      "kms",
      "--kms-key",
      "alias/new",
      "--kms-key",
      "1234abcd-12ab-34cd-56ef-1234567890ab",
      "--hosting",
      "cloudfront",
    ],
    want: {
      name: "init",
      flags: flags({}),
      bucket: "b-oidc",
      keySource: "kms",
      kmsKeys: ["alias/new", "1234abcd-12ab-34cd-56ef-1234567890ab"],
      hosting: "cloudfront",
      force: false,
      noThumbprint: false,
    },
  },
  {
    name: "rejects --key-source kms without --kms-key",
    argv: ["init", "--bucket", "b", "--key-source", "kms"],
    error: `"--key-source kms" needs "--kms-key" (the signer's KMS key; repeat for rotation)`,
    command: "init",
  },
  {
    name: "rejects --kms-key without --key-source kms",
    argv: ["init", "--bucket", "b", "--kms-key", "alias/k"],
    error: `"--kms-key" only applies with "--key-source kms"`,
    command: "init",
  },
  {
    name: "rejects a --kms-key that names no KMS key",
    argv: ["init", "--bucket", "b", "--key-source", "kms", "--kms-key", "my-key"],
    error: `KMS key "my-key" is not a key ID, key ARN, alias name (alias/...) or alias ARN of a customer managed key`,
    command: "init",
  },
  {
    name: "rejects --key-source kms for a distribution that passes its own key files, before any connection",
    argv: ["init", "--bucket", "b", "--key-source", "kms", "--kms-key", "alias/k", "--distro", "kind"],
    error:
      "kind passes its own service-account key file flags to kube-apiserver, which refuses them beside the signing endpoint",
    command: "init",
  },
  {
    name: "rejects an unknown --hosting",
    argv: ["init", "--bucket", "b", "--hosting", "website"],
    error: `"--hosting" must be "s3" or "cloudfront", got "website"`,
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
    name: "rejects an invalid bucket name in init before any connection",
    argv: ["init", "--bucket", "My_Bucket"],
    error: `Bucket name "My_Bucket"`,
    command: "init",
  },
  {
    name: "rejects an http issuer URL in init before any connection",
    argv: ["init", "--bucket", "b-oidc", "--issuer-url", "http://x.example/b"],
    error: `Issuer URL "http://x.example/b" must start with https://`,
    command: "init",
  },
  {
    name: "rejects an invalid region in init before any connection",
    argv: ["init", "--bucket", "b-oidc", "--region", "mars"],
    error: `Region "mars" is not an AWS region code`,
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
  // bind
  {
    name: "parses bind with one policy in the context's namespace",
    argv: ["bind", "sa", "api", "--policy", "AmazonS3ReadOnlyAccess"],
    want: {
      name: "bind",
      flags: flags(),
      serviceAccount: "api",
      namespaces: [],
      policies: ["AmazonS3ReadOnlyAccess"],
      tags: {},
      adopt: false,
    },
  },
  {
    name: "parses bind with every flag, flags before and between the positionals",
    argv: [
      "bind",
      "-n",
      "staging",
      "sa",
      "--namespace=prod",
      "worker",
      "--policy",
      "AmazonSQSFullAccess",
      "--policy",
      "arn:aws:iam::123456789012:policy/queue-consumer",
      "--inline-policy",
      "./worker-policy.json",
      "--role-name",
      "worker-role",
      "--role-path",
      "/k8s/",
      "--permissions-boundary",
      "arn:aws:iam::123456789012:policy/boundary",
      "--tag",
      "team=queue",
      "--tag",
      "url=https://x.example.com/a=b",
      "--tag",
      "empty=",
      "--max-session-duration",
      "7200",
      "--audience",
      "sts.amazonaws.com",
      "--sts-regional-endpoints",
      "true",
      "--token-expiration=86400",
      "--adopt",
      "--dry-run",
      "-o",
      "yaml",
      "--region",
      "eu-west-1",
    ],
    want: {
      name: "bind",
      flags: flags({ namespaces: ["staging", "prod"], dryRun: true, output: "yaml", region: "eu-west-1" }),
      serviceAccount: "worker",
      namespaces: ["staging", "prod"],
      policies: ["AmazonSQSFullAccess", "arn:aws:iam::123456789012:policy/queue-consumer"],
      inlinePolicyFile: "./worker-policy.json",
      roleName: "worker-role",
      rolePath: "/k8s/",
      permissionsBoundary: "arn:aws:iam::123456789012:policy/boundary",
      tags: { team: "queue", url: "https://x.example.com/a=b", empty: "" },
      maxSessionDuration: 7200,
      audience: "sts.amazonaws.com",
      stsRegionalEndpoints: true,
      tokenExpiration: 86400,
      adopt: true,
    },
  },
  {
    name: "parses bind with only an inline policy, --sts-regional-endpoints false and -o json",
    argv: [
      "bind",
      "serviceaccount",
      "api",
      "-n",
      "shop",
      "--inline-policy=p.json",
      "--sts-regional-endpoints=false",
      "-o",
      "json",
    ],
    want: {
      name: "bind",
      flags: flags({ namespaces: ["shop"], output: "json" }),
      serviceAccount: "api",
      namespaces: ["shop"],
      policies: [],
      inlinePolicyFile: "p.json",
      tags: {},
      stsRegionalEndpoints: false,
      adopt: false,
    },
  },
  {
    name: "accepts `serviceaccounts` as the resource of bind",
    argv: ["bind", "serviceaccounts", "api", "--policy", "P"],
    want: {
      name: "bind",
      flags: flags(),
      serviceAccount: "api",
      namespaces: [],
      policies: ["P"],
      tags: {},
      adopt: false,
    },
  },
  {
    name: "keeps a tag key named __proto__ as an own key",
    argv: ["bind", "sa", "api", "--policy", "P", "--tag", "__proto__=x"],
    want: {
      name: "bind",
      flags: flags(),
      serviceAccount: "api",
      namespaces: [],
      policies: ["P"],
      tags: Object.fromEntries([["__proto__", "x"]]),
      adopt: false,
    },
  },
  { name: "shows bind help with `bind --help`", argv: ["bind", "--help"], want: { name: "help", topic: "bind" } },
  {
    name: "shows bind help even when the positionals are wrong",
    argv: ["bind", "pod", "-h"],
    want: { name: "help", topic: "bind" },
  },
  { name: "shows bind help for `help bind`", argv: ["help", "bind"], want: { name: "help", topic: "bind" } },
  {
    name: "rejects bind without positionals",
    argv: ["bind", "--policy", "P"],
    error: `expected "sa NAME", got nothing`,
    command: "bind",
  },
  {
    name: "rejects bind with the resource but no NAME",
    argv: ["bind", "sa", "--policy", "P"],
    error: `expected "sa NAME", got "sa"`,
    command: "bind",
  },
  {
    name: "rejects bind with a NAME but no resource",
    argv: ["bind", "api", "--policy", "P"],
    error: `expected "sa NAME", got "api"`,
    command: "bind",
  },
  {
    name: "rejects bind of another resource",
    argv: ["bind", "pod", "api", "--policy", "P"],
    error: `expected "sa NAME", got "pod api"`,
    command: "bind",
  },
  {
    name: "rejects bind with kubectl's sa/NAME form",
    argv: ["bind", "sa/api", "--policy", "P"],
    error: `expected "sa NAME", got "sa/api"`,
    command: "bind",
  },
  {
    name: "rejects bind with an extra positional",
    argv: ["bind", "sa", "api", "web", "--policy", "P"],
    error: `expected "sa NAME", got "sa api web"`,
    command: "bind",
  },
  {
    name: "rejects bind with an empty NAME",
    argv: ["bind", "sa", "", "--policy", "P"],
    error: `expected "sa NAME", got "sa "`,
    command: "bind",
  },
  {
    name: "rejects bind without --policy or --inline-policy",
    argv: ["bind", "sa", "api", "-n", "shop"],
    error: `bind needs at least one "--policy" or "--inline-policy"`,
    command: "bind",
  },
  {
    name: "rejects an empty --policy",
    argv: ["bind", "sa", "api", "--policy="],
    error: `flag "--policy" needs a value`,
    command: "bind",
  },
  {
    name: "rejects the same --policy twice",
    argv: ["bind", "sa", "api", "--policy", "P", "--policy", "P"],
    error: `"--policy P" is given twice`,
    command: "bind",
  },
  {
    name: "rejects an empty --inline-policy",
    argv: ["bind", "sa", "api", "--inline-policy", ""],
    error: `flag "--inline-policy" needs a value`,
    command: "bind",
  },
  {
    name: "rejects an empty --role-name",
    argv: ["bind", "sa", "api", "--policy", "P", "--role-name="],
    error: `flag "--role-name" needs a value`,
    command: "bind",
  },
  {
    name: "rejects the same namespace twice in bind",
    argv: ["bind", "sa", "api", "--policy", "P", "-n", "shop", "-n", "shop"],
    error: `"--namespace shop" is given twice`,
    command: "bind",
  },
  {
    name: "rejects an empty -n in bind",
    argv: ["bind", "sa", "api", "--policy", "P", "-n", ""],
    error: `flag "--namespace" needs a value`,
    command: "bind",
  },
  {
    name: "rejects bind -A",
    argv: ["bind", "sa", "api", "--policy", "P", "-A"],
    error: `bind does not take "-A"; name each namespace with "-n"`,
    command: "bind",
  },
  {
    name: "rejects a --tag without =",
    argv: ["bind", "sa", "api", "--policy", "P", "--tag", "team"],
    error: `"--tag": Invalid tag "team": expected key=value`,
    command: "bind",
  },
  {
    name: "rejects a --tag with an empty key",
    argv: ["bind", "sa", "api", "--policy", "P", "--tag", "=x"],
    error: `Invalid tag key "": must be 1-128 characters`,
    command: "bind",
  },
  {
    name: "rejects a --tag with the reserved aws: prefix",
    argv: ["bind", "sa", "api", "--policy", "P", "--tag", "AWS:x=y"],
    error: `the prefix "aws:" is reserved by AWS`,
    command: "bind",
  },
  {
    name: "rejects a duplicate --tag key even with the same value",
    argv: ["bind", "sa", "api", "--policy", "P", "--tag", "team=a", "--tag", "team=a"],
    error: `tag key "team" is given twice in "--tag"`,
    command: "bind",
  },
  {
    name: "rejects a duplicate --tag key with another value",
    argv: ["bind", "sa", "api", "--policy", "P", "--tag", "team=a", "--tag", "team=b"],
    error: `tag key "team" is given twice in "--tag"`,
    command: "bind",
  },
  {
    name: "rejects --max-session-duration in exponent notation",
    argv: ["bind", "sa", "api", "--policy", "P", "--max-session-duration", "1e3"],
    error: `"--max-session-duration" must be a positive whole number of seconds, got "1e3"`,
    command: "bind",
  },
  {
    name: "rejects --max-session-duration with a unit",
    argv: ["bind", "sa", "api", "--policy", "P", "--max-session-duration", "12s"],
    error: `"--max-session-duration" must be a positive whole number of seconds, got "12s"`,
    command: "bind",
  },
  {
    name: "rejects a fractional --max-session-duration",
    argv: ["bind", "sa", "api", "--policy", "P", "--max-session-duration", "3600.5"],
    error: `"--max-session-duration" must be a positive whole number of seconds, got "3600.5"`,
    command: "bind",
  },
  {
    name: "rejects a negative --token-expiration",
    argv: ["bind", "sa", "api", "--policy", "P", "--token-expiration=-5"],
    error: `"--token-expiration" must be a positive whole number of seconds, got "-5"`,
    command: "bind",
  },
  {
    name: "rejects a negative --token-expiration given as a separate argument",
    argv: ["bind", "sa", "api", "--policy", "P", "--token-expiration", "-5"],
    error: `flag "--token-expiration" needs a value; write --token-expiration=VALUE for a value that starts with "-"`,
    command: "bind",
  },
  {
    name: "rejects a zero --token-expiration",
    argv: ["bind", "sa", "api", "--policy", "P", "--token-expiration", "0"],
    error: `"--token-expiration" must be a positive whole number of seconds, got "0"`,
    command: "bind",
  },
  {
    name: "rejects a --token-expiration with a sign or spaces",
    argv: ["bind", "sa", "api", "--policy", "P", "--token-expiration", " +600"],
    error: `"--token-expiration" must be a positive whole number of seconds, got " +600"`,
    command: "bind",
  },
  {
    name: "rejects a --token-expiration beyond a safe integer",
    argv: ["bind", "sa", "api", "--policy", "P", "--token-expiration", "99999999999999999999"],
    error: `"--token-expiration" must be a positive whole number of seconds, got "99999999999999999999"`,
    command: "bind",
  },
  {
    name: "rejects --sts-regional-endpoints other than true or false",
    argv: ["bind", "sa", "api", "--policy", "P", "--sts-regional-endpoints", "yes"],
    error: `"--sts-regional-endpoints" must be "true" or "false", got "yes"`,
    command: "bind",
  },
  {
    name: "rejects --sts-regional-endpoints without a value",
    argv: ["bind", "sa", "api", "--policy", "P", "--sts-regional-endpoints"],
    error: `flag "--sts-regional-endpoints" needs a value`,
    command: "bind",
  },
  {
    name: "rejects bind -o wide",
    argv: ["bind", "sa", "api", "--policy", "P", "-o", "wide"],
    error: `bind supports "-o json" and "-o yaml" only`,
    command: "bind",
  },
  {
    name: "rejects bind -o name",
    argv: ["bind", "sa", "api", "--policy", "P", "-o", "name"],
    error: `bind supports "-o json" and "-o yaml" only`,
    command: "bind",
  },
  {
    name: "rejects unbind's --keep-role on bind",
    argv: ["bind", "sa", "api", "--policy", "P", "--keep-role"],
    error: `unknown flag "--keep-role"`,
    command: "bind",
  },
  // Everything that needs no server is a usage error of the parser, named by its value.
  ...([
    [["bind", "sa", "Bad_Name", "--policy", "P"], `Invalid ServiceAccount name "Bad_Name"`],
    [["bind", "sa", "api", "-n", "Bad.NS", "--policy", "P"], `Invalid namespace "Bad.NS"`],
    [["bind", "sa", "api", "--policy", "P", "--role-path", "noslash"], `Invalid IAM path "noslash"`],
    [["bind", "sa", "api", "--policy", "P", "--role-name", "a/b"], `Invalid IAM role name "a/b"`],
    [["bind", "sa", "api", "--policy", "P", "--token-expiration", "5"], "Invalid token expiration 5"],
    [["bind", "sa", "api", "--policy", "P", "--max-session-duration", "100"], "Invalid MaxSessionDuration 100"],
    [["bind", "sa", "api", "--policy", "Read Only"], `Invalid policy "Read Only"`],
    [["bind", "sa", "api", "--policy", "arn:aws:s3:::bucket"], `Invalid policy ARN "arn:aws:s3:::bucket"`],
    [["bind", "sa", "api", "--policy", "P", "--permissions-boundary", "B"], `"B"`],
    [["bind", "sa", "api", "--policy", "P", "--audience", "*"], `audience "*"`],
    [["bind", "sa", "api", "--policy", "P", "--tag", "kubectl-irsa/cluster=x"], `"kubectl-irsa/cluster"`],
    [["bind", "sa", "api", ...Array.from({ length: 11 }, (_, i) => ["--policy", `P${i}`]).flat()], "11 managed"],
    [["bind", "sa", "api", "--policy", "P", "--region", "mars"], `Region "mars"`],
  ] as const).map(([argv, error]): Case => ({
    name: `rejects ${argv.slice(3).join(" ") || argv.join(" ")} in bind before any connection`,
    argv: [...argv],
    error,
    command: "bind",
  })),

  // unbind
  {
    name: "parses unbind in the context's namespace",
    argv: ["unbind", "sa", "api"],
    want: { name: "unbind", flags: flags(), serviceAccount: "api", keepRole: false },
  },
  {
    name: "parses unbind with every flag",
    argv: ["unbind", "serviceaccount", "api", "-n", "shop", "--keep-role", "--dry-run", "-o", "json"],
    want: {
      name: "unbind",
      flags: flags({ namespaces: ["shop"], dryRun: true, output: "json" }),
      serviceAccount: "api",
      keepRole: true,
    },
  },
  { name: "shows unbind help with `unbind -h`", argv: ["unbind", "-h"], want: { name: "help", topic: "unbind" } },
  {
    name: "rejects unbind without positionals",
    argv: ["unbind", "-n", "shop"],
    error: `expected "sa NAME", got nothing`,
    command: "unbind",
  },
  {
    name: "rejects unbind of another resource",
    argv: ["unbind", "deployment", "api"],
    error: `expected "sa NAME", got "deployment api"`,
    command: "unbind",
  },
  {
    name: "rejects unbind of two names",
    argv: ["unbind", "sa", "api", "web"],
    error: `expected "sa NAME", got "sa api web"`,
    command: "unbind",
  },
  {
    name: "rejects unbind with -n repeated",
    argv: ["unbind", "sa", "api", "-n", "a", "-n", "b"],
    error: `unbind takes at most one "-n"`,
    command: "unbind",
  },
  {
    name: "rejects unbind -A",
    argv: ["unbind", "sa", "api", "-A"],
    error: `unbind does not take "-A"; name the namespace with "-n"`,
    command: "unbind",
  },
  {
    name: "rejects unbind -o wide",
    argv: ["unbind", "sa", "api", "-o", "wide"],
    error: `unbind supports "-o json" and "-o yaml" only`,
    command: "unbind",
  },
  {
    name: "rejects an invalid ServiceAccount name in unbind",
    argv: ["unbind", "sa", "Bad_Name"],
    error: `Invalid ServiceAccount name "Bad_Name"`,
    command: "unbind",
  },
  {
    name: "rejects an invalid namespace in unbind",
    argv: ["unbind", "sa", "api", "-n", "Bad_NS"],
    error: `Invalid namespace "Bad_NS"`,
    command: "unbind",
  },
  {
    name: "rejects bind's --policy on unbind",
    argv: ["unbind", "sa", "api", "--policy", "P"],
    error: `unknown flag "--policy"`,
    command: "unbind",
  },

  // list
  { name: "parses list in the context's namespace", argv: ["list"], want: { name: "list", flags: flags() } },
  {
    name: "parses list -A -o wide",
    argv: ["list", "-A", "-o", "wide"],
    want: { name: "list", flags: flags({ allNamespaces: true, output: "wide" }) },
  },
  {
    name: "parses list -n NS -o name",
    argv: ["list", "-n", "shop", "-o", "name"],
    want: { name: "list", flags: flags({ namespaces: ["shop"], output: "name" }) },
  },
  {
    name: "parses list --all-namespaces -o json",
    argv: ["list", "--all-namespaces", "-o", "json"],
    want: { name: "list", flags: flags({ allNamespaces: true, output: "json" }) },
  },
  {
    name: "parses list -o yaml",
    argv: ["list", "-o", "yaml"],
    want: { name: "list", flags: flags({ output: "yaml" }) },
  },
  { name: "shows list help with `list --help`", argv: ["list", "--help"], want: { name: "help", topic: "list" } },
  {
    name: "rejects list with -A and -n",
    argv: ["list", "-A", "-n", "shop"],
    error: `"-A" and "-n" cannot be used together`,
    command: "list",
  },
  {
    name: "rejects list with -n repeated",
    argv: ["list", "-n", "a", "-n", "b"],
    error: `list takes at most one "-n"; use "-A" for every namespace`,
    command: "list",
  },
  {
    name: "rejects an invalid namespace in list",
    argv: ["list", "-n", "Bad_NS"],
    error: `Invalid namespace "Bad_NS"`,
    command: "list",
  },
  {
    name: "rejects list --dry-run, which would change nothing anyway",
    argv: ["list", "--dry-run"],
    error: `list changes nothing and does not take "--dry-run"`,
    command: "list",
  },
  {
    name: "rejects list with a positional",
    argv: ["list", "sa"],
    error: `unexpected argument "sa"`,
    command: "list",
  },
  {
    name: "rejects an unknown output format on list",
    argv: ["list", "-o", "table"],
    error: `unknown output format "table"; use one of json, yaml, wide, name`,
    command: "list",
  },
  // Install
  { name: "parses install with defaults", argv: ["install"], want: { name: "install", flags: flags() } },
  {
    name: "parses install --dry-run -o yaml",
    argv: ["install", "--dry-run", "-o", "yaml"],
    want: { name: "install", flags: flags({ dryRun: true, output: "yaml" }) },
  },
  {
    name: "parses every install flag, with -n as the daemon's namespace",
    argv: ["install", "-n", "irsa", "--image", "reg.example/irsa:1", "--replicas", "3", "--failure-policy", "Fail"],
    want: {
      name: "install",
      flags: flags({ namespaces: ["irsa"] }),
      namespace: "irsa",
      image: "reg.example/irsa:1",
      replicas: 3,
      failurePolicy: "Fail",
    },
  },
  {
    name: "rejects install -o yaml without --dry-run",
    argv: ["install", "-o", "yaml"],
    error: `"-o yaml" prints the manifests and needs "--dry-run"`,
    command: "install",
  },
  {
    name: "rejects install -o wide",
    argv: ["install", "--dry-run", "-o", "wide"],
    error: `install supports "-o json" and "-o yaml" only`,
    command: "install",
  },
  {
    name: "rejects install with two -n",
    argv: ["install", "-n", "a", "-n", "b"],
    error: `install takes at most one "-n"`,
    command: "install",
  },
  { name: "rejects install -A", argv: ["install", "-A"], error: `install does not take "-A"`, command: "install" },
  {
    name: "rejects --replicas 0",
    argv: ["install", "--replicas", "0"],
    error: `"--replicas" must be a whole number of at least 1, got "0"`,
    command: "install",
  },
  {
    name: "rejects --replicas two",
    argv: ["install", "--replicas", "two"],
    error: `"--replicas" must be a whole number of at least 1, got "two"`,
    command: "install",
  },
  {
    name: "parses --webhook-skip-namespaces as a list, trimmed and without repeats",
    argv: ["install", "--webhook-skip-namespaces", "kube-system, monitoring,,kube-system"],
    want: { name: "install", flags: flags(), webhookSkipNamespaces: ["kube-system", "monitoring"] },
  },
  {
    name: "parses an empty --webhook-skip-namespaces: kube-system is mutated too",
    argv: ["install", "--webhook-skip-namespaces="],
    want: { name: "install", flags: flags(), webhookSkipNamespaces: [] },
  },
  {
    name: "rejects a --webhook-skip-namespaces entry that is no namespace name",
    argv: ["install", "--webhook-skip-namespaces", "kube-system,Team_A"],
    error: `"--webhook-skip-namespaces": Invalid namespace "Team_A": must be a DNS-1123 label of 1-63 lower-case ` +
      "letters, digits or '-', starting and ending with a letter or digit",
    command: "install",
  },
  {
    name: "rejects a lower-case --failure-policy",
    argv: ["install", "--failure-policy", "ignore"],
    error: `"--failure-policy" must be "Ignore" or "Fail", got "ignore"`,
    command: "install",
  },
  {
    name: "rejects an empty --image",
    argv: ["install", "--image="],
    error: `flag "--image" needs a value`,
    command: "install",
  },
  {
    name: "parses install's AWS endpoint flags, with --s3-path-style as the daemon's",
    argv: [
      "install",
      "--aws-endpoint-url",
      "https://s3.internal.example:9000",
      "--aws-ca-bundle",
      "./ca.pem",
      "--s3-path-style",
    ],
    want: {
      name: "install",
      flags: flags({ s3PathStyle: true }),
      awsEndpointUrl: "https://s3.internal.example:9000",
      awsCaBundle: "./ca.pem",
    },
  },
  {
    name: "parses install --aws-endpoint-url with http:// and a path",
    argv: ["install", "--aws-endpoint-url=http://127.0.0.1:4566/aws"],
    want: { name: "install", flags: flags(), awsEndpointUrl: "http://127.0.0.1:4566/aws" },
  },
  ...([
    ["without a scheme", "s3.internal.example:9000"],
    ["with another scheme", "ftp://s3.internal.example"],
    ["relative", "/s3"],
    ["without a host", "https://"],
    ["with credentials", "https://key:secret@s3.internal.example"],
  ] as const).map(([what, url]): Case => ({
    name: `rejects install --aws-endpoint-url ${what}`,
    argv: ["install", "--aws-endpoint-url", url],
    error: `"--aws-endpoint-url": Invalid AWS endpoint URL ${JSON.stringify(url)}`,
    command: "install",
  })),
  {
    name: "rejects install --aws-endpoint-url with no value",
    argv: ["install", "--aws-endpoint-url="],
    error: `flag "--aws-endpoint-url" needs a value`,
    command: "install",
  },
  {
    name: "rejects install --aws-ca-bundle with no value",
    argv: ["install", "--aws-ca-bundle="],
    error: `flag "--aws-ca-bundle" needs a value`,
    command: "install",
  },
  {
    name: "rejects install --ca-bundle, which would only look like the daemon trusts it",
    argv: ["install", "--ca-bundle", "./ca.pem"],
    error: `install makes no AWS calls and does not take "--ca-bundle"; use "--aws-ca-bundle"`,
    command: "install",
  },
  {
    name: "rejects --aws-endpoint-url on bind, where $AWS_ENDPOINT_URL applies",
    argv: ["bind", "sa", "api", "--policy", "P", "--aws-endpoint-url", "https://iam.internal"],
    error: `unknown flag "--aws-endpoint-url"`,
    command: "bind",
  },
  {
    name: "rejects install with a positional argument",
    argv: ["install", "now"],
    error: `unexpected argument "now"`,
    command: "install",
  },
  {
    name: "rejects --keep-crds on install",
    argv: ["install", "--keep-crds"],
    error: `unknown flag "--keep-crds"`,
    command: "install",
  },
  {
    name: "parses install --network-policy alone: sources read from the cluster, no metrics namespaces",
    argv: ["install", "--network-policy"],
    want: { name: "install", flags: flags(), networkPolicy: { metricsNamespaces: [] } },
  },
  {
    name: "parses repeated --webhook-source and --metrics-namespace in order, the CIDRs as given",
    argv: [
      "install",
      "--network-policy",
      "--webhook-source",
      "172.18.0.2/32",
      "--webhook-source=2001:DB8::/32",
      "--metrics-namespace",
      "monitoring",
      "--metrics-namespace",
      "obs",
    ],
    want: {
      name: "install",
      flags: flags(),
      networkPolicy: { webhookSources: ["172.18.0.2/32", "2001:DB8::/32"], metricsNamespaces: ["monitoring", "obs"] },
    },
  },
  {
    name: "rejects --webhook-source without --network-policy",
    argv: ["install", "--webhook-source", "10.0.0.1/32"],
    error: `"--webhook-source" only applies with "--network-policy"`,
    command: "install",
  },
  {
    name: "rejects --metrics-namespace without --network-policy",
    argv: ["install", "--metrics-namespace", "monitoring"],
    error: `"--metrics-namespace" only applies with "--network-policy"`,
    command: "install",
  },
  {
    name: "rejects a --metrics-namespace that is no namespace name",
    argv: ["install", "--network-policy", "--metrics-namespace", "Mon_Itoring"],
    error: `"--metrics-namespace": Invalid namespace "Mon_Itoring"`,
    command: "install",
  },
  {
    name: "rejects an empty --webhook-source",
    argv: ["install", "--network-policy", "--webhook-source="],
    error: `flag "--webhook-source" needs a value`,
    command: "install",
  },
  {
    name: "rejects a --metrics-namespace given twice",
    argv: ["install", "--network-policy", "--metrics-namespace", "obs", "--metrics-namespace", "obs"],
    error: `"--metrics-namespace obs" is given twice`,
    command: "install",
  },
  {
    name: "rejects --network-policy on uninstall, which deletes the NetworkPolicy anyway",
    argv: ["uninstall", "--network-policy"],
    error: `unknown flag "--network-policy"`,
    command: "uninstall",
  },

  // Uninstall
  {
    name: "parses uninstall",
    argv: ["uninstall"],
    want: { name: "uninstall", flags: flags(), keepCrds: false },
  },
  {
    name: "parses uninstall --dry-run --keep-crds -n irsa",
    argv: ["uninstall", "--dry-run", "--keep-crds", "-n", "irsa"],
    want: {
      name: "uninstall",
      flags: flags({ dryRun: true, namespaces: ["irsa"] }),
      namespace: "irsa",
      keepCrds: true,
    },
  },
  {
    name: "rejects uninstall -o yaml",
    argv: ["uninstall", "-o", "yaml"],
    error: `uninstall does not take "-o"`,
    command: "uninstall",
  },
  {
    name: "rejects uninstall -A",
    argv: ["uninstall", "-A"],
    error: `uninstall does not take "-A"`,
    command: "uninstall",
  },
  {
    name: "rejects --replicas on uninstall",
    argv: ["uninstall", "--replicas", "2"],
    error: `unknown flag "--replicas"`,
    command: "uninstall",
  },

  // Doctor
  { name: "parses doctor", argv: ["doctor"], want: { name: "doctor", flags: flags(), sts: false } },
  {
    name: "rejects an invalid ServiceAccount name in doctor",
    argv: ["doctor", "sa", "Bad_Name"],
    error: `Invalid ServiceAccount name "Bad_Name"`,
    command: "doctor",
  },
  {
    name: "rejects an invalid namespace in doctor",
    argv: ["doctor", "sa", "app", "-n", "Bad_NS"],
    error: `Invalid namespace "Bad_NS"`,
    command: "doctor",
  },
  {
    name: "rejects an invalid namespace in install",
    argv: ["install", "-n", "Bad_NS"],
    error: `Invalid namespace "Bad_NS"`,
    command: "install",
  },
  {
    name: "parses doctor sa NAME -n NS --sts -o json",
    argv: ["doctor", "sa", "app", "-n", "demo", "--sts", "-o", "json"],
    want: {
      name: "doctor",
      flags: flags({ namespaces: ["demo"], output: "json" }),
      serviceAccount: "app",
      sts: true,
    },
  },
  {
    name: "parses doctor serviceaccount NAME in the context's namespace",
    argv: ["doctor", "serviceaccount", "app"],
    want: { name: "doctor", flags: flags(), serviceAccount: "app", sts: false },
  },
  {
    name: "rejects doctor --sts without a ServiceAccount",
    argv: ["doctor", "--sts"],
    error: `"--sts" needs a ServiceAccount: doctor sa NAME -n NS --sts`,
    command: "doctor",
  },
  {
    name: "rejects doctor -n without a ServiceAccount",
    argv: ["doctor", "-n", "demo"],
    error: `"-n" needs a ServiceAccount: doctor sa NAME -n NS`,
    command: "doctor",
  },
  {
    name: "rejects doctor -A",
    argv: ["doctor", "-A"],
    error: `doctor does not take "-A"; name the namespace with "-n"`,
    command: "doctor",
  },
  {
    name: "rejects doctor with two namespaces",
    argv: ["doctor", "sa", "app", "-n", "a", "-n", "b"],
    error: `doctor takes at most one "-n"`,
    command: "doctor",
  },
  {
    name: "rejects doctor -o yaml",
    argv: ["doctor", "-o", "yaml"],
    error: `doctor supports "-o json" only`,
    command: "doctor",
  },
  {
    name: "rejects doctor --dry-run",
    argv: ["doctor", "--dry-run"],
    error: `doctor changes nothing and does not take "--dry-run"`,
    command: "doctor",
  },
  {
    name: "rejects doctor with something other than sa NAME",
    argv: ["doctor", "pod", "app"],
    error: `expected "sa NAME", got "pod app"`,
    command: "doctor",
  },
  {
    name: "rejects --policy on doctor",
    argv: ["doctor", "--policy", "P"],
    error: `unknown flag "--policy"`,
    command: "doctor",
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
  const argv = ["init", "--bucket", "b-oidc", "-n", "x"];
  const copy = [...argv];
  parseCommand(argv);
  assert.deepStrictEqual(argv, copy);
});

Deno.test("parseCommand() reads rotate-key stages and keeps each flag to its stages", async (t) => {
  const rotate: Case[] = [
    {
      name: "prepare with --out-dir and --force",
      argv: ["rotate-key", "prepare", "--out-dir", "/k", "--force"],
      want: { name: "rotate-key", flags: flags(), stage: "prepare", force: true, outDir: "/k" },
    },
    {
      name: "prepare in cluster mode with --kid, --distro, --dry-run -o json",
      argv: ["rotate-key", "prepare", "--kid", "abc", "--distro", "kubeadm", "--dry-run", "-o", "json"],
      want: {
        name: "rotate-key",
        flags: flags({ dryRun: true, output: "json" }),
        stage: "prepare",
        force: false,
        kid: "abc",
        distro: "kubeadm",
      },
    },
    {
      name: "verify with --grace",
      argv: ["rotate-key", "verify", "--grace", "1h30m"],
      want: { name: "rotate-key", flags: flags(), stage: "verify", force: false, graceMs: 5_400_000 },
    },
    {
      name: "retire --grace 0s --force",
      argv: ["rotate-key", "retire", "--grace", "0s", "--force"],
      want: { name: "rotate-key", flags: flags(), stage: "retire", force: true, graceMs: 0 },
    },
    {
      name: "status -o yaml",
      argv: ["rotate-key", "status", "-o", "yaml"],
      want: { name: "rotate-key", flags: flags({ output: "yaml" }), stage: "status", force: false },
    },
    { name: "no stage", argv: ["rotate-key"], error: "expected a stage", command: "rotate-key" },
    { name: "unknown stage", argv: ["rotate-key", "rollback"], error: `got "rollback"`, command: "rotate-key" },
    {
      name: "two stages",
      argv: ["rotate-key", "verify", "retire"],
      error: "unexpected argument",
      command: "rotate-key",
    },
    {
      name: "--out-dir on retire",
      argv: ["rotate-key", "retire", "--out-dir", "/k"],
      error: `"--out-dir" only applies to rotate-key prepare`,
      command: "rotate-key",
    },
    {
      name: "--force on verify",
      argv: ["rotate-key", "verify", "--force"],
      error: `"--force" only applies to rotate-key prepare and retire`,
      command: "rotate-key",
    },
    {
      name: "--grace on prepare",
      argv: ["rotate-key", "prepare", "--grace", "1h"],
      error: `"--grace" only applies`,
      command: "rotate-key",
    },
    {
      name: "a malformed --grace",
      argv: ["rotate-key", "retire", "--grace", "1 day"],
      error: `"--grace" must be a duration`,
      command: "rotate-key",
    },
    {
      name: "an unknown --distro",
      argv: ["rotate-key", "prepare", "--distro", "minikube"],
      error: `"--distro" must be one of`,
      command: "rotate-key",
    },
    {
      name: "-o wide",
      argv: ["rotate-key", "status", "-o", "wide"],
      error: `"-o json" and "-o yaml" only`,
      command: "rotate-key",
    },
    { name: "-n", argv: ["rotate-key", "status", "-n", "x"], error: `does not take "-n"`, command: "rotate-key" },
    {
      name: "status --dry-run",
      argv: ["rotate-key", "status", "--dry-run"],
      error: "does not take",
      command: "rotate-key",
    },
  ];
  for (const c of rotate) {
    await t.step(c.name, () => {
      if ("want" in c) return assert.deepStrictEqual(parseCommand(c.argv), c.want);
      assert.throws(() => parseCommand(c.argv), (e: unknown) => {
        assert.ok(e instanceof UsageError, `expected a UsageError, got ${String(e)}`);
        assert.ok(e.message.includes(c.error), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(c.error)}`);
        assert.equal(e.command, c.command);
        return true;
      });
    });
  }
});
