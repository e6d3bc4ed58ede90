/**
 * The traceparent the engine writes on decision records and alerts is made from the span context
 * directly, not through the configured propagators: it must be exactly what the W3C trace-context
 * propagator writes for the same context. A record without headers starts a trace of its own; one
 * with a traceparent continues that trace.
 */
import test from 'ava';
import { tracing } from '@opentelemetry/sdk-node';
import { propagation, ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import { endSpan, startConsume, startTracing, traceparentOf } from '../../../src/telemetry/tracing.ts';

const exporter = new tracing.InMemorySpanExporter();
let stop: () => Promise<void> = async () => {};
test.before(() => {
  stop = startTracing({ OTEL_TRACES_EXPORTER: 'console' }, { includeUserIds: false, spanProcessors: [new tracing.SimpleSpanProcessor(exporter)] });
});
test.after.always(() => stop());

/** What the SDK's propagators (W3C trace context and baggage, its default) write as traceparent. */
function viaPropagator(ctx: Parameters<typeof traceparentOf>[0]): string | null {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx!, carrier);
  return carrier.traceparent ?? null;
}

const rec = (headers: Record<string, string>) => ({ topic: 'payment-events', partition: 3, offset: '41', key: null, headers });

test('a record without headers: a new trace, and the traceparent the W3C propagator writes for it', (t) => {
  const consume = startConsume(rec({}), 3)!;
  const header = traceparentOf(consume.ctx);
  t.regex(header!, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  t.is(header, viaPropagator(consume.ctx));
  endSpan(consume);
});

test('a record with a traceparent continues its trace; sampled and unsampled flags are written as W3C writes them', (t) => {
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const consume = startConsume(rec({ traceparent: `00-${traceId}-00f067aa0ba902b7-01` }), 3)!;
  t.is(consume.span.spanContext().traceId, traceId);
  t.is(traceparentOf(consume.ctx), viaPropagator(consume.ctx));
  endSpan(consume);
  const unsampled = trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId: '00f067aa0ba902b7', traceFlags: TraceFlags.NONE });
  t.is(traceparentOf(unsampled), '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00');
  t.is(traceparentOf(unsampled), viaPropagator(unsampled));
});

test('no span, or an invalid one: no traceparent', (t) => {
  t.is(traceparentOf(ROOT_CONTEXT), null);
  t.is(traceparentOf(trace.setSpanContext(ROOT_CONTEXT, { traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 1 })), null);
  t.is(traceparentOf(null), null);
});
