import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import http2 from "node:http2";
import net from "node:net";
import { isIrsaError } from "../errors.ts";
import { grpcUnary } from "./grpc_client.ts";
import { frameMessage } from "./grpc_frame.ts";
import { type GrpcHandlers, grpcTimeoutMs, serveGrpc } from "./grpc_server.ts";
import { GrpcError, grpcStatus } from "./grpc_status.ts";

const bytes = (...b: number[]) => Uint8Array.from(b);

async function withServer(
  handlers: GrpcHandlers,
  fn: (path: string, dir: string) => Promise<void>,
  options: Parameters<typeof serveGrpc>[2] = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "grpc_server_test" });
  const path = `${dir}/signer.sock`;
  const server = await serveGrpc(path, handlers, options);
  try {
    await fn(path, dir);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** A call with a hand-made body, for frames grpcUnary never sends; returns the status and message. */
async function rawCall(path: string, method: string, body: Uint8Array): Promise<{ status: string; message: string }> {
  const session = http2.connect("http://localhost", { createConnection: () => net.connect(path) });
  try {
    return await new Promise((resolve, reject) => {
      const req = session.request({ ":method": "POST", ":path": method, "content-type": "application/grpc" });
      let headers: http2.IncomingHttpHeaders = {};
      req.on("response", (h) => headers = h);
      req.on("trailers", (t) => headers = { ...headers, ...t });
      req.on("error", reject);
      req.resume();
      req.on(
        "close",
        () => resolve({ status: String(headers["grpc-status"]), message: String(headers["grpc-message"] ?? "") }),
      );
      req.end(body);
    });
  } finally {
    session.destroy();
  }
}

const grpcCode = (code: number, message?: string) => (e: unknown) =>
  e instanceof GrpcError && e.code === code && (message === undefined || e.message === message);

Deno.test("serveGrpc() answers a unary call that grpcUnary() reads back", async () => {
  const echo: GrpcHandlers = {
    "/t.T/Echo": (req) => Promise.resolve(Uint8Array.from([...req].reverse())),
    "/t.T/Empty": () => Promise.resolve(new Uint8Array(0)),
  };
  await withServer(echo, async (path) => {
    deepStrictEqual(await grpcUnary(path, "/t.T/Echo", bytes(1, 2, 3)), bytes(3, 2, 1));
    deepStrictEqual(await grpcUnary(path, "/t.T/Empty", bytes()), bytes());
    const big = new Uint8Array(200_000).map((_, i) => i % 251);
    deepStrictEqual(await grpcUnary(path, "/t.T/Echo", big), big.reverse());
  });
});

Deno.test("serveGrpc() maps failures to gRPC status codes", async (t) => {
  const errors: unknown[] = [];
  const handlers: GrpcHandlers = {
    "/t.T/Invalid": () => Promise.reject(new GrpcError(grpcStatus.invalidArgument, "bad 100% ü\nsecond line")),
    "/t.T/Crash": () => Promise.reject(new Error("secret internals")),
    "/t.T/Ok": () => Promise.resolve(bytes(7)),
  };
  await withServer(handlers, async (path) => {
    await t.step("an unknown method is UNIMPLEMENTED", async () => {
      await rejects(
        grpcUnary(path, "/t.T/Nope", bytes()),
        grpcCode(grpcStatus.unimplemented, "Unknown method /t.T/Nope"),
      );
    });
    await t.step("a GrpcError keeps its code and the first line of its message, percent-encoded", async () => {
      await rejects(grpcUnary(path, "/t.T/Invalid", bytes()), grpcCode(grpcStatus.invalidArgument, "bad 100% ü"));
      deepStrictEqual(await rawCall(path, "/t.T/Invalid", frameMessage(bytes())), {
        status: "3",
        message: "bad 100%25 %C3%BC",
      });
    });
    await t.step("any other failure is INTERNAL with a short message", async () => {
      await rejects(
        grpcUnary(path, "/t.T/Crash", bytes()),
        grpcCode(grpcStatus.internal, "Internal error in /t.T/Crash"),
      );
      equal((errors[0] as Error).message, "secret internals");
    });
    await t.step("a compressed frame is UNIMPLEMENTED", async () => {
      deepStrictEqual(await rawCall(path, "/t.T/Ok", bytes(1, 0, 0, 0, 1, 9)), {
        status: "12",
        message: "Compressed messages are not supported",
      });
    });
    const malformed: [string, Uint8Array][] = [
      ["no frame", bytes()],
      ["a short prefix", bytes(0, 0, 0)],
      ["a truncated message", bytes(0, 0, 0, 0, 5, 1)],
      ["two messages", bytes(0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 2)],
      ["an invalid flag", bytes(2, 0, 0, 0, 0)],
    ];
    for (const [name, body] of malformed) {
      await t.step(`${name} is INTERNAL`, async () => {
        equal((await rawCall(path, "/t.T/Ok", body)).status, "13");
      });
    }
    await t.step("the server keeps serving after all that", async () => {
      deepStrictEqual(await grpcUnary(path, "/t.T/Ok", bytes()), bytes(7));
    });
  }, { onError: (_method, e) => errors.push(e) });
});

Deno.test("serveGrpc() aborts the handler's signal at the client's deadline", async () => {
  let aborted: unknown;
  const handlers: GrpcHandlers = {
    "/t.T/Hang": (_req, signal) =>
      new Promise((_resolve, reject) =>
        signal.addEventListener("abort", () => {
          aborted = signal.reason;
          reject(signal.reason);
        })
      ),
  };
  await withServer(handlers, async (path) => {
    await rejects(grpcUnary(path, "/t.T/Hang", bytes(), { timeoutMs: 100 }), grpcCode(grpcStatus.deadlineExceeded));
    // The server's own timer or the closed stream, whichever came first.
    for (let i = 0; i < 50 && aborted === undefined; i++) await new Promise((r) => setTimeout(r, 10));
    ok(aborted instanceof GrpcError);
  });
});

Deno.test("serveGrpc() makes the socket 0600, replaces a stale one and removes it on close", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grpc_server_test" });
  try {
    const path = `${dir}/signer.sock`;
    // A socket nobody listens on, as a killed signer leaves behind: a hard link outlives the listener's cleanup.
    const listener = Deno.listen({ transport: "unix", path: `${dir}/old.sock` });
    await Deno.link(`${dir}/old.sock`, path);
    listener.close();
    ok((await Deno.lstat(path)).isSocket);

    const server = await serveGrpc(path, { "/t.T/Ok": () => Promise.resolve(bytes(1)) });
    equal((await Deno.lstat(path)).mode! & 0o777, 0o600);
    deepStrictEqual(await grpcUnary(path, "/t.T/Ok", bytes()), bytes(1));
    await rejects(serveGrpc(path, {}), (e) => isIrsaError(e, "conflict") && e.reason === "SocketInUse");
    await server.close();
    await rejects(Deno.lstat(path), Deno.errors.NotFound);
    await rejects(grpcUnary(path, "/t.T/Ok", bytes()), grpcCode(grpcStatus.unavailable));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serveGrpc() refuses to replace a path that is not a socket", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grpc_server_test" });
  try {
    const path = `${dir}/signer.sock`;
    await Deno.writeTextFile(path, "keep me");
    await rejects(serveGrpc(path, {}), (e) => isIrsaError(e, "conflict") && e.reason === "SocketPathNotSocket");
    equal(await Deno.readTextFile(path), "keep me");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("grpcTimeoutMs() reads every grpc-timeout unit", async (t) => {
  const cases: [string | undefined, number | undefined][] = [
    ["2H", 7_200_000],
    ["3M", 180_000],
    ["5S", 5000],
    ["100m", 100],
    ["2000u", 2],
    ["3000000n", 3],
    [undefined, undefined],
    ["", undefined],
    ["123456789m", undefined],
    ["5s", undefined],
  ];
  for (const [value, want] of cases) await t.step(String(value), () => equal(grpcTimeoutMs(value), want));
});

Deno.test("close() lets a call in flight finish and does not wait for idle connections", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grpc_server_test" });
  try {
    const path = `${dir}/signer.sock`;
    const slow = () => new Promise<Uint8Array>((r) => setTimeout(() => r(bytes(5)), 100));
    const server = await serveGrpc(path, { "/t.T/Slow": slow }, { closeGraceMs: 3000 });
    const idle = http2.connect("http://localhost", { createConnection: () => net.connect(path) });
    idle.on("error", () => {});
    await new Promise((r) => idle.once("connect", r));
    const call = grpcUnary(path, "/t.T/Slow", bytes());
    await new Promise((r) => setTimeout(r, 30));
    const started = Date.now();
    await server.close();
    ok(Date.now() - started < 2000, `close took ${Date.now() - started} ms`);
    deepStrictEqual(await call, bytes(5));
    idle.destroy();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
