import test from 'ava';
import fc from 'fast-check';
import { packRound, type RoundAppend } from '../../../src/persistence/redisScripts.ts';

/** What the append script's take() reads: 4-byte big-endian byte lengths, each followed by that many bytes. */
function unpack(buf: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at < buf.length; ) {
    const n = buf.readUInt32BE(at);
    out.push(buf.toString('utf8', at + 4, at + 4 + n));
    at += 4 + n;
  }
  return out;
}

const fieldsOf = (users: readonly RoundAppend[]): string[] =>
  users.flatMap((u) => [u.journalKey, u.snapshotsKey, String(u.first), String(u.envelopes.length), ...u.envelopes, String(u.index.length), ...u.index, String(u.shadow.length), ...u.shadow]);

const text = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme-ascii' }), fc.string({ unit: 'grapheme-ascii' }).map((s) => `${s}é`));
const user = fc.record({
  journalKey: text,
  snapshotsKey: text,
  first: fc.nat(),
  envelopes: fc.array(text, { maxLength: 4 }),
  index: fc.array(text, { maxLength: 6 }),
  shadow: fc.array(text, { maxLength: 6 }),
});

test('packRound: every field in order, each its UTF-8 byte length and bytes, nothing else', (t) => {
  fc.assert(
    fc.property(fc.array(user, { maxLength: 5 }), (users) => {
      const packed = packRound(users);
      t.deepEqual(unpack(packed), fieldsOf(users).map((s) => Buffer.from(s, 'utf8').toString('utf8')));
      t.is(packed.length, fieldsOf(users).reduce((n, s) => n + 4 + Buffer.byteLength(s), 0));
    }),
  );
});

test('packRound: a multi-byte text is framed by its bytes, not its characters', (t) => {
  const packed = packRound([{ journalKey: 'j', snapshotsKey: 's', first: 7, envelopes: ['é€😀'], index: [], shadow: [] }]);
  t.deepEqual(unpack(packed), ['j', 's', '7', '1', 'é€😀', '0', '0']);
  t.is(packed.readUInt32BE(4 * 4 + 4), 9); // after j, s, 7, 1: 2 + 3 + 4 bytes
});

test('packRound: ASCII texts fill the buffer sized by their length, and nothing is left over', (t) => {
  const ascii = fc.string({ unit: 'grapheme-ascii' });
  fc.assert(
    fc.property(fc.array(fc.record({ journalKey: ascii, snapshotsKey: ascii, first: fc.nat(), envelopes: fc.array(ascii, { maxLength: 4 }), index: fc.array(ascii, { maxLength: 6 }), shadow: fc.array(ascii, { maxLength: 6 }) }), { maxLength: 5 }), (users) => {
      const packed = packRound(users);
      t.deepEqual(unpack(packed), fieldsOf(users));
      t.is(packed.length, fieldsOf(users).reduce((n, s) => n + 4 + s.length, 0));
    }),
  );
});

test('packRound: a multi-byte text last, or first and pushing the rest out of the ASCII-sized buffer, is packed at its exact size', (t) => {
  for (const envelopes of [['abc', 'x'.repeat(50), 'é€😀'], ['é€😀'.repeat(20), 'abc', 'def']]) {
    const users = [{ journalKey: 'j', snapshotsKey: 's', first: 7, envelopes, index: [], shadow: [] }];
    const packed = packRound(users);
    t.deepEqual(unpack(packed), fieldsOf(users));
    t.is(packed.length, fieldsOf(users).reduce((n, s) => n + 4 + Buffer.byteLength(s), 0));
  }
});
