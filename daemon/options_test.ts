import { deepStrictEqual, equal, throws } from "node:assert/strict";
import { parseDaemonOptions } from "./options.ts";

const env = (vars: Record<string, string> = {}) => ({ get: (k: string) => vars[k] });

Deno.test("parseDaemonOptions() applies defaults and flags", async (t) => {
  await t.step("defaults", () => {
    const o = parseDaemonOptions([], env());
    equal(o.namespace, "irsa-manager-system");
    deepStrictEqual(o.metricsAddress, { hostname: "0.0.0.0", port: 8080 });
    deepStrictEqual([o.webhook.hostname, o.webhook.port, o.webhook.enabled], ["0.0.0.0", 9443, true]);
    deepStrictEqual(o.webhook.dnsNames, [
      "kubectl-irsa.irsa-manager-system",
      "kubectl-irsa.irsa-manager-system.svc",
      "kubectl-irsa.irsa-manager-system.svc.cluster.local",
    ]);
    equal(o.webhook.config.defaultTokenExpiration, 86400);
    deepStrictEqual([o.leaseDurationMs, o.renewDeadlineMs, o.retryPeriodMs], [15_000, 10_000, 2_000]);
    equal(o.shutdownDrainMs, 10_000);
    equal(o.driftBudget, 4);
  });
  await t.step("--drift-budget takes calls per second, fractions and 0 included", () => {
    equal(parseDaemonOptions(["--drift-budget=0.5"], env()).driftBudget, 0.5);
    equal(parseDaemonOptions(["--drift-budget=0"], env()).driftBudget, 0);
  });
  await t.step("--shutdown-drain sets the webhook's drain after SIGTERM; 0s skips it", () => {
    equal(parseDaemonOptions(["--shutdown-drain=3s"], env()).shutdownDrainMs, 3_000);
    equal(parseDaemonOptions(["--shutdown-drain=0s"], env()).shutdownDrainMs, 0);
  });
  await t.step("leader election timing scales with --lease-duration unless given", () => {
    const timing = (argv: string[]) => {
      const o = parseDaemonOptions(argv, env());
      return [o.leaseDurationMs, o.renewDeadlineMs, o.retryPeriodMs];
    };
    deepStrictEqual(timing(["--lease-duration=6s"]), [6_000, 4_000, 800]);
    const given = ["--lease-duration=1m", "--renew-deadline=40s", "--retry-period=5s"];
    deepStrictEqual(timing(given), [60_000, 40_000, 5_000]);
  });
  await t.step("POD_NAMESPACE names the namespace", () => {
    equal(parseDaemonOptions([], env({ POD_NAMESPACE: "irsa" })).namespace, "irsa");
  });
  await t.step("AWS_CA_BUNDLE names the CA file, read once at startup; unset or empty means none", () => {
    equal(parseDaemonOptions([], env({ AWS_CA_BUNDLE: "/etc/ca.pem" })).awsCaBundlePath, "/etc/ca.pem");
    equal("awsCaBundlePath" in parseDaemonOptions([], env()), false);
    equal("awsCaBundlePath" in parseDaemonOptions([], env({ AWS_CA_BUNDLE: "" })), false);
  });
  await t.step("webhook flags mirror upstream's", () => {
    const o = parseDaemonOptions([
      "--annotation-prefix=example.com",
      "--token-audience=aud",
      "--token-expiration=3600",
      "--aws-default-region=eu-west-1",
      "--sts-regional-endpoint",
      "--webhook-bind-address=127.0.0.1:1234",
    ], env());
    deepStrictEqual(o.webhook.config, {
      annotationPrefix: "example.com",
      defaultAudience: "aud",
      mountPath: "/var/run/secrets/eks.amazonaws.com/serviceaccount",
      defaultTokenExpiration: 3600,
      defaultRegion: "eu-west-1",
      regionalSts: true,
    });
    deepStrictEqual([o.webhook.hostname, o.webhook.port], ["127.0.0.1", 1234]);
  });
});

Deno.test("parseDaemonOptions() rejects bad input with one line", async (t) => {
  const cases: [string, string[], RegExp][] = [
    ["unknown flag", ["--nope"], /nope/],
    ["bad address", ["--metrics-bind-address=8080"], /HOST:PORT/],
    ["bad expiration", ["--token-expiration=soon"], /positive integer/],
    ["bad log level", ["--log-level=loud"], /log-level/],
    ["positional", ["extra"], /extra/],
    ["bad shutdown drain", ["--shutdown-drain=10"], /--shutdown-drain must be a duration/],
    ["negative drift budget", ["--drift-budget=-1"], /--drift-budget must be a number of calls per second/],
    ["drift budget with a unit", ["--drift-budget=4/s"], /--drift-budget must be a number of calls per second/],
    ["renew deadline not below the lease", ["--lease-duration=10s", "--renew-deadline=10s"], /shorter than the lease/],
    ["retry period too long for the renew deadline", ["--retry-period=9s"], /retry period/],
    ["bad renew deadline", ["--renew-deadline=soon"], /--renew-deadline must be a duration/],
  ];
  for (const [name, argv, message] of cases) {
    await t.step(name, () => throws(() => parseDaemonOptions(argv, env()), message));
  }
});
