/**
 * The installed kafkajs computes the CRC-32C of record batches in native code
 * (patches/kafkajs+2.2.4.patch, @node-rs/crc32): its byte-at-a-time table was 4% of the engine's
 * thread. Kafka refuses a batch whose CRC is wrong, so the native one must agree with kafkajs's own
 * table on every input.
 */
import test from 'ava';
import fc from 'fast-check';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const crc32C = require('kafkajs/src/protocol/recordBatch/crc32C') as ((b: Buffer) => number) & { implementation?: string };
const table = require('kafkajs/src/protocol/recordBatch/crc32C/crc32C') as (b: Buffer) => number;

test('kafkajs computes record batch CRCs in native code', (t) => {
  t.is(crc32C.implementation, 'native');
});

test('the CRC-32C check value and the empty input', (t) => {
  // The check value of CRC-32C (Castagnoli): the CRC of the ASCII digits 1 to 9.
  t.is(crc32C(Buffer.from('123456789')), 0xe3069283);
  t.is(crc32C(Buffer.alloc(0)), 0);
});

test('the native CRC agrees with kafkajs table for any bytes, as an unsigned 32-bit number', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), (bytes) => {
        const b = Buffer.from(bytes);
        const got = crc32C(b);
        return got === table(b) && got >= 0 && got <= 0xffffffff;
      }),
      { numRuns: 500 },
    ),
  );
});
