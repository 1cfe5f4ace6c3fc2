// The length-prefixed message framing of gRPC over HTTP/2: one flag byte (1 = compressed), a four-byte
// big-endian length, then the message. A unary call carries exactly one frame each way.
import { GrpcError, grpcStatus } from "./grpc_status.ts";

/** grpc-go's default limit for a received message. */
export const defaultMaxMessageBytes = 4 * 1024 * 1024;

/** One uncompressed frame around `message`. Pure. */
export function frameMessage(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + message.length);
  new DataView(out.buffer).setUint32(1, message.length);
  out.set(message, 5);
  return out;
}

/**
 * The single message of a unary body. Throws GrpcError INTERNAL when the body is not exactly one whole frame,
 * RESOURCE_EXHAUSTED when the message is larger than `maxBytes`. A compressed frame is returned as such: what
 * that means is the caller's to say. Pure.
 */
export function unframeMessage(
  body: Uint8Array,
  options: { maxBytes?: number } = {},
): { compressed: boolean; message: Uint8Array } {
  const maxBytes = options.maxBytes ?? defaultMaxMessageBytes;
  if (body.length < 5) {
    throw new GrpcError(grpcStatus.internal, body.length === 0 ? "No message in the body" : "Truncated message frame");
  }
  const flag = body[0]!;
  if (flag > 1) throw new GrpcError(grpcStatus.internal, `Invalid frame flag ${flag}`);
  const length = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(1);
  if (length > maxBytes) {
    throw new GrpcError(grpcStatus.resourceExhausted, `Message of ${length} bytes exceeds the limit of ${maxBytes}`);
  }
  if (body.length < 5 + length) throw new GrpcError(grpcStatus.internal, "Truncated message frame");
  if (body.length > 5 + length) throw new GrpcError(grpcStatus.internal, "More than one message in a unary call");
  return { compressed: flag === 1, message: body.slice(5, 5 + length) };
}
