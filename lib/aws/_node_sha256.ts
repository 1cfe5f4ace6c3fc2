// The SDK's signer hashing with node:crypto, apart from the Web Crypto code under test (sigv4_test, s3_client_test).
import { createHash, createHmac } from "node:crypto";

const bytes = (d: string | ArrayBuffer | ArrayBufferView) =>
  typeof d === "string"
    ? d
    : d instanceof ArrayBuffer
    ? new Uint8Array(d)
    : new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

export class NodeSha256 {
  #hash;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#hash = secret ? createHmac("sha256", bytes(secret)) : createHash("sha256");
  }
  update(data: string | ArrayBuffer | ArrayBufferView) {
    this.#hash.update(bytes(data));
  }
  digest() {
    return Promise.resolve(new Uint8Array(this.#hash.digest()));
  }
  reset() {}
}
