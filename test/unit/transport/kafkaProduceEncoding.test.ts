/**
 * The installed kafkajs writes a produce request into one buffer (patches/kafkajs+2.2.4.patch):
 * its records, batches, partitions and topics in place, the CRC and the lengths set once the bytes
 * are there, the request's size in front of it. It encoded each level apart and copied it into the
 * next (eight copies of every byte produced, and a fresh buffer for each). The broker must get the
 * very bytes kafkajs's own encoding gives, for any request: kafkajs's `encode` (kept as it was) is
 * the reference, framed as kafkajs framed it.
 */
import test from 'ava';
import fc from 'fast-check';
import sinon from 'sinon';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

interface KafkaEncoder {
  writeInt16(v: number): KafkaEncoder;
  writeInt32(v: number): KafkaEncoder;
  writeString(v: string | null): KafkaEncoder;
  writeEncoder(e: KafkaEncoder): KafkaEncoder;
  size(): number;
  buffer: Buffer;
}
interface KafkaRequest {
  apiKey: number;
  apiVersion: number;
  encode(): Promise<KafkaEncoder>;
  encodeInto?(out: KafkaEncoder): Promise<KafkaEncoder>;
  sizeHint?(): number;
}
const Encoder = require('kafkajs/src/protocol/encoder') as new () => KafkaEncoder;
const createRequest = require('kafkajs/src/protocol/request') as (o: { correlationId: number; clientId: string; request: KafkaRequest }) => Promise<KafkaEncoder>;
const produceV3 = require('kafkajs/src/protocol/requests/produce/v3/request') as (o: unknown) => KafkaRequest;
const { Types } = require('kafkajs/src/protocol/message/compression') as { Types: { None: number; GZIP: number } };
const Long = require('kafkajs/src/utils/long') as { fromValue(v: unknown): unknown };

/** A request as kafkajs 2.2.4 framed it: header and payload in one encoder, that after its size. */
async function framedAsBefore(request: KafkaRequest, correlationId: number, clientId: string): Promise<Buffer> {
  const payload = await request.encode();
  const withHeader = new Encoder().writeInt16(request.apiKey).writeInt16(request.apiVersion).writeInt32(correlationId).writeString(clientId).writeEncoder(payload);
  return new Encoder().writeInt32(withHeader.size()).writeEncoder(withHeader).buffer;
}

const text = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ minLength: 200, maxLength: 3000 }));
const bytes = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b));
const keyOrValue = fc.oneof(fc.constant(null), text, bytes);
const headerValue = fc.oneof(fc.string({ maxLength: 20 }), bytes);
const headers = fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), fc.oneof(headerValue, fc.array(headerValue, { minLength: 1, maxLength: 3 })), { maxKeys: 3 });
const message = fc.record(
  {
    key: keyOrValue,
    value: keyOrValue,
    headers,
    // Kafka timestamps: the milliseconds of these decades, or none (then kafkajs takes Date.now()).
    timestamp: fc.integer({ min: 1_500_000_000_000, max: 2_200_000_000_000 }),
  },
  { requiredKeys: ['key', 'value'] },
);
const produceArgs = fc.record({
  acks: fc.constantFrom(-1, 0, 1),
  timeout: fc.integer({ min: 0, max: 60_000 }),
  transactionalId: fc.oneof(fc.constant(null), fc.string({ minLength: 1, maxLength: 30 })),
  producerId: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 2 ** 40 })).map((v) => Long.fromValue(v)),
  producerEpoch: fc.integer({ min: 0, max: 32_767 }),
  topicData: fc.array(
    fc.record({
      topic: fc.string({ minLength: 1, maxLength: 40 }),
      partitions: fc.array(fc.record({ partition: fc.integer({ min: 0, max: 1000 }), firstSequence: fc.integer({ min: 0, max: 2 ** 31 - 1 }), messages: fc.array(message, { minLength: 1, maxLength: 6 }) }), { minLength: 1, maxLength: 3 }),
    }),
    { minLength: 1, maxLength: 3 },
  ),
});

test.serial('a produce request written in place is byte for byte the request kafkajs encoded, for any records', async (t) => {
  // Records without a timestamp take Date.now(): one clock for both encodings.
  const clock = sinon.useFakeTimers({ now: 1_732_000_000_000, toFake: ['Date'] });
  t.teardown(() => clock.restore());
  await t.notThrowsAsync(
    fc.assert(
      fc.asyncProperty(produceArgs, fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.string({ maxLength: 30 }), async (args, correlationId, clientId) => {
        const request = produceV3({ ...args, compression: Types.None });
        t.truthy(request.encodeInto, 'the produce request writes itself in place');
        const now = await createRequest({ correlationId, clientId, request });
        return now.buffer.equals(await framedAsBefore(request, correlationId, clientId));
      }),
      { numRuns: 300 },
    ),
  );
});

test.serial('a compressed produce request, and any other request, is framed as before too', async (t) => {
  const clock = sinon.useFakeTimers({ now: 1_732_000_000_000, toFake: ['Date'] });
  t.teardown(() => clock.restore());
  await t.notThrowsAsync(
    fc.assert(
      fc.asyncProperty(produceArgs, fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.string({ maxLength: 30 }), async (args, correlationId, clientId) => {
        const gzipped = produceV3({ ...args, compression: Types.GZIP });
        // Without encodeInto a request goes the generic way: its payload copied once after the header.
        const plain = produceV3({ ...args, compression: Types.None });
        const generic: KafkaRequest = { apiKey: plain.apiKey, apiVersion: plain.apiVersion, encode: () => plain.encode() };
        const [a, b] = [await createRequest({ correlationId, clientId, request: gzipped }), await createRequest({ correlationId, clientId, request: generic })];
        return a.buffer.equals(await framedAsBefore(gzipped, correlationId, clientId)) && b.buffer.equals(await framedAsBefore(plain, correlationId, clientId));
      }),
      { numRuns: 100 },
    ),
  );
});

test('a produce request is written in place, its own size in front', async (t) => {
  const request = produceV3({ acks: -1, timeout: 30_000, topicData: [{ topic: 'risk-decisions', partitions: [{ partition: 3, firstSequence: 0, messages: [{ key: 'u-1', value: 'é'.repeat(5000), timestamp: 1_732_000_000_000 }] }] }] });
  const encode = sinon.spy(request, 'encode');
  const out = (await createRequest({ correlationId: 7, clientId: 'risk-engine', request })).buffer;
  t.true(encode.notCalled, 'written in place, not encoded apart and copied');
  t.is(out.readInt32BE(0), out.length - 4);
  t.true(out.length > 10_000, 'a value larger than the size hinted grows the buffer');
});
