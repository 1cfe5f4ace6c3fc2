import { deepStrictEqual, equal, match, rejects } from "node:assert/strict";
import { type ExecConfig, ExecCredentialSource, type ExecRunner } from "./exec_credential.ts";

const v1 = "client.authentication.k8s.io/v1";

function config(overrides: Partial<ExecConfig> = {}): ExecConfig {
  return {
    user: "me",
    command: "get-token",
    args: ["--a"],
    env: [],
    apiVersion: v1,
    interactiveMode: "Never",
    ...overrides,
  };
}

interface Call {
  command: string;
  args: string[];
  env: Record<string, string>;
  interactive: boolean;
}

/** A runner that answers with `outputs` in turn and records each call; `clock` is the time the source sees. */
function runner(outputs: (string | { code: number } | Error)[], o: { tty?: boolean; delayMs?: number } = {}) {
  const calls: Call[] = [];
  const clock = { now: Date.parse("2030-01-01T00:00:00Z") };
  let i = 0;
  const r: ExecRunner = {
    async run(req) {
      calls.push(req);
      const out = outputs[Math.min(i++, outputs.length - 1)]!;
      if (o.delayMs) await new Promise((res) => setTimeout(res, o.delayMs));
      if (out instanceof Error) throw out;
      if (typeof out === "object") return { code: out.code, stdout: "" };
      return { code: 0, stdout: out };
    },
    stdinIsTerminal: () => o.tty ?? false,
    now: () => clock.now,
  };
  return { r, calls, clock };
}

const cred = (status: Record<string, unknown>, apiVersion = v1) =>
  JSON.stringify({ apiVersion, kind: "ExecCredential", status });

Deno.test("ExecCredentialSource passes KUBERNETES_EXEC_INFO, the env entries and stdin as client-go does", async (t) => {
  const cluster = { server: "https://k:6443", "certificate-authority-data": "Y2E=" };
  const cases: {
    name: string;
    config: Partial<ExecConfig>;
    tty: boolean;
    interactive: boolean;
    info: unknown;
  }[] = [
    {
      name: "Never: not interactive even on a terminal",
      config: { interactiveMode: "Never" },
      tty: true,
      interactive: false,
      info: { kind: "ExecCredential", apiVersion: v1, spec: { interactive: false } },
    },
    {
      name: "IfAvailable on a terminal: interactive, stdin passed",
      config: { interactiveMode: "IfAvailable" },
      tty: true,
      interactive: true,
      info: { kind: "ExecCredential", apiVersion: v1, spec: { interactive: true } },
    },
    {
      name: "IfAvailable without a terminal: not interactive",
      config: { interactiveMode: "IfAvailable", apiVersion: "client.authentication.k8s.io/v1beta1" },
      tty: false,
      interactive: false,
      info: {
        kind: "ExecCredential",
        apiVersion: "client.authentication.k8s.io/v1beta1",
        spec: { interactive: false },
      },
    },
    {
      name: "provideClusterInfo: the cluster goes in spec.cluster",
      config: { cluster },
      tty: false,
      interactive: false,
      info: { kind: "ExecCredential", apiVersion: v1, spec: { cluster, interactive: false } },
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const outputs = [
        cred({ token: "t" }, c.config.apiVersion ?? v1),
      ];
      const { r, calls } = runner(outputs, { tty: c.tty });
      const source = new ExecCredentialSource(config({ ...c.config, env: [{ name: "REGION", value: "eu" }] }), r);
      deepStrictEqual(await source.get(), { token: "t" });
      equal(calls.length, 1);
      equal(calls[0]!.command, "get-token");
      deepStrictEqual(calls[0]!.args, ["--a"]);
      equal(calls[0]!.interactive, c.interactive);
      equal(calls[0]!.env.REGION, "eu");
      deepStrictEqual(JSON.parse(calls[0]!.env.KUBERNETES_EXEC_INFO!), c.info);
    });
  }
});

