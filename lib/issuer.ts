// Issuer URL, bucket and region rules. The issuer string must match the token's `iss`, the discovery document
// and the IAM OIDC provider byte for byte, so it is validated here once and never rewritten afterwards.

import { invalid } from "./errors.ts";

/** An AWS partition. Only a hint when derived from a region: ARNs take the partition from STS. */
export type Partition = "aws" | "aws-cn" | "aws-us-gov" | "aws-iso" | "aws-iso-b";

// DNS suffixes per partition, from the AWS SDK's partitions.json.
const dnsSuffix: Record<Partition, string> = {
  "aws": "amazonaws.com",
  "aws-cn": "amazonaws.com.cn",
  "aws-us-gov": "amazonaws.com",
  "aws-iso": "c2s.ic.gov",
  "aws-iso-b": "sc2s.sgov.gov",
};

// IAM's limit on CreateOpenIDConnectProvider's Url.
const maxIssuerLength = 255;

/** The partition a region probably belongs to; a hint for defaults and messages, never for ARNs. */
export function partitionOfRegion(region: string): Partition {
  if (region.startsWith("cn-")) return "aws-cn";
  if (region.startsWith("us-gov-")) return "aws-us-gov";
  if (region.startsWith("us-isob-")) return "aws-iso-b";
  if (region.startsWith("us-iso-")) return "aws-iso";
  return "aws";
}

/**
 * The default issuer: the path-style S3 URL of the bucket. The `s3.<region>` form works in every region (the
 * seed's `s3-<region>` form only in older ones), and path style keeps TLS valid for bucket names with dots.
 */
export function defaultIssuerUrl(bucket: string, region: string): string {
  validateBucketName(bucket);
  validateRegion(region);
  return `https://s3.${region}.${dnsSuffix[partitionOfRegion(region)]}/${bucket}`;
}

/** The issuer without `https://`: the IAM OIDC provider URL and the prefix of its condition keys. */
export function issuerHostPath(issuer: string): string {
  // A bare host/path (as IAM shows provider URLs) is accepted and checked by the same rules as the URL.
  const url = issuer.includes("://") ? issuer : `https://${issuer}`;
  return validateIssuerUrl(url).slice("https://".length);
}

const hostPattern = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
// RFC 3986 pchar without percent-encoding, which would make the S3 key and the `iss` claim disagree.
const segmentPattern = /^[A-Za-z0-9._~!$&'()*+,;=:@-]+$/;

function badIssuer(url: string, why: string): Error {
  return invalid("InvalidIssuerUrl", `Issuer URL "${url}" ${why}`);
}

/**
 * Checks that `url` can be an IRSA issuer and returns it without surrounding whitespace. Nothing else is
 * normalised: the same string must appear in the apiserver flag, the discovery document and IAM.
 */
export function validateIssuerUrl(url: string): string {
  const u = url.trim();
  if (u === "") throw invalid("InvalidIssuerUrl", "Issuer URL is empty; pass an https:// URL");
  if (!u.startsWith("https://")) {
    const fixed = u.replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\//, "");
    throw badIssuer(u, `must start with https:// because STS fetches the keys over TLS; use "https://${fixed}"`);
  }
  if (u.length > maxIssuerLength) {
    throw badIssuer(u, `is longer than IAM's limit of ${maxIssuerLength} characters; use a shorter bucket or path`);
  }
  if (u.includes("?")) throw badIssuer(u, `must not have a query; remove everything from "?"`);
  if (u.includes("#")) throw badIssuer(u, `must not have a fragment; remove everything from "#"`);
  if (/\s/.test(u)) throw badIssuer(u, "must not contain whitespace");
  if (u.endsWith("/")) {
    throw badIssuer(
      u,
      `must not end with "/" because tokens and IAM compare it exactly; use "${u.replace(/\/+$/, "")}"`,
    );
  }
  const rest = u.slice("https://".length);
  const slash = rest.indexOf("/");
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  if (authority.includes("@")) throw badIssuer(u, 'must not contain user information; remove the part before "@"');
  const m = /^([^:]*)(?::(\d{1,5}))?$/.exec(authority);
  const host = m?.[1] ?? "";
  if (m === null || host === "") throw badIssuer(u, "has no valid host name");
  if (host !== host.toLowerCase()) {
    throw badIssuer(u, `has upper-case letters in the host; use "${host.toLowerCase()}"`);
  }
  if (!hostPattern.test(host)) throw badIssuer(u, `has an invalid host name "${host}"`);
  const port = m[2];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
    throw badIssuer(u, `has an invalid port "${port}"`);
  }
  if (slash !== -1) {
    for (const seg of rest.slice(slash + 1).split("/")) {
      if (seg === "") throw badIssuer(u, `has an empty path segment ("//"); remove the extra "/"`);
      if (seg === "." || seg === "..") throw badIssuer(u, `must not contain "." or ".." path segments`);
      if (seg.includes("%")) throw badIssuer(u, "must not contain percent-encoded characters");
      if (!segmentPattern.test(seg)) throw badIssuer(u, `has invalid characters in path segment "${seg}"`);
    }
  }
  return u;
}

function badBucket(name: string, why: string): Error {
  return invalid("InvalidBucketName", `Bucket name "${name}" ${why}`);
}

// Suffixes and prefixes S3 reserves for access points, aliases and directory/table buckets.
const reservedPrefixes = ["xn--", "sthree-", "amzn-s3-demo-"];
const reservedSuffixes = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];

/** Checks a general-purpose S3 bucket name against S3's naming rules and returns it; the error names the rule. */
export function validateBucketName(name: string): string {
  if (name.length < 3 || name.length > 63) {
    throw badBucket(name, `must be 3 to 63 characters long (it has ${name.length})`);
  }
  if (/[A-Z]/.test(name)) throw badBucket(name, `must be lower case; use "${name.toLowerCase()}"`);
  if (!/^[a-z0-9.-]+$/.test(name)) {
    throw badBucket(name, "may contain only lower-case letters, digits, dots and hyphens");
  }
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name)) {
    throw badBucket(name, "must start and end with a letter or digit");
  }
  if (name.includes("..")) throw badBucket(name, "must not contain two adjacent dots");
  if (/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name)) throw badBucket(name, "must not look like an IP address");
  for (const p of reservedPrefixes) {
    if (name.startsWith(p)) throw badBucket(name, `must not start with "${p}", which S3 reserves`);
  }
  for (const s of reservedSuffixes) {
    if (name.endsWith(s)) throw badBucket(name, `must not end with "${s}", which S3 reserves`);
  }
  return name;
}

/** Checks that `region` looks like an AWS region code (for example `eu-west-1`, `us-gov-west-1`) and returns it. */
export function validateRegion(region: string): string {
  if (!/^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d{1,2}$/.test(region)) {
    throw invalid("InvalidRegion", `Region "${region}" is not an AWS region code; use one like "eu-west-1"`);
  }
  return region;
}
