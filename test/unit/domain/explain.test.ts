/**
 * Explaining decisions (src/domain/explain.ts): every decision of a generated workload, with a
 * rules change in the middle, is decided again from the state just before it (rebuilt from the
 * journal as stored, some from a snapshot) under the rules version it names, and reproduced.
 */
import test from 'ava';
import fc from 'fast-check';
import {
  decide,
  evolve,
  initialState,
  upcastJournal,
  upcastState,
  type EventAccepted,
  type JournalEvent,
  type RiskEvent,
  type Rules,
  type UserState,
} from '../../../src/domain/index.ts';
import { kindOf } from '../../../src/domain/event.ts';
import { eventOfJournal, explainDecision } from '../../../src/domain/explain.ts';
import { config, defaultRules, T0, MIN } from './helpers.ts';

const rulesV1: Rules = { ...defaultRules, rulesVersion: 1 };
/** Version 2 weighs every feature, the upstream score included, and adds hard rules. */
const rulesV2: Rules = {
  ...defaultRules,
  rulesVersion: 2,
  modelVersion: 'v2',
  bias: -2.5,
  weights: Object.fromEntries(Object.keys({ ...defaultRules.weights, upstreamRisk: 0, impossibleTravel: 0, unusualHour: 0 }).map((f, i) => [f, ((i % 5) - 1) * 0.8])),
  hardRules: [
    { id: 'big-transfer', when: { eventType: 'transfer', amountAbove: '5000.0000' }, decision: 'BLOCK' },
    { id: 'new-device-payment', when: { eventType: 'payment', newDevice: true }, decision: 'CHALLENGE' },
  ],
};
const RULES = new Map([[1, rulesV1], [2, rulesV2]]);

const eventArb = fc.record({
  user: fc.constantFrom('u-1', 'u-2', 'u-3'),
  type: fc.constantFrom('login', 'payment', 'payment', 'transfer', 'gift-card'),
  // Mostly forward in time, sometimes a little back (topics arrive in no fixed order).
  dt: fc.integer({ min: -3 * MIN, max: 40 * MIN }),
  amount: fc.oneof(fc.integer({ min: 1, max: 900 }), fc.integer({ min: 1000, max: 20_000 })),
  cents: fc.integer({ min: 0, max: 99 }),
  currency: fc.constantFrom('USD', 'USD', 'EUR', 'JPY'),
  device: fc.constantFrom('d-1', 'd-1', 'd-2', 'd-3', null),
  country: fc.constantFrom('DE', 'DE', 'US', 'BR', null),
  upstream: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: null }),
  failed: fc.boolean(),
  repeat: fc.integer({ min: 0, max: 15 }),
});

interface Stored {
  seq: number;
  /** As the store gives it back: a JSON round trip. */
  data: unknown;
}

