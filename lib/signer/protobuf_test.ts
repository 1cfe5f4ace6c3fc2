import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import { isIrsaError } from "../errors.ts";
import {
  decodeEmpty,
  decodeFetchKeysResponse,
  decodeMetadataResponse,
  decodeSignJwtRequest,
  decodeSignJwtResponse,
  encodeEmpty,
  encodeFetchKeysResponse,
  encodeMetadataResponse,
  encodeSignJwtRequest,
  encodeSignJwtResponse,
  type FetchKeysResponse,
} from "./protobuf.ts";

const bytes = (...b: number[]) => Uint8Array.from(b);
const concat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));

const isMalformed = (e: unknown) => isIrsaError(e, "invalid") && e.reason === "MalformedProtobuf";

// Worked by hand from the protobuf encoding guide: tag = field << 3 | wire type.
const fetchKeysGolden = bytes(
  ...[0x0a, 0x09, 0x0a, 0x01, 0x6b, 0x12, 0x02, 0x01, 0x02, 0x18, 0x01], // keys { key_id "k" key 0102 exclude true }
  ...[0x12, 0x04, 0x08, 0x01, 0x10, 0x02], // data_timestamp { seconds 1 nanos 2 }
  ...[0x18, 0x3c], // refresh_hint_seconds 60
);
const fetchKeys: FetchKeysResponse = {
  keys: [{ keyId: "k", key: bytes(1, 2), excludeFromOidcDiscovery: true }],
  dataTimestamp: { seconds: 1n, nanos: 2 },
  refreshHintSeconds: 60n,
};

Deno.test("encoders write the proto3 wire format", async (t) => {
  const cases: { name: string; got: Uint8Array; want: Uint8Array }[] = [
    { name: "SignJWTRequest", got: encodeSignJwtRequest({ claims: "abc" }), want: bytes(0x0a, 3, 0x61, 0x62, 0x63) },
    {
      name: "SignJWTResponse",
      got: encodeSignJwtResponse({ header: "h", signature: "s" }),
      want: bytes(0x0a, 1, 0x68, 0x12, 1, 0x73),
    },
    { name: "FetchKeysResponse", got: encodeFetchKeysResponse(fetchKeys), want: fetchKeysGolden },
    {
      name: "MetadataResponse",
      got: encodeMetadataResponse({ maxTokenExpirationSeconds: 3600n }),
      want: bytes(0x08, 0x90, 0x1c),
    },
    {
      name: "negative int64 as ten bytes",
      got: encodeMetadataResponse({ maxTokenExpirationSeconds: -1n }),
      want: bytes(0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
    },
    { name: "defaults are left out", got: encodeSignJwtResponse({ header: "", signature: "" }), want: bytes() },
    {
      name: "an empty timestamp is still present",
      got: encodeFetchKeysResponse({ keys: [], dataTimestamp: { seconds: 0n, nanos: 0 }, refreshHintSeconds: 0n }),
      want: bytes(0x12, 0x00),
    },
    { name: "empty request", got: encodeEmpty(), want: bytes() },
  ];
  for (const c of cases) await t.step(c.name, () => deepStrictEqual(c.got, c.want));
});

Deno.test("decoders read back what the encoders write", () => {
  deepStrictEqual(decodeFetchKeysResponse(fetchKeysGolden), fetchKeys);
  deepStrictEqual(decodeSignJwtRequest(encodeSignJwtRequest({ claims: "eyJ4IjoxfQ" })), { claims: "eyJ4IjoxfQ" });
  deepStrictEqual(decodeSignJwtResponse(encodeSignJwtResponse({ header: "a", signature: "b" })), {
    header: "a",
    signature: "b",
  });
  for (const v of [0n, 1n, 600n, 2n ** 62n, -(2n ** 63n), 2n ** 63n - 1n]) {
    equal(
      decodeMetadataResponse(encodeMetadataResponse({ maxTokenExpirationSeconds: v })).maxTokenExpirationSeconds,
      v,
    );
  }
  deepStrictEqual(decodeFetchKeysResponse(bytes()), { keys: [], refreshHintSeconds: 0n });
});

Deno.test("decoders skip unknown fields of every wire type and known fields of another wire type", () => {
  const unknown = bytes(
    ...[0x78, 0x96, 0x01], // field 15 varint
    ...[0x79, 1, 2, 3, 4, 5, 6, 7, 8], // field 15 fixed64
    ...[0x7a, 0x02, 0xff, 0xfe], // field 15 bytes (not UTF-8: unknown bytes are never read as text)
    ...[0x7d, 1, 2, 3, 4], // field 15 fixed32
    ...[0x7b, 0x08, 0x01, 0x7b, 0x7c, 0x7c], // field 15 group holding a varint and a nested group
    ...[0x08, 0x05], // field 1 (claims, a string) sent as a varint
  );
  deepStrictEqual(decodeSignJwtRequest(concat(unknown, encodeSignJwtRequest({ claims: "c" }), unknown)), {
    claims: "c",
  });
  deepStrictEqual(decodeEmpty(unknown), {});
  deepStrictEqual(decodeFetchKeysResponse(concat(unknown, fetchKeysGolden)), fetchKeys);
});

Deno.test("decoders merge repeated embedded messages and keep the last scalar", () => {
  const m = decodeFetchKeysResponse(bytes(0x12, 0x02, 0x08, 0x05, 0x12, 0x02, 0x10, 0x07, 0x18, 0x01, 0x18, 0x02));
  deepStrictEqual(m.dataTimestamp, { seconds: 5n, nanos: 7 });
  equal(m.refreshHintSeconds, 2n);
});

Deno.test("decoders reject truncated and malformed input with MalformedProtobuf", async (t) => {
  const cases: { name: string; input: Uint8Array }[] = [
    { name: "truncated varint", input: bytes(0x08, 0x90) },
    { name: "truncated tag", input: bytes(0x80) },
    { name: "length past the end", input: bytes(0x0a, 0x05, 0x61) },
    { name: "truncated fixed64", input: bytes(0x79, 1, 2) },
    { name: "truncated fixed32", input: bytes(0x7d, 1) },
    { name: "unterminated group", input: bytes(0x7b, 0x08, 0x01) },
    { name: "end group without start", input: bytes(0x7c) },
    { name: "mismatched end group", input: bytes(0x7b, 0x74) },
    { name: "wire type 6", input: bytes(0x0e) },
    { name: "wire type 7", input: bytes(0x0f) },
    { name: "field number 0", input: bytes(0x00, 0x00) },
    { name: "varint over 64 bits", input: bytes(0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02) },
    { name: "string that is not UTF-8", input: bytes(0x0a, 0x02, 0xc3, 0x28) },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      throws(() => decodeSignJwtRequest(c.input), isMalformed);
      // Fields of an empty message are all unknown, so their bytes are skipped, never read as text.
      if (c.name !== "string that is not UTF-8") throws(() => decodeEmpty(c.input), isMalformed);
    });
  }
  await t.step("every strict prefix of a nested message", () => {
    for (let n = 1; n < fetchKeysGolden.length; n++) {
      const prefix = fetchKeysGolden.subarray(0, n);
      // A prefix that ends on a field boundary is a valid shorter message.
      const boundary = [11, 17].includes(n);
      if (boundary) ok(decodeFetchKeysResponse(prefix));
      else throws(() => decodeFetchKeysResponse(prefix), isMalformed, `prefix of ${n} bytes`);
    }
  });
});
