// gRPC status codes and the GrpcError that carries one, shared by the server (which answers with it) and the
// client (which throws it). A status is transport-level, not a failure of the core, so it is not an IrsaError.

/** The status codes of grpc/doc/statuscodes.md that this signer uses or may receive. */
export const grpcStatus = {
  ok: 0,
  cancelled: 1,
  unknown: 2,
  invalidArgument: 3,
  deadlineExceeded: 4,
  notFound: 5,
  permissionDenied: 7,
  resourceExhausted: 8,
  failedPrecondition: 9,
  unimplemented: 12,
  internal: 13,
  unavailable: 14,
  unauthenticated: 16,
} as const;

/** A failed call: `code` is the grpc-status, `message` the (decoded) grpc-message. */
export class GrpcError extends Error {
  override readonly name = "GrpcError";
  readonly code: number;

  constructor(code: number, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/**
 * grpc-message as the gRPC HTTP/2 protocol wants it: UTF-8, with '%' and every byte outside printable ASCII
 * percent-encoded, so a message can never break the header block. Pure.
 */
export function encodeGrpcMessage(message: string): string {
  let out = "";
  for (const b of new TextEncoder().encode(message)) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25
      ? String.fromCharCode(b)
      : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** The inverse of encodeGrpcMessage; like grpc-go, a '%' not followed by two hex digits is kept as it is. Pure. */
export function decodeGrpcMessage(encoded: string): string {
  // Runs of escapes are decoded together: one UTF-8 character may span several.
  return encoded.replace(/(?:%[0-9a-fA-F]{2})+/g, (run) => {
    const bytes = run.slice(1).split("%").map((h) => parseInt(h, 16));
    return new TextDecoder().decode(Uint8Array.from(bytes));
  });
}

/** The status a client assumes when an answer is not gRPC at all (grpc/doc/http-grpc-status-mapping.md). Pure. */
export function statusOfHttp(httpStatus: number): number {
  switch (httpStatus) {
    case 400:
      return grpcStatus.internal;
    case 401:
      return grpcStatus.unauthenticated;
    case 403:
      return grpcStatus.permissionDenied;
    case 404:
      return grpcStatus.unimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return grpcStatus.unavailable;
    default:
      return grpcStatus.unknown;
  }
}
