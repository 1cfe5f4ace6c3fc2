// An HTTPS/1.1 server: node:tls for the connections, http1.ts for the framing. Measured here it costs about half
// the CPU per request of node:https, whose HTTP layer outweighs the whole admission review, and unlike Deno.serve
// it swaps certificates in place (setSecureContext) and never waits on Nagle: each response leaves in one write.
import tls from "node:tls";
import {
  continueResponse,
  formatResponse,
  type InvalidRequest,
  parseRequestHead,
  type RequestHead,
  type RequestLimits,
} from "./http1.ts";

/** A whole request as the handler sees it. */
export interface HttpRequest {
  method: string;
  target: string;
  headers: Map<string, string>;
  body: Uint8Array;
}

/** What the handler answers. */
export interface HttpResponse {
  status: number;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
}

/** A request refused before it reached the handler. */
export interface RefusedRequest {
  status: InvalidRequest["status"] | 408;
  message: string;
}

/** Everything the server needs. */
export interface HttpsServerOptions {
  hostname: string;
  port: number;
  certPem: string;
  keyPem: string;
  handler: (request: HttpRequest) => Promise<HttpResponse>;
  limits?: Partial<RequestLimits>;
  /** A connection with nothing in progress is closed after this long. */
  idleTimeoutMs?: number;
  /** A request must arrive whole within this long, so slow clients cannot hold connections open. */
  requestTimeoutMs?: number;
  /** How long close() waits for requests in progress. */
  closeGraceMs?: number;
  onRefused?: (refused: RefusedRequest) => void;
  onHandlerError?: (error: unknown) => void;
}

/** A running server. */
export interface HttpsServer {
  port: number;
  /** Serves new connections with this certificate from now on. */
  updateCertificate(certPem: string, keyPem: string): void;
  /** Stops accepting, answers what is in progress, then closes every connection. */
  close(): Promise<void>;
}

const defaults = {
  limits: { maxHeadBytes: 16 * 1024, maxBodyBytes: 4 * 1024 * 1024 },
  // Longer than the apiserver's 90 s idle timeout, so the client closes first: a POST sent on a connection the
  // server is closing fails instead of being retried.
  idleTimeoutMs: 300_000,
  requestTimeoutMs: 30_000,
  closeGraceMs: 5_000,
};
const lingerMs = 1_000;

/** A growable byte buffer that reads from the front; amortised O(n) however the bytes arrive. */
export class ByteQueue {
  #buf = new Uint8Array(0);
  #start = 0;
  #end = 0;

  get length(): number {
    return this.#end - this.#start;
  }

  view(): Uint8Array {
    return this.#buf.subarray(this.#start, this.#end);
  }

