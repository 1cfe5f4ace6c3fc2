// Deno's fetch reports a failure below HTTP as a TypeError "fetch failed" whose cause carries the OS error ("tcp
// connect error: Connection refused (os error 111)"). Node's errno codes are what the SDK's retry strategy
// (NODEJS_NETWORK_ERROR_CODES) and our own retry decision (sdk_errors.ts) look for, and what messages print, so
// the AWS request handler turns the one into the other.

/**
 * Network failures below HTTP that are worth another attempt: the SDK's NODEJS_TIMEOUT_ERROR_CODES and
 * NODEJS_NETWORK_ERROR_CODES, and ECONNABORTED. The query client retries them as the SDK does, and sdk_errors.ts
 * counts them as retryable for the reconcilers.
 */
export const networkErrorCodes: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

const patterns: [RegExp, string][] = [
  [/connection refused|os error 111\b/i, "ECONNREFUSED"],
  [/connection reset|os error 104\b|connection closed before message completed|unexpected eof/i, "ECONNRESET"],
  [/broken pipe|os error 32\b/i, "EPIPE"],
  [/timed out|os error 110\b/i, "ETIMEDOUT"],
  [/no route to host|os error 113\b/i, "EHOSTUNREACH"],
  [/network is unreachable|os error 101\b/i, "ENETUNREACH"],
  [/dns error|failed to lookup address|name or service not known/i, "ENOTFOUND"],
];

/** The errno code a fetch failure's message names, or undefined. Pure. */
export function errnoOfFetchError(message: string): string | undefined {
  return patterns.find(([re]) => re.test(message))?.[1];
}

/**
 * A fetch failure as Node reports one: an Error with `code` (ECONNREFUSED...) and the original message. Aborts
 * and anything that names no OS error pass through unchanged.
 */
export function asNetworkError(e: unknown): unknown {
  if (!(e instanceof TypeError)) return e;
  const cause = e.cause instanceof Error ? e.cause.message : "";
  const detail = cause || e.message;
  const code = errnoOfFetchError(detail);
  if (!code) return e;
  return Object.assign(new Error(`${code}: ${detail}`, { cause: e }), { code });
}
