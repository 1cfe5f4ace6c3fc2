// One credential provider per session, shared by the SDK clients and the query clients, so a chain that reads a
// token file or asks IMDS or STS does it once and again only near expiry.
import type { AwsCredentialKeys } from "./sigv4.ts";

/** Keys with the time they stop working, when they do. */
export interface AwsCredentialIdentity extends AwsCredentialKeys {
  expiration?: Date;
}

/** Refresh this long before expiry, as the SDK does (5 minutes). */
const refreshWindowMs = 5 * 60_000;

/**
 * Caches a provider's answer until it is within five minutes of expiring; concurrent callers share one fetch and a
 * failure is not cached.
 */
export function cachedCredentials(
  provider: () => Promise<AwsCredentialIdentity>,
  now: () => number = Date.now,
): () => Promise<AwsCredentialIdentity> {
  let current: AwsCredentialIdentity | undefined;
  let pending: Promise<AwsCredentialIdentity> | undefined;
  const fresh = (c: AwsCredentialIdentity) => !c.expiration || c.expiration.getTime() - now() > refreshWindowMs;
  return () => {
    if (current && fresh(current)) return Promise.resolve(current);
    pending ??= provider().then((c) => {
      current = c;
      return c;
    }).finally(() => {
      pending = undefined;
    });
    return pending;
  };
}
