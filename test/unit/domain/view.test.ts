import test from 'ava';
import { decide, DEFAULT_DOMAIN_CONFIG, initialState, toUserView, upcastJournal, upcastState, type UserState, type UserView } from '../../../src/domain/index.ts';
import { accepted, ctx, ev, MIN, ordinaryHistory, play, T0 } from './helpers.ts';

test('the view has the contract\'s user state fields, newest history last', (t) => {
  const r = play([
    ev({ eventType: 'login', timestamp: T0, deviceId: 'd-1', country: 'CN', eventData: { success: false } }),
    ev({ eventType: 'payment', timestamp: T0 + MIN, amount: '1234.5', deviceId: 'd-1', country: 'CN' }),
    ev({ eventType: 'transfer', timestamp: T0 + 2 * MIN, amount: '10', deviceId: 'd-2', country: 'CN' }),
    ev({ eventType: 'chargeback', timestamp: T0 + 3 * MIN, amount: null, deviceId: null, country: null }),
  ]);
  const view = toUserView(r.state);
  t.deepEqual(Object.keys(view), ['userId', 'sequenceNumber', 'profile', 'recentEvents', 'decisions', 'window', 'lateEvents']);
  t.deepEqual(view.profile, {
    eventCount: 4,
    loginCount: 1,
    paymentCount: 1,
    transferCount: 1,
    otherCount: 1,
    totalPaymentAmount: '1234.5000',
    totalTransferAmount: '10.0000',
    totals: { USD: { payment: '1234.5000', transfer: '10.0000' } },
    devices: ['d-1', 'd-2'],
    countries: ['CN'],
    firstEventTime: T0,
    lastEventTime: T0 + 3 * MIN,
  });
  t.is(view.userId, 'u-1');
  t.is(view.sequenceNumber, 4);
  t.deepEqual(view.recentEvents[0], { eventId: accepted(r.outcomes[0]).decision.eventId, kind: 'login', timestamp: T0, amount: null, currency: null, deviceId: 'd-1', country: 'CN', failedLogin: true });
  t.like(view.recentEvents[1], { amount: '1234.5000', currency: 'USD' });
  t.is(view.recentEvents.at(-1)!.kind, 'other');
  t.deepEqual(view.decisions, r.outcomes.map((o) => accepted(o).decision));
  t.deepEqual(view.window, { windowStart: T0, windowEnd: T0 + 5 * MIN, eventCount: 4, maxRiskScore: Math.max(...view.decisions.map((d) => d.riskScore)) });
  t.is(view.lateEvents, 0);
  t.deepEqual(JSON.parse(JSON.stringify(view)), view);
});

test('a user never seen has an empty view with a zero window', (t) => {
  const view = toUserView(initialState('u-9'));
  t.is(view.sequenceNumber, 0);
  t.deepEqual(view.window, { windowStart: 0, windowEnd: 0, eventCount: 0, maxRiskScore: 0 });
  t.deepEqual([view.recentEvents, view.decisions, view.profile.devices], [[], [], []]);
});

test('history is bounded by config, keeping the newest', (t) => {
  const events = Array.from({ length: 60 }, (_, i) => ev({ timestamp: T0 + i * MIN, eventId: `n-${i}` }));
  const view = toUserView(play(events).state);
  t.is(view.recentEvents.length, DEFAULT_DOMAIN_CONFIG.history.events);
  t.is(view.decisions.length, DEFAULT_DOMAIN_CONFIG.history.decisions);
  t.is(view.recentEvents[0]!.eventId, 'n-10');
  t.is(view.decisions.at(-1)!.eventId, 'n-59');
  t.is(view.profile.eventCount, 60);
});

