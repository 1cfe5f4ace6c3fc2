// A client for AWS's query protocol (IAM, STS): form-encoded POST, SigV4, XML answers. It replaces the SDK's IAM
// and STS clients, whose modules alone held about 25 MiB in every daemon for the few calls we make; the retry
// behaviour is the SDK's standard mode (the same attempts, backoff, quota and clock-skew correction).
import { type AwsCall, type CallLog, isWriteOperation } from "./call_log.ts";
import { asNetworkError, networkErrorCodes } from "./network_error.ts";
import { type AwsCredentialKeys, signRequest, uriEncode } from "./sigv4.ts";
import { childNamed, parseXml, type XmlElement, XmlError, type XmlValue, xmlValue } from "./xml.ts";

/** What a query call returns: the `<ActionResult>` element as plain values, {} when there is none. */
export type QueryResult = { [name: string]: XmlValue };

/** One query API client. */
export interface QueryClient {
  /** Calls `action` with SDK-shaped input (lists as arrays, structures as objects). */
  call(action: string, input?: Record<string, unknown>, options?: { unsigned?: boolean }): Promise<QueryResult>;
}

/** An AWS service error, shaped like the SDK's (name and Code are the service's code) so sdk_errors.ts reads it. */
export class AwsServiceError extends Error {
  readonly Code: string;
  readonly $metadata: { httpStatusCode: number; requestId?: string };
  constructor(code: string, message: string, status: number, requestId?: string) {
    super(message);
    this.name = code;
    this.Code = code;
    this.$metadata = { httpStatusCode: status, ...(requestId ? { requestId } : {}) };
  }
}

