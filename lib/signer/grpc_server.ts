// A unary-only gRPC server over HTTP/2 without TLS (h2c) on a Unix socket, which is how kube-apiserver reaches an
// external signer. Three unary methods do not need a gRPC library: node:http2 gives streams, headers and trailers,
// and the framing is five bytes. Access control is the socket file's mode (0600: only the apiserver's user).
import http2 from "node:http2";
import net from "node:net";
import { chmod, lstat, unlink } from "node:fs/promises";
import { IrsaError } from "../errors.ts";
import { defaultMaxMessageBytes, frameMessage, unframeMessage } from "./grpc_frame.ts";
import { encodeGrpcMessage, GrpcError, grpcStatus } from "./grpc_status.ts";

/** Answers one request message; `signal` aborts when the client goes away or its deadline passes. */
export type GrpcHandler = (request: Uint8Array, signal: AbortSignal) => Promise<Uint8Array>;

/** Handlers by full method path, for example "/v1.ExternalJWTSigner/Sign". */
export type GrpcHandlers = Record<string, GrpcHandler>;

export interface GrpcServeOptions {
  /** The largest request message accepted; default grpc-go's 4 MiB. */
  maxMessageBytes?: number;
  /** Told of every failure that is not a GrpcError; the client only sees a generic INTERNAL. */
  onError?(method: string, error: unknown): void;
  /** How long close() lets calls in flight finish before it cuts the connections; default 5 s. */
  closeGraceMs?: number;
}

/** A listening server. */
export interface GrpcServer {
  readonly path: string;
  /** Stops accepting, lets calls in flight finish, and removes the socket file. */
  close(): Promise<void>;
}

/** Parses grpc-timeout ("100m", "5S", ...) into milliseconds; undefined when absent or malformed. Pure. */
export function grpcTimeoutMs(value: string | undefined): number | undefined {
  const m = /^(\d{1,8})([HMSmun])$/.exec(value ?? "");
  if (!m) return undefined;
  const perUnit = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 } as const;
  return Number(m[1]) * perUnit[m[2] as keyof typeof perUnit];
}

/** Starts serving `handlers` on the Unix socket `path`, replacing a stale socket left by a previous run. */
export async function serveGrpc(
  path: string,
  handlers: GrpcHandlers,
  options: GrpcServeOptions = {},
): Promise<GrpcServer> {
  const maxBytes = options.maxMessageBytes ?? defaultMaxMessageBytes;
  await removeStaleSocket(path);
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
    // A client that drops its connection is not an error of the server; without a listener it would crash it.
    session.on("error", () => {});
  });
  server.on("stream", (stream, headers) => {
    handleStream(stream, headers, handlers, { maxBytes, onError: options.onError });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      server.off("error", reject);
      resolve();
    });
  });
  let inode: number | bigint;
  try {
    await chmod(path, 0o600);
    inode = (await lstat(path)).ino;
  } catch (e) {
    server.close();
    throw new IrsaError("unavailable", "SocketSetupFailed", `Cannot restrict socket ${path}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  let closing: Promise<void> | undefined;
  return {
    path,
    close() {
      return closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        // close() sends GOAWAY and waits for open streams; an idle client connection ends at once.
        for (const s of sessions) s.close();
        const cut = setTimeout(() => {
          for (const s of sessions) s.destroy();
        }, options.closeGraceMs ?? 5000);
        await closed;
        clearTimeout(cut);
        // Only our own socket: another process may have taken the path since.
        const now = await lstat(path).catch(() => undefined);
        if (now?.isSocket() && now.ino === inode) await unlink(path).catch(() => {});
      })();
    },
  };
}

function handleStream(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  handlers: GrpcHandlers,
  options: { maxBytes: number; onError: GrpcServeOptions["onError"] },
): void {
  const method = String(headers[":path"] ?? "");
  const controller = new AbortController();
  let answered = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const answer = (code: number, message: string, body?: Uint8Array) => {
    clearTimeout(timer);
    if (answered || stream.closed || stream.destroyed) return;
    answered = true;
    if (body === undefined) {
      // Trailers-only: the status rides in the only HEADERS frame.
      stream.respond({
        ":status": 200,
        "content-type": "application/grpc",
        "grpc-status": String(code),
        ...(message === "" ? {} : { "grpc-message": encodeGrpcMessage(message) }),
      }, { endStream: true });
      return;
    }
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": String(grpcStatus.ok) }));
    stream.end(frameMessage(body));
  };
  stream.on("error", () => {});
  stream.on("close", () => {
    clearTimeout(timer);
    controller.abort(new GrpcError(grpcStatus.cancelled, "The client closed the stream"));
  });
  if (headers[":method"] !== "POST") {
    stream.respond({ ":status": 405 }, { endStream: true });
    return;
  }
  if (!String(headers["content-type"] ?? "").startsWith("application/grpc")) {
    stream.respond({ ":status": 415 }, { endStream: true });
    return;
  }
  const timeoutMs = grpcTimeoutMs(headers["grpc-timeout"] as string | undefined);
  if (timeoutMs !== undefined) {
    timer = setTimeout(() => {
      const e = new GrpcError(grpcStatus.deadlineExceeded, "Deadline exceeded");
      controller.abort(e);
      answer(e.code, e.message);
    }, timeoutMs);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  stream.on("data", (chunk: Uint8Array) => {
    size += chunk.length;
    if (size > options.maxBytes + 5) {
      answer(grpcStatus.resourceExhausted, `Request exceeds the limit of ${options.maxBytes} bytes`);
      return;
    }
    chunks.push(chunk);
  });
  stream.on("end", async () => {
    if (answered) return;
    const handler = Object.hasOwn(handlers, method) ? handlers[method] : undefined;
    if (handler === undefined) return answer(grpcStatus.unimplemented, `Unknown method ${method}`);
    try {
      const { compressed, message } = unframeMessage(concat(chunks, size), { maxBytes: options.maxBytes });
      // No grpc-accept-encoding is ever advertised, so a compressed request is a method we do not offer.
      if (compressed) return answer(grpcStatus.unimplemented, "Compressed messages are not supported");
      answer(grpcStatus.ok, "", await handler(message, controller.signal));
    } catch (e) {
      if (e instanceof GrpcError && e.code > 0 && e.code <= 16) return answer(e.code, e.message.split("\n")[0]!);
      options.onError?.(method, e);
      answer(grpcStatus.internal, `Internal error in ${method}`);
    }
  });
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Removes a socket file that no process listens on; refuses a live socket or a path that is not a socket. */
async function removeStaleSocket(path: string): Promise<void> {
  const st = await lstat(path).catch((e: { code?: string }) => {
    if (e.code === "ENOENT") return undefined;
    throw e;
  });
  if (st === undefined) return;
  if (!st.isSocket()) {
    throw new IrsaError("conflict", "SocketPathNotSocket", `${path} exists and is not a socket; not replacing it`);
  }
  if (await someoneListens(path)) {
    throw new IrsaError("conflict", "SocketInUse", `Another process already listens on ${path}`);
  }
  await unlink(path);
}

function someoneListens(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(path);
    const done = (listening: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(listening);
    };
    // A full backlog delays the connection: that is a live server too.
    const timer = setTimeout(() => done(true), 1000);
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}
