// S3 and S3 Control over REST, on the same signer and retry loop as IAM and STS (query_client.ts). It replaces the
// SDK's S3 and S3 Control clients, whose modules cost the daemon 10-15 MiB of resident memory for a dozen calls.
import { createHash } from "node:crypto";
import { type AwsAnswer, createAwsSender, type SenderOptions } from "./query_client.ts";
import { sha256Hex, uriEncode } from "./sigv4.ts";

/** One S3 request: a bucket (and key) or the service root, with subresource query and headers. */
export interface S3Request {
  method: "GET" | "HEAD" | "PUT" | "DELETE";
  bucket: string;
  key?: string;
  /** Subresources such as `{ tagging: "" }`. */
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string;
  /** Adds Content-MD5, which S3 requires for tagging, public access block and policy writes. */
  md5?: boolean;
}

/** An S3 client for one region. */
export interface S3Client {
  readonly region: string;
  /** Sends `operation` (for the call log, e.g. "PutObject"); throws AwsServiceError on an error answer. */
  send(operation: string, request: S3Request): Promise<AwsAnswer>;
}

/** S3 Control, for the account-level public access block. */
export interface S3ControlClient {
  getPublicAccessBlock(account: string): Promise<AwsAnswer>;
}

/** Where S3 is: the configured endpoint, or the region's in its partition. */
export interface S3Endpoint {
  /** A custom endpoint (moto, a proxy, MinIO); its scheme, host and port are kept. */
  url?: string;
  /** Bucket in the path (`host/bucket/key`) rather than the host (`bucket.host/key`). */
  pathStyle: boolean;
}

function suffix(region: string): string {
  return region.startsWith("cn-") ? "amazonaws.com.cn" : "amazonaws.com";
}

/** The URL of a request, path-style or virtual-hosted as the SDK builds it. Pure. */
export function s3Url(endpoint: S3Endpoint, region: string, request: Pick<S3Request, "bucket" | "key" | "query">): URL {
  const base = new URL(endpoint.url ?? `https://s3.${region}.${suffix(region)}`);
  // As the SDK's endpoint rules: the path for an IP address endpoint, and for names that cannot be a host label
  // under a wildcard certificate (dots, upper case, underscores).
  const ipHost = /^\d+\.\d+\.\d+\.\d+$/.test(base.hostname) || base.hostname.startsWith("[");
  const inPath = endpoint.pathStyle || ipHost || !/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(request.bucket);
  const key = request.key === undefined ? "" : `/${request.key.split("/").map(uriEncode).join("/")}`;
  const host = inPath ? base.host : `${request.bucket}.${base.host}`;
  const prefix = base.pathname.replace(/\/$/, "");
  const path = inPath ? `${prefix}/${uriEncode(request.bucket)}${key}` : `${prefix}${key || "/"}`;
  const query = Object.entries(request.query ?? {}).map((
    [k, v],
  ) => (v === "" ? uriEncode(k) : `${uriEncode(k)}=${uriEncode(v)}`));
  return new URL(`${base.protocol}//${host}${path}${query.length ? `?${query.join("&")}` : ""}`);
}

/** Creates an S3 client for `region`. */
export function createS3Client(
  options: Omit<SenderOptions, "service" | "signingRegion"> & { region: string; endpoint: S3Endpoint },
): S3Client {
  const sender = createAwsSender({ ...options, service: "s3", signingRegion: options.region });
  return {
    region: options.region,
    async send(operation, request) {
      const body = request.body ?? "";
      const headers: Record<string, string> = {
        ...request.headers,
        // S3 signs the payload hash and wants it in a header of its own.
        "x-amz-content-sha256": await sha256Hex(body),
        ...(request.md5 ? { "content-md5": createHash("md5").update(body).digest("base64") } : {}),
      };
      return await sender.send({ service: "s3", operation }, {
        method: request.method,
        url: s3Url(options.endpoint, options.region, request),
        headers,
        body,
      });
    },
  };
}

/**
 * Creates the S3 Control client. Its endpoint rules put the account ID in front of the host, which breaks a
 * custom endpoint such as an IP address; a custom endpoint is used as given, as the SDK client was configured.
 */
export function createS3ControlClient(
  options: Omit<SenderOptions, "service" | "signingRegion"> & { region: string; endpointUrl?: string },
): S3ControlClient {
  // S3 Control signs as "s3", and the call log names it s3control.
  const sender = createAwsSender({ ...options, service: "s3", signingRegion: options.region });
  return {
    async getPublicAccessBlock(account) {
      const base = options.endpointUrl ??
        `https://${account}.s3-control.${options.region}.${suffix(options.region)}`;
      const url = new URL(`${base.replace(/\/$/, "")}/v20180820/configuration/publicAccessBlock`);
      return await sender.send({ service: "s3control", operation: "GetPublicAccessBlock" }, {
        method: "GET",
        url,
        headers: { "x-amz-account-id": account, "x-amz-content-sha256": await sha256Hex("") },
        body: "",
      });
    },
  };
}

/** Text as XML character data. Pure. */
export function xmlEscape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
