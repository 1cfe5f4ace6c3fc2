// A hand-written proto3 codec for the messages of k8s.io/externaljwt/apis/v1 (api.proto). Six small messages do
// not justify a protobuf runtime and its code generator; field numbers and wire types are written out here.
// Decoding follows protobuf-go: unknown fields (and known fields of an unexpected wire type) are skipped, the
// last value of a scalar wins, repeated embedded messages merge, and truncated or invalid input is refused.
import { IrsaError } from "../errors.ts";

/** google.protobuf.Timestamp. */
export type Timestamp = { seconds: bigint; nanos: number };

/** SignJWTRequest: `claims` is the unpadded base64url of the JSON claims. */
export type SignJwtRequest = { claims: string };

/** SignJWTResponse: both unpadded base64url; the apiserver assembles `header.claims.signature`. */
export type SignJwtResponse = { header: string; signature: string };

/** FetchKeysRequest and MetadataRequest carry no fields. */
export type EmptyRequest = Record<string, never>;

/** Key: `key` is a DER PKIX (SPKI) public key. */
export type Key = { keyId: string; key: Uint8Array; excludeFromOidcDiscovery: boolean };

/** FetchKeysResponse. */
export type FetchKeysResponse = { keys: Key[]; dataTimestamp?: Timestamp; refreshHintSeconds: bigint };

/** MetadataResponse. */
export type MetadataResponse = { maxTokenExpirationSeconds: bigint };

const wire = { varint: 0, fixed64: 1, bytes: 2, startGroup: 3, endGroup: 4, fixed32: 5 } as const;

function malformed(message: string): IrsaError {
  return new IrsaError("invalid", "MalformedProtobuf", `Malformed protobuf: ${message}`);
}

// ---- encoding -----------------------------------------------------------------------------------------------

class Writer {
  private readonly out: number[] = [];

