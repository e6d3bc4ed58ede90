/**
 * The embedded journal's binary keys: the byte ranges of two distinct persistence keys never
 * overlap, whatever the strings (NUL, lone surrogates, 64+ characters, one a prefix of the other);
 * and keys of the first layout decode back to the [key, seq] whose encoding they are.
 */
import test from 'ava';
import fc from 'fast-check';
import * as lmdb from 'lmdb';
import { decodeSeqKey, keyPrefix, MAX_KEY_UNITS, prefixEnd, seqKey, seqOf } from '../../../src/persistence/embeddedKeys.ts';
import { decodeLegacyKey } from '../../../src/persistence/embeddedLegacyLayout.ts';

const { keyValueToBuffer } = lmdb as unknown as { keyValueToBuffer(key: unknown): Buffer };

/** Any UTF-16 code unit, lone surrogates and NUL included, with the troublesome ones often. */
const codeUnit = fc.oneof(
  fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
  fc.constantFrom('\u0000', '\u0001', '\u0004', '\u0014', '\u001b', '0', 'x', '\ud800', '\udc00', '\uffff', '\u00ff'),
);
const anyString = fc.oneof(
  fc.string({ unit: codeUnit, maxLength: 80 }),
  // Around ordered-binary's 64-character switch to raw bytes.
  fc.string({ unit: codeUnit, minLength: 55, maxLength: 140 }),
);
/** Two distinct strings: unrelated, or one a prefix of the other. */
const distinctPair = fc
  .oneof(
    fc.tuple(anyString, anyString),
    fc.tuple(anyString, fc.string({ unit: codeUnit, minLength: 1, maxLength: 8 })).map(([a, tail]) => [a, a + tail] as [string, string]),
  )
  .filter(([a, b]) => a !== b);
const seq = fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.constant(Number.MAX_SAFE_INTEGER), fc.maxSafeNat());

/** Every entry key of `key` lies in [lowest, highest]. */
const rangeOf = (key: string): [Buffer, Buffer] => [seqKey(keyPrefix(key), 0), prefixEnd(keyPrefix(key))];

test('the key ranges of two distinct persistence keys never overlap', (t) => {
  fc.assert(
    fc.property(distinctPair, ([a, b]) => {
      const [aLow, aHigh] = rangeOf(a);
      const [bLow, bHigh] = rangeOf(b);
      return Buffer.compare(aHigh, bLow) < 0 || Buffer.compare(bHigh, aLow) < 0;
    }),
    { numRuns: 2000 },
  );
  t.pass('2000 pairs checked by fast-check');
});

test('an entry key lies in its key range, sorts by sequence number and decodes back', (t) => {
  fc.assert(
    fc.property(anyString, seq, seq, (key, s1, s2) => {
      const [low, high] = rangeOf(key);
      const k1 = seqKey(keyPrefix(key), s1);
      const k2 = seqKey(keyPrefix(key), s2);
      t.true(Buffer.compare(low, k1) <= 0 && Buffer.compare(k1, high) < 0);
      t.is(Math.sign(Buffer.compare(k1, k2)), Math.sign(s1 - s2));
      t.is(seqOf(k1), s1);
      t.deepEqual(decodeSeqKey(k1), { key, seq: s1 });
    }),
  );
});

test('the reported collision: ordered-binary overlaps, the binary keys do not', (t) => {
  const a = `user:${'x'.repeat(59)}`;
  const b = `${a}\u0000\u0014` + '0';
  // What the first layout did: b's entries fall inside a's range.
  const old = (k: string, s: number) => keyValueToBuffer([k, s]);
  t.true(Buffer.compare(old(a, 0), old(b, 1)) < 0 && Buffer.compare(old(b, 1), old(a, Number.MAX_SAFE_INTEGER)) < 0);
  const [aLow, aHigh] = rangeOf(a);
  const bKey = seqKey(keyPrefix(b), 1);
  t.false(Buffer.compare(aLow, bKey) <= 0 && Buffer.compare(bKey, aHigh) < 0);
});

test('keys longer than LMDB allows are refused before they reach it', (t) => {
  t.notThrows(() => keyPrefix('u'.repeat(MAX_KEY_UNITS)));
  t.true(seqKey(keyPrefix('u'.repeat(MAX_KEY_UNITS)), 1).length <= 1978);
  t.throws(() => keyPrefix('u'.repeat(MAX_KEY_UNITS + 1)), { instanceOf: RangeError });
  t.throws(() => seqKey(keyPrefix('u'), -1), { instanceOf: RangeError });
  t.throws(() => seqKey(keyPrefix('u'), 1.5), { instanceOf: RangeError });
});

test('a key of the first layout decodes to a [key, seq] that encodes to exactly its bytes', (t) => {
  fc.assert(
    fc.property(anyString, fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (key, s) => {
      const raw = keyValueToBuffer([key, s]);
      const decoded = decodeLegacyKey(raw);
      t.truthy(decoded);
      t.true(keyValueToBuffer([decoded!.key, decoded!.seq]).equals(raw));
      t.is(decoded!.seq, s);
      // Unambiguous for every key without control characters below 5 or lone surrogates.
      if (!/[\u0000-\u0004]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(key)) t.is(decoded!.key, key);
    }),
  );
  t.deepEqual(decodeLegacyKey(keyValueToBuffer([`user:${'x'.repeat(59)}\u0000\u0014` + '0', 3])), { key: `user:${'x'.repeat(59)}\u0000\u0014` + '0', seq: 3 });
  t.is(decodeLegacyKey(Buffer.from('no key here')), null);
});
