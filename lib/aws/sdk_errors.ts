// Classifies AWS errors (the SDK's, and query_client.ts's, which have the same shape) so ports can treat
// "not found" as a value and everything else as a typed IrsaError.
// What a failure means (kind, reason) and whether repeating the call may succeed (retryable) are decided apart:
// IAM answers a concurrent change with HTTP 409, the same status as "already exists", so only the error code can
// tell a transient failure from a permanent one.
import { IrsaError, type IrsaErrorKind } from "../errors.ts";
import { networkErrorCodes } from "./network_error.ts";

interface SdkError {
  name?: string;
  Code?: string;
  /** Node's errno code of a network failure (ECONNRESET, ...), which has no response and so no service code. */
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/** The service's error code (e.g. NoSuchEntity) and HTTP status of an SDK error. */
export function sdkErrorCode(e: unknown): { code: string; status: number | undefined } {
  const err = e as SdkError;
  return { code: err?.Code ?? err?.name ?? "Unknown", status: err?.$metadata?.httpStatusCode };
}

/** True when the error says the resource does not exist. */
export function isNotFound(e: unknown, ...codes: string[]): boolean {
  const { code, status } = sdkErrorCode(e);
  return codes.includes(code) || (codes.length === 0 && status === 404);
}

/**
 * Service error codes that mean "try the same call again", in both spellings (IAM's query protocol gives `Code`
 * ConcurrentModification, the SDK's class name ConcurrentModificationException). A short allow-list on purpose:
 * a code not listed (NoSuchEntity, LimitExceeded, MalformedPolicyDocument, AccessDenied...) needs an edit.
 */
export const retryableAwsCodes: ReadonlySet<string> = new Set([
  "Throttling",
  "ThrottlingException",
  "RequestLimitExceeded",
  "TooManyRequestsException",
  "SlowDown",
  "ConcurrentModification",
  "ConcurrentModificationException",
  "OperationAborted",
  "ServiceUnavailable",
  "ServiceUnavailableException",
  "InternalError",
  "InternalFailure",
  // IAM's spelling of an internal error.
  "ServiceFailure",
  "ServiceFailureException",
  "RequestTimeout",
  "RequestTimeoutException",
  // A create that raced another writer: the retry reads what exists and compares (every port is idempotent).
  "EntityAlreadyExists",
  "EntityAlreadyExistsException",
  // The SDK's own request timeout.
  "TimeoutError",
]);

/** Names that say nothing about the failure: JavaScript's own error classes and the SDK's fallbacks. */
const uncodedNames = new Set(["Error", "TypeError", "Unknown", "UnknownError"]);

function isCredentialsError(name: string | undefined, message: string): boolean {
  // A credentials error has no HTTP answer either, but repeating it does not help: the configuration is wrong.
  return name === "CredentialsProviderError" || /Could not load credentials/i.test(message);
}

/**
 * True when repeating the failed SDK call may succeed: a retryable service code, a network failure (no HTTP
 * answer at all), or a 5xx whose body named no code (a HEAD request, a proxy's page). A service code decides
 * whenever there is one, never the HTTP status. Pure.
 */
export function isRetryableAwsError(e: unknown): boolean {
  const err = (e ?? {}) as SdkError;
  const names = [err.Code, err.name, err.code].filter((n): n is string => typeof n === "string");
  if (names.some((n) => retryableAwsCodes.has(n) || networkErrorCodes.has(n))) return true;
  if (isCredentialsError(err.name, err.message ?? "")) return false;
  // Our clients give a code-less answer the Code "Unknown", as the SDK names it; that is no code either.
  const coded = (err.Code !== undefined && !uncodedNames.has(err.Code)) ||
    (err.name !== undefined && !uncodedNames.has(err.name) && !/^\d+$/.test(err.name));
  if (coded) return false;
  const status = err.$metadata?.httpStatusCode;
  return status === undefined || status >= 500;
}

const deniedCodes = new Set([
  "AccessDenied",
  "AccessDeniedException",
  "UnauthorizedOperation",
  "InvalidClientTokenId",
  "SignatureDoesNotMatch",
  "ExpiredToken",
]);

/** Wraps an SDK error into an IrsaError whose message says which call on which target failed. */
export function awsError(e: unknown, operation: string, target: string): IrsaError {
  if (e instanceof IrsaError) return e;
  const { code, status } = sdkErrorCode(e);
  const message = (e as SdkError)?.message ?? String(e);
  const retryable = isRetryableAwsError(e);
  let kind: IrsaErrorKind = "unavailable";
  if (deniedCodes.has(code) || status === 403) kind = "denied";
  else if (isCredentialsError((e as SdkError)?.name, message)) kind = "denied";
  // A transient failure is "unavailable" whatever its status: ConcurrentModification is HTTP 409, not a conflict
  // with someone else's resource.
  else if (retryable) kind = "unavailable";
  else if (status === 404) kind = "not-found";
  else if (status === 409) kind = "conflict";
  else if (status === 400) kind = "invalid";
  const hint = kind === "denied" ? `; check the AWS credentials and that they allow ${operation}` : "";
  return new IrsaError(kind, code, `${operation} on ${target} failed: ${code}: ${message}${hint}`, {
    cause: e,
    retryable,
  });
}

/**
 * Runs one SDK call: a not-found answer with one of `missing`'s codes is undefined, any other failure an IrsaError
 * naming the operation and target. Every port's reads and idempotent deletes go through it.
 */
export async function callOrMissing<T>(
  call: () => Promise<T>,
  where: { operation: string; target: string; missing?: string[] },
): Promise<T | undefined> {
  try {
    return await call();
  } catch (e) {
    if (where.missing && isNotFound(e, ...where.missing)) return undefined;
    throw awsError(e, where.operation, where.target);
  }
}
