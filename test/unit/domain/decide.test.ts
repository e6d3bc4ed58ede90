import test from 'ava';
import { DEFAULT_DOMAIN_CONFIG, decide, initialState, validateRules, type HardRule, type RiskEvent, type Rules } from '../../../src/domain/index.ts';
import { accepted, codes, config, ctx, ev, MIN, neutralRules, play, T0 } from './helpers.ts';

const withHardRules = (...hardRules: unknown[]): Rules => {
  const r = validateRules({ ...neutralRules(), hardRules });
  if (!r.ok) throw new Error(`${r.field}: ${r.message}`);
  return r.rules;
};
const rule = (when: Record<string, unknown>, decision: HardRule['decision'] = 'BLOCK') => ({ id: 'r', when, decision });

/** The verdict for `e` after `history`, under `rules`. */
const verdict = (rules: Rules, e: RiskEvent, history: RiskEvent[] = []) => {
  const state = play(history, { rules: neutralRules() }).state;
  return accepted(decide(state, e, ctx({ rules }))).decision;
};

test('a decision carries the contract fields: versions, times, shard, trace', (t) => {
  const e = ev({ eventId: 'e-x', eventType: 'payment', timestamp: T0 - 5 });
  const d = accepted(decide(initialState('u-1'), e, ctx({ rules: neutralRules({ modelVersion: 'm-7', rulesVersion: 4 }), now: T0 + 12, shard: 3, traceId: 'ab'.repeat(16) }))).decision;
  t.deepEqual(d, {
    eventId: 'e-x',
    userId: 'u-1',
    eventType: 'payment',
    decision: 'ALLOW',
    riskScore: 0.018,
    reasons: [],
    modelVersion: 'm-7',
    rulesVersion: 4,
    eventTimestamp: T0 - 5,
    decidedAt: T0 + 12,
    shard: 3,
    traceId: 'ab'.repeat(16),
  });
  t.deepEqual(Object.keys(d), ['eventId', 'userId', 'eventType', 'decision', 'riskScore', 'reasons', 'modelVersion', 'rulesVersion', 'eventTimestamp', 'decidedAt', 'shard', 'traceId']);
});

test('thresholds come from the rules', (t) => {
  const e = ev();
  t.is(verdict(neutralRules({ bias: 0 }), e).decision, 'ALLOW'); // 0.5
  t.is(verdict(neutralRules({ bias: 0, thresholds: { block: 0.8, challenge: 0.4 } }), e).decision, 'CHALLENGE');
  t.is(verdict(neutralRules({ bias: 0, thresholds: { block: 0.45, challenge: 0.4 } }), e).decision, 'BLOCK');
});

test('an event of another user is a programming error', (t) => {
  t.throws(() => decide(initialState('u-1'), ev({ userId: 'u-2' }), ctx()));
});

test('hard rule: transfer amount above a limit, compared exactly', (t) => {
  const rules = withHardRules({ id: 'big-transfer', when: { eventType: 'transfer', amountAbove: '10000' }, decision: 'BLOCK' });
  const d = verdict(rules, ev({ eventType: 'transfer', amount: '10000.0001' }));
  t.is(d.decision, 'BLOCK');
  t.deepEqual(d.reasons[0], { code: 'HARD_RULE:big-transfer', weight: 1, detail: 'hard rule big-transfer forces BLOCK' });
  t.is(verdict(rules, ev({ eventType: 'transfer', amount: '10000' })).decision, 'ALLOW');
  t.is(verdict(rules, ev({ eventType: 'payment', amount: '20000' })).decision, 'ALLOW');
});

test('hard rule: amount below', (t) => {
  const rules = withHardRules(rule({ amountBelow: 1 }, 'CHALLENGE'));
  t.is(verdict(rules, ev({ amount: '0.9999' })).decision, 'CHALLENGE');
  t.is(verdict(rules, ev({ amount: '1' })).decision, 'ALLOW');
  t.is(verdict(rules, ev({ eventType: 'login', amount: null })).decision, 'ALLOW');
});

test('hard rule: country block list, case-insensitive', (t) => {
  const rules = withHardRules(rule({ countryIn: ['KP', 'ir'] }));
  t.is(verdict(rules, ev({ country: 'IR' })).decision, 'BLOCK');
  t.is(verdict(rules, ev({ country: 'kp' })).decision, 'BLOCK');
  t.is(verdict(rules, ev({ country: 'DE' })).decision, 'ALLOW');
  t.is(verdict(rules, ev({ country: null })).decision, 'ALLOW');
});

test('hard rule: more than N transfers in the last minute', (t) => {
  const rules = withHardRules(rule({ eventType: 'transfer', countInLastMinuteAbove: 3 }));
  const burst = (n: number) => Array.from({ length: n }, (_, i) => ev({ eventType: 'transfer', timestamp: T0 - (i + 1) * 1000 }));
  t.is(verdict(rules, ev({ eventType: 'transfer', timestamp: T0 }), burst(3)).decision, 'BLOCK');
  t.is(verdict(rules, ev({ eventType: 'transfer', timestamp: T0 }), burst(2)).decision, 'ALLOW');
  t.is(verdict(rules, ev({ eventType: 'transfer', timestamp: T0 + 2 * MIN }), burst(3)).decision, 'ALLOW');
});

