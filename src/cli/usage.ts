/**
 * Usage errors of the command line (an unknown flag or command, a missing or bad argument): one
 * line on stderr naming the problem and the `--help` to read, exit code 2. Their own module: the
 * program reports them and commands raise them (a command importing the program would be a circle).
 */

/** Exit code of a usage error. */
export const USAGE_EXIT_CODE = 2;

/** A usage error, with the command whose help explains it. */
export class UsageError extends Error {
  readonly code = 'USAGE';
  constructor(message: string, readonly helpCommand: string) {
    super(message);
    this.name = 'UsageError';
  }
  /** The one line printed on stderr. */
  line(): string {
    return `risk-engine: ${this.message} (see '${this.helpCommand} --help')`;
  }
}
