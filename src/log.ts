/**
 * One structured logger (pino, JSON lines on stderr); secrets are redacted by path.
 *
 * Log lines join traces: a line written while a span is active carries its `trace_id`, `span_id`
 * and `trace_flags` (the field names of OpenTelemetry's log correlation), and lines about one
 * event written outside its active context carry them through `traceFields(span)` of
 * telemetry/tracing.ts. A decision's traceId, a Jaeger trace and the log lines of its handling
 * are then found by the same id. With tracing off no span is ever active and nothing is added.
 */
import { context, isSpanContextValid, trace } from '@opentelemetry/api';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Fields of the active span; the OpenTelemetry API alone, so that a CLI that logs does not load the SDK. */
function activeSpanFields(): Record<string, string> {
  const span = trace.getSpan(context.active());
  if (!span) return {};
  const c = span.spanContext();
  if (!isSpanContextValid(c)) return {};
  return spanContextFields(c);
}

/** A span context as log fields (W3C hex forms). */
export function spanContextFields(c: { traceId: string; spanId: string; traceFlags: number }): { trace_id: string; span_id: string; trace_flags: string } {
  return { trace_id: c.traceId, span_id: c.spanId, trace_flags: `0${c.traceFlags.toString(16)}`.slice(-2) };
}

export function createLogger(level: string, base: Record<string, unknown> = {}, destination: DestinationStream = pino.destination({ fd: 2, sync: false })): Logger {
  return pino(
    {
      level,
      base: { service: 'risk-engine', ...base },
      redact: { paths: ['token', '*.token', 'authorization', '*.authorization', 'headers.authorization'], censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // pino lets a line's own fields win over the mixin's: an explicit traceFields(span) is kept.
      mixin: activeSpanFields,
    },
    destination,
  );
}

/** A logger that writes nothing, for unit tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
