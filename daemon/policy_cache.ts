// Which IAM policies exist, remembered for a while: every IRSA object names its policies and every reconcile
// checked each with GetPolicy, the same few managed policies thousands of times. Only positive answers are kept
// (a policy reported missing is asked again next time, so creating it takes effect at once); a policy deleted
// while remembered fails at AttachRolePolicy instead, with the same NoSuchEntity reason.
import type { IamPort } from "../lib/aws/iam_port.ts";
import type { Clock } from "./clock.ts";

/** The cache; `wrap()` gives an IamPort whose policyExists() consults it. */
export class PolicyExistenceCache {
  readonly #seen = new Map<string, number>();
  /** Questions on their way to IAM: reconciles starting together ask once. */
  readonly #asking = new Map<string, Promise<boolean>>();
  readonly #ttlMs: number;
  readonly #clock: Clock;

  constructor(ttlMs: number, clock: Clock) {
    this.#ttlMs = ttlMs;
    this.#clock = clock;
  }

  wrap(port: IamPort): IamPort {
    return {
      ...port,
      policyExists: (arn) => {
        const at = this.#seen.get(arn);
        if (at !== undefined && this.#clock.monotonic() - at < this.#ttlMs) return Promise.resolve(true);
        let asking = this.#asking.get(arn);
        if (!asking) {
          asking = port.policyExists(arn).then((exists) => {
            if (exists) this.#seen.set(arn, this.#clock.monotonic());
            else this.#seen.delete(arn);
            return exists;
          }).finally(() => this.#asking.delete(arn));
          this.#asking.set(arn, asking);
        }
        return asking;
      },
    };
  }
}
