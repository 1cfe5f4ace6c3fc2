// The webhook's HTTPS server: node:https, which swaps certificates in place (setSecureContext, unlike Deno.serve),
// with limits on connections, headers, bodies and time, so that no client can take the memory the apiserver's
// requests need. Sockets run with TCP_NODELAY: a response leaves at once instead of waiting on Nagle.
import { Buffer } from "node:buffer";
import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { type Clock, realClock } from "./clock.ts";

/** A whole request as the handler sees it. */
export interface HttpRequest {
  method: string;
  /** The request target as sent: path and query. */
  target: string;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  body: Uint8Array;
}

/** What the handler answers. */
export interface HttpResponse {
  status: number;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
}

/** A request or connection refused before it reached the handler. */
export interface RefusedRequest {
  status: 400 | 408 | 413 | 431 | 503;
  message: string;
}

/** The server's limits; see {@link defaultLimits} for why each value. */
export interface ServerLimits {
  /** Open connections; at the limit a new one closes the connection idle the longest. */
  maxConnections: number;
  maxHeaderBytes: number;
  /** One request body. */
  maxBodyBytes: number;
  /** Request bodies held in memory at once, over all connections; at the limit the oldest unfinished one is refused. */
  maxBufferedBodyBytes: number;
  /** A TLS handshake must finish within this long. */
  handshakeTimeoutMs: number;
  /** A request's headers must arrive within this long (for a new connection, counted from its accept). */
  headersTimeoutMs: number;
  /** A whole request must arrive within this long. */
  requestTimeoutMs: number;
  /** A connection with no request in progress is closed after this long. */
  idleTimeoutMs: number;
  /** How long close() waits for requests in progress before it closes their connections. */
  closeGraceMs: number;
}

/**
 * The limits, sized for the Deployment's 256 MiB memory limit (lib/install_manifests.ts), beside a webhook replica's
 * ~120 MiB after load (tests/bench). Measured here with the image's V8 flags: 512 connections held while 1,500 more
 * were opened and evicted took 36 MiB; then 50 clients sending 1 MiB bodies slowly added ~80 MiB at peak, the
 * 8 MiB budget plus what V8 had not yet collected, and a new client was still answered at once.
 */
export const defaultLimits: ServerLimits = {
  // The apiserver keeps a few dozen connections per replica (MaxIdleConnsPerHost 25, more under bursts). At the limit
  // the connection idle the longest is closed, so clients that park idle sockets cannot lock the apiserver out.
  maxConnections: 512,
  // Node's default; the apiserver's headers are a few hundred bytes.
  maxHeaderBytes: 16 * 1024,
  // The apiserver refuses request bodies over 3 MiB (twice etcd's 1.5 MiB, for JSON); a CREATE review carries the pod
  // once (no oldObject), and a pod too big for etcd cannot be created anyway. controller-runtime allows 7 MiB for
  // two objects.
  maxBodyBytes: 3 * 1024 * 1024,
  // The memory bound, however many connections trickle bodies in: two of the largest reviews, or hundreds of typical
  // 10 KiB ones at once. At the bound the body arriving the longest is refused (408) to make room; a body that cannot
  // fit even so gets 503, and the failure policy decides.
  maxBufferedBodyBytes: 8 * 1024 * 1024,
  handshakeTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  // The apiserver gives up on a webhook after timeoutSeconds (at most 30 s): a request slower than that is dead.
  requestTimeoutMs: 30_000,
  // Longer than the apiserver's 90 s idle timeout (client-go's IdleConnTimeout), so the client closes first: a POST
  // sent on a connection the server is closing fails instead of being retried.
  idleTimeoutMs: 120_000,
  // Reviews answer in milliseconds (a cache miss waits at most the 2 s lookup timeout).
  closeGraceMs: 5_000,
};

/** Everything the server needs. */
export interface HttpsServerOptions {
  hostname: string;
  port: number;
  certPem: string;
  keyPem: string;
  handler: (request: HttpRequest) => Promise<HttpResponse>;
  limits?: Partial<ServerLimits>;
  /** Times close()'s grace period. */
  clock?: Clock;
  onRefused?: (refused: RefusedRequest) => void;
  onHandlerError?: (error: unknown) => void;
}

