// Input checks that run before anything is written. moto accepts over-long names and invalid JSON, and real
// AWS answers with messages that do not name our flag, so every rule is checked here first and the error names
// the offending value and the rule in one line.

import { invalid } from "./errors.ts";

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const roleNameChars = /^[\w+=,.@-]+$/;
// IAM's own pattern for paths: (\u002F)|(\u002F[\u0021-\u007E]+\u002F).
const rolePathPattern = /^\/([\x21-\x7E]+\/)?$/;
const tagChars = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;

/** Most tags IAM accepts on one resource. */
export const maxTags = 50;
/** Bounds of a role's MaxSessionDuration, in seconds. */
export const sessionDurationBounds = { min: 3600, max: 43200 } as const;
/** Bounds of a projected ServiceAccount token's lifetime, in seconds; kube-apiserver refuses less than 600 s. */
export const tokenExpirationBounds = { min: 600, max: 2 ** 32 } as const;
/** IAM's size limits for policy documents, in characters without whitespace. */
export const policySizeLimits = { trust: 2048, inline: 10240 } as const;

/** Throws unless `value` is a DNS-1123 label (what Kubernetes requires of a namespace name). */
export function validateDnsLabel(kind: string, value: string): void {
  if (value.length === 0 || value.length > 63 || !dnsLabel.test(value)) {
    throw invalid(
      "InvalidName",
      `Invalid ${kind} ${JSON.stringify(value)}: must be a DNS-1123 label of 1-63 lower-case letters, digits or '-', ` +
        "starting and ending with a letter or digit",
    );
  }
}

/** Throws unless `value` is a DNS-1123 subdomain (what Kubernetes requires of a ServiceAccount name). */
export function validateDnsSubdomain(kind: string, value: string): void {
  if (value.length === 0 || value.length > 253 || !dnsSubdomain.test(value)) {
    throw invalid(
      "InvalidName",
      `Invalid ${kind} ${JSON.stringify(value)}: must be a DNS-1123 subdomain of 1-253 lower-case letters, digits, ` +
        "'-' or '.', starting and ending with a letter or digit",
    );
  }
}

/** Throws unless `name` is a valid IAM role name: 1-64 characters of letters, digits and `+=,.@_-`. */
export function validateRoleName(name: string): void {
  if (name.length === 0 || name.length > 64 || !roleNameChars.test(name)) {
    throw invalid(
      "InvalidRoleName",
      `Invalid IAM role name ${JSON.stringify(name)}: must be 1-64 characters of letters, digits and '+=,.@_-'`,
    );
  }
}

/** Throws unless `path` is a valid IAM path: "/" or "/a/b/", printable ASCII, at most 512 characters. */
export function validateRolePath(path: string): void {
  if (path.length > 512 || !rolePathPattern.test(path) || path.includes("//")) {
    throw invalid(
      "InvalidRolePath",
      `Invalid IAM path ${JSON.stringify(path)}: must be "/" or begin and end with "/" (like "/team/app/"), ` +
        "hold no empty segment or whitespace, and be at most 512 characters",
    );
  }
}

/**
 * Throws unless `url` is an absolute https:// or http:// URL with a host, usable as AWS_ENDPOINT_URL (a VPC endpoint,
 * an S3-compatible store, an emulator). No credentials, query or fragment: the SDK would not use them, and install
 * puts the value in the Deployment in clear.
 */
export function validateEndpointUrl(url: string): void {
  let parsed: URL | undefined;
  try {
    parsed = /\s/.test(url) ? undefined : new URL(url);
  } catch {
    parsed = undefined;
  }
  const reason = !parsed || (parsed.protocol !== "https:" && parsed.protocol !== "http:") || parsed.hostname === ""
    ? "must be an absolute https:// or http:// URL, like https://s3.internal.example:9000"
    : parsed.username !== "" || parsed.password !== ""
    ? "must not hold credentials; give them as AWS credentials instead"
    : parsed.search !== "" || parsed.hash !== ""
    ? "must not have a query or a fragment"
    : undefined;
  if (reason) throw invalid("InvalidEndpointUrl", `Invalid AWS endpoint URL ${JSON.stringify(url)}: ${reason}`);
}

