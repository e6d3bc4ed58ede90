import test from 'ava';
import fc from 'fast-check';
import { addAmounts, formatMinor, parseAmount, toUserView } from '../../../src/domain/index.ts';
import { canonicalAmount, minorUnits, toMinor } from '../../../src/domain/money.ts';
import { ev, MIN, neutralRules, play, T0 } from './helpers.ts';

test('ten payments of 0.1 total exactly 1.0000', (t) => {
  const events = Array.from({ length: 10 }, (_, i) => ev({ eventType: 'payment', amount: '0.1', timestamp: T0 + i * MIN }));
  const { state } = play(events, { rules: neutralRules() });
  t.is(toUserView(state).profile.totalPaymentAmount, '1.0000');
  t.is(toUserView(state).profile.totalTransferAmount, '0.0000');
});

test('payment and transfer totals are kept apart; other kinds add nothing', (t) => {
  const { state } = play(
    [
      ev({ eventType: 'payment', amount: '19.99' }),
      ev({ eventType: 'transfer', amount: '1000.0001' }),
      ev({ eventType: 'transfer', amount: '0.9999' }),
      ev({ eventType: 'refund', amount: '5' }),
      ev({ eventType: 'login', amount: null }),
    ],
    { rules: neutralRules() },
  );
  t.is(state.profile.totalPaymentAmount, '19.9900');
  t.is(state.profile.totalTransferAmount, '1001.0000');
});

test('parse and format are exact and inverse', (t) => {
  t.deepEqual(parseAmount('12.34'), { ok: true, minor: 123400n });
  t.deepEqual(parseAmount(0.0001), { ok: true, minor: 1n });
  t.is(formatMinor(1n), '0.0001');
  t.is(formatMinor(123400n), '12.3400');
  t.is(addAmounts('99999999999999999999.9999', '0.0001'), '100000000000000000000.0000');
  t.is(toMinor('12.3400'), 123400n);
});

test('property: the total of any amounts equals their exact decimal sum', (t) => {
  fc.assert(
    fc.property(fc.array(fc.bigInt({ min: 0n, max: 10n ** 12n }), { maxLength: 40 }), (minors) => {
      let total = '0.0000';
      for (const m of minors) {
        const parsed = parseAmount(formatMinor(m));
        if (!parsed.ok) return false;
        total = addAmounts(total, formatMinor(parsed.minor));
      }
      return total === formatMinor(minors.reduce((a, b) => a + b, 0n));
    }),
  );
  t.pass();
});

test('property: a number with at most 4 decimals parses to the same value as its decimal string', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 10 ** 9 }), fc.integer({ min: 0, max: 9999 }), (whole, frac) => {
      const text = `${whole}.${String(frac).padStart(4, '0')}`;
      const fromNumber = parseAmount(Number(text));
      const fromString = parseAmount(text);
      return fromNumber.ok && fromString.ok && fromNumber.minor === fromString.minor;
    }),
  );
  t.pass();
});

test('amounts have at most 15 digits before the point: numbers and strings alike', (t) => {
  const tooBig = { ok: false, message: 'at most 15 digits before the point' };
  t.deepEqual(parseAmount(999_999_999_999_999), { ok: true, minor: 9_999_999_999_999_990_000n });
  t.deepEqual(parseAmount('999999999999999.9999'), { ok: true, minor: 9_999_999_999_999_999_999n });
  for (const v of [1e15, 1e300, Number.MAX_VALUE, '1000000000000000', '1000000000000000.5', '0000000000000000']) t.deepEqual(parseAmount(v), tooBig, String(v));
  t.like(parseAmount('1e300'), { ok: false });
  t.like(parseAmount(Number.POSITIVE_INFINITY), { ok: false, message: 'must be a finite number' });
});

test('property: a decimal string of at most 15 + 4 digits parses exactly; one more digit before the point is refused', (t) => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 10n ** 15n - 1n }), fc.integer({ min: 0, max: 9999 }), (whole, frac) => {
      const fraction = String(frac).padStart(4, '0');
      const parsed = parseAmount(`${whole}.${fraction}`);
      const longer = parseAmount(`${whole + 10n ** 15n}.${fraction}`);
      return parsed.ok && parsed.minor === whole * 10_000n + BigInt(frac) && !longer.ok;
    }),
  );
  t.pass();
});

/** Canonical amounts ("12.3400") of any size, with the edges of 2^53 units: read and added without BigInt where exact. */
const canonical = fc.oneof(
  fc.bigInt({ min: 0n, max: 10n ** 19n }),
  fc.bigInt({ min: 2n ** 53n - 100n, max: 2n ** 53n + 100n }),
  fc.bigInt({ min: 0n, max: 10n ** 7n }),
).map(formatMinor);

test('property: minorUnits reads toMinor exactly where it is a safe integer, and never passes a larger one for one', (t) => {
  fc.assert(
    fc.property(canonical, (a) => {
      const exact = toMinor(a);
      const n = minorUnits(a);
      if (exact <= BigInt(Number.MAX_SAFE_INTEGER)) t.is(n, Number(exact));
      else t.false(Number.isSafeInteger(n));
    }),
  );
  t.is(minorUnits('7'), 70_000, 'not canonical: read by toMinor');
  t.throws(() => minorUnits('x.1'));
});

test('property: addAmounts is the exact sum, in numbers or in BigInt beyond 2^53 units', (t) => {
  fc.assert(fc.property(canonical, canonical, (a, b) => t.is(addAmounts(a, b), formatMinor(toMinor(a) + toMinor(b)))));
  t.is(addAmounts('0.0000', '0.0000'), '0.0000');
  t.is(addAmounts('900719925474.0991', '0.0000'), '900719925474.0991');
  t.is(addAmounts('900719925474.0991', '0.0001'), '900719925474.0992');
  t.is(addAmounts('900719925474.0991', '0.0002'), '900719925474.0993');
  t.is(addAmounts('12', '0.5'), '12.5000', 'not canonical');
});

test('property: canonicalAmount is formatMinor(parseAmount(v).minor), or the same refusal, for any value', (t) => {
  const reference = (v: unknown) => {
    const p = parseAmount(v);
    return p.ok ? { ok: true, amount: formatMinor(p.minor) } : p;
  };
  const decimal = fc.tuple(fc.stringMatching(/^-?\d{0,17}$/), fc.option(fc.stringMatching(/^\d{0,6}$/)), fc.constantFrom('', 'e5', ' ', 'x')).map(([w, f, tail]) => `${w}${f === null ? '' : `.${f}`}${tail}`);
  const number = fc.oneof(fc.double(), fc.integer(), fc.integer({ min: 0, max: 10 ** 7 }).map((k) => k / 10_000), fc.constantFrom(-0, 1e15, 1e15 - 1, 999_999_999_999_999.9, 0.00001, 1e-7));
  fc.assert(fc.property(fc.oneof(decimal, number, fc.constantFrom(null, true, {}, [])), (v) => t.deepEqual(canonicalAmount(v), reference(v))), { numRuns: 2000 });
  t.deepEqual(canonicalAmount('007.5'), { ok: true, amount: '7.5000' });
  t.deepEqual(canonicalAmount(-0), { ok: true, amount: '0.0000' });
});
