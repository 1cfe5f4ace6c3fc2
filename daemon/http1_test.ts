import { deepStrictEqual, equal } from "node:assert/strict";
import { formatResponse, type HeadParse, parseRequestHead } from "./http1.ts";

const limits = { maxHeadBytes: 512, maxBodyBytes: 1000 };
const bytes = (text: string) => new TextEncoder().encode(text);
const parse = (text: string): HeadParse => parseRequestHead(bytes(text), limits);

Deno.test("parseRequestHead() reads what the apiserver sends", () => {
  const text = "POST /mutate?timeout=10s HTTP/1.1\r\nHost: 127.0.0.1:9443\r\nContent-Type: application/json\r\n" +
    "Accept: application/json, */*\r\nContent-Length: 5\r\nAccept-Encoding: gzip\r\n\r\nhello";
  const parsed = parse(text);
  if (parsed.kind !== "head") throw new Error(JSON.stringify(parsed));
  const { head } = parsed;
  equal(head.method, "POST");
  equal(head.target, "/mutate?timeout=10s");
  equal(head.version, "HTTP/1.1");
  equal(head.contentLength, 5);
  equal(head.keepAlive, true);
  equal(head.expectContinue, false);
  equal(head.size, text.length - 5);
  equal(head.headers.get("content-type"), "application/json");
  equal(head.headers.get("accept"), "application/json, */*");
});

Deno.test("parseRequestHead() decides keep-alive, 100-continue and repeated fields", async (t) => {
  const cases: { name: string; text: string; keepAlive: boolean; expectContinue?: boolean; length?: number }[] = [
    { name: "HTTP/1.1 default", text: "GET / HTTP/1.1\r\nHost: a\r\n\r\n", keepAlive: true },
    { name: "HTTP/1.1 close", text: "GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n", keepAlive: false },
    { name: "HTTP/1.0 default", text: "GET / HTTP/1.0\r\n\r\n", keepAlive: false },
    { name: "HTTP/1.0 keep-alive", text: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", keepAlive: true },
    {
      name: "close among other tokens",
      text: "GET / HTTP/1.1\r\nHost: a\r\nConnection: te, close\r\n\r\n",
      keepAlive: false,
    },
    {
      name: "100-continue",
      text: "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n",
      keepAlive: true,
      expectContinue: true,
      length: 3,
    },
    {
      name: "repeated equal Content-Length",
      text: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n",
      keepAlive: true,
      length: 7,
    },
    {
      name: "whitespace around values",
      text: "POST / HTTP/1.1\r\nHost:a\r\nContent-Length:  9 \t\r\n\r\n",
      keepAlive: true,
      length: 9,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const parsed = parse(c.text);
      if (parsed.kind !== "head") throw new Error(JSON.stringify(parsed));
      equal(parsed.head.keepAlive, c.keepAlive);
      equal(parsed.head.expectContinue, c.expectContinue ?? false);
      equal(parsed.head.contentLength, c.length ?? 0);
    });
  }
});

Deno.test("parseRequestHead() waits for the whole head", () => {
  for (
    const text of ["", "POST /mutate HTTP/1.1\r\n", "POST / HTTP/1.1\r\nHost: a\r\n", "GET / HTTP/1.1\r\nHost: a\r\n\r"]
  ) {
    deepStrictEqual(parse(text), { kind: "incomplete" }, JSON.stringify(text));
  }
});

Deno.test("parseRequestHead() refuses what it cannot serve safely, with the right status", async (t) => {
  const cases: { name: string; text: string; status: number }[] = [
    { name: "garbage", text: "hello\r\n\r\n", status: 400 },
    { name: "TLS-less junk", text: "\x16\x03\x01\x02\x00\r\n\r\n", status: 400 },
    { name: "missing target", text: "GET HTTP/1.1\r\nHost: a\r\n\r\n", status: 400 },
    { name: "lower-case version", text: "GET / http/1.1\r\nHost: a\r\n\r\n", status: 400 },
    { name: "HTTP/2.0", text: "GET / HTTP/2.0\r\nHost: a\r\n\r\n", status: 505 },
    { name: "HTTP/1.2", text: "GET / HTTP/1.2\r\nHost: a\r\n\r\n", status: 505 },
    { name: "no Host in 1.1", text: "GET / HTTP/1.1\r\n\r\n", status: 400 },
    { name: "field without colon", text: "GET / HTTP/1.1\r\nHost: a\r\nbroken\r\n\r\n", status: 400 },
    { name: "space before colon", text: "GET / HTTP/1.1\r\nHost : a\r\n\r\n", status: 400 },
    { name: "empty field name", text: "GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", status: 400 },
    { name: "line folding", text: "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", status: 400 },
    { name: "negative length", text: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", status: 400 },
    { name: "hex length", text: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", status: 400 },
    {
      name: "conflicting lengths",
      text: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      status: 400,
    },
    {
      name: "smuggling: both framings",
      text: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
      status: 400,
    },
    { name: "chunked body", text: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", status: 411 },
    { name: "body over the limit", text: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n", status: 413 },
    { name: "unknown expectation", text: "POST / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n", status: 417 },
    {
      name: "head over the limit",
      text: `GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ${"x".repeat(600)}\r\n\r\n`,
      status: 431,
    },
    { name: "endless head without CRLF CRLF", text: `GET /${"a".repeat(600)}`, status: 431 },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const parsed = parse(c.text);
      if (parsed.kind !== "invalid") throw new Error(`accepted: ${JSON.stringify(parsed)}`);
      equal(parsed.error.status, c.status);
      equal(parsed.error.message.includes("\n"), false);
    });
  }
});

Deno.test("formatResponse() writes head and body in one buffer with the length and connection fields", () => {
  const now = Date.UTC(2026, 10, 28, 12, 0, 0);
  const keep = new TextDecoder().decode(formatResponse(200, { "content-type": "application/json" }, "{}", true, now));
  equal(
    keep,
    "HTTP/1.1 200 OK\r\ndate: Sat, 28 Nov 2026 12:00:00 GMT\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
  );
  const close = new TextDecoder().decode(formatResponse(413, {}, "é", false, now));
  equal(
    close,
    "HTTP/1.1 413 Content Too Large\r\ndate: Sat, 28 Nov 2026 12:00:00 GMT\r\ncontent-length: 2\r\n" +
      "connection: close\r\n\r\né",
  );
});