function validateTag(key: string, value: string): void {
  if (key.length === 0 || key.length > 128) {
    throw invalid("InvalidTag", `Invalid tag key ${JSON.stringify(key)}: must be 1-128 characters`);
  }
  if (!tagChars.test(key)) {
    throw invalid(
      "InvalidTag",
      `Invalid tag key ${JSON.stringify(key)}: only letters, digits, spaces and '_.:/=+-@' are allowed`,
    );
  }
  // AWS reserves the prefix in any letter case for its own tags and refuses user tags that start with it.
  if (key.toLowerCase().startsWith("aws:")) {
    throw invalid("InvalidTag", `Invalid tag key ${JSON.stringify(key)}: the prefix "aws:" is reserved by AWS`);
  }
  if (value.length > 256) {
    throw invalid(
      "InvalidTag",
      `Invalid value ${JSON.stringify(value)} of tag ${JSON.stringify(key)}: must be at most 256 characters`,
    );
  }
  if (!tagChars.test(value)) {
    throw invalid(
      "InvalidTag",
      `Invalid value ${JSON.stringify(value)} of tag ${JSON.stringify(key)}: only letters, digits, spaces and ` +
        "'_.:/=+-@' are allowed",
    );
  }
}

/** Throws unless `tags` respects IAM's tag rules: at most 50, keys 1-128 and values up to 256 characters. */
export function validateTags(tags: Readonly<Record<string, string>>): void {
  const entries = Object.entries(tags);
  if (entries.length > maxTags) {
    throw invalid("InvalidTag", `Too many tags (${entries.length}): IAM allows at most ${maxTags} per resource`);
  }
  for (const [key, value] of entries) validateTag(key, value);
}

/** Parses a `key=value` flag into a tag; the value may be empty and may itself contain "=". */
export function parseTag(text: string): { key: string; value: string } {
  const eq = text.indexOf("=");
  if (eq < 0) {
    throw invalid("InvalidTag", `Invalid tag ${JSON.stringify(text)}: expected key=value`);
  }
  const key = text.slice(0, eq);
  const value = text.slice(eq + 1);
  validateTag(key, value);
  return { key, value };
}

interface RangeRule {
  what: string;
  reason: string;
  min: number;
  max: number;
  note?: string;
}

function validateIntegerRange(n: number, rule: RangeRule): void {
  if (!Number.isInteger(n) || n < rule.min || n > rule.max) {
    throw invalid(
      rule.reason,
      `Invalid ${rule.what} ${String(n)}: must be a whole number of seconds from ${rule.min} to ${rule.max}` +
        (rule.note ?? ""),
    );
  }
}

/** Throws unless `seconds` is a whole number from 3600 to 43200, IAM's bounds for a role's MaxSessionDuration. */
export function validateMaxSessionDuration(seconds: number): void {
  validateIntegerRange(seconds, {
    what: "MaxSessionDuration",
    reason: "InvalidMaxSessionDuration",
    ...sessionDurationBounds,
  });
}

/** Throws unless `seconds` is a whole number from 600 to 2^32, the bounds of a projected token's lifetime. */
export function validateTokenExpiration(seconds: number): void {
  validateIntegerRange(seconds, {
    what: "token expiration",
    reason: "InvalidTokenExpiration",
    ...tokenExpirationBounds,
    note: " (ServiceAccount tokens live at least 600 s)",
  });
}

/** Length of a policy document as IAM counts it against its quota: every character except whitespace. */
export function policySize(text: string): number {
  return text.replace(/\s/g, "").length;
}

/** Throws when a trust (2048) or inline (10240) policy document exceeds IAM's size limit. */
export function validatePolicyDocumentSize(kind: "trust" | "inline", text: string): void {
  const size = policySize(text);
  const limit = policySizeLimits[kind];
  if (size > limit) {
    throw invalid(
      "PolicyTooLarge",
      `The ${kind} policy is ${size} characters without whitespace: IAM allows at most ${limit}`,
    );
  }
}

/** A parsed inline policy: a JSON object that has at least a Version and a Statement. */
export interface InlinePolicyJson {
  Version: string;
  Statement: unknown;
  [key: string]: unknown;
}

/** Parses an inline policy and throws unless it is a JSON object with a string Version and a Statement. */
export function validateInlinePolicyJson(text: string): InlinePolicyJson {
  const short = text.length > 60 ? `${text.slice(0, 57)}...` : text;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw invalid(
      "InvalidPolicyDocument",
      `Invalid inline policy ${JSON.stringify(short)}: not JSON (${(e as Error).message})`,
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw invalid("InvalidPolicyDocument", `Invalid inline policy ${JSON.stringify(short)}: must be a JSON object`);
  }
  const doc = parsed as Record<string, unknown>;
  if (typeof doc.Version !== "string") {
    throw invalid(
      "InvalidPolicyDocument",
      `Invalid inline policy ${JSON.stringify(short)}: needs a "Version" such as "2012-10-17"`,
    );
  }
  const statement = doc.Statement;
  if (typeof statement !== "object" || statement === null) {
    throw invalid(
      "InvalidPolicyDocument",
      `Invalid inline policy ${JSON.stringify(short)}: needs a "Statement" object or array`,
    );
  }
  return doc as InlinePolicyJson;
}