/** A running server. */
export interface HttpsServer {
  port: number;
  /** Open connections, handshakes included. */
  readonly connections: number;
  /** Bytes of request bodies held in memory now. */
  readonly bufferedBodyBytes: number;
  /** Serves new connections with this certificate from now on. */
  updateCertificate(certPem: string, keyPem: string): void;
  /**
   * Keeps serving, but every response from now on closes its connection, so that clients reconnect through the
   * Service to another replica instead of reusing a connection pinned to this one.
   */
  drain(): void;
  /** Stops accepting, closes idle connections, answers what is in progress, then closes every connection. */
  close(): Promise<void>;
}

const json = { "content-type": "application/json" };
const reasons: Record<RefusedRequest["status"], string> = {
  400: "Bad Request",
  408: "Request Timeout",
  413: "Content Too Large",
  431: "Request Header Fields Too Large",
  503: "Service Unavailable",
};

/** An answer written on the raw socket, for requests node:http refused before there was a response object. */
function rawAnswer(refused: RefusedRequest): string {
  const body = JSON.stringify({ error: refused.message });
  return `HTTP/1.1 ${refused.status} ${reasons[refused.status]}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${new TextEncoder().encode(body).length}\r\nConnection: close\r\n\r\n${body}`;
}

interface Connection {
  key: string;
  socket: Socket;
  /** Requests in progress. */
  busy: number;
  /** Requests started on it so far. */
  served: number;
}

