// Syntax errors are usage errors before any connection: each bad input runs the real plugin against a cluster and
// an AWS endpoint that only count connections, and must exit 2 with one line naming the value and the help pointer.
import assert from "node:assert/strict";
import { runPlugin } from "../tests/support/cli.ts";
import { startCountingCluster } from "./_counting_cluster.ts";

interface Case {
  name: string;
  args: string[];
  /** The command whose help the error points at. */
  command: string;
  /** Text the error line must hold: the offending value. */
  names: string;
}

Deno.test("kubectl irsa refuses syntax errors with exit 2 and opens no connection", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "usage-offline-" });
  const cluster = await startCountingCluster(dir, "demo");
  try {
    const { server, kubeconfig } = cluster;
    await Deno.writeTextFile(`${dir}/not-json.json`, "{ not json");
    await Deno.writeTextFile(`${dir}/bad-policy.yaml`, "allowedPolicies: [AdministratorAccess]\n");
    await Deno.writeTextFile(`${dir}/bad-path.yaml`, "rolePath: irsa\n");
    const env = {
      KUBECONFIG: kubeconfig,
      HOME: dir,
      // AWS goes to the same counting listener, so an AWS call is a connection too.
      AWS_ENDPOINT_URL: server,
      AWS_REGION: "eu-west-1",
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
      AWS_CONFIG_FILE: "/nonexistent",
      AWS_SHARED_CREDENTIALS_FILE: "/nonexistent",
      AWS_EC2_METADATA_DISABLED: "true",
    };
    const bind = (...args: string[]) => ["bind", "sa", "app", "-n", "demo", "--policy", "ReadOnlyAccess", ...args];
    const cases: Case[] = [
      {
        name: "bind: ServiceAccount name",
        args: ["bind", "sa", "Bad_Name", "--policy", "ReadOnlyAccess"],
        command: "bind",
        names: `"Bad_Name"`,
      },
      {
        name: "bind: namespace",
        args: ["bind", "sa", "app", "-n", "Bad.NS", "--policy", "ReadOnlyAccess"],
        command: "bind",
        names: `"Bad.NS"`,
      },
      { name: "bind: --role-path", args: bind("--role-path", "noslash"), command: "bind", names: `"noslash"` },
      { name: "bind: --role-name", args: bind("--role-name", "a/b"), command: "bind", names: `"a/b"` },
      { name: "bind: --token-expiration", args: bind("--token-expiration", "5"), command: "bind", names: " 5:" },
      {
        name: "bind: --max-session-duration",
        args: bind("--max-session-duration", "100"),
        command: "bind",
        names: " 100:",
      },
      {
        name: "bind: --policy of another service",
        args: ["bind", "sa", "app", "--policy", "arn:aws:s3:::bucket"],
        command: "bind",
        names: `"arn:aws:s3:::bucket"`,
      },
      {
        name: "bind: --permissions-boundary that is a role",
        args: bind("--permissions-boundary", "arn:aws:iam::123456789012:role/x"),
        command: "bind",
        names: "role/x",
      },
      {
        name: "bind: reserved --tag",
        args: bind("--tag", "kubectl-irsa/cluster=x"),
        command: "bind",
        names: "kubectl-irsa/cluster",
      },
      { name: "bind: wildcard --audience", args: bind("--audience", "*"), command: "bind", names: `"*"` },
      { name: "bind: --region", args: bind("--region", "mars"), command: "bind", names: `"mars"` },
      {
        name: "bind: an inline policy that is not JSON",
        args: ["bind", "sa", "app", "--inline-policy", `${dir}/not-json.json`],
        command: "bind",
        names: "{ not json",
      },
      {
        name: "bind: an inline policy file that does not exist",
        args: ["bind", "sa", "app", "--inline-policy", `${dir}/absent.json`],
        command: "bind",
        names: "absent.json",
      },
      {
        name: "init: a binding policy pattern that is not an ARN",
        args: ["init", "--bucket", "my-oidc", "--binding-policy", `${dir}/bad-policy.yaml`],
        command: "init",
        names: `"AdministratorAccess"`,
      },
      {
        name: "init: a binding policy with a bad role path",
        args: ["init", "--bucket", "my-oidc", "--binding-policy", `${dir}/bad-path.yaml`],
        command: "init",
        names: `"irsa"`,
      },
      {
        name: "init: a binding policy file that does not exist",
        args: ["init", "--bucket", "my-oidc", "--binding-policy", `${dir}/absent.yaml`],
        command: "init",
        names: "absent.yaml",
      },
      {
        name: "unbind: ServiceAccount name",
        args: ["unbind", "sa", "Bad_Name"],
        command: "unbind",
        names: `"Bad_Name"`,
      },
      {
        name: "unbind: namespace",
        args: ["unbind", "sa", "app", "-n", "Bad_NS"],
        command: "unbind",
        names: `"Bad_NS"`,
      },
      { name: "list: namespace", args: ["list", "-n", "Bad_NS"], command: "list", names: `"Bad_NS"` },
      { name: "list: --dry-run", args: ["list", "--dry-run"], command: "list", names: `"--dry-run"` },
      {
        name: "doctor: ServiceAccount name",
        args: ["doctor", "sa", "Bad_Name"],
        command: "doctor",
        names: `"Bad_Name"`,
      },
      { name: "init: --bucket", args: ["init", "--bucket", "Bad_Bucket"], command: "init", names: `"Bad_Bucket"` },
      {
        name: "init: --issuer-url over http",
        args: ["init", "--bucket", "ok-bucket", "--issuer-url", "http://example.com/x"],
        command: "init",
        names: `"http://example.com/x"`,
      },
      { name: "install: namespace", args: ["install", "-n", "Bad_NS"], command: "install", names: `"Bad_NS"` },
      {
        name: "install: --webhook-source that is not a CIDR",
        args: ["install", "--network-policy", "--webhook-source", "10.0.0.1/8", "--dry-run", "-o", "yaml"],
        command: "install",
        names: `"10.0.0.1/8": host bits are set`,
      },
    ];
    const runs = await Promise.all(cases.map((c) => runPlugin(c.args, { env })));
    for (const [i, c] of cases.entries()) {
      await t.step(c.name, () => {
        const run = runs[i]!;
        assert.equal(run.code, 2, run.stderr);
        assert.equal(run.stdout, "");
        const lines = run.stderr.split("\n");
        assert.equal(lines.length, 3, `one error line and the help pointer: ${JSON.stringify(run.stderr)}`);
        assert.ok(lines[0]!.startsWith("error: ") && lines[0]!.includes(c.names), run.stderr);
        assert.equal(lines[1], `See 'kubectl irsa ${c.command} --help'`);
        assert.equal(lines[2], "");
        assert.deepStrictEqual(run.calls, [], "no AWS call");
      });
    }
    await t.step("none of them connected to the cluster or to AWS", () => assert.equal(cluster.connections(), 0));
    await t.step("the listener does see a command that is valid (the check above can fail)", async () => {
      const run = await runPlugin(["list"], { env });
      assert.equal(run.code, 1, run.stderr);
      assert.ok(cluster.connections() > 0, "list connected");
    });
  } finally {
    await cluster.close();
    await Deno.remove(dir, { recursive: true });
  }
});
