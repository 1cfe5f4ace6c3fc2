// The client against real local servers: a TLS server built from lib/pki, a raw HTTP listener that shows the
// header lines as sent, a CONNECT proxy, and a real exec plugin script run by the real process runner.
import { deepStrictEqual, equal, match, ok, rejects } from "node:assert/strict";
import { stringify as toYaml } from "yaml";
import { startConnectProxy } from "../../tests/support/connect_proxy.ts";
import type { IrsaError } from "../errors.ts";
import { type CertifiedKey, createRootCa, issueCertificate } from "../pki.ts";
import { impersonateExtraHeader, KubeClient, retryAfterDelayMs } from "./client.ts";
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

Deno.test("retryAfterDelayMs() follows client-go's checkWait and its ten retries", async (t) => {
  const cases: { name: string; status: number; header: string | null; retries?: number; want: number | undefined }[] = [
    { name: "429 with seconds waits that long", status: 429, header: "3", want: 3000 },
    { name: "503 with seconds waits", status: 503, header: "1", want: 1000 },
    { name: "500 with seconds waits (any 5xx, as client-go)", status: 500, header: "2", want: 2000 },
    { name: "429 without Retry-After is final", status: 429, header: null, want: undefined },
    { name: "503 without Retry-After is final", status: 503, header: null, want: undefined },
    { name: "a 4xx other than 429 is final", status: 409, header: "1", want: undefined },
    { name: "a success is final", status: 200, header: "1", want: undefined },
    { name: "0 resends at once", status: 429, header: "0", want: 0 },
    { name: "a negative value resends at once, as Go sleeps no time", status: 429, header: "-5", want: 0 },
    { name: "a leading + is a number to Go's Atoi", status: 429, header: "+2", want: 2000 },
    {
      name: "an HTTP date is not honoured, as in client-go",
      status: 429,
      header: "Wed, 21 Oct 2015 07:28:00 GMT",
      want: undefined,
    },
    { name: "a fraction is not an integer", status: 429, header: "1.5", want: undefined },
    { name: "the tenth retry is still allowed", status: 429, header: "1", retries: 9, want: 1000 },
    { name: "after ten retries the answer is final", status: 429, header: "1", retries: 10, want: undefined },
    { name: "a huge value is capped below the timer limit", status: 429, header: "99999999", want: 2 ** 31 - 1 },
  ];
  for (const c of cases) {
    await t.step(c.name, () => equal(retryAfterDelayMs(c.status, c.header, c.retries ?? 0), c.want));
  }
});

Deno.test("a 429 with Retry-After is sent again after that delay, body included; without it, it fails", async () => {
  const bodies: string[] = [];
  let calls = 0;
  const server = tlsServer(ipCert, async (req) => {
    bodies.push(await req.text());
    calls++;
    if (new URL(req.url).pathname === "/plain") return Response.json({ message: "slow down" }, { status: 429 });
    if (calls === 1) {
      return Response.json({ message: "slow down" }, { status: 429, headers: { "retry-after": "1" } });
    }
    return Response.json({ created: true }, { status: 201 });
  });
  try {
    await withDir(async (dir) => {
      const kube = await client(
        await writeKubeconfig(dir, { server: server.url, "certificate-authority-data": caData }, { token: "t" }),
        {},
        10_000,
      );
      try {
        const started = performance.now();
        deepStrictEqual(await kube.request("POST", "/api/v1/namespaces", { body: { a: 1 } }), { created: true });
        const waited = performance.now() - started;
        ok(waited >= 950 && waited < 5000, `waited ${waited} ms`);
        deepStrictEqual(bodies, ['{"a":1}', '{"a":1}'], "sent twice, with its body");
        calls = 0;
        await rejects(kube.request("GET", "/plain"), (e: IrsaError) => e.reason === "Http429");
        equal(calls, 1, "no Retry-After, no retry");
      } finally {
        kube.close();
      }
    });
  } finally {
    await server.close();
  }
});

Deno.test("a Retry-After beyond the request timeout fails at once with the server's answer", async () => {
  const server = tlsServer(
    ipCert,
    () => Response.json({ message: "later" }, { status: 429, headers: { "retry-after": "30" } }),
  );
  try {
    await withDir(async (dir) => {
      const kube = await client(
        await writeKubeconfig(dir, { server: server.url, "certificate-authority-data": caData }, { token: "t" }),
        {},
        2000,
      );
      try {
        const started = performance.now();
        await rejects(kube.request("GET", "/api"), (e: IrsaError) => e.reason === "Http429");
        ok(performance.now() - started < 1500, "did not sleep into the deadline");
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
  name: "the request timeout covers a body that stalls after the headers, on both transports",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const { promise: released, resolve: release } = Promise.withResolvers<void>();
    const stalling = () =>
      new Response(
        new ReadableStream({
          async start(controller) {
            controller.enqueue(new TextEncoder().encode('{"items": ['));
            await released;
            controller.close();
          },
        }),
        { headers: { "content-type": "application/json" } },
      );
    const servers = [tlsServer(ipCert, stalling), tlsServer(nameCert, stalling)];
    try {
      await withDir(async (dir) => {
        const cases = [
          { kind: "fetch", cluster: { server: servers[0]!.url, "certificate-authority-data": caData } },
          {
            kind: "node",
            cluster: {
              server: servers[1]!.url,
              "certificate-authority-data": caData,
              "tls-server-name": "kubernetes.internal",
            },
          },
        ];
        for (const c of cases) {
          await t.step(c.kind, async () => {
            const kube = await client(await writeKubeconfig(dir, c.cluster, { token: "t" }), {}, 1500);
            try {
              equal(await kube.transportKind(), c.kind);
              const started = Date.now();
              await rejects(kube.request("GET", "/api/v1/pods"), (e: IrsaError) => e.reason === "RequestTimeout");
              ok(Date.now() - started < 10_000, "gave up on its own");
            } finally {
              kube.close();
            }
          });
        }
      });
    } finally {
      release();
      await Promise.all(servers.map((s) => s.close()));
    }
  },
});

Deno.test({
  name: "a watch outlives the request timeout, which bounds only the wait for its response head",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const { promise: released, resolve: release } = Promise.withResolvers<void>();
    const server = tlsServer(ipCert, async (req) => {
      if (new URL(req.url).pathname.endsWith("/silent")) {
        await released;
        return new Response("");
      }
      return new Response(
        new ReadableStream({
          async start(controller) {
            await new Promise((r) => setTimeout(r, 1500));
            controller.enqueue(new TextEncoder().encode('{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n'));
            controller.close();
          },
        }),
        { headers: { "content-type": "application/json" } },
      );
    });
    try {
      await withDir(async (dir) => {
        const kube = await client(
          await writeKubeconfig(dir, { server: server.url, "certificate-authority-data": caData }, { token: "t" }),
          {},
          1000,
        );
        try {
          const events = [];
          for await (const e of kube.watch({ resource: "things" })) events.push(e);
          deepStrictEqual(events, [{ type: "ADDED", object: { metadata: { name: "a" } } }]);
          const url = server.seen.at(-1)!.url;
          equal(url.searchParams.get("timeout"), null, "the stream is bounded by timeoutSeconds instead");
          equal(url.searchParams.get("allowWatchBookmarks"), "true");
          await rejects(
            (async () => {
              for await (const _ of kube.watch({ resource: "silent" })) { /* never */ }
            })(),
            (e: IrsaError) => e.reason === "RequestTimeout",
          );
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
