/** Errors of the offline operations (backtest, rebuild), each with a stable code and the exit code the command ends with. */
export class OpsError extends Error {
  constructor(
    /** REFUSED: the operation would overwrite or mix with existing state; USAGE: a bad argument. */
    readonly code: 'REFUSED' | 'USAGE',
    message: string,
  ) {
    super(message);
    this.name = 'OpsError';
  }
  /** Both are the operator's to fix: exit code 2, like a bad setting. */
  readonly exitCode = 2;
}
