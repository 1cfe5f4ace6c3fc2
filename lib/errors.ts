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

/** An error of the core with a kind, a one-line message and an optional cause chain. */
export class IrsaError extends Error {
  override readonly name = "IrsaError";
  readonly kind: IrsaErrorKind;
  /** A short machine-readable reason, used as a condition reason by the daemon. */
  readonly reason: string;

  constructor(kind: IrsaErrorKind, reason: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.reason = reason;
  }
}

/** Shorthand for an input error. */
export function invalid(reason: string, message: string): IrsaError {
  return new IrsaError("invalid", reason, message);
}

/** True for an IrsaError, optionally of one kind. */
export function isIrsaError(e: unknown, kind?: IrsaErrorKind): e is IrsaError {
  return e instanceof IrsaError && (kind === undefined || e.kind === kind);
}
