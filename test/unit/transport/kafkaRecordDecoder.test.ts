/**
 * The installed kafkajs decodes a record's timestamp and offset in numbers when they are safe
 * integers (patches/kafkajs+2.2.4.patch): it summed them as BigInt-backed Longs per record. The
 * strings it gives must stay those kafkajs gave (the batch's first ones plus the deltas), for
 * any values, including those beyond 2^53 and deltas beyond 7 bytes of varlong.
 */
import test from 'ava';
import fc from 'fast-check';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
interface KafkaDecoder {
  readVarIntBytes(): Buffer;
}
const Decoder = require('kafkajs/src/protocol/decoder') as new (b: Buffer) => KafkaDecoder;
const encodeRecord = require('kafkajs/src/protocol/recordBatch/record/v0') as (r: object) => { buffer: Buffer };
const decodeRecord = require('kafkajs/src/protocol/recordBatch/record/v0/decoder') as (d: KafkaDecoder, ctx: object) => { timestamp: string; offset: string; key: Buffer; value: Buffer; headers: Record<string, unknown> };
const Long = require('kafkajs/src/utils/long') as { fromValue(v: unknown): unknown; fromString(v: string): unknown };

const CREATE_TIME = 0;

function roundTrip(firstOffset: bigint, firstTimestamp: bigint, offsetDelta: number, timestampDelta: bigint) {
  const bytes = encodeRecord({ offsetDelta, timestampDelta: Long.fromValue(timestampDelta), key: Buffer.from('k'), value: Buffer.from('v'), headers: { h: 'x' } }).buffer;
  const ctx = { firstOffset: String(firstOffset), firstTimestamp: String(firstTimestamp), timestampType: CREATE_TIME, maxTimestamp: '0', magicByte: 2 };
  return decodeRecord(new Decoder(new Decoder(bytes).readVarIntBytes()), ctx);
}

const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const base = fc.oneof(fc.bigInt({ min: -1n, max: 2n ** 53n }), int64, fc.constantFrom(0n, -1n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n - 1n));
const delta = fc.oneof(fc.bigInt({ min: -(2n ** 31n), max: 2n ** 31n }), fc.bigInt({ min: -(2n ** 48n), max: 2n ** 48n - 1n }), int64, fc.constantFrom(0n, -1n, 2n ** 48n - 1n, -(2n ** 48n), 2n ** 48n, -(2n ** 48n) - 1n));

test('a record decodes to its batch first offset and timestamp plus its deltas, exactly', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(base, base, fc.integer({ min: 0, max: 2 ** 31 - 1 }), delta, (firstOffset, firstTimestamp, offsetDelta, timestampDelta) => {
        const r = roundTrip(firstOffset, firstTimestamp, offsetDelta, timestampDelta);
        // kafkajs's Long sums in BigInt without wrapping at 64 bits; so must the patched path.
        const wantTimestamp = firstTimestamp + timestampDelta;
        const wantOffset = firstOffset + BigInt(offsetDelta);
        return r.timestamp === String(wantTimestamp) && r.offset === String(wantOffset) && r.value.toString() === 'v' && r.headers.h?.toString() === 'x';
      }),
      { numRuns: 3000 },
    ),
  );
});

test('a record of a batch in safe integers decodes without a Long', (t) => {
  const proto = Object.getPrototypeOf(Long.fromValue(1)) as Record<string, unknown>;
  const statics = Long as unknown as Record<string, unknown>;
  const calls: string[] = [];
  const saved: [Record<string, unknown>, string, unknown][] = [];
  const spy = (owner: Record<string, unknown>, name: string) => {
    const fn = owner[name] as (...a: unknown[]) => unknown;
    saved.push([owner, name, fn]);
    owner[name] = function (this: unknown, ...args: unknown[]) {
      calls.push(name);
      return fn.apply(this, args);
    };
  };
  const bytes = encodeRecord({ offsetDelta: 17, timestampDelta: 1234, key: null, value: Buffer.from('v') }).buffer;
  try {
    for (const name of ['add', 'shiftLeft', 'xor', 'and', 'toString']) spy(proto, name);
    for (const name of ['fromValue', 'fromString', 'fromInt', 'fromNumber']) spy(statics, name);
    const r = decodeRecord(new Decoder(new Decoder(bytes).readVarIntBytes()), { firstOffset: '1000000', firstTimestamp: '1764547200000', timestampType: CREATE_TIME, magicByte: 2 });
    t.is(r.offset, '1000017');
    t.is(r.timestamp, '1764547201234');
  } finally {
    for (const [owner, name, fn] of saved) owner[name] = fn;
  }
  t.deepEqual(calls, []);
});