test('devices and countries are LRU sets: the least recently seen goes first', (t) => {
  const config = { ...DEFAULT_DOMAIN_CONFIG, profile: { maxDevices: 2, maxCountries: 2 } };
  const r = play(
    [
      ev({ timestamp: T0, deviceId: 'a', country: 'DE' }),
      ev({ timestamp: T0 + 1, deviceId: 'b', country: 'FR' }),
      ev({ timestamp: T0 + 2, deviceId: 'a', country: 'DE' }),
      ev({ timestamp: T0 + 3, deviceId: 'c', country: 'IT' }),
    ],
    { config },
  );
  t.deepEqual(toUserView(r.state).profile.devices, ['a', 'c']);
  t.deepEqual(toUserView(r.state).profile.countries, ['DE', 'IT']);
});

test('upcastState accepts a stored v2 state and refuses a corrupt or unknown one, naming the field', (t) => {
  const state = play([ev({ timestamp: T0 }), ev({ timestamp: T0 + 6 * MIN })]).state;
  const stored = JSON.parse(JSON.stringify(state));
  t.deepEqual(upcastState(stored), state);
  t.throws(() => upcastState({ ...stored, schemaVersion: 3 }), { message: /schemaVersion 3/ });
  t.throws(() => upcastState({ ...stored, history: { ...stored.history, nums: [1] } }), { message: /history/ });
  t.throws(() => upcastState(null), { message: /schemaVersion/ });
  t.throws(() => upcastState({ ...stored, profile: { ...stored.profile, eventCount: -1 } }), { message: /profile\.eventCount/ });
  t.throws(() => upcastState({ ...stored, profile: { ...stored.profile, totalPaymentAmount: 0.1 } }), { message: /profile\.totalPaymentAmount/ });
});

test('upcastJournal accepts stored v1 journal events and refuses others, naming the field', (t) => {
  const r = play([ev({ timestamp: T0, source: { topic: 'payment-events', partition: 0, offset: '5' } })]);
  const stored = JSON.parse(JSON.stringify(r.journal[0]));
  t.deepEqual(upcastJournal(stored), r.journal[0]);
  t.deepEqual(upcastJournal({ v: 1, type: 'idleClosed', at: 5, closed: [] }), { v: 1, type: 'idleClosed', at: 5, closed: [] });
  t.throws(() => upcastJournal({ ...stored, v: 2 }), { message: /version 2/ });
  t.throws(() => upcastJournal({ ...stored, decision: { ...stored.decision, decision: 'MAYBE' } }), { message: /decision\.decision/ });
  t.throws(() => upcastJournal({ ...stored, type: 'other' }), { message: /journal event/ });
});

/** The schema-1 form of a state (recent events and decisions as objects), as version 1 stored it. */
function asV1(state: UserState, view: UserView) {
  const { history: _, ...rest } = state;
  return {
    ...rest,
    schemaVersion: 1,
    recentEvents: view.recentEvents.map(({ timestamp, ...r }) => ({ ...r, t: timestamp })),
    decisions: view.decisions.map(({ userId: _u, ...d }, i) => ({ ...d, source: `payment-events:3:${100 + i}`, closed: [] })),
    seen: { ...state.seen, eventIds: [] },
  };
}

test('upcastState turns a stored v1 state into the same user: same view, same next decision', (t) => {
  const events = ordinaryHistory(12).map((e, i) => ({ ...e, source: { topic: 'payment-events', partition: 3, offset: String(100 + i) } }));
  const { state } = play(events, { traceId: '0af7651916cd43dd8448eb211c80319c' });
  const v1 = JSON.parse(JSON.stringify(asV1(state, toUserView(state))));
  const upcast = upcastState(v1);
  t.is(upcast.schemaVersion, 2);
  t.deepEqual(toUserView(upcast), toUserView(state));
  const next = ev({ timestamp: events.at(-1)!.timestamp + MIN, deviceId: 'phone-1', country: 'DE', amount: '999' });
  t.deepEqual(decide(upcast, next, ctx()), decide(state, next, ctx()));
  t.like(decide(upcast, events[3]!, ctx()), { kind: 'redelivered', decision: { eventId: events[3]!.eventId } });
});
