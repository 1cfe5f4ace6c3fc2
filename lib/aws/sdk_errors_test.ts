import { errorFromAnswer } from "./query_client.ts";
import { equal } from "node:assert/strict";
import { isRetryable } from "../errors.ts";
import { awsError, isRetryableAwsError } from "./sdk_errors.ts";

/** An SDK error as the v3 clients throw it: the query protocol sets `Code`, the class sets `name`. */
function sdkError(over: { name?: string; Code?: string; code?: string; status?: number; message?: string }) {
  const e = new Error(over.message ?? "failed") as Error & Record<string, unknown>;
  if (over.name !== undefined) e.name = over.name;
  if (over.Code !== undefined) e.Code = over.Code;
  if (over.code !== undefined) e.code = over.code;
  if (over.status !== undefined) e.$metadata = { httpStatusCode: over.status };
  return e;
}

Deno.test("awsError() decides retryable from the error code, apart from the error's meaning", async (t) => {
  const cases = [
    {
      name: "IAM ConcurrentModification (HTTP 409) is retryable, not a conflict",
      error: sdkError({ name: "ConcurrentModificationException", Code: "ConcurrentModification", status: 409 }),
      retryable: true,
      kind: "unavailable",
    },
    {
      name: "IAM NoSuchEntity (HTTP 404) is terminal",
      error: sdkError({ name: "NoSuchEntityException", Code: "NoSuchEntity", status: 404 }),
      retryable: false,
      kind: "not-found",
    },
    {
      name: "IAM EntityAlreadyExists (HTTP 409): a raced create, retried to read and compare",
      error: sdkError({ name: "EntityAlreadyExistsException", Code: "EntityAlreadyExists", status: 409 }),
      retryable: true,
      kind: "unavailable",
    },
    {
      name: "IAM LimitExceeded (HTTP 409) is a quota, terminal",
      error: sdkError({ name: "LimitExceededException", Code: "LimitExceeded", status: 409 }),
      retryable: false,
      kind: "conflict",
    },
    {
      name: "IAM MalformedPolicyDocument (HTTP 400) is terminal",
      error: sdkError({ name: "MalformedPolicyDocumentException", Code: "MalformedPolicyDocument", status: 400 }),
      retryable: false,
      kind: "invalid",
    },
    {
      name: "IAM Throttling (HTTP 400) is retryable",
      error: sdkError({ name: "Throttling", Code: "Throttling", status: 400 }),
      retryable: true,
      kind: "unavailable",
    },
    {
      name: "IAM ServiceFailure (HTTP 500) is retryable",
      error: sdkError({ name: "ServiceFailureException", Code: "ServiceFailure", status: 500 }),
      retryable: true,
      kind: "unavailable",
    },
    {
      name: "S3 OperationAborted (HTTP 409) is retryable",
      error: sdkError({ name: "OperationAborted", Code: "OperationAborted", status: 409 }),
      retryable: true,
      kind: "unavailable",
    },
    {
      name: "S3 SlowDown (HTTP 503) is retryable",
      error: sdkError({ name: "SlowDown", Code: "SlowDown", status: 503 }),
      retryable: true,
      kind: "unavailable",
    },
    {
      name: "S3 InternalError (HTTP 500) is retryable",
      error: sdkError({ name: "InternalError", Code: "InternalError", status: 500 }),
      retryable: true,
      kind: "unavailable",
    },
    {
      name: "S3 RequestTimeout (HTTP 400) is retryable",
      error: sdkError({ name: "RequestTimeout", Code: "RequestTimeout", status: 400 }),
      retryable: true,
      kind: "unavailable",
    },
    {
      name: "STS ThrottlingException is retryable",
      error: sdkError({ name: "ThrottlingException", status: 400 }),
      retryable: true,
      kind: "unavailable",
    },
    {
      name: "EC2-style RequestLimitExceeded is retryable",
      error: sdkError({ name: "RequestLimitExceeded", status: 503 }),
      retryable: true,
      kind: "unavailable",
    },
    {
      name: "TooManyRequestsException is retryable",
      error: sdkError({ name: "TooManyRequestsException", status: 429 }),
      retryable: true,
      kind: "unavailable",
    },
    {
      name: "InternalFailure is retryable",
      error: sdkError({ name: "InternalFailure", status: 500 }),
      retryable: true,
      kind: "unavailable",
    },
    {
      name: "ServiceUnavailable is retryable",
      error: sdkError({ name: "ServiceUnavailable", status: 503 }),
      retryable: true,
      kind: "unavailable",
    },
    {
      name: "AccessDenied (HTTP 403) is terminal and denied",
      error: sdkError({ name: "AccessDenied", Code: "AccessDenied", status: 403 }),
      retryable: false,
      kind: "denied",
    },
    {
      name: "a coded 5xx that is not on the list is terminal (by code, not status)",
      error: sdkError({ name: "NotImplemented", Code: "NotImplemented", status: 501 }),
      retryable: false,
      kind: "unavailable",
    },
    {
      name: "a 503 without a code (HEAD, a proxy's page) is retryable",
      error: sdkError({ name: "Unknown", status: 503 }),
      retryable: true,
      kind: "unavailable",
    },
    {
      name: 'our clients\' code-less 502 (Code "Unknown", as errorFromAnswer builds it) is retryable too',
      error: errorFromAnswer(502, ""),
      retryable: true,
      kind: "unavailable",
    },
    {
      name: "a 404 without a code is terminal",
      error: sdkError({ name: "NotFound", status: 404 }),
      retryable: false,
      kind: "not-found",
    },
    {
      name: "a connection reset (no HTTP answer) is retryable",
      error: sdkError({ code: "ECONNRESET", message: "socket hang up" }),
      retryable: true,
      kind: "unavailable",
    },
    {
      name: "the SDK's request timeout is retryable",
      error: sdkError({ name: "TimeoutError", message: "Connection timed out after 10000 ms" }),
      retryable: true,
      kind: "unavailable",
    },
    {
      name: "an unreachable host is retryable",
      error: sdkError({ code: "ENOTFOUND", message: "getaddrinfo ENOTFOUND iam.amazonaws.com" }),
      retryable: true,
      kind: "unavailable",
    },
    {
      name: "missing credentials are terminal",
      error: sdkError({ name: "CredentialsProviderError", message: "Could not load credentials from any providers" }),
      retryable: false,
      kind: "denied",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      equal(isRetryableAwsError(c.error), c.retryable);
      const e = awsError(c.error, "iam:Op", "target");
      equal(e.retryable, c.retryable);
      equal(isRetryable(e), c.retryable);
      equal(e.kind, c.kind);
      // The reason stays the service's code: the condition says what happened, whatever the retry decision.
      equal(e.reason, c.error.Code ?? c.error.name);
    });
  }
});
