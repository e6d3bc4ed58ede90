/** A logger whose lines are kept, parsed (pino writes each line with one synchronous write). */
import { createLogger, type Logger } from '../../../src/log.ts';

export type LogLine = Record<string, unknown> & { level: number; msg: string };

export function memoryLogger(level: 'debug' | 'info' = 'debug'): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = createLogger(level, {}, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { log, lines };
}
