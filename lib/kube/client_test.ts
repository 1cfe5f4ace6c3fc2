// The client against real local servers: a TLS server built from lib/pki, a raw HTTP listener that shows the
// header lines as sent, a CONNECT proxy, and a real exec plugin script run by the real process runner.
import { deepStrictEqual, equal, match, ok, rejects } from "node:assert/strict";
import { stringify as toYaml } from "yaml";
import { startConnectProxy } from "../../tests/support/connect_proxy.ts";
import type { IrsaError } from "../errors.ts";
import { type CertifiedKey, createRootCa, issueCertificate } from "../pki.ts";
import { impersonateExtraHeader, KubeClient } from "./client.ts";
import { type KubeconfigOptions, loadKubeConnection, processKubeconfigSources } from "./kubeconfig.ts";

const ca = await createRootCa("kubeconfig-test-ca");
const ipCert = await issueCertificate(ca, "127.0.0.1", { usage: { kind: "server", ipAddresses: ["127.0.0.1"] } });
const nameCert = await issueCertificate(ca, "kubernetes.internal", {
  usage: { kind: "server", dnsNames: ["kubernetes.internal"] },
});
const strangerCa = await createRootCa("nobody-trusts-this");
const strangerCert = await issueCertificate(strangerCa, "127.0.0.1", {
  usage: { kind: "server", ipAddresses: ["127.0.0.1"] },
});

interface Seen {
  url: URL;
  headers: Headers;
}

function tlsServer(cert: CertifiedKey, handler: (req: Request, seen: Seen[]) => Response | Promise<Response>) {
  const seen: Seen[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert: cert.certPem, key: cert.keyPem, onListen() {} },
    (req) => {
      seen.push({ url: new URL(req.url), headers: new Headers(req.headers) });
      return handler(req, seen);
    },
  );
  return { url: `https://127.0.0.1:${server.addr.port}`, port: server.addr.port, seen, close: () => server.shutdown() };
}

async function withDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "kubeconfig-test-" });
  try {
    return await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function writeKubeconfig(
  dir: string,
  cluster: Record<string, unknown>,
  user: Record<string, unknown>,
): Promise<string> {
  const path = `${dir}/kubeconfig`;
  await Deno.writeTextFile(
    path,
    toYaml({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "k", cluster }],
      users: [{ name: "u", user }],
      contexts: [{ name: "c", context: { cluster: "k", user: "u" } }],
      "current-context": "c",
    }),
  );
  return path;
}

async function client(path: string, options: KubeconfigOptions = {}, requestTimeoutMs?: number) {
  const conn = await loadKubeConnection(processKubeconfigSources, { kubeconfig: path, ...options });
  return new KubeClient(conn, requestTimeoutMs ? { requestTimeoutMs } : {});
}

const caData = btoa(ca.certPem);

// The plugin logs each run's start and end (so overlapping runs would show), KUBERNETES_EXEC_INFO and an env
// entry, and answers tok-<run number>.
const plugin = `#!/bin/sh
dir=$(dirname "$0")
echo start >> "$dir/runs"
n=$(grep -c start "$dir/runs")
printf '%s' "$KUBERNETES_EXEC_INFO" > "$dir/info.$n"
printf '%s' "$PLUGIN_REGION" > "$dir/env.$n"
sleep 0.2
echo end >> "$dir/runs"
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"tok-%s"}}' "$n"
`;

Deno.test("an exec plugin runs as client-go runs it: resolved path, exec info, one run at a time, re-run on 401", async () => {
  const server = tlsServer(ipCert, (req) => {
    const ok = req.headers.get("authorization") === "Bearer tok-2";
    return Response.json(ok ? { kind: "Status" } : { message: "Unauthorized" }, { status: ok ? 200 : 401 });
  });
  try {
    await withDir(async (dir) => {
      await Deno.mkdir(`${dir}/bin`);
      await Deno.writeTextFile(`${dir}/bin/plugin.sh`, plugin, { mode: 0o755 });
      const path = await writeKubeconfig(dir, { server: server.url, "certificate-authority-data": caData }, {
        exec: {
          apiVersion: "client.authentication.k8s.io/v1",
          command: "./bin/plugin.sh", // relative to the kubeconfig's directory, not to the test's cwd
          env: [{ name: "PLUGIN_REGION", value: "eu-west-1" }],
          interactiveMode: "Never",
          provideClusterInfo: true,
        },
      });
      const kube = await client(path);
      try {
        // Five concurrent requests: one run gives tok-1, all five get 401, one re-run gives tok-2 for all.
        const statuses = await Promise.all(
          [1, 2, 3, 4, 5].map(async () => (await kube.raw("GET", "/api/v1/namespaces")).status),
        );
        deepStrictEqual(statuses, [200, 200, 200, 200, 200]);
        equal(await Deno.readTextFile(`${dir}/bin/runs`), "start\nend\nstart\nend\n", "two runs, never at once");
        equal(await Deno.readTextFile(`${dir}/bin/env.1`), "eu-west-1");
        deepStrictEqual(JSON.parse(await Deno.readTextFile(`${dir}/bin/info.1`)), {
          kind: "ExecCredential",
          apiVersion: "client.authentication.k8s.io/v1",
          spec: { cluster: { server: server.url, "certificate-authority-data": caData }, interactive: false },
        });
        const tokens = server.seen.map((s) => s.headers.get("authorization"));
        equal(tokens.filter((t) => t === "Bearer tok-1").length, 5);
        equal(tokens.filter((t) => t === "Bearer tok-2").length, 5);
        // Cached: the next request runs nothing.
        equal((await kube.raw("GET", "/version")).status, 200);
        equal(kube.connection.exec?.runs, 2);
      } finally {
        kube.close();
      }
    });
  } finally {
    await server.close();
  }
});

