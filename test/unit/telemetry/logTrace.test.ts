/**
 * Log lines join traces: with tracing on, a line written while handling an event carries the
 * event's trace_id/span_id (the consume span `process <topic>`), whether its span is the active
 * one or the shard names it; with tracing off nothing is added. Spans go to an in-memory exporter
 * (no I/O); the shard runs over real nact actors and an in-memory journal, as in
 * ShardSupervisor.test.ts.
 */
import test from 'ava';
import sinon from 'sinon';
import nact from 'nact';
import { tracing } from '@opentelemetry/sdk-node';
import { endSpan, inSpan, SpanKind, startChild, startTracing, extractContext, traceFields } from '../../../src/telemetry/tracing.ts';
import { ShardSupervisor } from '../../../src/actors/ShardSupervisor.ts';
import { domainConfigOf, loadSettings } from '../../../src/config/settings.ts';
import { RulesHolder } from '../../../src/app/rules.ts';
import { NO_FAULTS } from '../../../src/app/faults.ts';
import { onCrashWithPolicy, type SupervisionDeps } from '../../../src/supervision/onCrash.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import type { InputBatch } from '../../../src/transport/ports.ts';
import { MemoryJournal } from '../helpers/MemoryJournal.ts';
import { memoryLogger } from '../helpers/memoryLog.ts';


const exporter = new tracing.InMemorySpanExporter();
const processor = new tracing.SimpleSpanProcessor(exporter);
let stopTracing: () => Promise<void> = async () => {};

test.after.always(() => stopTracing());

// Serial: the first test runs before tracing starts (the SDK is process-wide).
test.serial('tracing off: no trace fields, even for a record that came with a traceparent', (t) => {
  const { log, lines } = memoryLogger();
  const ctx = extractContext({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
  t.is(ctx, null);
  const child = startChild(ctx, 'x', SpanKind.INTERNAL);
  inSpan(child, () => log.info({ ...traceFields(child) }, 'handling'));
  t.is(lines.length, 1);
  t.false('trace_id' in lines[0]! || 'span_id' in lines[0]!);
});

test.serial('tracing on: a line written in an active span carries it; a line given traceFields(span) too; a line outside carries none', async (t) => {
  stopTracing = startTracing({ OTEL_TRACES_EXPORTER: 'otlp' }, { includeUserIds: false, spanProcessors: [processor] });
  const { log, lines } = memoryLogger();
  const parent = extractContext({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
  const span = startChild(parent, 'handle', SpanKind.INTERNAL)!;
  const { traceId, spanId } = span.span.spanContext();
  await inSpan(span, async () => {
    log.info('inside');
    await Promise.resolve();
    log.warn('inside, after an await');
  });
  log.info({ ...traceFields(span) }, 'named');
  log.info('outside');
  endSpan(span);
  t.like(lines[0], { msg: 'inside', trace_id: traceId, span_id: spanId, trace_flags: '01' });
  t.like(lines[1], { msg: 'inside, after an await', trace_id: traceId, span_id: spanId });
  t.like(lines[2], { msg: 'named', trace_id: traceId, span_id: spanId });
  t.is(traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  t.false('trace_id' in lines[3]!);
});

test.serial('a poison event: the shard’s quarantine line and the supervision lines carry that event’s trace', async (t) => {
  const { log, lines } = memoryLogger();
  const store = new MemoryJournal();
  const system = nact.start();
  const settings = loadSettings({ CONFIG_FILE: 'config/test.json' });
  settings.kafka.partitions = 1;
  const supervision: SupervisionDeps = { log, clock: () => 1_700_000_000_000, random: () => 0.5, sleep: async () => {} };
  const sup = new ShardSupervisor(system as nact.Ref<unknown>, {
    shard: 0,
    partitions: 1,
    domain: domainConfigOf(settings),
    epoch: 1,
    settings,
    sink: { commit: async () => {}, close: async () => {} },
    alerts: { publish: sinon.stub().resolves(), close: async () => {}, isConnected: () => true },
    store,
    rules: RulesHolder.fromFile(settings.rulesFile).current,
    supervision,
    metrics: new Metrics({ liveActors: () => 0, ownedShards: () => 1, dependencies: () => ({}), alertsBuffered: () => 0, fencedWrites: () => 0 }),
    log,
    actorBudget: () => 1000,
    onFatal: () => {},
    faults: { ...NO_FAULTS, beforeDecide: (e) => { if (e.eventId === 'e-2') throw new Error('boom'); } },
    committed: {},
  });
  t.teardown(async () => {
    await sup.stop().catch(() => undefined);
    nact.stop(system);
  });
  const traceOf = (i: number) => `${'a'.repeat(31)}${i}`;
  const batch: InputBatch = {
    topic: 'payment-events',
    partition: 0,
    nextOffset: '3',
    records: [1, 2, 3].map((i) => ({
      topic: 'payment-events',
      partition: 0,
      offset: String(i - 1),
      key: Buffer.from('u'),
      value: Buffer.from(JSON.stringify({ eventId: `e-${i}`, userId: 'u', eventType: 'payment', timestamp: 1_700_000_000_000 + i, amount: '1.00' })),
      headers: { traceparent: `00-${traceOf(i)}-00f067aa0ba902b${i}-01` },
      timestamp: 1_700_000_000_000 + i,
    })),
  };
  exporter.reset();
  await sup.processBatch(batch, { heartbeat: async () => {} });

  // Exports may wait for the resource's detected attributes.
  await processor.forceFlush();
  // The poison event's consume span: a child of its record's traceparent.
  const consume = exporter.getFinishedSpans().find((s) => s.name === 'process payment-events' && s.spanContext().traceId === traceOf(2));
  t.truthy(consume, 'the poison event has its consume span');
  const quarantined = lines.filter((l) => l.msg === 'poison event quarantined');
  t.is(quarantined.length, 1);
  t.like(quarantined[0], { eventId: 'e-2', trace_id: traceOf(2), span_id: consume!.spanContext().spanId });
  const restarts = lines.filter((l) => l.msg.startsWith('supervision: '));
  t.true(restarts.length > 0, 'the user actor was restarted under its policy');
  for (const l of restarts) t.is(l.trace_id, traceOf(2), JSON.stringify(l));
});

test('onCrash names no trace for a failure that is not about one event', async (t) => {
  const { log, lines } = memoryLogger();
  const onCrash = onCrashWithPolicy({ name: 'p', maxRestarts: 3, withinMs: 1000, backoff: { initialMs: 1, maxMs: 1, factor: 1, jitter: 0 }, onLimit: 'stop' } as never, { log, clock: () => 0, random: () => 0, sleep: async () => {} });
  const ctx = { self: {}, path: { toString: () => 'a' }, reset: Symbol('reset'), stop: Symbol('stop'), escalate: Symbol('escalate') };
  await onCrash({ items: [{ event: { eventId: 'e-1' }, traceId: 'f'.repeat(32) }] }, new Error('store down'), ctx);
  t.is(lines.length, 1);
  t.false('trace_id' in lines[0]!);
});
