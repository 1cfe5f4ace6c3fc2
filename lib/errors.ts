// Typed errors of the core. Only cli/ turns them into messages and exit codes, and only the daemon turns them
// into condition reasons, so lib/ never decides how a failure is shown.

/** What went wrong, in classes that the CLI maps to exit codes and the daemon to condition reasons. */
export type IrsaErrorKind =
  /** The input cannot work; nothing was written (CLI exit 2 when it came from flags). */
  | "invalid"
  /** Something this step needs is missing: run another command first. */
  | "precondition"
  /** A resource exists but belongs to someone else. */
  | "conflict"
  /** AWS or Kubernetes refused for lack of permission. */
  | "denied"
  /** A remote endpoint failed or could not be reached. */
  | "unavailable"
  /** The resource does not exist. */
  | "not-found";

/**
 * What the user can do about an error, as data. The same failure reaches a CLI user, who has flags and commands,
 * and an IRSA or IRSASetup condition, whose reader has spec fields; so lib/ names the setting and cli/ and
 * daemon/ each word it (cli/remedy.ts, daemon/remedy.ts). Messages in lib/ never name a CLI flag or command.
 */
export type Remedy =
  /** Take over what kubectl-irsa did not create; `to` says what that does ("replace it"). */
  | { kind: "adopt"; to: string }
  /** Use another IAM role name. */
  | { kind: "roleName" }
  /** Use the IAM role path the role already has. */
  | { kind: "rolePath"; path: string }
  /** Bind another ServiceAccount. */
  | { kind: "otherServiceAccount" }
  /** Write the binding again, so its record is rewritten. */
  | { kind: "bindAgain" }
  /** Overwrite what exists; `to` says what that does ("overwrite it"). The daemon never forces. */
  | { kind: "force"; to: string }
  /** Use another issuer bucket. */
  | { kind: "bucket" }
  /** Name the bucket's region: `region` when it is known. */
  | { kind: "bucketRegion"; region?: string }
  /** Configure an AWS region at all. */
  | { kind: "awsRegion" }
  /** Give the cluster a name. */
  | { kind: "clusterName" }
  /** Host the issuer at a URL of one's own; `to` says why ("host the issuer elsewhere"). */
  | { kind: "issuerUrl"; to: string }
  /** Let kubectl-irsa generate the signing key. */
  | { kind: "generateKey" }
  /** Keep the bucket private and serve the issuer through CloudFront. */
  | { kind: "cloudFrontHosting" }
  /** Record the IRSA setup: `again` when one exists but cannot be used. */
  | { kind: "init"; again: boolean }
  /** A remedy outside kubectl-irsa (an AWS CLI command, ...), the same for every reader. */
  | { kind: "other"; text: string };

/** An error of the core with a kind, a one-line message, the remedies and an optional cause chain. */
export class IrsaError extends Error {
  override readonly name = "IrsaError";
  readonly kind: IrsaErrorKind;
  /** A short machine-readable reason, used as a condition reason by the daemon. */
  readonly reason: string;
  /** Alternatives the user can choose from, rendered after the message by cli/ and daemon/. */
  readonly remedies: readonly Remedy[];
  /**
   * Whether the same call may succeed when simply repeated (throttling, a concurrent change, a brief outage),
   * decided where the failure is known (AWS error codes, a failed precondition); undefined leaves it to
   * {@linkcode isRetryable}. Separate from `kind`, which says what the failure means.
   */
  readonly retryable: boolean | undefined;

  constructor(
    kind: IrsaErrorKind,
    reason: string,
    message: string,
    options?: { cause?: unknown; remedies?: readonly Remedy[]; retryable?: boolean },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.reason = reason;
    this.remedies = options?.remedies ?? [];
    this.retryable = options?.retryable;
  }
}

/**
 * True when a failure may pass by itself, so a reconciler retries it with backoff; false when only an edit (of
 * the spec, of IAM, of permissions) can fix it, so it reports a condition and waits for the next resync. An
 * error's own `retryable` decides; otherwise an unreachable or failing remote (`unavailable`, which the
 * Kubernetes client uses for timeouts, 429 and 5xx) and a Kubernetes optimistic-concurrency conflict (HTTP 409)
 * are retryable, and every other IrsaError (a decision of lib/, a 4xx) is not. An error that is not ours is
 * retried: nothing says it is permanent. Pure.
 */
export function isRetryable(e: unknown): boolean {
  if (!(e instanceof IrsaError)) return true;
  if (e.retryable !== undefined) return e.retryable;
  return e.kind === "unavailable" || e.reason === "Http409";
}

/** Shorthand for an input error. */
export function invalid(reason: string, message: string, options?: { remedies?: readonly Remedy[] }): IrsaError {
  return new IrsaError("invalid", reason, message, options);
}

/** True for an IrsaError, optionally of one kind. */
export function isIrsaError(e: unknown, kind?: IrsaErrorKind): e is IrsaError {
  return e instanceof IrsaError && (kind === undefined || e.kind === kind);
}

/** The remedies an error carries; none for errors that are not ours. */
export function remediesOf(e: unknown): readonly Remedy[] {
  if (e instanceof IrsaError) return e.remedies;
  const r = (e as { remedies?: unknown } | null)?.remedies;
  return e instanceof Error && Array.isArray(r) ? r as Remedy[] : [];
}

/** The first line of an error's message followed by its remedies, each worded by `word`; for cli/ and daemon/. */
export function messageWithRemedies(e: unknown, word: (r: Remedy) => string): string {
  const first = (e instanceof Error ? e.message : String(e)).split("\n")[0]!;
  const remedies = remediesOf(e).map(word);
  return remedies.length === 0 ? first : `${first}; ${remedies.join(", or ")}`;
}
