import test from 'ava';
import { lz4Codec } from '../../../src/transport/kafka/codecs.ts';

// An LZ4 frame laid out as Kafka's Java producer writes one (KafkaLZ4BlockOutputStream:
// frame magic, FLG 0x60 = version 1 + independent blocks, BD 0x40 = 64 KiB blocks, header
// checksum, one uncompressed block, end mark): '{"eventId":"l-1"}'.
const JAVA_FRAME = Buffer.from('04224d18604082110000807b226576656e744964223a226c2d31227d00000000', 'hex');

test('lz4 frames round-trip and use the frame layout Kafka reads (v1, independent blocks, 64 KiB)', async (t) => {
  const input = Buffer.from('{"eventId":"l-2","userId":"u-1"}'.repeat(200));
  const packed = await lz4Codec().compress({ buffer: input });
  t.true(packed.length < input.length);
  t.is(packed.readUInt32LE(0), 0x184d2204);
  t.is(packed[4], 0x60);
  t.is(packed[5], 0x40);
  t.deepEqual(await lz4Codec().decompress(packed), input);
});

test('an lz4 frame with an uncompressed block (as Kafka writes small payloads) is read', async (t) => {
  t.is((await lz4Codec().decompress(JAVA_FRAME)).toString('utf8'), '{"eventId":"l-1"}');
});
