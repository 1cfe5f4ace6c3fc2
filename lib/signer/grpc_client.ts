// A one-call gRPC client over a Unix socket, the counterpart of grpc_server.ts, for the signer's tests.
import http2 from "node:http2";
import net from "node:net";
import { frameMessage, unframeMessage } from "./grpc_frame.ts";
import { decodeGrpcMessage, GrpcError, grpcStatus, statusOfHttp } from "./grpc_status.ts";

/**
 * Calls the unary `method` (a full path such as "/v1.ExternalJWTSigner/Metadata") with the encoded request
 * `body` and returns the encoded response. Throws GrpcError with the server's status, UNAVAILABLE when the
 * socket cannot be reached, DEADLINE_EXCEEDED after `timeoutMs` (default 10 s, also sent as grpc-timeout).
 */
export async function grpcUnary(
  socketPath: string,
  method: string,
  body: Uint8Array,
  options: { timeoutMs?: number } = {},
): Promise<Uint8Array> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const session = http2.connect("http://localhost", { createConnection: () => net.connect(socketPath) });
  try {
    return await new Promise<Uint8Array>((resolve, reject) => {
      let settled = false;
      const settle = (f: () => Uint8Array) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        try {
          resolve(f());
        } catch (e) {
          reject(e);
        }
      };
      const fail = (e: GrpcError) =>
        settle(() => {
          throw e;
        });
      const timer = setTimeout(
        () => fail(new GrpcError(grpcStatus.deadlineExceeded, `No answer from ${socketPath} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      session.on("error", (e) => {
        fail(new GrpcError(grpcStatus.unavailable, `Cannot reach ${socketPath}: ${e.message}`, { cause: e }));
      });
      const req = session.request({
        ":method": "POST",
        ":path": method,
        "content-type": "application/grpc",
        te: "trailers",
        "grpc-timeout": `${Math.max(1, Math.ceil(timeoutMs))}m`,
      });
      let headers: http2.IncomingHttpHeaders | undefined;
      let trailers: http2.IncomingHttpHeaders | undefined;
      const chunks: Uint8Array[] = [];
      req.on("response", (h) => headers = h);
      req.on("trailers", (t) => trailers = t);
      req.on("data", (c: Uint8Array) => chunks.push(c));
      req.on("error", (e) => {
        fail(new GrpcError(grpcStatus.unavailable, `Call to ${socketPath} failed: ${e.message}`, { cause: e }));
      });
      req.on("close", () => settle(() => answerOf(headers, trailers, chunks)));
      req.end(frameMessage(body));
    });
  } finally {
    session.destroy();
  }
}

function answerOf(
  headers: http2.IncomingHttpHeaders | undefined,
  trailers: http2.IncomingHttpHeaders | undefined,
  chunks: Uint8Array[],
): Uint8Array {
  if (headers === undefined) throw new GrpcError(grpcStatus.unavailable, "The stream closed without an answer");
  const httpStatus = Number(headers[":status"]);
  if (httpStatus !== 200) throw new GrpcError(statusOfHttp(httpStatus), `HTTP status ${httpStatus}`);
  // A trailers-only answer carries the status in the headers.
  const status = trailers?.["grpc-status"] ?? headers["grpc-status"];
  const message = trailers?.["grpc-message"] ?? headers["grpc-message"];
  if (status === undefined) throw new GrpcError(grpcStatus.internal, "The answer has no grpc-status");
  const code = Number(status);
  if (code !== grpcStatus.ok) {
    throw new GrpcError(Number.isInteger(code) ? code : grpcStatus.unknown, decodeGrpcMessage(String(message ?? "")));
  }
  const body = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    body.set(c, at);
    at += c.length;
  }
  const { compressed, message: response } = unframeMessage(body);
  if (compressed) throw new GrpcError(grpcStatus.internal, "The answer is compressed, which was not asked for");
  return response;
}
