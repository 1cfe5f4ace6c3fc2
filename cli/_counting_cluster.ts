// For tests that must prove a command stopped before any connection: a TCP listener that only counts who
// connects, and a kubeconfig whose cluster is that listener.

/** The listener, the kubeconfig pointing at it, and how many connections it has seen. */
export interface CountingCluster {
  server: string;
  kubeconfig: string;
  connections(): number;
  close(): Promise<void>;
}

/** Starts the listener and writes `dir/kubeconfig` (context namespace `namespace`, when given). */
export async function startCountingCluster(dir: string, namespace?: string): Promise<CountingCluster> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let connections = 0;
  const accepting = (async () => {
    for await (const conn of listener) {
      connections++;
      conn.close();
    }
  })();
  const server = `https://127.0.0.1:${listener.addr.port}`;
  const kubeconfig = `${dir}/kubeconfig`;
  await Deno.writeTextFile(
    kubeconfig,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "c", cluster: { server, "insecure-skip-tls-verify": true } }],
      users: [{ name: "u", user: { token: "t" } }],
      contexts: [{ name: "c", context: { cluster: "c", user: "u", ...(namespace ? { namespace } : {}) } }],
      "current-context": "c",
    }),
  );
  return {
    server,
    kubeconfig,
    connections: () => connections,
    async close() {
      listener.close();
      await accepting.catch(() => {});
    },
  };
}
