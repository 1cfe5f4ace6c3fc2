// ASN.1 DER: the writers X.509 certificates need and a reader of tag-length-value elements. Our own, because the
// X.509 libraries on npm are CommonJS builds whose loader costs the daemon several MiB of resident memory.

/** Bytes over a plain ArrayBuffer, which Web Crypto accepts. */
export type Bytes = Uint8Array<ArrayBuffer>;

/** A parsed element: its tag, its content, and the whole encoding (tag, length and content). */
export interface DerElement {
  tag: number;
  content: Bytes;
  raw: Bytes;
}

function concat(parts: Bytes[]): Bytes {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function lengthBytes(n: number): Bytes {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** One element from a tag and its content. */
export function tlv(tag: number, ...content: Bytes[]): Bytes {
  const body = concat(content);
  return concat([Uint8Array.of(tag), lengthBytes(body.length), body]);
}

export const sequence = (...items: Bytes[]): Bytes => tlv(0x30, ...items);
export const set = (...items: Bytes[]): Bytes => tlv(0x31, ...items);
export const octetString = (bytes: Bytes): Bytes => tlv(0x04, bytes);
export const utf8String = (text: string): Bytes => tlv(0x0c, new TextEncoder().encode(text));
export const boolean = (value: boolean): Bytes => tlv(0x01, Uint8Array.of(value ? 0xff : 0));
/** An explicit or constructed context-specific tag [n]. */
export const contextConstructed = (n: number, ...items: Bytes[]): Bytes => tlv(0xa0 | n, ...items);
/** An implicit primitive context-specific tag [n]. */
export const contextPrimitive = (n: number, bytes: Bytes): Bytes => tlv(0x80 | n, bytes);

/** A non-negative INTEGER from big-endian magnitude bytes (leading zeros dropped, a sign byte added as needed). */
export function unsignedInteger(bytes: Bytes): Bytes {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const magnitude = bytes.subarray(i);
  return tlv(0x02, magnitude[0]! & 0x80 ? concat([Uint8Array.of(0), magnitude]) : magnitude);
}

export function integer(n: number): Bytes {
  if (n < 0 || !Number.isSafeInteger(n)) throw new Error(`DER: unsupported integer ${n}`);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return unsignedInteger(Uint8Array.from(bytes.length ? bytes : [0]));
}

/** A BIT STRING holding whole bytes (no unused bits). */
export function bitString(bytes: Bytes): Bytes {
  return tlv(0x03, Uint8Array.of(0), bytes);
}

/** A named-bit BIT STRING (bit 0 is the most significant bit of the first byte), trailing zero bits dropped. */
export function namedBits(bits: number[]): Bytes {
  const last = Math.max(...bits);
  const bytes = new Uint8Array(Math.floor(last / 8) + 1);
  for (const b of bits) bytes[b >> 3]! |= 0x80 >> (b & 7);
  return tlv(0x03, Uint8Array.of(7 - (last & 7)), bytes);
}

export function objectIdentifier(oid: string): Bytes {
  const arcs = oid.split(".").map(Number);
  const out = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Uint8Array.from(out));
}

/** UTCTime through 2049, GeneralizedTime from 2050, as RFC 5280 requires; whole seconds, UTC. */
export function time(date: Date): Bytes {
  const iso = date.toISOString(); // 2026-12-03T10:41:13.000Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, "") + "Z";
  const year = date.getUTCFullYear();
  return year < 2050
    ? tlv(0x17, new TextEncoder().encode(digits.slice(2)))
    : tlv(0x18, new TextEncoder().encode(digits));
}

/** Reads one element at `at`; throws on truncated or indefinite-length input. */
export function readElement(bytes: Bytes, at = 0): DerElement & { end: number } {
  if (at + 2 > bytes.length) throw new Error("DER: truncated element");
  const tag = bytes[at]!;
  if ((tag & 0x1f) === 0x1f) throw new Error("DER: multi-byte tags are not supported");
  let length = bytes[at + 1]!;
  let start = at + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) throw new Error("DER: unsupported length");
    if (start + count > bytes.length) throw new Error("DER: truncated element");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[start + i]!;
    start += count;
  }
  const end = start + length;
  if (end > bytes.length) throw new Error("DER: truncated element");
  return { tag, content: bytes.subarray(start, end), raw: bytes.subarray(at, end), end };
}

/** The elements inside a constructed element's content, in order. */
export function children(content: Bytes): DerElement[] {
  const out: DerElement[] = [];
  for (let at = 0; at < content.length;) {
    const e = readElement(content, at);
    out.push({ tag: e.tag, content: e.content, raw: e.raw });
    at = e.end;
  }
  return out;
}

export function readObjectIdentifier(content: Bytes): string {
  const arcs: number[] = [];
  let v = 0;
  for (const b of content) {
    v = v * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      arcs.push(v);
      v = 0;
    }
  }
  const first = arcs.shift() ?? 0;
  const top = first < 80 ? Math.floor(first / 40) : 2;
  return [top, first - 40 * top, ...arcs].join(".");
}

/** A UTCTime (0x17) or GeneralizedTime (0x18) element as a Date. */
export function readTime(e: DerElement): Date {
  const text = new TextDecoder().decode(e.content);
  const m = /^(\d{2}|\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?Z$/.exec(text);
  if (!m || (e.tag === 0x17) !== (m[1]!.length === 2)) throw new Error(`DER: unsupported time ${text}`);
  const yy = Number(m[1]);
  const year = e.tag === 0x17 ? (yy < 50 ? 2000 + yy : 1900 + yy) : yy;
  return new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0)));
}

/** Big-endian magnitude of a non-negative INTEGER's content, at least `size` bytes long. */
export function integerBytes(content: Bytes, size = 0): Bytes {
  let i = 0;
  while (i < content.length - 1 && content[i] === 0) i++;
  const magnitude = content.subarray(i);
  if (magnitude.length >= size) return magnitude;
  const out = new Uint8Array(size);
  out.set(magnitude, size - magnitude.length);
  return out;
}
