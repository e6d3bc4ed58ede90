/** One structured logger (pino, JSON lines on stderr); secrets are redacted by path. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino(
    {
      level,
      base: { service: 'risk-engine', ...base },
      redact: { paths: ['token', '*.token', 'authorization', '*.authorization', 'headers.authorization'], censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ fd: 2, sync: false }),
  );
}

/** A logger that writes nothing, for unit tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
