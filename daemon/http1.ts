// The small part of HTTP/1.1 the webhook needs (RFC 9112): request heads with a Content-Length body, keep-alive,
// pipelining and `Expect: 100-continue`. The apiserver's Go client sends exactly this. Anything else gets a precise
// error status, and the connection is closed after it. Pure functions; the socket side is https_server.ts.

/** A parsed request line and header section. */
export interface RequestHead {
  method: string;
  target: string;
  version: "HTTP/1.0" | "HTTP/1.1";
  /** Lower-case names; repeated fields joined with ", ". */
  headers: Map<string, string>;
  contentLength: number;
  keepAlive: boolean;
  expectContinue: boolean;
  /** Bytes of the head, blank line included: the body starts here. */
  size: number;
}

/** Why a request cannot be served; the connection closes after the answer. */
export interface InvalidRequest {
  status: 400 | 411 | 413 | 417 | 431 | 505;
  message: string;
}

/** The outcome of reading a head from the start of a buffer. */
export type HeadParse =
  | { kind: "incomplete" }
  | { kind: "head"; head: RequestHead }
  | { kind: "invalid"; error: InvalidRequest };

/** Upper bounds for one request. */
export interface RequestLimits {
  maxHeadBytes: number;
  maxBodyBytes: number;
}

const headDecoder = new TextDecoder("latin1");
const encoder = new TextEncoder();
const token = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const requestLine = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP\/(\d)\.(\d)$/;

function invalid(status: InvalidRequest["status"], message: string): HeadParse {
  return { kind: "invalid", error: { status, message } };
}

/** Index just past the first CRLF CRLF in `buf`, or -1. */
function headEnd(buf: Uint8Array, limit: number): number {
  let i = buf.indexOf(10);
  while (i !== -1 && i < limit) {
    if (i >= 3 && buf[i - 1] === 13 && buf[i - 2] === 10 && buf[i - 3] === 13) return i + 1;
    i = buf.indexOf(10, i + 1);
  }
  return -1;
}

function hasToken(value: string | undefined, wanted: string): boolean {
  return value?.split(",").some((t) => t.trim().toLowerCase() === wanted) ?? false;
}

/** Parses the request head at the start of `buf`. */
export function parseRequestHead(buf: Uint8Array, limits: RequestLimits): HeadParse {
  const end = headEnd(buf, Math.min(buf.length, limits.maxHeadBytes));
  if (end === -1) {
    return buf.length >= limits.maxHeadBytes
      ? invalid(431, `the request head is larger than ${limits.maxHeadBytes} bytes`)
      : { kind: "incomplete" };
  }
  const lines = headDecoder.decode(buf.subarray(0, end - 4)).split("\r\n");
  const line = requestLine.exec(lines[0]!);
  if (!line) return invalid(400, "malformed request line");
  const [, method, target, major, minor] = line as unknown as [string, string, string, string, string];
  if (major !== "1" || (minor !== "0" && minor !== "1")) return invalid(505, `HTTP/${major}.${minor} is not supported`);
  const version = minor === "1" ? "HTTP/1.1" : "HTTP/1.0";
  const headers = new Map<string, string>();
  for (const field of lines.slice(1)) {
    // Line folding was deprecated by RFC 7230 and must be refused by a server that does not unfold.
    if (field.startsWith(" ") || field.startsWith("\t")) return invalid(400, "obsolete header line folding");
    const colon = field.indexOf(":");
    const name = field.slice(0, colon);
    if (colon <= 0 || !token.test(name)) return invalid(400, "malformed header field");
    const key = name.toLowerCase();
    const value = field.slice(colon + 1).trim();
    const previous = headers.get(key);
    headers.set(key, previous === undefined ? value : `${previous}, ${value}`);
  }
  if (version === "HTTP/1.1" && !headers.has("host")) return invalid(400, "HTTP/1.1 request without Host");
  // Both framings at once is how requests are smuggled; chunked alone is never sent by the apiserver.
  if (headers.has("transfer-encoding")) {
    return headers.has("content-length")
      ? invalid(400, "both Transfer-Encoding and Content-Length")
      : invalid(411, "chunked request bodies are not supported; send Content-Length");
  }
  let contentLength = 0;
  const lengthField = headers.get("content-length");
  if (lengthField !== undefined) {
    const values = new Set(lengthField.split(",").map((v) => v.trim()));
    const [only] = values;
    if (values.size !== 1 || !/^\d{1,15}$/.test(only!)) return invalid(400, "invalid Content-Length");
    contentLength = Number(only);
    if (contentLength > limits.maxBodyBytes) {
      return invalid(413, `the request body is larger than ${limits.maxBodyBytes} bytes`);
    }
  }
  const expect = headers.get("expect");
  if (expect !== undefined && expect.toLowerCase() !== "100-continue") return invalid(417, `unsupported Expect`);
  const connection = headers.get("connection");
  const keepAlive = version === "HTTP/1.1" ? !hasToken(connection, "close") : hasToken(connection, "keep-alive");
  return {
    kind: "head",
    head: {
      method,
      target,
      version,
      headers,
      contentLength,
      keepAlive,
      expectContinue: expect !== undefined,
      size: end,
    },
  };
}

const reasons: Record<number, string> = {
  100: "Continue",
  200: "OK",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  411: "Length Required",
  413: "Content Too Large",
  417: "Expectation Failed",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

let dateSecond = -1;
let dateValue = "";

/** The Date field an origin server must send, formatted at most once a second. */
function httpDate(now: number): string {
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(second * 1000).toUTCString();
  }
  return dateValue;
}

/** One whole response, head and body in one buffer, so that it leaves in one write. */
export function formatResponse(
  status: number,
  headers: Record<string, string>,
  body: Uint8Array | string,
  keepAlive: boolean,
  now = Date.now(),
): Uint8Array {
  const bytes = typeof body === "string" ? encoder.encode(body) : body;
  let head = `HTTP/1.1 ${status} ${reasons[status] ?? "Unknown"}\r\ndate: ${httpDate(now)}\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  head += `content-length: ${bytes.length}\r\n${keepAlive ? "" : "connection: close\r\n"}\r\n`;
  const headBytes = encoder.encode(head);
  const out = new Uint8Array(headBytes.length + bytes.length);
  out.set(headBytes);
  out.set(bytes, headBytes.length);
  return out;
}

/** The interim answer to `Expect: 100-continue`. */
export const continueResponse: Uint8Array = encoder.encode("HTTP/1.1 100 Continue\r\n\r\n");
