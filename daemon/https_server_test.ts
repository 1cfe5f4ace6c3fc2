// The HTTPS server on loopback, driven byte by byte over real TLS connections.
import { equal, ok, rejects } from "node:assert/strict";
import { createRootCa, issueCertificate } from "../lib/pki.ts";
import { FakeClock } from "./clock.ts";
import {
  type HttpRequest,
  type HttpsServer,
  type RefusedRequest,
  type ServerLimits,
  startHttpsServer,
} from "./https_server.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function serverCertificate() {
  const ca = await createRootCa("https-server-test");
  const leaf = await issueCertificate(ca, "localhost", { usage: { kind: "server", ipAddresses: ["127.0.0.1"] } });
  return { caPem: ca.certPem, certPem: leaf.certPem, keyPem: leaf.keyPem };
}

interface Answer {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** Reads HTTP/1.1 responses off one connection. */
class Client {
  readonly conn: Deno.TlsConn;
  #pending = new Uint8Array(0);

  constructor(conn: Deno.TlsConn) {
    this.conn = conn;
  }

  static async open(port: number, caPem: string): Promise<Client> {
    const client = new Client(await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [caPem] }));
    await client.conn.handshake();
    return client;
  }

  async send(text: string): Promise<void> {
    const bytes = encoder.encode(text);
    let offset = 0;
    while (offset < bytes.length) offset += await this.conn.write(bytes.subarray(offset));
  }

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(16 * 1024);
    const n = await this.conn.read(chunk);
    if (n === null) return false;
    const next = new Uint8Array(this.#pending.length + n);
    next.set(this.#pending);
    next.set(chunk.subarray(0, n), this.#pending.length);
    this.#pending = next;
    return true;
  }

  async answer(): Promise<Answer> {
    for (;;) {
      const text = decoder.decode(this.#pending);
      const end = text.indexOf("\r\n\r\n");
      if (end !== -1) {
        const [statusLine, ...fields] = text.slice(0, end).split("\r\n");
        const headers = new Map(
          fields.map((f) => [f.slice(0, f.indexOf(":")).toLowerCase(), f.slice(f.indexOf(":") + 1).trim()]),
        );
        const length = Number(headers.get("content-length") ?? 0);
        const headBytes = encoder.encode(text.slice(0, end + 4)).length;
        if (this.#pending.length >= headBytes + length) {
          const body = decoder.decode(this.#pending.subarray(headBytes, headBytes + length));
          this.#pending = this.#pending.slice(headBytes + length);
          return { status: Number(statusLine!.split(" ")[1]), headers, body };
        }
      }
      if (!await this.#fill()) throw new Error(`connection closed; unread: ${JSON.stringify(text)}`);
    }
  }

  /** True when the server closed the connection with nothing more to read. */
  async closedByServer(): Promise<boolean> {
    try {
      return this.#pending.length === 0 && !await this.#fill();
    } catch {
      return true;
    }
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }
}

const post = (path: string, body: string, extra = "") =>
  `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${extra}Content-Length: ${
    encoder.encode(body).length
  }\r\n\r\n${body}`;

const until = async (what: string, test: () => boolean) => {
  for (let i = 0; i < 200 && !test(); i++) await new Promise((r) => setTimeout(r, 10));
  ok(test(), what);
};

/** A server whose handler echoes what it saw, optionally after a delay taken from the body. */
async function echoServer(limits: Partial<ServerLimits> = {}, clock?: FakeClock) {
  const certs = await serverCertificate();
  const seen: HttpRequest[] = [];
  const refused: RefusedRequest[] = [];
  const server: HttpsServer = await startHttpsServer({
    hostname: "127.0.0.1",
    port: 0,
    certPem: certs.certPem,
    keyPem: certs.keyPem,
    limits: { maxBodyBytes: 64 * 1024, ...limits },
    ...(clock ? { clock } : {}),
    handler: async (req) => {
      seen.push(req);
      const text = decoder.decode(req.body);
      if (text === "throw") throw new Error("handler failed");
      const delay = Number(/^sleep (\d+)\b/.exec(text)?.[1] ?? 0);
      if (delay) await new Promise((r) => setTimeout(r, delay));
      return { status: 200, headers: { "content-type": "text/plain" }, body: `${req.method} ${req.target} ${text}` };
    },
    onRefused: (r) => refused.push(r),
  });
  return { server, seen, refused, ...certs };
}

Deno.test("https server: keep-alive, pipelining in order, bodies in pieces, Connection: close", async (t) => {
  const { server, seen, caPem } = await echoServer();
  try {
    await t.step("two requests on one connection", async () => {
      const client = await Client.open(server.port, caPem);
      try {
        await client.send(post("/a", "one"));
        equal((await client.answer()).body, "POST /a one");
        await client.send(post("/b?x=1", "two"));
        const second = await client.answer();
        equal(second.body, "POST /b?x=1 two");
        equal(second.headers.get("content-type"), "text/plain");
        equal(second.headers.get("connection"), "keep-alive");
      } finally {
        client.close();
      }
    });
    await t.step("pipelined requests are answered in order even when the first is slower", async () => {
      const client = await Client.open(server.port, caPem);
      try {
        await client.send(post("/slow", "sleep 150") + post("/fast", "now"));
        equal((await client.answer()).body, "POST /slow sleep 150");
        equal((await client.answer()).body, "POST /fast now");
      } finally {
        client.close();
      }
    });
    await t.step("a request arriving a byte at a time is answered once, when whole", async () => {
      const client = await Client.open(server.port, caPem);
      const before = seen.length;
      try {
        for (const ch of post("/drip", '{"a":"é"}')) await client.send(ch);
        equal((await client.answer()).body, 'POST /drip {"a":"é"}');
        equal(seen.length, before + 1);
      } finally {
        client.close();
      }
    });
    await t.step("a chunked body within the limit is read whole", async () => {
      const client = await Client.open(server.port, caPem);
      try {
        await client.send(
          "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        );
        equal((await client.answer()).body, "POST /c abcde");
      } finally {
        client.close();
      }
    });
    await t.step("Connection: close is honoured", async () => {
      const client = await Client.open(server.port, caPem);
      try {
        await client.send(post("/bye", "x", "Connection: close\r\n"));
        const answer = await client.answer();
        equal(answer.headers.get("connection"), "close");
        ok(await client.closedByServer());
      } finally {
        client.close();
      }
    });
    await t.step("a handler error is a 500 and the connection stays usable", async () => {
      const client = await Client.open(server.port, caPem);
      try {
        await client.send(post("/", "throw"));
        equal((await client.answer()).status, 500);
        await client.send(post("/", "again"));
        equal((await client.answer()).body, "POST / again");
      } finally {
        client.close();
      }
    });
  } finally {
    await server.close();
  }
});

Deno.test("https server: requests over a limit get one answer with a reason, then the connection closes", async (t) => {
  const { server, seen, refused, caPem } = await echoServer({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
  try {
    const cases: { name: string; send: string; status: number }[] = [
      { name: "not HTTP", send: "hello there\r\n\r\n", status: 400 },
      {
        name: "declared body over the limit, refused before it is sent",
        send: post("/", "").replace("Content-Length: 0", "Content-Length: 70000"),
        status: 413,
      },
      {
        name: "chunked body growing over the limit",
        send: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
          `8000\r\n${"x".repeat(0x8000)}\r\n`.repeat(3),
        status: 413,
      },
      {
        name: "headers over 16 KiB",
        send: `GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ${"p".repeat(17 * 1024)}\r\n\r\n`,
        status: 431,
      },
      { name: "headers never finish (slow loris)", send: "POST / HTTP/1.1\r\nHost: a\r\n", status: 408 },
      {
        name: "body never finishes (slow body)",
        send: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc",
        status: 408,
      },
    ];
    for (const c of cases) {
      await t.step(c.name, async () => {
        const before = seen.length;
        const client = await Client.open(server.port, caPem);
        try {
          await client.send(c.send);
          const answer = await client.answer();
          equal(answer.status, c.status);
          equal(answer.headers.get("connection"), "close");
          ok((JSON.parse(answer.body) as { error: string }).error.length > 0);
          ok(await client.closedByServer());
          equal(seen.length, before, "the handler never saw it");
          equal(refused.at(-1)?.status, c.status);
        } finally {
          client.close();
        }
      });
    }
    await t.step("a connection that never sends a request is closed after the headers timeout", async () => {
      const client = await Client.open(server.port, caPem);
      try {
        equal((await client.answer()).status, 408);
        ok(await client.closedByServer());
      } finally {
        client.close();
      }
    });
    await t.step("bytes of refused and abandoned bodies are given back", async () => {
      await until("no body bytes held", () => server.bufferedBodyBytes === 0);
    });
  } finally {
    await server.close();
  }
});

Deno.test("https server: bodies in memory at once are bounded; the slowest makes room for the apiserver", async (t) => {
  const limits = { maxBodyBytes: 64 * 1024, maxBufferedBodyBytes: 96 * 1024 };
  await t.step("a body arriving slowly is refused (408) so that a whole one fits", async () => {
    const { server, refused, caPem } = await echoServer(limits);
    const slow = await Client.open(server.port, caPem);
    const fast = await Client.open(server.port, caPem);
    try {
      // 60 KiB held by a client that stops before the end.
      await slow.send(`POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65536\r\n\r\n${"s".repeat(60 * 1024)}`);
      await until("the slow body is held", () => server.bufferedBodyBytes === 60 * 1024);
      await fast.send(post("/", "f".repeat(60 * 1024)));
      equal((await fast.answer()).status, 200);
      const answer = await slow.answer();
      equal(answer.status, 408);
      equal(refused.at(-1)?.status, 408);
      ok(await slow.closedByServer());
      await until("every body is given back", () => server.bufferedBodyBytes === 0);
    } finally {
      slow.close();
      fast.close();
      await server.close();
    }
  });
  await t.step("a body that cannot fit beside those being answered gets 503", async () => {
    const { server, refused, caPem } = await echoServer(limits);
    const busy = await Client.open(server.port, caPem);
    const late = await Client.open(server.port, caPem);
    try {
      // A whole 60 KiB body, held while the handler takes its time.
      await busy.send(post("/", `sleep 300 ${"b".repeat(60 * 1024)}`));
      await until("the busy body is held", () => server.bufferedBodyBytes >= 60 * 1024);
      await late.send(post("/", "l".repeat(60 * 1024)));
      equal((await late.answer()).status, 503);
      equal(refused.at(-1)?.status, 503);
      equal((await busy.answer()).status, 200);
      await until("every body is given back", () => server.bufferedBodyBytes === 0);
    } finally {
      busy.close();
      late.close();
      await server.close();
    }
  });
});

Deno.test("https server: at the connection limit the longest idle connection makes room, busy ones never", async () => {
  const { server, refused, caPem } = await echoServer({ maxConnections: 3 });
  const clients: Client[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const c = await Client.open(server.port, caPem);
      await c.send(post(`/${i}`, "x"));
      equal((await c.answer()).status, 200);
      clients.push(c);
    }
    // The first is used again, so the second is now the one idle the longest.
    await clients[0]!.send(post("/0", "again"));
    equal((await clients[0]!.answer()).status, 200);
    const fresh = await Client.open(server.port, caPem);
    clients.push(fresh);
    await fresh.send(post("/new", "y"));
    equal((await fresh.answer()).body, "POST /new y");
    ok(await clients[1]!.closedByServer(), "the connection idle the longest was closed");
    await clients[0]!.send(post("/0", "still"));
    equal((await clients[0]!.answer()).body, "POST /0 still");
    equal(server.connections, 3);

    // All three busy: a fourth is refused and the busy ones finish.
    for (const c of [clients[0]!, clients[2]!, fresh]) await c.send(post("/busy", "sleep 300"));
    await new Promise((r) => setTimeout(r, 50));
    await rejects(async () => {
      const extra = await Client.open(server.port, caPem);
      try {
        await extra.send(post("/", "z"));
        await extra.answer();
      } finally {
        extra.close();
      }
    });
    equal(refused.at(-1)?.status, 503);
    for (const c of [clients[0]!, clients[2]!, fresh]) equal((await c.answer()).body, "POST /busy sleep 300");
  } finally {
    for (const c of clients) c.close();
    await server.close();
  }
});

Deno.test("https server: idle connections are closed after the idle timeout", async () => {
  const { server, caPem } = await echoServer({ idleTimeoutMs: 200 });
  const client = await Client.open(server.port, caPem);
  try {
    await client.send(post("/", "x"));
    const answer = await client.answer();
    equal(answer.headers.get("keep-alive"), "timeout=0");
    ok(await client.closedByServer());
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("https server: a new certificate serves new connections while open ones go on", async () => {
  const { server, caPem } = await echoServer();
  const next = await serverCertificate();
  const old = await Client.open(server.port, caPem);
  try {
    await rejects(async () => (await Client.open(server.port, next.caPem)).close());
    server.updateCertificate(next.certPem, next.keyPem);
    const fresh = await Client.open(server.port, next.caPem);
    try {
      await fresh.send(post("/", "new"));
      equal((await fresh.answer()).body, "POST / new");
    } finally {
      fresh.close();
    }
    await rejects(async () => (await Client.open(server.port, caPem)).close());
    await old.send(post("/", "old"));
    equal((await old.answer()).body, "POST / old");
  } finally {
    old.close();
    await server.close();
  }
});

Deno.test("https server: drain() keeps serving, each answer closing its connection", async () => {
  const { server, caPem } = await echoServer();
  const pooled = await Client.open(server.port, caPem);
  try {
    await pooled.send(post("/", "before"));
    equal((await pooled.answer()).headers.get("connection"), "keep-alive");
    server.drain();
    await pooled.send(post("/", "during"));
    const answer = await pooled.answer();
    equal(answer.body, "POST / during");
    equal(answer.headers.get("connection"), "close");
    ok(await pooled.closedByServer());
    const fresh = await Client.open(server.port, caPem);
    try {
      await fresh.send(post("/", "new"));
      equal((await fresh.answer()).body, "POST / new", "new connections are still served");
    } finally {
      fresh.close();
    }
  } finally {
    pooled.close();
    await server.close();
  }
});

Deno.test("https server: close() answers the request in progress, closes idle ones, refuses new ones", async () => {
  const { server, caPem } = await echoServer();
  const busy = await Client.open(server.port, caPem);
  const idle = await Client.open(server.port, caPem);
  const silent = await Client.open(server.port, caPem);
  try {
    await idle.send(post("/", "first"));
    equal((await idle.answer()).status, 200);
    await busy.send(post("/", "sleep 200"));
    await new Promise((r) => setTimeout(r, 50));
    const closed = server.close();
    ok(await idle.closedByServer());
    ok(await silent.closedByServer());
    const answer = await busy.answer();
    equal(answer.body, "POST / sleep 200");
    equal(answer.headers.get("connection"), "close");
    await closed;
    await rejects(() => Deno.connectTls({ hostname: "127.0.0.1", port: server.port, caCerts: [caPem] }));
  } finally {
    busy.close();
    idle.close();
    silent.close();
  }
});

Deno.test("https server: close() cuts requests still in progress after the grace period", async () => {
  const clock = new FakeClock();
  const { server, caPem } = await echoServer({ closeGraceMs: 5_000, requestTimeoutMs: 60_000 }, clock);
  const stuck = await Client.open(server.port, caPem);
  try {
    await stuck.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
    await new Promise((r) => setTimeout(r, 50));
    let done = false;
    const closed = server.close().then(() => done = true);
    await clock.advance(4_000);
    equal(done, false, "still within the grace period");
    await clock.advance(1_000);
    await closed;
    ok(await stuck.closedByServer());
  } finally {
    stuck.close();
  }
});
