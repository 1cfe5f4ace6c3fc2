// A minimal HTTP CONNECT proxy on 127.0.0.1 that counts the tunnels it opens, to prove HTTPS_PROXY is honoured.

/** A running proxy. */
export interface ConnectProxy {
  url: string;
  /** host:port of every tunnel opened. */
  tunnels: string[];
  close(): void;
}

/** Starts the proxy. */
export function startConnectProxy(): ConnectProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const tunnels: string[] = [];
  const open = new Set<Deno.Conn>();
  (async () => {
    for await (const client of listener) {
      open.add(client);
      (async () => {
        const buf = new Uint8Array(8192);
        let head = "";
        while (!head.includes("\r\n\r\n")) {
          const n = await client.read(buf);
          if (n === null) return;
          head += new TextDecoder().decode(buf.subarray(0, n));
        }
        const target = head.match(/^CONNECT (\S+) HTTP/)?.[1];
        if (!target) {
          await client.write(new TextEncoder().encode("HTTP/1.1 405 Method Not Allowed\r\n\r\n"));
          client.close();
          return;
        }
        const [hostname, port] = [target.replace(/:\d+$/, ""), Number(target.split(":").pop())];
        const upstream = await Deno.connect({ hostname, port });
        open.add(upstream);
        tunnels.push(target);
        await client.write(new TextEncoder().encode("HTTP/1.1 200 Connection Established\r\n\r\n"));
        await Promise.allSettled([
          client.readable.pipeTo(upstream.writable),
          upstream.readable.pipeTo(client.writable),
        ]);
      })().catch(() => {}).finally(() => open.delete(client));
    }
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    tunnels,
    close() {
      listener.close();
      for (const c of open) {
        try {
          c.close();
        } catch { /* already closed */ }
      }
    },
  };
}
