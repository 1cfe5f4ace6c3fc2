// The HTTPS server on loopback, driven byte by byte over real TLS connections.
import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import { createRootCa, issueCertificate } from "../lib/pki.ts";
import { ByteQueue, type HttpRequest, type RefusedRequest, startHttpsServer } from "./https_server.ts";

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
    return new Client(await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [caPem] }));
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

/** A server whose handler echoes what it saw, optionally after a delay taken from the body. */
async function echoServer(options: { requestTimeoutMs?: number; idleTimeoutMs?: number } = {}) {
  const certs = await serverCertificate();
  const seen: HttpRequest[] = [];
  const refused: RefusedRequest[] = [];
  const server = await startHttpsServer({
    hostname: "127.0.0.1",
    port: 0,
    certPem: certs.certPem,
    keyPem: certs.keyPem,
    limits: { maxBodyBytes: 64 * 1024 },
    ...options,
    handler: async (req) => {
      seen.push(req);
      const text = decoder.decode(req.body);
      if (text === "throw") throw new Error("handler failed");
      const delay = Number(/^sleep (\d+)$/.exec(text)?.[1] ?? 0);
      if (delay) await new Promise((r) => setTimeout(r, delay));
      return { status: 200, headers: { "content-type": "text/plain" }, body: `${req.method} ${req.target} ${text}` };
    },
    onRefused: (r) => refused.push(r),
  });
  return { server, seen, refused, ...certs };
}

Deno.test("https server: keep-alive, pipelining in order, bodies in pieces, 100-continue", async (t) => {
  const { server, seen, caPem } = await echoServer();
  try {
    await t.step("two requests on one connection", async () => {
      const client = await Client.open(server.port, caPem);
      try {
        await client.send(post("/a", "one"));
        deepStrictEqual((await client.answer()).body, "POST /a one");
        await client.send(post("/b?x=1", "two"));
        const second = await client.answer();
        equal(second.body, "POST /b?x=1 two");
        equal(second.headers.get("content-type"), "text/plain");
        equal(second.headers.has("connection"), false);
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
    await t.step("a pipelined flood behind a slow request is answered in full and in order", async () => {
      const client = await Client.open(server.port, caPem);
      try {
        const padding = "x".repeat(1000);
        const requests = [
          post("/0", "sleep 100"),
          ...Array.from({ length: 299 }, (_, i) => post(`/${i + 1}`, padding)),
        ];
        const sending = client.send(requests.join(""));
        for (let i = 0; i < requests.length; i++) {
          equal((await client.answer()).body, `POST /${i} ${i === 0 ? "sleep 100" : padding}`);
        }
        await sending;
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
    await t.step("Expect: 100-continue gets the interim answer before the body is sent", async () => {
      const client = await Client.open(server.port, caPem);
      try {
        await client.send("POST /c HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
        equal((await client.answer()).status, 100);
        await client.send("body");
        equal((await client.answer()).body, "POST /c body");
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
  } finally {
    await server.close();
  }
});

Deno.test("https server: bad requests get one answer with a reason, then the connection closes", async (t) => {
  const { server, seen, refused, caPem } = await echoServer({ requestTimeoutMs: 300 });
  try {
    const cases: { name: string; send: string; status: number }[] = [
      { name: "not HTTP", send: "hello there\r\n\r\n", status: 400 },
      {
        name: "chunked",
        send: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        status: 411,
      },
      {
        name: "body over the limit, refused before it is sent",
        send: post("/", "").replace("0\r\n", "70000\r\n"),
        status: 413,
      },
      { name: "head never finishes", send: "POST / HTTP/1.1\r\nHost: a\r\n", status: 408 },
      { name: "body never finishes", send: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc", status: 408 },
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

Deno.test("https server: idle connections are closed", async () => {
  const { server, caPem } = await echoServer({ idleTimeoutMs: 200 });
  const client = await Client.open(server.port, caPem);
  try {
    await client.send(post("/", "x"));
    equal((await client.answer()).status, 200);
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
    await rejects(async () => {
      const c = await Client.open(server.port, next.caPem);
      try {
        await c.conn.handshake();
      } finally {
        c.close();
      }
    });
    server.updateCertificate(next.certPem, next.keyPem);
    const fresh = await Client.open(server.port, next.caPem);
    try {
      await fresh.send(post("/", "new"));
      equal((await fresh.answer()).body, "POST / new");
    } finally {
      fresh.close();
    }
    await old.send(post("/", "old"));
    equal((await old.answer()).body, "POST / old");
  } finally {
    old.close();
    await server.close();
  }
});

Deno.test("https server: close() answers the request in progress, then closes", async () => {
  const { server, caPem } = await echoServer();
  const busy = await Client.open(server.port, caPem);
  const idle = await Client.open(server.port, caPem);
  try {
    await idle.send(post("/", "first"));
    equal((await idle.answer()).status, 200);
    await busy.send(post("/", "sleep 200"));
    await new Promise((r) => setTimeout(r, 50));
    const closed = server.close();
    const answer = await busy.answer();
    equal(answer.body, "POST / sleep 200");
    equal(answer.headers.get("connection"), "close");
    ok(await idle.closedByServer());
    await closed;
    await rejects(() => Deno.connectTls({ hostname: "127.0.0.1", port: server.port, caCerts: [caPem] }));
  } finally {
    busy.close();
    idle.close();
  }
});

Deno.test("ByteQueue keeps bytes in order across growth, compaction and takes", () => {
  const queue = new ByteQueue();
  const expected: number[] = [];
  let taken: number[] = [];
  for (let i = 0; i < 200; i++) {
    const chunk = Uint8Array.from({ length: (i * 37) % 900 }, (_, j) => (i + j) % 256);
    queue.push(chunk);
    expected.push(...chunk);
    if (i % 3 === 0) taken = [...taken, ...queue.take(Math.min(queue.length, 500))];
  }
  taken = [...taken, ...queue.take(queue.length)];
  equal(queue.length, 0);
  deepStrictEqual(taken, expected);
});