/** Starts the server on `hostname:port` (port 0 picks a free one). */
export async function startHttpsServer(options: HttpsServerOptions): Promise<HttpsServer> {
  const limits = { ...defaultLimits, ...options.limits };
  const clock = options.clock ?? realClock;
  // Keyed by peer address and port, which the raw socket and its TLS socket share; in order of last activity, so
  // the first idle entry is the one idle the longest.
  const connections = new Map<string, Connection>();
  // The same entries by TLS socket, so a request finds its connection without asking the kernel for the peer.
  const byTlsSocket = new WeakMap<object, Connection>();
  const peer = (s: { remoteAddress?: string | undefined; remotePort?: number | undefined }) =>
    `[${s.remoteAddress}]:${s.remotePort}`;
  let buffered = 0;
  let draining = false;

  const refuse = (refused: RefusedRequest) => options.onRefused?.(refused);
  const touch = (connection: Connection) => {
    if (connections.get(connection.key) !== connection) return;
    connections.delete(connection.key);
    connections.set(connection.key, connection);
  };

  const answer = (res: ServerResponse, response: HttpResponse) => {
    if (res.destroyed || res.headersSent) return;
    const body = response.body ?? "";
    const length = typeof body === "string" ? Buffer.byteLength(body) : body.byteLength;
    const headers: Record<string, string> = { ...response.headers, "content-length": String(length) };
    if (draining) headers.connection = "close";
    res.writeHead(response.status, headers);
    // node:http sends a string body in one piece with the head; bytes would follow as a chunk of their own.
    res.end(body);
  };

  const refuseRequest = (res: ServerResponse, refused: RefusedRequest) => {
    refuse(refused);
    // What is left of the body is discarded, so the connection cannot carry another request: it closes.
    answer(res, {
      status: refused.status,
      headers: { ...json, connection: "close" },
      body: JSON.stringify({ error: refused.message }),
    });
  };

  // Bodies still arriving, oldest first. The apiserver sends a review in one go, so at the budget the body that
  // has been arriving the longest is the one to give up: a slow client cannot starve the apiserver.
  const receiving = new Set<{ abort: () => void; held: () => number }>();

  const serve = (req: IncomingMessage, res: ServerResponse) => {
    const connection = byTlsSocket.get(req.socket);
    if (connection) {
      connection.busy++;
      connection.served++;
      touch(connection);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let held = 0;
    const release = () => {
      buffered -= held;
      held = 0;
      chunks.length = 0;
    };
    const self = {
      abort: () => stopReading({ status: 408, message: "the body arrived too slowly" }),
      held: () => held,
    };
    const stopReading = (refused: RefusedRequest) => {
      receiving.delete(self);
      req.off("data", onData);
      req.off("end", onEnd);
      // Discarded as it arrives until the connection closes after the answer: paused, it would pile up unread.
      req.resume();
      release();
      refuseRequest(res, refused);
    };
    let done = false;
    // "close" follows both a sent response and a dropped connection.
    res.once("close", () => {
      if (done) return;
      done = true;
      receiving.delete(self);
      release();
      if (connection) {
        connection.busy--;
        touch(connection);
      }
    });

    const declared = Number(req.headers["content-length"]);
    if (declared > limits.maxBodyBytes) {
      return refuseRequest(res, { status: 413, message: `the body exceeds ${limits.maxBodyBytes} bytes` });
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limits.maxBodyBytes) {
        return stopReading({ status: 413, message: `the body exceeds ${limits.maxBodyBytes} bytes` });
      }
      for (const other of receiving) {
        if (buffered + chunk.length <= limits.maxBufferedBodyBytes) break;
        if (other !== self && other.held() > 0) other.abort();
      }
      if (buffered + chunk.length > limits.maxBufferedBodyBytes) {
        return stopReading({ status: 503, message: "too many request bodies in progress; retry later" });
      }
      chunks.push(chunk);
      held += chunk.length;
      buffered += chunk.length;
    };
    const onEnd = async () => {
      receiving.delete(self);
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      chunks.length = 0;
      let response: HttpResponse;
      try {
        response = await options.handler({
          method: req.method ?? "GET",
          target: req.url ?? "/",
          headers: req.headers,
          body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength),
        });
      } catch (e) {
        options.onHandlerError?.(e);
        response = { status: 500, headers: json, body: JSON.stringify({ error: "internal error" }) };
      }
      answer(res, response);
    };
    receiving.add(self);
    req.on("data", onData);
    req.once("end", onEnd);
  };

  const server = https.createServer({
    cert: options.certPem,
    key: options.keyPem,
    maxHeaderSize: limits.maxHeaderBytes,
    handshakeTimeout: limits.handshakeTimeoutMs,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.idleTimeoutMs,
    // Node checks the two timeouts above only this often (30 s by default, which would double them).
    connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs / 4),
    noDelay: true,
  } as https.ServerOptions, serve);

  server.on("connection", (socket: Socket) => {
    socket.setNoDelay(true);
    if (connections.size >= limits.maxConnections) {
      let idlest: [string, Connection] | undefined;
      for (const entry of connections) {
        if (entry[1].busy === 0) {
          idlest = entry;
          break;
        }
      }
      if (!idlest) {
        refuse({ status: 503, message: `${limits.maxConnections} connections are busy` });
        socket.destroy();
        return;
      }
      connections.delete(idlest[0]);
      idlest[1].socket.destroy();
    }
    const connection: Connection = { key: peer(socket), socket, busy: 0, served: 0 };
    connections.set(connection.key, connection);
    socket.once("close", () => {
      if (connections.get(connection.key) === connection) connections.delete(connection.key);
    });
  });
  server.on("secureConnection", (socket: Socket) => {
    const connection = connections.get(peer(socket));
    if (connection) byTlsSocket.set(socket, connection);
  });
  // What node:http answers by default, with the refusal reported. The checks for the timeouts can find the same
  // socket again before it has closed, hence one answer per socket.
  const answered = new WeakSet<object>();
  server.on("clientError", (error: Error & { code?: string }, socket: Socket) => {
    if (answered.has(socket)) return;
    answered.add(socket);
    const code = error.code ?? "";
    const refused: RefusedRequest | undefined = code === "ERR_HTTP_REQUEST_TIMEOUT"
      ? { status: 408, message: "the request did not arrive in time" }
      : code === "HPE_HEADER_OVERFLOW"
      ? { status: 431, message: `the request headers exceed ${limits.maxHeaderBytes} bytes` }
      : code.startsWith("HPE_")
      ? { status: 400, message: `malformed request: ${error.message}` }
      : undefined;
    // Anything else (a reset, a broken pipe) means the client is gone: there is no one to answer.
    if (!refused) return socket.destroy();
    refuse(refused);
    const response = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
    if (socket.writable && !response?.headersSent) socket.end(rawAnswer(refused), () => socket.destroy());
    else socket.destroy();
  });
  // A client that fails the handshake (say, one that does not trust our CA) is its own problem, not a crash.
  server.on("tlsClientError", () => {});

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  let closing: Promise<void> | undefined;
  return {
    port: (server.address() as { port: number }).port,
    get connections() {
      return connections.size;
    },
    get bufferedBodyBytes() {
      return buffered;
    },
    updateCertificate(certPem, keyPem) {
      server.setSecureContext({ cert: certPem, key: keyPem });
    },
    drain() {
      draining = true;
    },
    close() {
      closing ??= (async () => {
        draining = true;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        // Deno's node:http leaves connections that never sent a request, and does not know handshakes.
        for (const c of connections.values()) if (c.served === 0) c.socket.destroy();
        const grace = clock.after(limits.closeGraceMs, () => {
          server.closeAllConnections();
          for (const c of connections.values()) c.socket.destroy();
        });
        try {
          await closed;
        } finally {
          grace.cancel();
        }
      })();
      return closing;
    },
  };
}