/** The form body of a call: Action, Version and the input flattened (`Tags.member.1.Key=...`). Pure. */
export function queryBody(action: string, version: string, input: Record<string, unknown>): string {
  const pairs: [string, string][] = [["Action", action], ["Version", version]];
  const flatten = (prefix: string, value: unknown) => {
    if (value === undefined || value === null) return;
    if (Array.isArray(value)) {
      // The SDK sends an empty list as the bare name, which clears it.
      if (value.length === 0) pairs.push([prefix, ""]);
      value.forEach((v, i) => flatten(`${prefix}.member.${i + 1}`, v));
    } else if (typeof value === "object") {
      for (const [k, v] of Object.entries(value)) flatten(prefix ? `${prefix}.${k}` : k, v);
    } else {
      pairs.push([prefix, String(value)]);
    }
  };
  flatten("", input);
  return pairs.map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`).join("&");
}

const bodylessNames: Record<number, string> = {
  301: "MovedPermanently",
  400: "BadRequest",
  403: "Forbidden",
  404: "NotFound",
};

/** The error an XML error answer describes (`<Error><Code>`), or an uncoded one for the status alone. Pure. */
export function errorFromAnswer(status: number, body: string): AwsServiceError {
  let root: XmlElement | undefined;
  try {
    root = parseXml(body);
  } catch (e) {
    if (!(e instanceof XmlError)) throw e;
  }
  const find = (el: XmlElement | undefined): XmlElement | undefined =>
    !el ? undefined : el.name === "Error" ? el : el.children.map(find).find(Boolean);
  const error = find(root);
  const code = childNamed(error, "Code")?.text.trim();
  const requestId = (childNamed(root, "RequestId") ?? childNamed(error, "RequestId"))?.text.trim();
  if (!code) {
    // S3 answers HEAD with no body; the SDK names those errors after the status.
    const name = bodylessNames[status] ?? "Unknown";
    return new AwsServiceError(name, `HTTP ${status} with no error code`, status, requestId);
  }
  return new AwsServiceError(code, childNamed(error, "Message")?.text.trim() ?? code, status, requestId);
}

// The SDK's standard retry mode (@smithy/util-retry, @smithy/service-error-classification).
const throttlingCodes = new Set([
  "BandwidthLimitExceeded",
  "EC2ThrottledException",
  "LimitExceededException",
  "PriorRequestNotComplete",
  "ProvisionedThroughputExceededException",
  "RequestLimitExceeded",
  "RequestThrottled",
  "RequestThrottledException",
  "SlowDown",
  "ThrottledException",
  "Throttling",
  "ThrottlingException",
  "TooManyRequestsException",
  "TransactionInProgressException",
]);
const transientCodes = new Set(["TimeoutError", "RequestTimeout", "RequestTimeoutException"]);
const transientStatuses = new Set([500, 502, 503, 504]);
const clockSkewCodes = new Set([
  "AccessDeniedException",
  "AuthFailure",
  "InvalidSignatureException",
  "RequestExpired",
  "RequestInTheFuture",
  "RequestTimeTooSkewed",
  "SignatureDoesNotMatch",
]);

/** How a failed attempt may be retried: not, as a throttle (longer backoff), or as a transient failure. Pure. */
export function retryKind(error: unknown): "none" | "throttling" | "transient" {
  const e = (error ?? {}) as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  if (status === 429 || (e.name !== undefined && throttlingCodes.has(e.name))) return "throttling";
  if (e.name !== undefined && transientCodes.has(e.name)) return "transient";
  if (e.code !== undefined && networkErrorCodes.has(e.code)) return "transient";
  if (status !== undefined && transientStatuses.has(status)) return "transient";
  return "none";
}

/** Full-jitter exponential backoff: base 100 ms (500 ms for throttling), at most 20 s. Pure. */
export function retryDelayMs(retry: number, kind: "throttling" | "transient", random: number): number {
  const base = kind === "throttling" ? 500 : 100;
  return Math.floor(Math.min(20_000, random * 2 ** retry * base));
}

/**
 * The SDK's retry quota: retries spend tokens (5, 10 after a timeout) from a bucket of 500 that successes refill,
 * so an outage stops multiplying every call by the attempt count.
 */
export class RetryQuota {
  #tokens = 500;
  /** Takes the cost of one retry; false when the bucket cannot pay it. */
  take(cost: number): boolean {
    if (this.#tokens < cost) return false;
    this.#tokens -= cost;
    return true;
  }
  /** Gives back what a successful call's retries took, or 1 for a first-try success. */
  refund(amount: number): void {
    this.#tokens = Math.min(500, this.#tokens + amount);
  }
}

/** What a signed sender needs; the effects (fetch, time, randomness) are passed in. */
export interface SenderOptions {
  /** The signing name (S3 Control signs as "s3"). */
  service: string;
  signingRegion: string;
  /** Resolved per call; the provider caches (see clients.ts). */
  credentials: () => Promise<AwsCredentialKeys>;
  fetch: (url: URL, init: RequestInit) => Promise<Response>;
  timeoutMs: number;
  maxAttempts: number;
  calls: CallLog;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  now?: () => number;
}

/** What a query client needs. */
export interface QueryClientOptions extends SenderOptions {
  version: string;
  endpoint: URL;
}

/** One HTTP request of an AWS call, before signing. */
export interface AwsRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: string;
  unsigned?: boolean;
}

/** A successful answer. */
export interface AwsAnswer {
  status: number;
  headers: Headers;
  text: string;
}

/** Sends signed requests with the SDK's standard retry mode, recording each call in the call log. */
export interface AwsSender {
  /** `call` names the call in the log (`{service, operation}`), for any protocol. */
  send(call: { service: string; operation: string }, request: AwsRequest): Promise<AwsAnswer>;
}

/** Creates the sender both protocols share: signing, timeouts, retries, the retry quota and clock-skew correction. */
export function createAwsSender(options: SenderOptions): AwsSender {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const quota = new RetryQuota();
  // Server time minus ours, learnt from a clock-skew error's Date header (the SDK's systemClockOffset).
  let clockOffsetMs = 0;

  async function attempt(request: AwsRequest): Promise<AwsAnswer> {
    const signed = request.unsigned ? request.headers : await signRequest({
      method: request.method,
      url: request.url,
      headers: request.headers,
      body: request.body,
      credentials: await options.credentials(),
      region: options.signingRegion,
      service: options.service,
      now: new Date(now() + clockOffsetMs),
    });
    // Deno sets Host itself, from the URL it was signed with.
    const { host: _host, ...send } = signed;
    let response: Response;
    let text: string;
    try {
      response = await options.fetch(request.url, {
        method: request.method,
        headers: send,
        // No body at all when there is none (GET, HEAD, DELETE): fetch would label an empty one text/plain.
        ...(request.body === "" ? {} : { body: request.body }),
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      text = await response.text();
    } catch (e) {
      if (e instanceof DOMException && e.name === "TimeoutError") {
        throw Object.assign(new Error(`no answer from ${request.url.host} within ${options.timeoutMs} ms`), {
          name: "TimeoutError",
        });
      }
      throw asNetworkError(e);
    }
    if (!response.ok) {
      const error = errorFromAnswer(response.status, text);
      const serverDate = Date.parse(response.headers.get("date") ?? "");
      if (clockSkewCodes.has(error.name) && Number.isFinite(serverDate)) {
        const offset = serverDate - now();
        if (Math.abs(offset - clockOffsetMs) > 300_000) {
          clockOffsetMs = offset;
          throw Object.assign(error, { clockCorrected: true });
        }
      }
      throw error;
    }
    return { status: response.status, headers: response.headers, text };
  }

  return {
    async send(call, request) {
      const record = (outcome: AwsCall["outcome"]) =>
        options.calls.record({ ...call, write: isWriteOperation(call.operation), outcome });
      let spent = 0;
      for (let n = 1;; n++) {
        try {
          const answer = await attempt(request);
          quota.refund(spent > 0 ? spent : 1);
          record("ok");
          return answer;
        } catch (e) {
          const corrected = (e as { clockCorrected?: boolean }).clockCorrected === true;
          const kind = corrected ? "transient" : retryKind(e);
          const cost = (e as { name?: string }).name === "TimeoutError" ? 10 : 5;
          if (kind === "none" || n >= options.maxAttempts || (!corrected && !quota.take(cost))) {
            record("error");
            throw e;
          }
          if (!corrected) spent += cost;
          await sleep(corrected ? 0 : retryDelayMs(n - 1, kind, random()));
        }
      }
    },
  };
}

/** Creates a query client. */
export function createQueryClient(options: QueryClientOptions): QueryClient {
  const sender = createAwsSender(options);
  return {
    async call(action, input = {}, { unsigned = false } = {}) {
      const answer = await sender.send({ service: options.service, operation: action }, {
        method: "POST",
        url: options.endpoint,
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: queryBody(action, options.version, input),
        unsigned,
      });
      const result = childNamed(parseXml(answer.text), `${action}Result`);
      const value = result ? xmlValue(result) : {};
      return typeof value === "object" && !Array.isArray(value) ? value : {};
    },
  };
}
