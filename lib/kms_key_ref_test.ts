import assert from "node:assert/strict";
import { validateKmsKeyRef, validateKmsKeyRefs } from "./kms_key_ref.ts";
import { IrsaError } from "./errors.ts";

Deno.test("validateKmsKeyRef() accepts the four forms KMS takes", () => {
  for (
    const ref of [
      "1234abcd-12ab-34cd-56ef-1234567890ab",
      "mrk-1234abcd12ab34cd56ef1234567890ab",
      "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
      "alias/cluster-sa-signer",
      "arn:aws-cn:kms:cn-north-1:123456789012:alias/cluster-sa-signer",
    ]
  ) assert.equal(validateKmsKeyRef(ref), ref);
});

Deno.test("validateKmsKeyRef() refuses what KMS would refuse, and AWS managed aliases", () => {
  for (
    const ref of [
      "",
      "my-key",
      "1234ABCD-12ab-34cd-56ef-1234567890ab",
      "arn:aws:kms:eu-west-1:1234:key/1234abcd-12ab-34cd-56ef-1234567890ab",
      "arn:aws:s3:::bucket",
      "alias/aws/ebs",
      "arn:aws:kms:eu-west-1:123456789012:alias/aws/s3",
      "alias/has space",
    ]
  ) {
    assert.throws(() => validateKmsKeyRef(ref), (e) => e instanceof IrsaError && e.reason === "InvalidKmsKey", ref);
  }
});

Deno.test("validateKmsKeyRefs() needs one key and no repeats", () => {
  assert.throws(() => validateKmsKeyRefs([]), (e) => e instanceof IrsaError && e.reason === "KmsKeyMissing");
  assert.throws(() => validateKmsKeyRefs(["alias/a", "alias/a"]), /named twice/);
  assert.deepEqual(validateKmsKeyRefs(["alias/a", "alias/b"]), ["alias/a", "alias/b"]);
});
