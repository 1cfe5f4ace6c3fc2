/** A command line that cannot be run as written; the CLI exits 2 and points at the help of `command`. */
export class UsageError extends Error {
  override readonly name = "UsageError";
  /** The subcommand whose help to point at, or undefined for the top level. */
  readonly command: string | undefined;

  constructor(message: string, command?: string) {
    super(message);
    this.command = command;
  }
}
