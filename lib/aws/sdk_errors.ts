// Classifies AWS SDK errors so ports can treat "not found" as a value and everything else as a typed IrsaError.
import { IrsaError, type IrsaErrorKind } from "../errors.ts";

interface SdkError {
  name?: string;
  Code?: string;
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
  let kind: IrsaErrorKind = "unavailable";
  if (deniedCodes.has(code) || status === 403) kind = "denied";
  else if (code === "CredentialsProviderError" || /Could not load credentials/i.test(message)) kind = "denied";
  else if (status === 404) kind = "not-found";
  else if (status === 409) kind = "conflict";
  else if (status === 400) kind = "invalid";
  const hint = kind === "denied" ? `; check the AWS credentials and that they allow ${operation}` : "";
  return new IrsaError(kind, code, `${operation} on ${target} failed: ${code}: ${message}${hint}`, { cause: e });
}
