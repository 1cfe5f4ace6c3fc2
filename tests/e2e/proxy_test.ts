// HTTPS_PROXY and NO_PROXY are honoured for AWS calls: through a CONNECT proxy on loopback, and bypassed when the
// endpoint is in NO_PROXY.
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { runPlugin } from "../support/cli.ts";
import { startConnectProxy } from "../support/connect_proxy.ts";
import { withSandbox } from "../support/sandbox.ts";

Deno.test({
  name: "proxy e2e: AWS calls go through HTTPS_PROXY unless NO_PROXY names the endpoint",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: (t) =>
    withSandbox(async (sandbox) => {
      const proxy = startConnectProxy();
      const motoHost = new URL(sandbox.moto!.endpoint).host;
      try {
        await t.step("through the proxy", async () => {
          const run = await runPlugin(["init", "--bucket", "proxied-oidc", "--dry-run"], {
            env: {
              ...sandbox.env,
              HTTPS_PROXY: proxy.url,
              NO_PROXY: "",
            },
          });
          equal(run.code, 0, run.stderr);
          ok(run.calls.length > 0);
          ok(proxy.tunnels.includes(motoHost), `tunnels: ${proxy.tunnels.join(", ")}`);
        });
        await t.step("bypassed through NO_PROXY", async () => {
          proxy.tunnels.length = 0;
          const run = await runPlugin(["init", "--bucket", "direct-oidc", "--dry-run"], {
            env: { ...sandbox.env, HTTPS_PROXY: proxy.url, NO_PROXY: "127.0.0.1" },
          });
          equal(run.code, 0, run.stderr);
          deepStrictEqual(proxy.tunnels, []);
        });
      } finally {
        proxy.close();
      }
    }),
});
