/**
 * Shadow rules in the pure domain (CONTRACT §8): one `decide` judges an event under the live and
 * the shadow rule set. Properties over generated traffic and rule sets: the live outcome (and so
 * the state, alerts and escalation) is the same with or without a shadow; the shadow verdict is
 * what deciding under the shadow rules alone gives; the history keeps it, so a redelivered event
 * re-emits the decision with the same shadow, also after a snapshot's JSON round trip.
 */
import { deepStrictEqual as equal, ok } from 'node:assert/strict';
import test from 'ava';
import fc from 'fast-check';
import { decisionAt, historyLength } from '../../../src/domain/history.ts';
import {
  decide,
  evolve,
  FEATURE_NAMES,
  initialState,
  upcastJournal,
  upcastState,
  validateRules,
  type Decision,
  type RiskEvent,
  type Rules,
  type UserState,
} from '../../../src/domain/index.ts';
import { kindOf } from '../../../src/domain/event.ts';
import { config, ctx, defaultRules, ev, T0 } from './helpers.ts';

const TYPES = ['login', 'payment', 'transfer', 'refund'] as const;

const eventSpec = fc.record({
  type: fc.constantFrom(...TYPES),
  gapMs: fc.integer({ min: 0, max: 300_000 }),
  amount: fc.integer({ min: 0, max: 20_000 }),
  device: fc.integer({ min: 0, max: 4 }),
  country: fc.constantFrom('DE', 'FR', 'BR', 'US', null),
  failed: fc.boolean(),
  upstream: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: null }),
});

/** Any valid rules: random weights over the real features, thresholds, a few hard rules. */
const rulesArb = (version: number): fc.Arbitrary<Rules> =>
  fc
    .record({
      weights: fc.dictionary(fc.constantFrom(...FEATURE_NAMES), fc.double({ min: -8, max: 8, noNaN: true })),
      bias: fc.double({ min: -6, max: 2, noNaN: true }),
      challenge: fc.double({ min: 0.05, max: 0.8, noNaN: true }),
      gap: fc.double({ min: 0.01, max: 0.19, noNaN: true }),
      hard: fc.array(
        fc.record({
          when: fc.oneof(
            fc.record({ amountAbove: fc.integer({ min: 100, max: 15_000 }).map(String) }),
            fc.record({ newDevice: fc.boolean() }),
            fc.record({ countryIn: fc.constant(['BR']) }),
            fc.record({ eventType: fc.constantFrom('login', 'transfer', 'other') }),
          ),
          decision: fc.constantFrom('BLOCK', 'CHALLENGE'),
        }),
        { maxLength: 3 },
      ),
    })
    .map(({ weights, bias, challenge, gap, hard }) => {
      const checked = validateRules({
        rulesVersion: version,
        modelVersion: `m-${version}`,
        thresholds: { challenge, block: Math.min(1, challenge + gap) },
        weights,
        bias,
        hardRules: hard.map((h, i) => ({ id: `h${i}`, ...h })),
      });
      if (!checked.ok) throw new Error(`generated rules invalid: ${checked.field}: ${checked.message}`);
      return checked.rules;
    });

function eventsOf(specs: readonly (typeof eventSpec extends fc.Arbitrary<infer T> ? T : never)[]): RiskEvent[] {
  let t = T0;
  return specs.map((s, i) => {
    t += s.gapMs;
    const kind = kindOf(s.type);
    return ev({
      eventId: `e-${i}`,
      eventType: s.type,
      timestamp: t,
      amount: kind === 'payment' || kind === 'transfer' ? `${s.amount}.50` : null,
      deviceId: `d-${s.device}`,
      country: s.country,
      upstreamRiskScore: s.upstream,
      ...(kind === 'login' ? { eventData: { success: !s.failed } } : {}),
      source: { topic: `${s.type}-events`, partition: 0, offset: String(i) },
    });
  });
}

const withoutShadow = (d: Decision): Decision => {
  const { shadow: _shadow, ...live } = d;
  return live;
};

const traffic = fc.record({ events: fc.array(eventSpec, { minLength: 1, maxLength: 60 }), live: rulesArb(1), shadow: rulesArb(2) });