  varint(value: bigint): void {
    // Negative int64/int32 values are sent as their 64-bit two's complement, ten bytes.
    let v = BigInt.asUintN(64, value);
    while (v >= 0x80n) {
      this.out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.out.push(Number(v));
  }

  private tag(field: number, type: number): void {
    this.varint(BigInt(field * 8 + type));
  }

  /** proto3 leaves out fields that hold their default value, so these all skip zero, "" and false. */
  int(field: number, value: bigint | number): void {
    const v = BigInt(value);
    if (v === 0n) return;
    this.tag(field, wire.varint);
    this.varint(v);
  }

  bool(field: number, value: boolean): void {
    if (value) this.int(field, 1n);
  }

  string(field: number, value: string): void {
    if (value !== "") this.bytes(field, new TextEncoder().encode(value));
  }

  bytes(field: number, value: Uint8Array): void {
    if (value.length > 0) this.message(field, value);
  }

  /** An embedded message has presence: it is written even when empty. */
  message(field: number, encoded: Uint8Array): void {
    this.tag(field, wire.bytes);
    this.varint(BigInt(encoded.length));
    for (const b of encoded) this.out.push(b);
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

function encodeWith(write: (w: Writer) => void): Uint8Array {
  const w = new Writer();
  write(w);
  return w.finish();
}

export function encodeSignJwtRequest(m: SignJwtRequest): Uint8Array {
  return encodeWith((w) => w.string(1, m.claims));
}

export function encodeSignJwtResponse(m: SignJwtResponse): Uint8Array {
  return encodeWith((w) => {
    w.string(1, m.header);
    w.string(2, m.signature);
  });
}

/** FetchKeysRequest and MetadataRequest: zero bytes. */
export function encodeEmpty(): Uint8Array {
  return new Uint8Array(0);
}

function encodeTimestamp(t: Timestamp): Uint8Array {
  return encodeWith((w) => {
    w.int(1, t.seconds);
    w.int(2, t.nanos);
  });
}

function encodeKey(k: Key): Uint8Array {
  return encodeWith((w) => {
    w.string(1, k.keyId);
    w.bytes(2, k.key);
    w.bool(3, k.excludeFromOidcDiscovery);
  });
}

export function encodeFetchKeysResponse(m: FetchKeysResponse): Uint8Array {
  return encodeWith((w) => {
    for (const k of m.keys) w.message(1, encodeKey(k));
    if (m.dataTimestamp !== undefined) w.message(2, encodeTimestamp(m.dataTimestamp));
    w.int(3, m.refreshHintSeconds);
  });
}

export function encodeMetadataResponse(m: MetadataResponse): Uint8Array {
  return encodeWith((w) => w.int(1, m.maxTokenExpirationSeconds));
}

// ---- decoding -----------------------------------------------------------------------------------------------

class Reader {
  pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  done(): boolean {
    return this.pos >= this.buf.length;
  }

  varint(): bigint {
    let v = 0n;
    for (let i = 0; i < 10; i++) {
      const b = this.buf[this.pos++];
      if (b === undefined) throw malformed("truncated varint");
      // The tenth byte may only carry the 64th bit.
      if (i === 9 && b > 1) throw malformed("varint overflows 64 bits");
      v |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (b < 0x80) return v;
    }
    throw malformed("varint overflows 64 bits");
  }

  tag(): { field: number; type: number } {
    const t = this.varint();
    const field = Number(t >> 3n);
    const type = Number(t & 7n);
    if (field < 1 || field > 0x1fffffff) throw malformed(`invalid field number ${field}`);
    return { field, type };
  }

  bytes(): Uint8Array {
    const len = this.varint();
    if (len > BigInt(this.buf.length - this.pos)) throw malformed("truncated length-delimited field");
    const start = this.pos;
    this.pos += Number(len);
    return this.buf.slice(start, this.pos);
  }

  private advance(n: number): void {
    if (this.pos + n > this.buf.length) throw malformed("truncated fixed-width field");
    this.pos += n;
  }

  skip(field: number, type: number): void {
    switch (type) {
      case wire.varint:
        this.varint();
        return;
      case wire.fixed64:
        this.advance(8);
        return;
      case wire.bytes:
        this.bytes();
        return;
      case wire.fixed32:
        this.advance(4);
        return;
      case wire.startGroup:
        // A (deprecated) group runs to the end-group tag of the same field; groups may nest.
        for (;;) {
          if (this.done()) throw malformed(`unterminated group ${field}`);
          const t = this.tag();
          if (t.type === wire.endGroup) {
            if (t.field !== field) throw malformed(`mismatched end of group ${field}`);
            return;
          }
          this.skip(t.field, t.type);
        }
      case wire.endGroup:
        throw malformed(`unexpected end of group ${field}`);
      default:
        throw malformed(`invalid wire type ${type}`);
    }
  }
}

type FieldReader = (field: number, type: number, r: Reader) => boolean;

/** Walks the fields; `read` consumes the ones it knows and returns false (consuming nothing) for the rest. */
function decodeWith(buf: Uint8Array, read: FieldReader): void {
  const r = new Reader(buf);
  while (!r.done()) {
    const { field, type } = r.tag();
    if (!read(field, type, r)) r.skip(field, type);
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

// proto3 strings must be valid UTF-8; protobuf-go refuses the message otherwise.
function text(r: Reader): string {
  try {
    return utf8.decode(r.bytes());
  } catch (e) {
    if (e instanceof IrsaError) throw e;
    throw malformed("string field is not valid UTF-8");
  }
}

const int64 = (r: Reader) => BigInt.asIntN(64, r.varint());
const int32 = (r: Reader) => Number(BigInt.asIntN(32, r.varint()));

export function decodeSignJwtRequest(buf: Uint8Array): SignJwtRequest {
  const m: SignJwtRequest = { claims: "" };
  decodeWith(buf, (field, type, r) => {
    if (field === 1 && type === wire.bytes) m.claims = text(r);
    else return false;
    return true;
  });
  return m;
}

export function decodeSignJwtResponse(buf: Uint8Array): SignJwtResponse {
  const m: SignJwtResponse = { header: "", signature: "" };
  decodeWith(buf, (field, type, r) => {
    if (field === 1 && type === wire.bytes) m.header = text(r);
    else if (field === 2 && type === wire.bytes) m.signature = text(r);
    else return false;
    return true;
  });
  return m;
}

/** FetchKeysRequest and MetadataRequest: any fields are unknown and skipped, but the input must be well-formed. */
export function decodeEmpty(buf: Uint8Array): EmptyRequest {
  decodeWith(buf, () => false);
  return {};
}

function decodeTimestamp(buf: Uint8Array, into: Timestamp): Timestamp {
  decodeWith(buf, (field, type, r) => {
    if (field === 1 && type === wire.varint) into.seconds = int64(r);
    else if (field === 2 && type === wire.varint) into.nanos = int32(r);
    else return false;
    return true;
  });
  return into;
}

function decodeKey(buf: Uint8Array): Key {
  const k: Key = { keyId: "", key: new Uint8Array(0), excludeFromOidcDiscovery: false };
  decodeWith(buf, (field, type, r) => {
    if (field === 1 && type === wire.bytes) k.keyId = text(r);
    else if (field === 2 && type === wire.bytes) k.key = r.bytes();
    else if (field === 3 && type === wire.varint) k.excludeFromOidcDiscovery = r.varint() !== 0n;
    else return false;
    return true;
  });
  return k;
}

export function decodeFetchKeysResponse(buf: Uint8Array): FetchKeysResponse {
  const m: FetchKeysResponse = { keys: [], refreshHintSeconds: 0n };
  decodeWith(buf, (field, type, r) => {
    if (field === 1 && type === wire.bytes) m.keys.push(decodeKey(r.bytes()));
    else if (field === 2 && type === wire.bytes) {
      m.dataTimestamp = decodeTimestamp(r.bytes(), m.dataTimestamp ?? { seconds: 0n, nanos: 0 });
    } else if (field === 3 && type === wire.varint) m.refreshHintSeconds = int64(r);
    else return false;
    return true;
  });
  return m;
}

export function decodeMetadataResponse(buf: Uint8Array): MetadataResponse {
  const m: MetadataResponse = { maxTokenExpirationSeconds: 0n };
  decodeWith(buf, (field, type, r) => {
    if (field === 1 && type === wire.varint) m.maxTokenExpirationSeconds = int64(r);
    else return false;
    return true;
  });
  return m;
}