Deno.test("a 401 with a static token is returned as is, not retried", async () => {
  const server = tlsServer(ipCert, () => Response.json({ message: "Unauthorized" }, { status: 401 }));
  try {
    await withDir(async (dir) => {
      const kube = await client(
        await writeKubeconfig(dir, { server: server.url, "certificate-authority-data": caData }, { token: "t" }),
      );
      try {
        await rejects(kube.request("GET", "/api"), (e: IrsaError) => e.kind === "denied");
        equal(server.seen.length, 1);
      } finally {
        kube.close();
      }
    });
  } finally {
    await server.close();
  }
});

Deno.test({
  name: "insecure-skip-tls-verify is honoured, and without it an unknown CA is refused",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const server = tlsServer(strangerCert, () => Response.json({ ok: true }));
    try {
      await withDir(async (dir) => {
        const strict = await client(
          await writeKubeconfig(dir, { server: server.url, "certificate-authority-data": caData }, { token: "t" }),
        );
        try {
          await rejects(strict.request("GET", "/version"), (e: IrsaError) => e.reason === "ApiServerUnreachable");
        } finally {
          strict.close();
        }
        const insecure = await client(
          await writeKubeconfig(dir, { server: server.url, "insecure-skip-tls-verify": true }, { token: "t" }),
        );
        try {
          deepStrictEqual(await insecure.request("GET", "/version"), { ok: true });
          equal(await insecure.transportKind(), "node");
          equal(server.seen.at(-1)?.headers.get("authorization"), "Bearer t");
        } finally {
          insecure.close();
        }
      });
    } finally {
      await server.close();
    }
  },
});

Deno.test({
  name: "tls-server-name verifies the certificate against that name while dialling the server's address",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const server = tlsServer(nameCert, () => Response.json({ ok: true }));
    const proxy = startConnectProxy();
    try {
      await withDir(async (dir) => {
        const cluster = { server: server.url, "certificate-authority-data": caData };
        const plain = await client(await writeKubeconfig(dir, cluster, { token: "t" }));
        try {
          await rejects(plain.request("GET", "/version"), (e: IrsaError) => e.reason === "ApiServerUnreachable");
        } finally {
          plain.close();
        }
        for (const extra of [{}, { "proxy-url": proxy.url }]) {
          const named = await client(
            await writeKubeconfig(dir, { ...cluster, "tls-server-name": "kubernetes.internal", ...extra }, {
              token: "t",
            }),
          );
          try {
            deepStrictEqual(await named.request("GET", "/version"), { ok: true });
            equal(await named.transportKind(), "node");
          } finally {
            named.close();
          }
        }
        deepStrictEqual(proxy.tunnels, [`127.0.0.1:${server.port}`], "the proxied run went through the proxy");
        const wrong = await client(
          await writeKubeconfig(dir, { ...cluster, "tls-server-name": "other.internal" }, { token: "t" }),
        );
        try {
          await rejects(wrong.request("GET", "/version"), (e: IrsaError) => e.reason === "ApiServerUnreachable");
        } finally {
          wrong.close();
        }
      });
    } finally {
      proxy.close();
      await server.close();
    }
  },
});

Deno.test("proxy-url sends the requests through the proxy", async () => {
  const server = tlsServer(ipCert, () => Response.json({ ok: true }));
  const proxy = startConnectProxy();
  try {
    await withDir(async (dir) => {
      const kube = await client(
        await writeKubeconfig(dir, {
          server: server.url,
          "certificate-authority-data": caData,
          "proxy-url": proxy.url,
        }, { token: "t" }),
      );
      try {
        deepStrictEqual(await kube.request("GET", "/version"), { ok: true });
        equal(await kube.transportKind(), "fetch");
        deepStrictEqual(proxy.tunnels, [`127.0.0.1:${server.port}`]);
      } finally {
        kube.close();
      }
    });
  } finally {
    proxy.close();
    await server.close();
  }
});