  push(chunk: Uint8Array): void {
    if (this.#end + chunk.length > this.#buf.length) {
      const length = this.length;
      if (length + chunk.length > this.#buf.length) {
        const next = new Uint8Array(Math.max(length + chunk.length, this.#buf.length * 2, 16 * 1024));
        next.set(this.view());
        this.#buf = next;
      } else {
        this.#buf.copyWithin(0, this.#start, this.#end);
      }
      this.#start = 0;
      this.#end = length;
    }
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  /** Removes and returns the first `n` bytes (a copy). */
  take(n: number): Uint8Array {
    const out = this.#buf.slice(this.#start, this.#start + n);
    this.#start += n;
    if (this.#start === this.#end) {
      this.#start = this.#end = 0;
      // One large body must not pin its buffer for the life of the connection.
      if (this.#buf.length > 64 * 1024) this.#buf = new Uint8Array(0);
    }
    return out;
  }
}

const json = { "content-type": "application/json" };

/** Starts the server on `hostname:port` (port 0 picks a free one). */
export async function startHttpsServer(options: HttpsServerOptions): Promise<HttpsServer> {
  const limits = { ...defaults.limits, ...options.limits };
  const idleTimeoutMs = options.idleTimeoutMs ?? defaults.idleTimeoutMs;
  const requestTimeoutMs = options.requestTimeoutMs ?? defaults.requestTimeoutMs;
  const connections = new Map<tls.TLSSocket, { idle: () => boolean; end: () => void }>();
  let closing = false;

  const serve = (socket: tls.TLSSocket) => {
    const queue = new ByteQueue();
    let head: RequestHead | undefined;
    let continued = false;
    let busy = false;
    let ended = false;
    let requestTimer: ReturnType<typeof setTimeout> | undefined;
    let lingerTimer: ReturnType<typeof setTimeout> | undefined;

    const clearRequestTimer = () => {
      clearTimeout(requestTimer);
      requestTimer = undefined;
    };
    const end = (last?: Uint8Array) => {
      if (ended) return;
      ended = true;
      clearRequestTimer();
      // Like Go's server: half-close, then drop the connection if the client does not close its side soon.
      lingerTimer = setTimeout(() => socket.destroy(), lingerMs);
      if (last) socket.end(last);
      else socket.end();
    };
    const refuse = (refused: RefusedRequest) => {
      options.onRefused?.(refused);
      end(formatResponse(refused.status, json, JSON.stringify({ error: refused.message }), false));
    };

    const pump = async () => {
      busy = true;
      try {
        while (!ended && !socket.destroyed) {
          if (!head) {
            if (queue.length === 0) break;
            const parsed = parseRequestHead(queue.view(), limits);
            if (parsed.kind === "incomplete") break;
            if (parsed.kind === "invalid") {
              refuse(parsed.error);
              break;
            }
            head = parsed.head;
            continued = false;
          }
          if (queue.length < head.size + head.contentLength) {
            if (head.expectContinue && !continued) {
              socket.write(continueResponse);
              continued = true;
            }
            break;
          }
          const current = head;
          head = undefined;
          clearRequestTimer();
          const body = queue.take(current.size + current.contentLength).subarray(current.size);
          let response: HttpResponse;
          try {
            response = await options.handler({
              method: current.method,
              target: current.target,
              headers: current.headers,
              body,
            });
          } catch (e) {
            options.onHandlerError?.(e);
            response = { status: 500, headers: json, body: JSON.stringify({ error: "internal error" }) };
          }
          if (socket.destroyed) break;
          const keepAlive = current.keepAlive && !closing;
          const bytes = formatResponse(response.status, response.headers ?? {}, response.body ?? "", keepAlive);
          if (keepAlive) socket.write(bytes);
          else end(bytes);
        }
      } finally {
        busy = false;
        if (socket.isPaused()) socket.resume();
      }
      if (!ended && queue.length > 0 && requestTimer === undefined) {
        requestTimer = setTimeout(
          () => refuse({ status: 408, message: "the request did not arrive in time" }),
          requestTimeoutMs,
        );
      }
      if (closing && !ended && queue.length === 0) end();
    };

    connections.set(socket, { idle: () => !busy && queue.length === 0, end: () => end() });
    socket.setNoDelay(true);
    socket.setTimeout(idleTimeoutMs);
    socket.on("timeout", () => socket.destroy());
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      clearRequestTimer();
      clearTimeout(lingerTimer);
      connections.delete(socket);
    });
    socket.on("data", (chunk: Uint8Array) => {
      if (ended) return;
      queue.push(chunk);
      if (!busy) void pump();
      // A client pipelining faster than we answer waits in TCP, not in our memory.
      else if (queue.length > limits.maxHeadBytes + limits.maxBodyBytes) socket.pause();
    });
  };

  const server = tls.createServer({ cert: options.certPem, key: options.keyPem }, serve);
  // A client that fails the handshake (say, one that does not trust our CA) is its own problem, not a crash.
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => resolve());
  });
  return {
    port: (server.address() as { port: number }).port,
    updateCertificate(certPem, keyPem) {
      server.setSecureContext({ cert: certPem, key: keyPem });
    },
    async close() {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const connection of connections.values()) if (connection.idle()) connection.end();
      const grace = setTimeout(() => {
        for (const socket of connections.keys()) socket.destroy();
      }, options.closeGraceMs ?? defaults.closeGraceMs);
      try {
        await closed;
      } finally {
        clearTimeout(grace);
      }
    },
  };
}
