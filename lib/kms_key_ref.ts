// How a KMS key may be named: key ID, key ARN, alias name or alias ARN (KMS's KeyId parameter). Checked before any
// AWS call, so a typo is a usage error and not an AWS one.
import { invalid } from "./errors.ts";

const keyId = "(?:mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})";
const aliasName = "alias/[A-Za-z0-9/_-]{1,250}";
const arnPrefix = "arn:aws(?:-cn|-us-gov|-iso|-iso-b)?:kms:[a-z0-9-]+:\\d{12}:";
const refPattern = new RegExp(`^(?:${keyId}|${aliasName}|${arnPrefix}(?:key/${keyId}|${aliasName}))$`);

/** Throws IrsaError invalid unless `ref` names a KMS key the way KMS accepts it. Pure. */
export function validateKmsKeyRef(ref: string): string {
  if (!refPattern.test(ref) || /^alias\/aws\//.test(ref.replace(/^arn:[^:]+:kms:[^:]+:\d{12}:/, ""))) {
    throw invalid(
      "InvalidKmsKey",
      `KMS key "${ref}" is not a key ID, key ARN, alias name (alias/...) or alias ARN of a customer managed key`,
    );
  }
  return ref;
}

/** Checks a list of key references: at least one, no repeats. */
export function validateKmsKeyRefs(refs: readonly string[]): string[] {
  if (refs.length === 0) throw invalid("KmsKeyMissing", "the KMS key source needs at least one KMS key");
  const seen = new Set<string>();
  for (const r of refs) {
    validateKmsKeyRef(r);
    if (seen.has(r)) throw invalid("InvalidKmsKey", `KMS key "${r}" is named twice`);
    seen.add(r);
  }
  return [...refs];
}
