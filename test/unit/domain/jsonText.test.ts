/**
 * The hand-written JSON texts (jsonText.ts) are JSON.stringify's, byte for byte: for any number
 * and string, and for objects of the shapes they know, of nearly those shapes (a key missing, one
 * too many, two swapped, a toJSON, a value of another type), where they must fall back to it.
 */
import test from 'ava';
import fc from 'fast-check';
import { acceptedText, aggregatesText, aggregateText, decisionText, extrasText, jsonNumber, jsonString } from '../../../src/domain/jsonText.ts';
import type { Extras } from '../../../src/domain/history.ts';
import type { Decision, EventAccepted, WindowAggregate } from '../../../src/domain/index.ts';

const numbers = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.maxSafeInteger(),
  // Epoch times, and the edges of the two-part integer form.
  fc.integer({ min: 946_684_800_000, max: 4_102_444_800_000 }),
  fc.integer({ min: 1, max: 9_007_199 }).chain((k) => fc.constantFrom(k * 1e9, k * 1e9 - 1, k * 1e9 + 1, -k * 1e9 - 1)),
  fc.constantFrom(2 ** 30, 2 ** 30 - 1, -(2 ** 30), -(2 ** 30) - 1, 2 ** 53, 2 ** 53 - 1, -(2 ** 53), 1e21, 5e-324, -0, NaN, Infinity, -Infinity),
  // Scores, weights and totals on the 1e-4 grid, and next to it.
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 }).map((k) => k / 10_000),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 }).map((k) => k / 10_000 + 1e-9),
  fc.integer({ min: 0, max: 100_000 }).map((k) => Math.round((k / 7) * 10_000) / 10_000),
);

test('property: jsonNumber is JSON.stringify for every number', (t) => {
  fc.assert(fc.property(numbers, (n) => t.is(jsonNumber(n), JSON.stringify(n), String(n))), { numRuns: 20_000 });
});

test('property: jsonString is JSON.stringify for every string, lone surrogates and control characters included', (t) => {
  const strings = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), fc.constantFrom('"', '\\', '\u2028', '\ud800', '\udc00x', '\u{1f600}', '\u007f', '</script>'));
  fc.assert(fc.property(strings, (s) => t.is(jsonString(s), JSON.stringify(s))), { numRuns: 5000 });
});

/** Mostly a value of the shape's type; now and then anything JSON.stringify may meet. */
const value = (usual: fc.Arbitrary<unknown>) => fc.oneof({ weight: 40, arbitrary: usual }, { weight: 1, arbitrary: fc.anything({ withNullPrototype: true, withBigInt: false }) }, { weight: 1, arbitrary: fc.constantFrom(undefined, null, () => 1, Symbol('s')) });
const text = fc.oneof(fc.string(), fc.string({ unit: 'binary', maxLength: 8 }));
const textOrNull = fc.option(text, { nil: null });

/** An object of these keys in this order (optional ones now and then absent), now and then bent out of shape. */
function shaped(keys: [string, fc.Arbitrary<unknown>, boolean?][]): fc.Arbitrary<Record<string, unknown>> {
  const entries = keys.map(([k, arb, optional]) => fc.tuple(fc.constant(k), value(arb), optional ? fc.boolean() : fc.constant(true)));
  return fc.tuple(fc.tuple(...entries), fc.nat(40), fc.nat(20)).map(([values, bend, at]) => {
    let list = values.filter(([, , present]) => present).map(([k, v]) => [k, v] as [string, unknown]);
    if (bend === 1 && list.length > 1) list = list.filter((_, i) => i !== at % list.length);
    if (bend === 2) list.splice(at % (list.length + 1), 0, ['extra', 1]);
    if (bend === 3 && list.length > 1) {
      const i = at % (list.length - 1);
      [list[i], list[i + 1]] = [list[i + 1]!, list[i]!];
    }
    // A toJSON of its own, or inherited (as a class's), and an inherited enumerable key, which JSON.stringify does not write.
    const o: Record<string, unknown> = bend === 5 ? Object.create(Object.defineProperty({}, 'toJSON', { value: () => 'inherited' })) : bend === 6 ? Object.create({ inherited: 1 }) : {};
    for (const [k, v] of list) o[k] = v;
    if (bend === 4) o['toJSON'] = () => 'custom';
    return o;
  });
}

