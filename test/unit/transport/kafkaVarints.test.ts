/**
 * The installed kafkajs encodes varints and varlongs without allocating
 * (patches/kafkajs+2.2.4.patch): a varlong that fits 32 bits in numbers instead of a chain of
 * BigInt-backed Longs, varints written in place instead of through an array and a Buffer each.
 * Every record's timestamp delta is a varlong, so this was a good share of the engine's garbage.
 * The bytes must stay those of Kafka's protocol (zig-zag, then LEB128), for any value.
 */
import test from 'ava';
import fc from 'fast-check';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
interface KafkaEncoder {
  writeVarLong(v: unknown): KafkaEncoder;
  writeVarInt(v: number): KafkaEncoder;
  writeUVarInt(v: number): KafkaEncoder;
  buffer: Buffer;
}
const Encoder = require('kafkajs/src/protocol/encoder') as { new (): KafkaEncoder; sizeOfVarLong(v: unknown): number };
const Long = require('kafkajs/src/utils/long') as { fromValue(v: unknown): unknown };

/** LEB128 of an unsigned integer: 7 bits a byte, low bits first, the high bit set on all but the last. */
function leb128(u: bigint): Buffer {
  const out: number[] = [];
  do {
    const low = Number(u & 0x7fn);
    u >>= 7n;
    out.push(u === 0n ? low : low | 0x80);
  } while (u !== 0n);
  return Buffer.from(out);
}
const zigZag64 = (v: bigint): bigint => BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
const zigZag32 = (v: number): bigint => BigInt((((v << 1) ^ (v >> 31)) >>> 0));

const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const anyVarLong = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map(BigInt),
  fc.maxSafeInteger().map(BigInt),
  int64,
  fc.constantFrom(0n, -1n, 2n ** 31n - 1n, -(2n ** 31n), 2n ** 31n, -(2n ** 31n) - 1n, 2n ** 63n - 1n, -(2n ** 63n)),
);

test('a varlong given as a number or a Long is zig-zag LEB128, and sizeOfVarLong its length', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(anyVarLong, (v) => {
        const want = leb128(zigZag64(v));
        const asLong = Long.fromValue(v);
        const fromLong = new Encoder().writeVarLong(asLong).buffer;
        const ok = fromLong.equals(want) && Encoder.sizeOfVarLong(asLong) === want.length;
        if (!Number.isSafeInteger(Number(v)) || BigInt(Number(v)) !== v) return ok;
        return ok && new Encoder().writeVarLong(Number(v)).buffer.equals(want) && Encoder.sizeOfVarLong(Number(v)) === want.length;
      }),
      { numRuns: 3000 },
    ),
  );
});

test('varints and unsigned varints of 32-bit values are zig-zag LEB128 and LEB128', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), (v, u) => {
        const written = new Encoder().writeVarInt(v).writeUVarInt(u).buffer;
        return written.equals(Buffer.concat([leb128(zigZag32(v)), leb128(BigInt(u))]));
      }),
      { numRuns: 3000 },
    ),
  );
});

test('a varlong encodes without allocating a Long per step', (t) => {
  // The old path called the BigInt-backed Long's methods some 30 times per delta, each making a
  // Long and a BigInt; the patched path calls none of them for a delta that fits 32 bits.
  const proto = Object.getPrototypeOf(Long.fromValue(1)) as Record<string, unknown>;
  const calls: string[] = [];
  const saved = new Map<string, unknown>();
  for (const name of ['and', 'or', 'shiftRightUnsigned', 'shiftLeft', 'xor', 'notEquals']) {
    saved.set(name, proto[name]);
    proto[name] = function (this: unknown, ...args: unknown[]) {
      calls.push(name);
      return (saved.get(name) as (...a: unknown[]) => unknown).apply(this, args);
    };
  }
  try {
    new Encoder().writeVarLong(Long.fromValue(123_456)).writeVarLong(-7);
    Encoder.sizeOfVarLong(Long.fromValue(-123_456));
  } finally {
    for (const [name, fn] of saved) proto[name] = fn;
  }
  t.deepEqual(calls, []);
});