Deno.test("ExecCredentialSource refuses what client-go refuses, naming the user", async (t) => {
  const cases: {
    name: string;
    config?: Partial<ExecConfig>;
    out: string | { code: number } | Error;
    error: string | RegExp;
  }[] = [
    {
      name: "Always without a terminal",
      config: { interactiveMode: "Always" },
      out: cred({ token: "t" }),
      error: "exec plugin cannot support interactive mode: standard input is not a terminal",
    },
    {
      name: "another apiVersion in the answer",
      out: cred({ token: "t" }, "client.authentication.k8s.io/v1beta1"),
      error:
        "exec plugin is configured to use API version client.authentication.k8s.io/v1, plugin returned version client.authentication.k8s.io/v1beta1",
    },
    { name: "no status", out: JSON.stringify({ apiVersion: v1 }), error: "exec plugin didn't return a status field" },
    { name: "an empty status", out: cred({}), error: "exec plugin didn't return a token or cert/key pair" },
    {
      name: "a certificate without its key",
      out: cred({ clientCertificateData: "-----BEGIN CERTIFICATE-----" }),
      error: "exec plugin returned only certificate or key, not both",
    },
    {
      name: "a bad expirationTimestamp",
      out: cred({ token: "t", expirationTimestamp: "tomorrow" }),
      error: `exec plugin returned an invalid expirationTimestamp "tomorrow"`,
    },
    { name: "not JSON", out: "hello", error: /^exec plugin "get-token" printed no ExecCredential JSON: / },
    { name: "a failing plugin", out: { code: 3 }, error: "exec: executable get-token failed with exit code 3" },
    {
      name: "a missing plugin, with its installHint on one line",
      config: { installHint: "Install get-token:\n  brew install get-token\n" },
      out: new Deno.errors.NotFound("no such file"),
      error: "exec: executable get-token not found; Install get-token: brew install get-token",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const { r } = runner([c.out]);
      const source = new ExecCredentialSource(config(c.config), r);
      await rejects(source.get(), (e: Error) => {
        const prefix = `getting credentials for kubeconfig user "me": `;
        equal(e.message.slice(0, prefix.length), prefix);
        if (typeof c.error === "string") equal(e.message.slice(prefix.length), c.error);
        else match(e.message.slice(prefix.length), c.error);
        return true;
      });
    });
  }
});

Deno.test("ExecCredentialSource returns the certificate pair for mTLS", async () => {
  const { r } = runner([cred({ clientCertificateData: "CERT", clientKeyData: "KEY" })]);
  deepStrictEqual(await new ExecCredentialSource(config(), r).get(), { clientCertPem: "CERT", clientKeyPem: "KEY" });
});

Deno.test("ExecCredentialSource caches until expirationTimestamp, then runs the plugin again", async () => {
  const { r, calls, clock } = runner([
    cred({ token: "one", expirationTimestamp: "2030-01-01T00:10:00Z" }),
    cred({ token: "two" }),
  ]);
  const source = new ExecCredentialSource(config(), r);
  equal((await source.get()).token, "one");
  clock.now = Date.parse("2030-01-01T00:10:00Z");
  equal((await source.get()).token, "one", "still valid at the timestamp itself (client-go: expired after it)");
  equal(calls.length, 1);
  clock.now += 1;
  equal((await source.get()).token, "two");
  equal(calls.length, 2);
  clock.now += 86_400_000 * 365;
  equal((await source.get()).token, "two", "no timestamp: valid until a 401");
  equal(calls.length, 2);
});

Deno.test("ExecCredentialSource runs one plugin for concurrent requests", async () => {
  const { r, calls } = runner([cred({ token: "one" })], { delayMs: 30 });
  const source = new ExecCredentialSource(config(), r);
  const got = await Promise.all(Array.from({ length: 8 }, () => source.get()));
  equal(calls.length, 1);
  equal(new Set(got.map((g) => g.token)).size, 1);
});

Deno.test("ExecCredentialSource re-runs once after 401s, unless the credentials were already replaced", async () => {
  const { r, calls } = runner([cred({ token: "one" }), cred({ token: "two" }), cred({ token: "three" })], {
    delayMs: 20,
  });
  const source = new ExecCredentialSource(config(), r);
  const first = await source.get();
  // Three requests sent with "one" all get 401 at once: one re-run serves them all.
  const after = await Promise.all([1, 2, 3].map(() => source.refreshAfterUnauthorized(first)));
  equal(calls.length, 2);
  deepStrictEqual(after.map((c) => c.token), ["two", "two", "two"]);
  // A late 401 for the old credentials does not run the plugin again.
  equal((await source.refreshAfterUnauthorized(first)).token, "two");
  equal(calls.length, 2);
  equal((await source.refreshAfterUnauthorized(after[0]!)).token, "three");
  equal(calls.length, 3);
});
