import test from 'ava';
import { DEFAULT_DOMAIN_CONFIG, decide, upcastState, type EventSource } from '../../../src/domain/index.ts';
import { accepted, ctx, ev, MIN, play, T0 } from './helpers.ts';

const src = (offset: number, topic = 'payment-events', partition = 3): EventSource => ({ topic, partition, offset: String(offset) });

test('a repeated eventId in a new record is a duplicate: nothing changes, nothing is emitted', (t) => {
  const first = ev({ eventId: 'e-1', source: src(10) });
  const { state } = play([first]);
  const again = { ...first, source: src(11), amount: '999.0000' };
  t.deepEqual(decide(state, again, ctx()), { kind: 'duplicate' });
  t.is(state.profile.paymentCount, 1);
});

test('events without a Kafka source are deduplicated by eventId alone', (t) => {
  const e = ev({ eventId: 'http-1', source: null });
  const { state, outcomes } = play([e, e, { ...e, timestamp: T0 + 1 }]);
  t.deepEqual(outcomes.map((o) => o.kind), ['accepted', 'duplicate', 'duplicate']);
  t.is(state.profile.eventCount, 1);
});

test('a redelivered record gets the first decision back, identical to the byte, with the aggregates it closed', (t) => {
  const events = [ev({ timestamp: T0 + MIN, source: src(1) }), ev({ timestamp: T0 + 6 * MIN, source: src(2) })];
  const firstRun = play(events, { now: 123, traceId: 'f'.repeat(32) });
  const original = accepted(firstRun.outcomes[1]);
  t.is(original.aggregates.length, 1);
  // Later, under other rules and another clock, after a restart from a snapshot.
  const restored = upcastState(JSON.parse(JSON.stringify(firstRun.state)));
  const again = decide(restored, events[1]!, ctx({ now: 999_999, traceId: null, shard: 7, rules: { ...ctx().rules, rulesVersion: 9 } }));
  if (again.kind !== 'redelivered') return t.fail(again.kind);
  t.is(JSON.stringify(again.decision), JSON.stringify(original.decision));
  t.deepEqual(again.aggregates, original.aggregates);
  const older = decide(restored, events[0]!, ctx());
  t.deepEqual(older, { kind: 'redelivered', decision: accepted(firstRun.outcomes[0]).decision, aggregates: [] });
  t.is(restored.sequenceNumber, 2);
});

test('redelivery is recognised by offset per topic and partition', (t) => {
  const { state } = play([ev({ source: src(100, 'payment-events') }), ev({ source: src(5, 'login-events'), eventType: 'login' })]);
  t.is(decide(state, ev({ source: src(99, 'payment-events') }), ctx()).kind, 'redelivered');
  t.is(decide(state, ev({ source: src(101, 'payment-events') }), ctx()).kind, 'accepted');
  t.is(decide(state, ev({ source: src(6, 'login-events'), eventType: 'login' }), ctx()).kind, 'accepted');
  t.is(decide(state, ev({ source: src(50, 'transfer-events'), eventType: 'transfer' }), ctx()).kind, 'accepted');
  t.is(decide(state, ev({ source: src(50, 'payment-events', 4) }), ctx()).kind, 'accepted', 'another partition has its own offsets');
  t.deepEqual(state.seen.offsets, { 'payment-events:3': '100', 'login-events:3': '5' });
});

test('offsets compare as integers, beyond 2^53', (t) => {
  const big = '9007199254740993';
  const { state } = play([ev({ source: { ...src(0), offset: big } })]);
  t.is(decide(state, ev({ source: { ...src(0), offset: '9007199254740992' } }), ctx()).kind, 'redelivered');
  t.is(decide(state, ev({ source: { ...src(0), offset: '9007199254740994' } }), ctx()).kind, 'accepted');
  t.is(decide(state, ev({ source: { ...src(0), offset: '10' } }), ctx()).kind, 'redelivered');
});

test('a redelivered record that was a duplicate the first time is still a duplicate', (t) => {
  const e = ev({ eventId: 'e-1', source: src(1) });
  const { state, outcomes } = play([e, { ...e, source: src(2) }, ev({ source: src(3) })]);
  t.deepEqual(outcomes.map((o) => o.kind), ['accepted', 'duplicate', 'accepted']);
  t.deepEqual(decide(state, { ...e, source: src(2) }, ctx()), { kind: 'duplicate' });
});

test('a redelivered record whose decision is no longer retained gets null', (t) => {
  const config = { ...DEFAULT_DOMAIN_CONFIG, history: { events: 3, decisions: 3 } };
  const events = Array.from({ length: 5 }, (_, i) => ev({ timestamp: T0 + i * MIN, source: src(i) }));
  const { state } = play(events, { config });
  t.deepEqual(decide(state, events[0]!, ctx({ config })), { kind: 'redelivered', decision: null, aggregates: [] });
  t.like(decide(state, events[4]!, ctx({ config })), { kind: 'redelivered', decision: { eventId: events[4]!.eventId } });
});

test("the dedupe memory is bounded: the history's eventIds, then hashes of older ones, then they are forgotten", (t) => {
  const config = { ...DEFAULT_DOMAIN_CONFIG, history: { events: 2, decisions: 2 }, dedupe: { eventIds: 3 } };
  const events = Array.from({ length: 4 }, (_, i) => ev({ eventId: `id-${i}`, timestamp: T0 + i }));
  const { state } = play(events, { config });
  t.deepEqual(state.history.eventIds, ['id-2', 'id-3']);
  t.is(state.seen.eventIds.length, 1);
  t.is(decide(state, events[0]!, ctx({ config })).kind, 'accepted');
  t.is(decide(state, events[1]!, ctx({ config })).kind, 'duplicate');
  t.is(decide(state, events[3]!, ctx({ config })).kind, 'duplicate');
});

test('duplicates and redeliveries leave the state exactly as it was', (t) => {
  const e = ev({ eventId: 'e-1', source: src(7) });
  const { state } = play([e]);
  const snapshot = JSON.stringify(state);
  for (const again of [e, { ...e, source: src(8) }, { ...e, source: null }]) {
    const out = decide(state, again, ctx());
    t.not(out.kind, 'accepted');
  }
  t.is(JSON.stringify(state), snapshot);
});
