/**
 * With tracing on, the SDK's batch span processor is sized for an engine's span rate unless
 * OTEL_BSP_* say otherwise: its own defaults dropped the spans of 39% of a catch-up's events.
 */
import test from 'ava';
import { trace } from '@opentelemetry/api';
import { SPAN_BATCHING, startTracing } from '../../../src/telemetry/tracing.ts';

/** The SDK's processors behind the global tracer provider (private fields: what the SDK built). */
function processors(): { _maxQueueSize: number; _maxExportBatchSize: number }[] {
  const provider = (trace.getTracerProvider() as unknown as { getDelegate(): unknown }).getDelegate() as { _activeSpanProcessor?: { _spanProcessors?: unknown[] } };
  return (provider._activeSpanProcessor?._spanProcessors ?? []) as { _maxQueueSize: number; _maxExportBatchSize: number }[];
}

test.serial('the engine sizes the batch span processor, and OTEL_BSP_* set by the operator win', async (t) => {
  const saved = { ...process.env };
  t.teardown(() => {
    for (const name of Object.keys(SPAN_BATCHING)) delete process.env[name];
    Object.assign(process.env, saved);
  });
  // An endpoint nobody listens on: no span is ended, so nothing is exported.
  const env = { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '1000' };
  const stop = startTracing(env, { includeUserIds: false });
  try {
    t.is(process.env.OTEL_BSP_MAX_QUEUE_SIZE, SPAN_BATCHING.OTEL_BSP_MAX_QUEUE_SIZE);
    t.is(process.env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE, '1000');
    const [batch] = processors();
    t.truthy(batch, 'the SDK built a batch span processor');
    t.is(batch!._maxQueueSize, Number(SPAN_BATCHING.OTEL_BSP_MAX_QUEUE_SIZE));
    t.is(batch!._maxExportBatchSize, 1000);
  } finally {
    await stop();
  }
});
