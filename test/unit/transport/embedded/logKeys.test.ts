/**
 * The embedded log keeps lmdb's ordered-binary keys ([topic, partition, offset] and
 * [group, topic, partition]) and accepts only names for which they are unambiguous (`isLogName`).
 * Checked with the real encoder: for accepted names, two partitions' record ranges never overlap
 * and two distinct offset keys never encode alike.
 */
import test from 'ava';
import fc from 'fast-check';
import * as lmdb from 'lmdb';
import { isLogName } from '../../../../src/transport/embedded/EmbeddedLog.ts';

const { keyValueToBuffer, bufferToKeyValue } = lmdb as unknown as { keyValueToBuffer(key: unknown): Buffer; bufferToKeyValue(bytes: Buffer): unknown };

const codeUnit = fc.oneof(
  fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
  fc.constantFrom('\u0000', '\u0004', '\u0014', '\u001b', '.', '-', 'x', '\ud800', '\udc00', '\ud83d\ude00'),
);
const name = fc.oneof(fc.string({ unit: codeUnit, maxLength: 80 }), fc.string({ unit: codeUnit, minLength: 60, maxLength: 130 })).filter(isLogName);
const partition = fc.integer({ min: 0, max: 1000 });
const MAX = Number.MAX_SAFE_INTEGER;

test('for accepted names, the record ranges of two distinct partitions never overlap', (t) => {
  fc.assert(
    fc.property(name, partition, name, partition, (t1, p1, t2, p2) => {
      fc.pre(t1 !== t2 || p1 !== p2);
      const [aLow, aHigh] = [keyValueToBuffer([t1, p1, 0]), keyValueToBuffer([t1, p1, MAX])];
      const [bLow, bHigh] = [keyValueToBuffer([t2, p2, 0]), keyValueToBuffer([t2, p2, MAX])];
      return Buffer.compare(aHigh, bLow) < 0 || Buffer.compare(bHigh, aLow) < 0;
    }),
    { numRuns: 1000 },
  );
  t.pass('1000 pairs checked by fast-check');
});

test('for accepted names, committed-offset keys of distinct [group, topic, partition] differ', (t) => {
  fc.assert(
    fc.property(fc.tuple(name, name, partition), fc.tuple(name, name, partition), (a, b) => {
      fc.pre(a.join('\u0000') !== b.join('\u0000') || a[2] !== b[2]);
      return !keyValueToBuffer(a).equals(keyValueToBuffer(b));
    }),
    { numRuns: 1000 },
  );
  t.pass('1000 pairs checked by fast-check');
});

test('the names it refuses are those the encoder confuses', (t) => {
  const long = 'g'.repeat(64);
  // A NUL inside a long group id is written raw, as the part separator: the key reads back as other parts.
  t.notDeepEqual(bufferToKeyValue(keyValueToBuffer([`${long}\u0000x`, 't', 1])), [`${long}\u0000x`, 't', 1]);
  t.true(keyValueToBuffer([`${long}\ud800`, 't', 1]).equals(keyValueToBuffer([`${long}\ufffd`, 't', 1])), 'a lone surrogate becomes U+FFFD');
  for (const bad of ['', 'a\u0000b', 'a\u0001', 'tab\t', 'del\u007f', `${long}\ud800`, '\udc00x']) t.false(isLogName(bad), JSON.stringify(bad));
  for (const good of ['risk-engine', 'login-events', 'é-😀', long, `${long}\ufffd`]) t.true(isLogName(good), good);
});
