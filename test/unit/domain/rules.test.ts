import test from 'ava';
import { FEATURE_NAMES, validateRules } from '../../../src/domain/index.ts';
import { RULES_LIMITS } from '../../../src/domain/rules.ts';
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

test('validated rules are normalised: amounts become exact decimals, version defaults to 1', (t) => {
  const input = { ...base(), rulesVersion: undefined, hardRules: [{ id: 'x', when: { amountAbove: 10000 }, decision: 'BLOCK' }] };
  const r = validateRules(input);
  if (!r.ok) return t.fail(`${r.field}: ${r.message}`);
  t.is(r.rules.rulesVersion, 1);
  t.is(r.rules.hardRules[0]!.when.amountAbove, '10000.0000');
});

test('unknown fields are refused at every level, naming the field', (t) => {
  const withRule = (rule: Record<string, unknown>) => ({ ...base(), hardRules: [...base().hardRules, rule] });
  const n = base().hardRules.length;
  t.is(fieldOf({ ...base(), note: 'not a rules field' }), 'note');
  t.is(fieldOf({ ...base(), thresholds: { block: 0.9, challenge: 0.7, review: 0.5 } }), 'thresholds.review');
  t.is(fieldOf(withRule({ id: 'z', when: { newDevice: true }, decision: 'BLOCK', priority: 1 })), `hardRules[${n}].priority`);
  t.is(fieldOf(withRule({ id: 'z', when: { newDevice: true, amountOver: 5 }, decision: 'BLOCK' })), `hardRules[${n}].when.amountOver`);
  t.deepEqual(validateRules({ ...base(), note: 1 }), { ok: false, field: 'note', message: 'unknown field' });
  // A long unknown key is named, cut short.
  t.is(fieldOf({ ...base(), ['k'.repeat(5000)]: 1 }), `${'k'.repeat(64)}...`);
});

test('lists, numbers and strings are bounded', (t) => {
  const { listEntries, weightAbs } = RULES_LIMITS;
  t.deepEqual([listEntries, weightAbs], [1000, 100]);
  const rule = (i: number, when: Record<string, unknown> = { newDevice: true }) => ({ id: `r-${i}`, when, decision: 'BLOCK' });
  const rules = (n: number) => Array.from({ length: n }, (_, i) => rule(i));
  t.is(fieldOf({ ...base(), hardRules: rules(1000) }), 'valid');
  t.is(fieldOf({ ...base(), hardRules: rules(1001) }), 'hardRules');
  const many = Array.from({ length: 1001 }, (_, i) => `t${i}`);
  t.is(fieldOf({ ...base(), hardRules: [rule(0, { eventType: many.slice(0, 1000) })] }), 'valid');
  t.is(fieldOf({ ...base(), hardRules: [rule(0, { eventType: many })] }), 'hardRules[0].when.eventType');
  t.is(fieldOf({ ...base(), hardRules: [rule(0, { countryIn: many })] }), 'hardRules[0].when.countryIn');
  t.is(fieldOf({ ...base(), weights: { newDevice: 100, newCountry: -100 }, bias: -100 }), 'valid');
  t.is(fieldOf({ ...base(), weights: { newDevice: 100.5 } }), 'weights.newDevice');
  t.is(fieldOf({ ...base(), weights: { newDevice: -1e9 } }), 'weights.newDevice');
  t.is(fieldOf({ ...base(), bias: 101 }), 'bias');
  t.is(fieldOf({ ...base(), bias: -1e300 }), 'bias');
  t.is(fieldOf({ ...base(), modelVersion: 'm'.repeat(65) }), 'modelVersion');
  t.is(fieldOf({ ...base(), hardRules: [{ ...rule(0), id: 'i'.repeat(65) }] }), 'hardRules[0].id');
  t.is(fieldOf({ ...base(), hardRules: [rule(0, { countryIn: ['c'.repeat(257)] })] }), 'hardRules[0].when.countryIn[0]');
  t.is(fieldOf({ ...base(), hardRules: [rule(0, { countInLastMinuteAbove: 1_000_001 })] }), 'hardRules[0].when.countInLastMinuteAbove');
  t.is(fieldOf({ ...base(), hardRules: [rule(0, { amountAbove: 1e300 })] }), 'hardRules[0].when.amountAbove');
  t.is(fieldOf({ ...base(), hardRules: [rule(0, { amountAbove: '1000000000000000' })] }), 'hardRules[0].when.amountAbove');
});

test('thresholds: 0 < challenge < block <= 1', (t) => {
  const th = (block: number, challenge: number) => fieldOf({ ...base(), thresholds: { block, challenge } });
  t.is(th(1, 0.999), 'valid');
  t.is(th(0.002, 0.001), 'valid');
  t.is(th(0.7, 0.7), 'thresholds.challenge');
  t.is(th(0.5, 0), 'thresholds.challenge');
  t.is(th(0, 0), 'thresholds.block');
  t.is(th(1.0001, 0.7), 'thresholds.block');
  t.is(th(0.9, -0.1), 'thresholds.challenge');
  const r = validateRules({ ...base(), thresholds: { block: 0.7, challenge: 0.7 } });
  if (!r.ok) t.is(r.message, 'must be below thresholds.block');
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