/** A plain HTTP listener that keeps each request's head as sent, to see repeated header lines. */
function rawHttpServer() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const heads: string[] = [];
  const done = (async () => {
    for await (const conn of listener) {
      let head = "";
      const buf = new Uint8Array(16384);
      while (!head.includes("\r\n\r\n")) {
        const n = await conn.read(buf);
        if (n === null) break;
        head += new TextDecoder().decode(buf.subarray(0, n));
      }
      heads.push(head);
      await conn.write(
        new TextEncoder().encode(
          "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
        ),
      );
      conn.close();
    }
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    heads,
    async close() {
      listener.close();
      await done;
    },
  };
}

Deno.test({
  name: "impersonation goes out as client-go sends it: one header line per group and per extra value",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const server = rawHttpServer();
    try {
      await withDir(async (dir) => {
        const path = await writeKubeconfig(dir, { server: server.url }, {
          token: "t",
          as: "jane",
          "as-uid": "42",
          "as-user-extra": { "acme.com/project": ["p1"] },
        });
        const lines = (head: string, name: string) =>
          head.split("\r\n").filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`)).map((l) =>
            l.slice(name.length + 1).trim()
          );
        const cases = [
          { groups: ["dev"], kind: "fetch", want: ["dev"] },
          { groups: ["dev", "ops"], kind: "node", want: ["dev", "ops"] },
        ];
        for (const c of cases) {
          const kube = await client(path, { impersonate: { user: "bob", groups: c.groups } });
          try {
            await kube.request("GET", "/api");
            equal(await kube.transportKind(), c.kind);
          } finally {
            kube.close();
          }
          const head = server.heads.at(-1)!;
          deepStrictEqual(lines(head, "Impersonate-User"), ["bob"]);
          deepStrictEqual(lines(head, "Impersonate-Uid"), ["42"]);
          deepStrictEqual(lines(head, "Impersonate-Group"), c.want);
          deepStrictEqual(lines(head, "Impersonate-Extra-acme.com%2Fproject"), ["p1"]);
        }
      });
    } finally {
      await server.close();
    }
  },
});

Deno.test("impersonateExtraHeader() percent-encodes what a header name cannot hold, like client-go", () => {
  equal(impersonateExtraHeader("scopes"), "Impersonate-Extra-scopes");
  equal(impersonateExtraHeader("acme.com/project"), "Impersonate-Extra-acme.com%2Fproject");
  equal(impersonateExtraHeader("100%"), "Impersonate-Extra-100%25");
  equal(impersonateExtraHeader("é"), "Impersonate-Extra-%C3%A9");
});

Deno.test({
  name: "--request-timeout bounds each request and tells the server (the timeout query parameter)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    // The server answers only when the test is over, so the client's timeout is the only way out.
    const { promise: released, resolve: release } = Promise.withResolvers<void>();
    const server = tlsServer(nameCert, async () => {
      await released;
      return Response.json({ late: true });
    });
    try {
      await withDir(async (dir) => {
        // tls-server-name puts this client on the node:https transport; the next test covers fetch.
        const kube = await client(
          await writeKubeconfig(dir, {
            server: server.url,
            "certificate-authority-data": caData,
            "tls-server-name": "kubernetes.internal",
          }, { token: "t" }),
          {},
          1500,
        );
        try {
          const started = Date.now();
          await rejects(kube.request("GET", "/api/v1/pods"), (e: IrsaError) => {
            equal(e.reason, "RequestTimeout");
            match(e.message, /^GET \/api\/v1\/pods: no complete answer from the Kubernetes API at .* within 1\.5s/);
            return true;
          });
          ok(Date.now() - started < 10_000, "gave up on its own");
          equal(server.seen.at(-1)?.url.searchParams.get("timeout"), "1.5s");
        } finally {
          kube.close();
        }
      });
    } finally {
      release();
      await server.close();
    }
  },
});

Deno.test("--request-timeout on the fetch transport; disable-compression asks for identity", async () => {
  const { promise: released, resolve: release } = Promise.withResolvers<void>();
  const server = tlsServer(ipCert, async (req) => {
    if (new URL(req.url).pathname === "/slow") await released;
    return Response.json({ encoding: req.headers.get("accept-encoding") });
  });
  try {
    await withDir(async (dir) => {
      const kube = await client(
        await writeKubeconfig(dir, {
          server: server.url,
          "certificate-authority-data": caData,
          "disable-compression": true,
        }, { token: "t" }),
        {},
        2000,
      );
      try {
        deepStrictEqual(await kube.request("GET", "/fast"), { encoding: "identity" });
        equal(server.seen.at(-1)?.url.searchParams.get("timeout"), "2s");
        await rejects(kube.request("GET", "/slow"), (e: IrsaError) => e.reason === "RequestTimeout");
      } finally {
        kube.close();
      }
    });
  } finally {
    release();
    await server.close();
  }
});
