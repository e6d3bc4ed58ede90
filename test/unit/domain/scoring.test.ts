import test from 'ava';
import fc from 'fast-check';
import { FEATURE_NAMES, initialState } from '../../../src/domain/index.ts';
import { MAX_FEATURE_REASONS, score, verdictOf } from '../../../src/domain/scoring.ts';
import { config, ev, neutralRules, play, T0 } from './helpers.ts';

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

test('with no weights the score is sigmoid(bias), rounded to 4 decimals, with no reasons', (t) => {
  const s = score(initialState('u-1'), ev(), neutralRules({ bias: -2 }), config);
  t.is(s.riskScore, Math.round(sigmoid(-2) * 10_000) / 10_000);
  t.is(s.riskScore, 0.1192);
  t.deepEqual(s.reasons, []);
});

test('the score is the logistic of bias plus weighted features, and contributions become reasons', (t) => {
  const rules = neutralRules({ bias: -1, weights: { upstreamRisk: 2, newDevice: 3 } });
  const state = play([ev({ deviceId: 'd-1' })], { rules }).state;
  const s = score(state, ev({ deviceId: 'd-2', upstreamRiskScore: 0.5, timestamp: T0 + 1 }), rules, config);
  t.is(s.riskScore, Math.round(sigmoid(-1 + 2 * 0.5 + 3) * 10_000) / 10_000);
  t.deepEqual(
    s.reasons.map((r) => [r.code, r.weight]),
    [
      ['NEW_DEVICE', 3],
      ['UPSTREAM_RISK', 1],
    ],
  );
  t.is(s.reasons[0]!.detail, 'device d-2 new to this user');
});

test('only the strongest positive contributions become reasons; negative weights lower the score', (t) => {
  const weights = Object.fromEntries(FEATURE_NAMES.map((n) => [n, 1]));
  const busy = play(Array.from({ length: 12 }, (_, i) => ev({ timestamp: T0 + i * 1000, deviceId: `d-${i}`, amount: '1' })), { rules: neutralRules() }).state;
  const e = ev({ timestamp: T0 + 13_000, deviceId: 'x', amount: '1', upstreamRiskScore: 0.3 });
  const all = score(busy, e, neutralRules({ weights }), config);
  t.is(all.reasons.length, MAX_FEATURE_REASONS);
  t.true(all.reasons.every((r, i) => i === 0 || all.reasons[i - 1]!.weight >= r.weight));
  const damped = score(busy, e, neutralRules({ weights: { ...weights, upstreamRisk: -5 } }), config);
  t.true(damped.riskScore < all.riskScore);
  t.false(damped.reasons.some((r) => r.code === 'UPSTREAM_RISK'));
});

test('verdict: strictly above block is BLOCK, strictly above challenge is CHALLENGE', (t) => {
  const th = { block: 0.9, challenge: 0.7 };
  t.is(verdictOf(0.9001, th), 'BLOCK');
  t.is(verdictOf(0.9, th), 'CHALLENGE');
  t.is(verdictOf(0.7001, th), 'CHALLENGE');
  t.is(verdictOf(0.7, th), 'ALLOW');
  t.is(verdictOf(0.5, { block: 0.6, challenge: 0.4 }), 'CHALLENGE');
});

test('property: any weights and bias give a score in [0, 1] with at most 4 decimals', (t) => {
  const state = play([ev({ deviceId: 'a', country: 'DE' }), ev({ deviceId: 'b', timestamp: T0 + 500 })], { rules: neutralRules() }).state;
  fc.assert(
    fc.property(
      fc.dictionary(fc.constantFrom(...FEATURE_NAMES), fc.double({ min: -1000, max: 1000, noNaN: true })),
      fc.double({ min: -1000, max: 1000, noNaN: true }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      (weights, bias, upstream) => {
        const s = score(state, ev({ deviceId: 'c', country: 'FR', timestamp: T0 + 900, upstreamRiskScore: upstream }), neutralRules({ weights, bias }), config);
        return s.riskScore >= 0 && s.riskScore <= 1 && Math.round(s.riskScore * 10_000) / 10_000 === s.riskScore && !Object.is(s.riskScore, -0);
      },
    ),
  );
  t.pass();
});
