import test from 'ava';
import { zstdReadOnlyCodec } from '../../../src/transport/kafka/kafkaClient.ts';

// `echo -n '{"eventId":"z-1"}' | zstd -c | base64`: a real zstd frame.
const FRAME = Buffer.from('KLUv/QRYiQAAeyJldmVudElkIjoiei0xIn3SKqzv', 'base64');

test('zstd records are decompressed', async (t) => {
  const out = await zstdReadOnlyCodec().decompress(FRAME);
  t.is(out.toString('utf8'), '{"eventId":"z-1"}');
});

test('zstd compression is refused with a clear error (the engine never writes zstd)', async (t) => {
  await t.throwsAsync(() => zstdReadOnlyCodec().compress(), { message: /only reads zstd/ });
});
