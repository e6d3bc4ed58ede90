/**
 * A round's span (its journal write, its transaction) links the spans of the events it carries,
 * up to the SDK's link limit (128 by default): beyond it the SDK would drop the links after they
 * were made and warn in the engine's log for every large round of a catch-up. The events left
 * unlinked are counted on the span instead.
 */
import test from 'ava';
import { tracing } from '@opentelemetry/sdk-node';
import { endSpan, SpanKind, startConsume, startRound, startTracing, type Traced } from '../../../src/telemetry/tracing.ts';
import { memoryLogger } from '../helpers/memoryLog.ts';

const exporter = new tracing.InMemorySpanExporter();
const processor = new tracing.SimpleSpanProcessor(exporter);
const { log, lines } = memoryLogger('info');
let stop: () => Promise<void> = async () => {};
test.before(() => {
  stop = startTracing({ OTEL_TRACES_EXPORTER: 'console' }, { includeUserIds: false, log, spanProcessors: [processor] });
});
test.after.always(() => stop());

const events = (n: number): Traced[] => Array.from({ length: n }, (_, i) => startConsume({ topic: 'payment-events', partition: 3, offset: String(i), key: null, headers: {} }, 3)!);

test.serial('a round of more events than the link limit links the first 128 and counts the rest, without a warning', async (t) => {
  const carried = events(200);
  const round = startRound('risk.transaction', SpanKind.PRODUCER, carried, { 'risk.records': 200 });
  endSpan(round);
  await processor.forceFlush();
  const span = exporter.getFinishedSpans().find((s) => s.name === 'risk.transaction')!;
  t.deepEqual(span.links.map((l) => l.context.spanId), carried.slice(0, 128).map((e) => e.span.spanContext().spanId));
  t.is(span.droppedLinksCount, 0);
  t.is(span.attributes['risk.unlinked_events'], 72);
  t.is(span.attributes['risk.records'], 200);
  t.deepEqual(lines.filter((l) => l.level >= 40).map((l) => l.msg), []);
  for (const e of carried) endSpan(e);
});

test.serial('a round within the limit links every event, and events without a span are skipped', async (t) => {
  const carried = events(3);
  endSpan(startRound('risk.journal', SpanKind.CLIENT, [carried[0]!, null, carried[1]!, carried[2]!]));
  await processor.forceFlush();
  const span = exporter.getFinishedSpans().find((s) => s.name === 'risk.journal')!;
  t.deepEqual(span.links.map((l) => l.context.spanId), carried.map((e) => e.span.spanContext().spanId));
  t.false('risk.unlinked_events' in span.attributes);
  for (const e of carried) endSpan(e);
});
