/**
 * Typed errors: every failure the engine reports carries a stable `code`, the same one that
 * reaches the DLQ record, the HTTP answer and the log line.
 */
export type ErrorCode =
  | 'CONFIG'
  | 'INVALID_JSON'
  | 'SCHEMA'
  | 'KEY_MISMATCH'
  | 'TOO_LARGE'
  | 'POISON'
  | 'FENCED'
  | 'TOPOLOGY'
  | 'NOT_FOUND'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'METHOD_NOT_ALLOWED'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'BAD_REQUEST'
  | 'UNAVAILABLE'
  | 'TIMEOUT'
  | 'INTERNAL';

export class EngineError extends Error {
  constructor(readonly code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EngineError';
  }
}

/** A bad setting: start-up stops with one line naming it, exit code 2. */
export class ConfigError extends EngineError {
  constructor(readonly setting: string, expected: string) {
    super('CONFIG', `invalid setting ${setting}: ${expected}`);
    this.name = 'ConfigError';
  }
}

export function errorCode(err: unknown): ErrorCode {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z_]+$/.test(code) ? (code as ErrorCode) : 'INTERNAL';
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
