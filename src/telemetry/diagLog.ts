/**
 * OpenTelemetry's own warnings and errors (a span queue full, an export that failed) go to the
 * engine's log, where operators look, instead of nowhere: the SDK reports them to its `diag`
 * logger only, which is silent unless OTEL_LOG_LEVEL is set. A message repeated within
 * `quietMs` (numbers aside: the count of dropped spans varies) is counted, not written again: an
 * unreachable collector fails every export, several a second under load.
 */
import { DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import type { Logger } from '../log.ts';

export const DIAG_QUIET_MS = 60_000;
/** Message kinds remembered at once; past it, those quiet for long enough are forgotten. */
const MAX_KINDS = 256;

export function diagToLog(log: Logger, clock: () => number = Date.now, quietMs = DIAG_QUIET_MS): DiagLogger {
  /** Per message text with its numbers left out ("Dropped 12 spans"): when it was last written, and how often it came since. */
  const seen = new Map<string, { at: number; repeated: number }>();
  const write = (level: 'warn' | 'error') => (raw: string, ...args: unknown[]) => {
    const message = readable(raw);
    const kind = message.replace(/\d+/g, '#');
    const now = clock();
    const last = seen.get(kind);
    if (last && now - last.at < quietMs) {
      last.repeated++;
      return;
    }
    if (seen.size >= MAX_KINDS) for (const [k, v] of seen) if (now - v.at >= quietMs) seen.delete(k);
    seen.set(kind, { at: now, repeated: 0 });
    const fields: Record<string, unknown> = { component: 'opentelemetry' };
    if (last?.repeated) fields.repeatedSinceLast = last.repeated;
    const err = args.find((a): a is Error => a instanceof Error);
    if (err) fields.err = err;
    log[level](fields, message);
  };
  const none = () => undefined;
  return { error: write('error'), warn: write('warn'), info: none, debug: none, verbose: none };
}

/**
 * The SDK's error handler logs an exception as its JSON (message, stack, errno...): its message
 * says what happened, and is the same text each time.
 */
function readable(message: string): string {
  if (!message.startsWith('{')) return message;
  try {
    const parsed = JSON.parse(message) as { message?: unknown };
    return typeof parsed.message === 'string' ? parsed.message : message;
  } catch {
    return message;
  }
}

/** The level diag messages are passed on from. */
export const DIAG_LEVEL = DiagLogLevel.WARN;