const reason = shaped([['code', text], ['weight', numbers], ['detail', text]]);
const decision = shaped([
  ['eventId', text],
  ['userId', text],
  ['eventType', text],
  ['decision', fc.constantFrom('ALLOW', 'CHALLENGE', 'BLOCK')],
  ['riskScore', numbers],
  ['reasons', fc.array(reason, { maxLength: 4 })],
  ['modelVersion', text],
  ['rulesVersion', numbers],
  ['eventTimestamp', numbers],
  ['decidedAt', numbers],
  ['shard', numbers],
  ['traceId', textOrNull],
  ['shadow', shaped([['rulesVersion', numbers], ['decision', text], ['riskScore', numbers]]), true],
]);
const aggregate = shaped([
  ['userId', text],
  ['windowStart', numbers],
  ['windowEnd', numbers],
  ['eventCount', numbers],
  ['totalRiskScore', numbers],
  ['avgRiskScore', numbers],
  ['maxRiskScore', numbers],
  ['firstEventTime', numbers],
  ['lastEventTime', numbers],
]);
const event = shaped([
  ['kind', text],
  ['amount', textOrNull],
  ['currency', text, true],
  ['rate', numbers, true],
  ['deviceId', textOrNull],
  ['country', textOrNull],
  ['failedLogin', fc.boolean()],
  ['source', textOrNull],
  ['offset', textOrNull],
  ['upstreamRisk', numbers, true],
]);
const accepted = shaped([
  ['v', fc.constant(1)],
  ['type', fc.constant('accepted')],
  ['event', event],
  ['decision', decision],
  ['window', fc.option(shaped([['start', numbers], ['end', numbers]]), { nil: null })],
  ['closed', fc.array(aggregate, { maxLength: 3 })],
]);

test('property: decisionText is JSON.stringify of a decision, or of anything near one', (t) => {
  fc.assert(fc.property(decision, (d) => t.is(decisionText(d as unknown as Decision), JSON.stringify(d))), { numRuns: 3000 });
});

test('property: aggregateText and aggregatesText are JSON.stringify of aggregates, or of anything near them', (t) => {
  fc.assert(
    fc.property(fc.array(aggregate, { maxLength: 4 }), (closed) => {
      t.is(aggregatesText(closed as unknown as WindowAggregate[]), JSON.stringify(closed));
      for (const a of closed) t.is(aggregateText(a as unknown as WindowAggregate), JSON.stringify(a));
    }),
    { numRuns: 2000 },
  );
});

test('property: acceptedText is JSON.stringify of journal data with its decision spliced in, or null when it is not of that shape', (t) => {
  let written = 0;
  fc.assert(
    fc.property(accepted, (data) => {
      const d = data as unknown as EventAccepted;
      const text = typeof d.decision === 'object' && d.decision !== null ? acceptedText(d, JSON.stringify(d.decision)) : null;
      if (text === null) return;
      written++;
      t.is(text, JSON.stringify(data));
    }),
    { numRuns: 3000 },
  );
  t.true(written > 300, `only ${written} written by hand`);
});

const extras = shaped([
  ['a', text, true],
  ['o', text, true],
  ['s', numbers, true],
  ['r', fc.array(fc.tuple(value(text), value(numbers), value(text)), { maxLength: 3 }), true],
  ['c', fc.array(fc.oneof(fc.array(value(numbers), { minLength: 7, maxLength: 8 }), value(numbers)), { maxLength: 3 }), true],
  ['t', text, true],
  ['w', fc.tuple(numbers, numbers, numbers), true],
  ['u', text, true],
  ['d', text, true],
  ['k', text, true],
  ['p', text, true],
  ['y', text, true],
  ['m', text, true],
  ['v', text, true],
]);

test('property: extrasText is JSON.stringify of a history entry\'s extras, or of anything near them', (t) => {
  fc.assert(fc.property(extras, (x) => t.is(extrasText(x as Extras), JSON.stringify(x))), { numRuns: 3000 });
});