test('the live outcome is the same with or without a shadow rule set', (t) => {
  fc.assert(
    fc.property(traffic, ({ events: specs, live, shadow }) => {
      let plain = initialState('u-1');
      let shadowed = initialState('u-1');
      for (const event of eventsOf(specs)) {
        const a = decide(plain, event, ctx({ rules: live, now: event.timestamp }));
        const b = decide(shadowed, event, ctx({ rules: live, shadow, now: event.timestamp }));
        equal(b.kind, a.kind);
        if (a.kind !== 'accepted' || b.kind !== 'accepted') continue;
        equal(withoutShadow(b.decision), a.decision);
        equal(b.aggregates, a.aggregates);
        equal({ ...b.journal, decision: withoutShadow(b.journal.decision) }, a.journal);
        plain = evolve(plain, a.journal, config);
        shadowed = evolve(shadowed, b.journal, config);
      }
      // Everything but the recorded shadow verdicts is the same state.
      equal({ ...shadowed, history: { ...shadowed.history, extras: [] } }, { ...plain, history: { ...plain.history, extras: [] } });
    }),
    { numRuns: 150 },
  );
  t.pass();
});

test('the shadow verdict is what deciding under the shadow rules alone gives', (t) => {
  fc.assert(
    fc.property(traffic, ({ events: specs, live, shadow }) => {
      let state = initialState('u-1');
      for (const event of eventsOf(specs)) {
        const both = decide(state, event, ctx({ rules: live, shadow, now: event.timestamp }));
        if (both.kind !== 'accepted') continue;
        const alone = decide(state, event, ctx({ rules: shadow, now: event.timestamp }));
        ok(alone.kind === 'accepted');
        equal(both.decision.shadow, { rulesVersion: shadow.rulesVersion, decision: alone.decision.decision, riskScore: alone.decision.riskScore });
        state = evolve(state, both.journal, config);
      }
    }),
    { numRuns: 150 },
  );
  t.pass();
});

test('no shadow rule set: the decision has no shadow key at all', (t) => {
  const out = decide(initialState('u-1'), ev(), ctx({ shadow: null }));
  ok(out.kind === 'accepted');
  t.false('shadow' in out.decision);
  t.is(JSON.stringify(out.decision).includes('shadow'), false);
});

test('a shadow hard rule forces the shadow verdict only', (t) => {
  const shadow: Rules = { ...defaultRules, rulesVersion: 7, hardRules: [{ id: 'all-payments', when: { eventType: 'payment' }, decision: 'BLOCK' }] };
  const out = decide(initialState('u-1'), ev({ eventType: 'payment', amount: '5' }), ctx({ shadow }));
  ok(out.kind === 'accepted');
  t.is(out.decision.decision, 'ALLOW');
  t.deepEqual(out.decision.shadow, { rulesVersion: 7, decision: 'BLOCK', riskScore: out.decision.riskScore });
  t.false(out.decision.reasons.some((r) => r.code.startsWith('HARD_RULE')));
});

/** Decides `events` with a shadow set on for some of them; returns the state and the decisions made. */
function playMixed(events: readonly RiskEvent[], live: Rules, shadow: Rules, on: readonly boolean[]): { state: UserState; decisions: Decision[]; journal: unknown[] } {
  let state = initialState('u-1');
  const decisions: Decision[] = [];
  const journal: unknown[] = [];
  events.forEach((event, i) => {
    const out = decide(state, event, ctx({ rules: live, shadow: on[i] ? shadow : null, now: event.timestamp }));
    if (out.kind !== 'accepted') return;
    decisions.push(out.decision);
    journal.push(JSON.parse(JSON.stringify(out.journal)));
    state = evolve(state, out.journal, config);
  });
  return { state, decisions, journal };
}

test('the history keeps the shadow verdict: decisionAt, redelivery, snapshot and journal replay give it back', (t) => {
  fc.assert(
    fc.property(traffic, fc.array(fc.boolean(), { minLength: 60, maxLength: 60 }), ({ events: specs, live, shadow }, on) => {
      const events = eventsOf(specs);
      const { state, decisions, journal } = playMixed(events, live, shadow, on);
      const h = state.history;
      const kept = decisions.slice(-historyLength(h));
      kept.forEach((d, i) => equal(decisionAt(h, i, 'u-1'), d));
      // A redelivered record re-emits the decision as it was, byte for byte.
      const byId = new Map(kept.map((d) => [d.eventId, d]));
      for (const event of events) {
        const first = byId.get(event.eventId);
        if (!first) continue;
        const again = decide(state, event, ctx({ rules: live, shadow: null, now: event.timestamp + 1 }));
        ok(again.kind === 'redelivered');
        equal(JSON.stringify(again.decision), JSON.stringify(first));
      }
      // Snapshot round trip, and a replay of the stored journal, keep it too.
      const restored = upcastState(JSON.parse(JSON.stringify(state)));
      kept.forEach((d, i) => equal(decisionAt(restored.history, i, 'u-1'), d));
      let replayed = initialState('u-1');
      for (const j of journal) replayed = evolve(replayed, upcastJournal(j), config);
      kept.forEach((d, i) => equal(decisionAt(replayed.history, i, 'u-1'), d));
    }),
    { numRuns: 100 },
  );
  t.pass();
});
