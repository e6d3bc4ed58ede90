import test from 'ava';
import { FEATURE_NAMES, validateRules } from '../../../src/domain/index.ts';
import { defaultRules } from './helpers.ts';

const base = () => JSON.parse(JSON.stringify(defaultRules)) as Record<string, unknown> & { hardRules: Record<string, unknown>[] };

const fieldOf = (input: unknown): string => {
  const r = validateRules(input);
  return r.ok ? 'valid' : r.field;
};

test('the shipped default rules are valid and weigh every feature', (t) => {
  t.is(defaultRules.rulesVersion, 1);
  t.deepEqual(defaultRules.thresholds, { block: 0.9, challenge: 0.7 });
  t.deepEqual(Object.keys(defaultRules.weights).sort(), [...FEATURE_NAMES].sort());
  t.true(defaultRules.hardRules.length > 0);
});

test('validated rules are normalised: amounts become exact decimals, extra fields are kept, version defaults to 1', (t) => {
  const input = { ...base(), rulesVersion: undefined, note: 'kept', hardRules: [{ id: 'x', when: { amountAbove: 10000 }, decision: 'BLOCK' }] };
  const r = validateRules(input);
  if (!r.ok) return t.fail(`${r.field}: ${r.message}`);
  t.is(r.rules.rulesVersion, 1);
  t.is(r.rules.hardRules[0]!.when.amountAbove, '10000.0000');
  t.is((r.rules as unknown as { note: string }).note, 'kept');
});

test('a bad rules object is refused naming the exact field', (t) => {
  const hr = (when: unknown, extra: Record<string, unknown> = {}) => ({ ...base(), hardRules: [...base().hardRules.slice(0, 2), { id: 'z', when, decision: 'BLOCK', ...extra }] });
  t.is(fieldOf({ ...base(), thresholds: { block: 1.2, challenge: 0.7 } }), 'thresholds.block');
  t.is(fieldOf({ ...base(), thresholds: { block: 0.6, challenge: 0.7 } }), 'thresholds.challenge');
  t.is(fieldOf({ ...base(), thresholds: { block: 0.9 } }), 'thresholds.challenge');
  t.is(fieldOf({ ...base(), modelVersion: '' }), 'modelVersion');
  t.is(fieldOf({ ...base(), bias: 'high' }), 'bias');
  t.is(fieldOf({ ...base(), weights: { newDevice: 1, newDevise: 2 } }), 'weights.newDevise');
  t.is(fieldOf({ ...base(), weights: { newDevice: '1' } }), 'weights.newDevice');
  t.is(fieldOf(hr({ amountAbove: '10.12345' })), 'hardRules[2].when.amountAbove');
  t.is(fieldOf(hr({ amountAbove: -5 })), 'hardRules[2].when.amountAbove');
  t.is(fieldOf(hr({ amountAbov: '10' })), 'hardRules[2].when.amountAbov');
  t.is(fieldOf(hr({})), 'hardRules[2].when');
  t.is(fieldOf(hr({ countryIn: [] })), 'hardRules[2].when.countryIn');
  t.is(fieldOf(hr({ countInLastMinuteAbove: 2.5 })), 'hardRules[2].when.countInLastMinuteAbove');
  t.is(fieldOf(hr({ upstreamRiskAbove: 2 })), 'hardRules[2].when.upstreamRiskAbove');
  t.is(fieldOf(hr({ newDevice: 'yes' })), 'hardRules[2].when.newDevice');
  t.is(fieldOf(hr({ eventType: 'transfer' }, { decision: 'ALLOW' })), 'hardRules[2].decision');
  t.is(fieldOf(hr({ eventType: 'transfer' }, { id: 'big-transfer' })), 'hardRules[2].id');
  t.is(fieldOf(null), 'rules');
});

test('the message says what is wrong', (t) => {
  const r = validateRules({ ...base(), weights: { nope: 1 } });
  t.false(r.ok);
  if (!r.ok) t.regex(r.message, /unknown feature/);
});
