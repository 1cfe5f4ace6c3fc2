import { equal } from "node:assert/strict";
import { decodeGrpcMessage, encodeGrpcMessage, grpcStatus, statusOfHttp } from "./grpc_status.ts";

Deno.test("encodeGrpcMessage() escapes '%' and everything outside printable ASCII, and decodes back", async (t) => {
  const cases: [string, string][] = [
    ["plain text", "plain text"],
    ["100%", "100%25"],
    ["ü", "%C3%BC"],
    ["tab\tline\nend", "tab%09line%0Aend"],
    ["🔑 key", "%F0%9F%94%91 key"],
    ["", ""],
  ];
  for (const [text, encoded] of cases) {
    await t.step(JSON.stringify(text), () => {
      equal(encodeGrpcMessage(text), encoded);
      equal(decodeGrpcMessage(encoded), text);
    });
  }
});

Deno.test("decodeGrpcMessage() keeps a '%' that starts no escape", () => {
  equal(decodeGrpcMessage("50% off %zz %4"), "50% off %zz %4");
});

Deno.test("statusOfHttp() maps HTTP answers that are not gRPC", () => {
  equal(statusOfHttp(404), grpcStatus.unimplemented);
  equal(statusOfHttp(503), grpcStatus.unavailable);
  equal(statusOfHttp(415), grpcStatus.unknown);
});