test('hard rule: eventType lists, "other", new device/country and upstream risk, all ANDed', (t) => {
  const other = withHardRules(rule({ eventType: ['other'] }));
  t.is(verdict(other, ev({ eventType: 'chargeback' })).decision, 'BLOCK');
  t.is(verdict(other, ev({ eventType: 'login' })).decision, 'ALLOW');
  const takeover = withHardRules(rule({ eventType: 'transfer', newDevice: true, newCountry: true, amountAbove: 100 }));
  const history = [ev({ deviceId: 'd-1', country: 'DE', timestamp: T0 - MIN })];
  t.is(verdict(takeover, ev({ eventType: 'transfer', amount: '500', deviceId: 'x', country: 'RU' }), history).decision, 'BLOCK');
  t.is(verdict(takeover, ev({ eventType: 'transfer', amount: '500', deviceId: 'x', country: 'DE' }), history).decision, 'ALLOW');
  t.is(verdict(takeover, ev({ eventType: 'transfer', amount: '50', deviceId: 'x', country: 'RU' }), history).decision, 'ALLOW');
  const known = withHardRules(rule({ newDevice: false, upstreamRiskAbove: 0.5 }, 'CHALLENGE'));
  t.is(verdict(known, ev({ deviceId: 'd-1', upstreamRiskScore: 0.6 }), history).decision, 'CHALLENGE');
  t.is(verdict(known, ev({ deviceId: 'd-1', upstreamRiskScore: 0.5 }), history).decision, 'ALLOW');
  t.is(verdict(known, ev({ deviceId: 'x', upstreamRiskScore: 0.9 }), history).decision, 'ALLOW');
});

test('hard rules give the stronger of rule and score, and every matching rule is a reason', (t) => {
  const rules = withHardRules({ id: 'soft', when: { eventType: 'payment' }, decision: 'CHALLENGE' }, { id: 'hard', when: { amountAbove: 5 }, decision: 'BLOCK' });
  const d = verdict(rules, ev({ amount: '9' }));
  t.is(d.decision, 'BLOCK');
  t.deepEqual(d.reasons.map((r) => r.code), ['HARD_RULE:soft', 'HARD_RULE:hard']);
  // A CHALLENGE rule does not weaken a score that says BLOCK.
  const scoreBlocks = { ...withHardRules({ id: 'soft', when: { eventType: 'payment' }, decision: 'CHALLENGE' }), bias: 5 };
  t.is(verdict(scoreBlocks, ev()).decision, 'BLOCK');
});

const challenging = neutralRules({ bias: 1 }); // 0.7311: CHALLENGE by score

test('escalation: the third CHALLENGE within 10 minutes becomes BLOCK with ESCALATED', (t) => {
  const { outcomes } = play([ev({ timestamp: T0 }), ev({ timestamp: T0 + 4 * MIN }), ev({ timestamp: T0 + 9 * MIN }), ev({ timestamp: T0 + 10 * MIN })], { rules: challenging });
  t.deepEqual(outcomes.map((o) => accepted(o).decision.decision), ['CHALLENGE', 'CHALLENGE', 'BLOCK', 'BLOCK']);
  t.deepEqual(codes(outcomes[2]), ['ESCALATED']);
  t.is(accepted(outcomes[2]).decision.reasons[0]!.detail, 'CHALLENGE number 3 within 600 s');
});

test('escalation: challenges further apart than the window do not escalate', (t) => {
  const { outcomes } = play([ev({ timestamp: T0 }), ev({ timestamp: T0 + 8 * MIN }), ev({ timestamp: T0 + 19 * MIN })], { rules: challenging });
  t.deepEqual(outcomes.map((o) => accepted(o).decision.decision), ['CHALLENGE', 'CHALLENGE', 'CHALLENGE']);
});

test('escalation is configurable', (t) => {
  const second = { ...DEFAULT_DOMAIN_CONFIG, escalation: { challenges: 2, withinMs: MIN } };
  const { outcomes } = play([ev({ timestamp: T0 }), ev({ timestamp: T0 + 30_000 }), ev({ timestamp: T0 + 3 * MIN }), ev({ timestamp: T0 + 3 * MIN + 1 })], { rules: challenging, config: second });
  t.deepEqual(outcomes.map((o) => accepted(o).decision.decision), ['CHALLENGE', 'BLOCK', 'CHALLENGE', 'BLOCK']);
  t.is(config.escalation.challenges, 3);
});

test('decide changes nothing: the state is the same object, untouched', (t) => {
  const state = play([ev({ timestamp: T0 })]).state;
  const before = JSON.stringify(state);
  decide(state, ev({ timestamp: T0 + 1 }), ctx());
  t.is(JSON.stringify(state), before);
});
