import { createRequire } from 'node:module';
import test from 'ava';
import fc from 'fast-check';
import sinon from 'sinon';
import { murmur2, shardOf, shardOfKey } from '../../../src/domain/shardOf.ts';

/** kafkajs's default partitioner hashes with this (what producers of the input topics run). */
const kafkajsMurmur2 = createRequire(import.meta.url)('kafkajs/src/producer/partitioners/default/murmur2.js') as (key: Buffer) => number;

test("murmur2 equals Kafka's Java Utils.murmur2 on its own test vectors", (t) => {
  const vectors: [string, number][] = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ];
  for (const [key, hash] of vectors) t.is(murmur2(Buffer.from(key)), hash, key);
});

test('property: murmur2 equals the kafkajs partitioner\'s on any bytes, and shardOf is its positive value modulo the partitions', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 1000 }), (bytes, partitions) => {
      const buffer = Buffer.from(bytes);
      const expected = (kafkajsMurmur2(buffer) & 0x7fffffff) % partitions;
      return murmur2(bytes) === kafkajsMurmur2(buffer) && shardOfKey(bytes, partitions) === expected;
    }),
    { numRuns: 2000 },
  );
  fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (userId) => shardOf(userId, 12) === (kafkajsMurmur2(Buffer.from(userId, 'utf8')) & 0x7fffffff) % 12));
  t.pass();
});

test('shardOf reads an ASCII userId as its bytes, without encoding it, and agrees with the bytes for any text', (t) => {
  const encode = sinon.spy(TextEncoder.prototype, 'encode');
  try {
    const javaVectors: [string, number][] = [['21', -973932308], ['foobar', -790332482], ['a-little-bit-longer-string', -1486304829], ['abc', 479470107]];
    for (const [key, hash] of javaVectors) t.is(shardOf(key, 1000), (hash & 0x7fffffff) % 1000, key);
    t.is(encode.callCount, 0, 'no ASCII key is encoded');
    t.notThrows(() =>
      fc.assert(
        fc.property(fc.oneof(fc.string({ unit: 'binary-ascii', maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 60 })), fc.integer({ min: 1, max: 1000 }), (text, partitions) =>
          shardOf(text, partitions) === (kafkajsMurmur2(Buffer.from(text, 'utf8')) & 0x7fffffff) % partitions,
        ),
        { numRuns: 3000 },
      ),
    );
  } finally {
    encode.restore();
  }
});
