/** The produce loop: batches, order, pacing by rate without busy waiting, abort; and the report figures. */
import test from 'ava';
import { generate } from '../../../src/loadgen/generator.ts';
import { produce, type EventSink } from '../../../src/loadgen/produce.ts';
import { topicForType } from '../../../src/loadgen/sinks.ts';
import { percentile, scoreDetection } from '../../../src/loadgen/stats.ts';
import { truthOf } from '../../../src/loadgen/truth.ts';
import type { LoadEvent } from '../../../src/loadgen/generator.ts';

function recordingSink(): EventSink & { batches: LoadEvent[][]; times: number[] } {
  const batches: LoadEvent[][] = [];
  const times: number[] = [];
  return {
    target: 'memory',
    batches,
    times,
    async send(events) {
      batches.push([...events]);
      times.push(performance.now());
      return { accepted: events.length, rejected: 0 };
    },
    async close() {},
  };
}

const load = generate({ users: 30, events: 1000, fraudRatio: 0.1, seed: 11 });

test('as fast as possible: full batches, every event once, in order', async (t) => {
  const sink = recordingSink();
  const seen: number[] = [];
  const r = await produce(load.events, sink, { rate: 0, batchSize: 300, onSent: (b) => seen.push(b.length) });
  t.deepEqual(sink.batches.map((b) => b.length), [300, 300, 300, 100]);
  t.deepEqual(seen, [300, 300, 300, 100]);
  t.deepEqual(sink.batches.flat(), load.events.map((g) => g.event));
  t.is(r.sent, 1000);
  t.is(r.accepted, 1000);
  t.false(r.aborted);
});

test('a rate spreads the events over time: never ahead of schedule', async (t) => {
  const sink = recordingSink();
  const started = performance.now();
  const r = await produce(load.events.slice(0, 300), sink, { rate: 1000, batchSize: 50 });
  const elapsed = performance.now() - started;
  t.is(r.sent, 300);
  // Event i is due at i ms: the last one not before 299 ms.
  t.true(elapsed >= 290, `${elapsed} ms`);
  let count = 0;
  for (const [i, b] of sink.batches.entries()) {
    count += b.length;
    // By the time a batch is handed over, at most elapsed*rate+1 events were due.
    t.true(count <= Math.floor(sink.times[i]! - started) + 2, `batch ${i}: ${count} events at ${sink.times[i]! - started} ms`);
  }
  t.true(sink.batches.length > 5, 'sent in several batches, not all at once');
  t.true(r.eventsPerSecond <= 1100, String(r.eventsPerSecond));
});

test('stamp rewrites events at send time; abort stops after the batch in flight', async (t) => {
  const sink = recordingSink();
  const abort = new AbortController();
  const r = await produce(load.events, sink, {
    rate: 0,
    batchSize: 100,
    signal: abort.signal,
    stamp: (e, at) => ({ ...e, timestamp: at }),
    onSent: () => {
      if (sink.batches.length === 3) abort.abort();
    },
  });
  t.is(r.sent, 300);
  t.true(r.aborted);
  t.true(sink.batches.flat().every((e) => Math.abs(e.timestamp - Date.now()) < 60_000));
});

test('rejections are summed with their first reasons', async (t) => {
  const sink: EventSink = { target: 'x', send: async (events) => ({ accepted: events.length - 1, rejected: 1, reasons: ['line 1: SCHEMA bad'] }), close: async () => {} };
  const r = await produce(load.events.slice(0, 20), sink, { rate: 0, batchSize: 10 });
  t.is(r.rejected, 2);
  t.is(r.accepted, 18);
  t.deepEqual(r.reasons, ['line 1: SCHEMA bad', 'line 1: SCHEMA bad']);
});

test('bad options are refused', async (t) => {
  await t.throwsAsync(produce([], recordingSink(), { rate: -1, batchSize: 1 }), { instanceOf: RangeError });
  await t.throwsAsync(produce([], recordingSink(), { rate: 0, batchSize: 0 }), { instanceOf: RangeError });
});

test('topicForType: <type>-events among the inputs, prefixed or not, else the other topic', (t) => {
  t.is(topicForType(['login-events', 'payment-events'], null, 'payment'), 'payment-events');
  t.is(topicForType(['b1.login-events', 'b1.payment-events'], null, 'login'), 'b1.login-events');
  t.is(topicForType(['login-events'], null, 'transfer'), null);
  t.is(topicForType(['login-events'], 'other-events', 'transfer'), 'other-events');
});

test('percentile is nearest rank', (t) => {
  const xs = Float64Array.from({ length: 100 }, (_, i) => i + 1);
  t.is(percentile(xs, 0.5), 50);
  t.is(percentile(xs, 0.99), 99);
  t.is(percentile(xs, 1), 100);
  t.is(percentile(xs, 0), 1);
  t.true(Number.isNaN(percentile([], 0.5)));
});

test('detection score: precision over flagged events, recall over fraud events, per pattern', (t) => {
  const truth = truthOf(load.plan.options, load.events);
  const fraudIds = Object.keys(truth.fraudEvents);
  const ordinary = load.events.find((g) => !g.pattern)!.event.eventId;
  const half = fraudIds.slice(0, Math.floor(fraudIds.length / 2));
  const s = scoreDetection(truth, new Set([...half, ordinary]));
  t.is(s.truePositives, half.length);
  t.is(s.flagged, half.length + 1);
  t.is(s.precision, half.length / (half.length + 1));
  t.is(s.recall, half.length / fraudIds.length);
  t.is(Object.values(s.byPattern).reduce((n, p) => n + p.detected, 0), half.length);
  t.is(s.fraudUsers, truth.totals.fraudUsers);
  t.true(s.usersDetected >= 1 && s.usersDetected <= s.fraudUsers);
  const none = scoreDetection(truth, new Set());
  t.true(Number.isNaN(none.precision));
  t.is(none.recall, 0);
});
