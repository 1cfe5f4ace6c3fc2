// Counts AWS API calls by operation and outcome. The CLI reports it with --verbose (and to a file for tests),
// the daemon exports it as metrics, and the idempotency tests assert "zero writes" with it.

/** One AWS call as seen by the SDK middleware. */
export interface AwsCall {
  service: string;
  operation: string;
  /** True unless the operation only reads (Get*, List*, Head*, Describe*). */
  write: boolean;
  outcome: "ok" | "error";
}

/** True when an operation changes state in AWS. */
export function isWriteOperation(operation: string): boolean {
  // KMS Sign changes nothing.
  return !/^(Get|List|Head|Describe)|^Sign$/.test(operation);
}

/** Accumulates calls; listeners let the daemon feed metrics as calls happen. */
export class CallLog {
  readonly calls: AwsCall[] = [];
  readonly #listeners: ((call: AwsCall) => void)[] = [];
  readonly #retain: boolean;

  /** With `retain: false` calls only reach listeners, so a long-running process does not grow. */
  constructor(options: { retain?: boolean } = {}) {
    this.#retain = options.retain ?? true;
  }

  /** Records one call. */
  record(call: AwsCall): void {
    if (this.#retain) this.calls.push(call);
    for (const l of this.#listeners) l(call);
  }

  /** Subscribes to future calls. */
  onCall(listener: (call: AwsCall) => void): void {
    this.#listeners.push(listener);
  }

  /** Number of calls that wrote to AWS. */
  get writes(): number {
    return this.calls.filter((c) => c.write).length;
  }

  /** Number of calls that only read. */
  get reads(): number {
    return this.calls.filter((c) => !c.write).length;
  }

  /** "Operation xN" lines, for summaries. */
  summary(): string[] {
    const counts = new Map<string, number>();
    for (const c of this.calls) {
      const key = `${c.service}:${c.operation}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return [...counts].map(([k, n]) => `${k} x${n}`);
  }
}