test('every decision of a workload with a rules change in the middle is reproduced by explain', (t) => {
  fc.assert(
    fc.property(fc.array(eventArb, { minLength: 5, maxLength: 90 }), fc.integer({ min: 0, max: 1000 }), (specs, snapshotSeed) => {
      const states = new Map<string, UserState>();
      const journals = new Map<string, Stored[]>();
      const seen: RiskEvent[] = [];
      let time = T0 + 9 * 3_600_000;
      specs.forEach((s, i) => {
        time += s.dt;
        const kind = kindOf(s.type);
        // Now and then an eventId again (a retry): decide answers duplicate, nothing is journaled.
        const again = s.repeat === 0 && seen.length ? seen[i % seen.length]! : null;
        const event: RiskEvent = again ?? {
          eventId: `e-${i}`,
          userId: s.user,
          eventType: s.type,
          kind,
          timestamp: time,
          amount: kind === 'payment' || kind === 'transfer' ? `${s.amount}.${String(s.cents).padStart(2, '0')}00` : null,
          currency: s.currency,
          deviceId: s.device,
          ip: '10.0.0.1',
          country: s.country,
          upstreamRiskScore: s.upstream,
          eventData: kind === 'login' ? { success: !s.failed } : null,
          source: i % 3 === 0 ? { topic: `${s.type}-events`, partition: 2, offset: String(100 + i) } : null,
        };
        seen.push(event);
        const rules = i < specs.length / 2 ? rulesV1 : rulesV2;
        const state = states.get(event.userId) ?? initialState(event.userId);
        const out = decide(state, event, { rules, config, now: time + 5, shard: 2, traceId: null });
        if (out.kind !== 'accepted') return;
        const next = evolve(state, out.journal, config);
        states.set(event.userId, next);
        const journal = journals.get(event.userId) ?? [];
        journal.push({ seq: next.sequenceNumber, data: JSON.parse(JSON.stringify(out.journal)) });
        journals.set(event.userId, journal);
      });

      for (const [userId, journal] of journals) {
        // A snapshot somewhere in the user's journal, as recovery would read it.
        const snapAt = snapshotSeed % (journal.length + 1);
        let snapshot: UserState = initialState(userId);
        for (const e of journal.slice(0, snapAt)) snapshot = evolve(snapshot, upcastJournal(e.data) as JournalEvent, config);
        snapshot = upcastState(JSON.parse(JSON.stringify(snapshot)));
        for (const entry of journal) {
          const data = upcastJournal(entry.data) as EventAccepted;
          let before = entry.seq > snapAt ? snapshot : initialState(userId);
          for (const e of journal.slice(entry.seq > snapAt ? snapAt : 0, entry.seq - 1)) before = evolve(before, upcastJournal(e.data), config);
          const x = explainDecision(before, data, RULES.get(data.decision.rulesVersion)!, config);
          if (!x.reproduced) return false;
          const sum = x.bias + x.contributions.reduce((a, c) => a + c.contribution, 0);
          if (Math.abs(sum - x.logit) > 1e-9) return false;
        }
      }
      return true;
    }),
    { numRuns: 150 },
  );
  t.pass();
});

test('the explanation names each weighted feature with weight × value, the hard rules and the state before', (t) => {
  const state = initialState('u-9');
  const event: RiskEvent = {
    eventId: 'x-1', userId: 'u-9', eventType: 'transfer', kind: 'transfer', timestamp: T0, amount: '9000.0000', currency: 'EUR',
    deviceId: 'd-1', ip: null, country: 'DE', upstreamRiskScore: 0.8, eventData: null, source: { topic: 'transfer-events', partition: 1, offset: '7' },
  };
  const out = decide(state, event, { rules: rulesV2, config, now: T0 + 1, shard: 1, traceId: null });
  if (out.kind !== 'accepted') return t.fail();
  const entry = JSON.parse(JSON.stringify(out.journal)) as EventAccepted;
  t.deepEqual(eventOfJournal(entry, config), { ...event, ip: null });
  const x = explainDecision(state, entry, rulesV2, config);
  t.true(x.reproduced);
  t.is(x.decision, entry.decision);
  t.is(x.rulesVersion, 2);
  t.is(x.features.upstreamRisk, 0.8);
  const upstream = x.contributions.find((c) => c.feature === 'upstreamRisk');
  t.deepEqual(upstream, { feature: 'upstreamRisk', weight: rulesV2.weights.upstreamRisk!, value: 0.8, contribution: rulesV2.weights.upstreamRisk! * 0.8 });
  t.deepEqual(x.hardRules, [
    { id: 'big-transfer', decision: 'BLOCK', matched: true },
    { id: 'new-device-payment', decision: 'CHALLENGE', matched: false },
  ]);
  t.is(x.replayed?.decision, 'BLOCK');
  t.is(x.stateBefore.sequenceNumber, 0);
  t.is(x.stateBefore.profile.eventCount, 0);
});

test('a replay under other rules than the decision was made with is not reproduced', (t) => {
  const state = initialState('u-8');
  const event: RiskEvent = {
    eventId: 'y-1', userId: 'u-8', eventType: 'transfer', kind: 'transfer', timestamp: T0, amount: '9000.0000', currency: 'USD',
    deviceId: null, ip: null, country: null, upstreamRiskScore: null, eventData: null, source: null,
  };
  const out = decide(state, event, { rules: rulesV2, config, now: T0, shard: 0, traceId: null });
  if (out.kind !== 'accepted') return t.fail();
  t.true(explainDecision(state, out.journal, rulesV2, config).reproduced);
  t.false(explainDecision(state, out.journal, rulesV1, config).reproduced);
});
