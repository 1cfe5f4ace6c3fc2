import { deepStrictEqual, equal, throws } from "node:assert/strict";
import {
  children,
  integer,
  namedBits,
  objectIdentifier,
  readElement,
  readObjectIdentifier,
  readTime,
  time,
  tlv,
  unsignedInteger,
} from "./der.ts";

const hex = (b: Uint8Array) => Array.from(b, (v) => v.toString(16).padStart(2, "0")).join("");

Deno.test("DER writers produce the encodings X.690 gives", () => {
  equal(hex(objectIdentifier("1.2.840.10045.4.3.2")), "06082a8648ce3d040302");
  equal(hex(objectIdentifier("2.5.29.17")), "0603551d11");
  equal(hex(integer(0)), "020100");
  equal(hex(integer(2)), "020102");
  equal(hex(integer(128)), "02020080", "a sign byte keeps it positive");
  equal(hex(unsignedInteger(Uint8Array.of(0, 0, 0x7f))), "02017f", "leading zeros dropped");
  equal(hex(namedBits([5, 6])), "03020106", "keyCertSign and cRLSign");
  equal(hex(namedBits([0, 2])), "030205a0", "digitalSignature and keyEncipherment");
  equal(hex(tlv(0x04, new Uint8Array(200))).slice(0, 6), "0481c8", "long form length");
  equal(hex(tlv(0x04, new Uint8Array(300))).slice(0, 8), "0482012c");
  equal(new TextDecoder().decode(time(new Date("2049-12-31T23:59:59Z")).subarray(2)), "491231235959Z");
  equal(new TextDecoder().decode(time(new Date("2050-01-01T00:00:00Z")).subarray(2)), "20500101000000Z");
});

Deno.test("DER reader round-trips what the writers produce and refuses truncated input", () => {
  for (const id of ["1.2.840.113549.1.1.11", "2.5.4.3", "0.9.2342.19200300.100.1.25", "1.3.132.0.34"]) {
    equal(readObjectIdentifier(readElement(objectIdentifier(id)).content), id);
  }
  for (const date of ["1999-01-02T03:04:05Z", "2049-12-31T23:59:59Z", "2050-01-01T00:00:00Z"]) {
    equal(readTime(readElement(time(new Date(date)))).toISOString(), new Date(date).toISOString());
  }
  const nested = tlv(0x30, integer(1), tlv(0x04, new Uint8Array(300)), objectIdentifier("2.5.4.3"));
  deepStrictEqual(children(readElement(nested).content).map((e) => e.tag), [0x02, 0x04, 0x06]);
  throws(() => readElement(nested.subarray(0, nested.length - 1)), /truncated/);
  throws(() => readElement(Uint8Array.of(0x30, 0x80, 0, 0)), /unsupported length/);
  throws(() => readElement(Uint8Array.of(0x30, 0x82, 0x01)), /truncated/);
});
