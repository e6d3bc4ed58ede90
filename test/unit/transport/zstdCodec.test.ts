import test from 'ava';
import { nativeZstd, zstdCodec } from '../../../src/transport/kafka/codecs.ts';

// `echo -n '{"eventId":"z-1"}' | zstd -c | base64`: a real zstd frame.
const FRAME = Buffer.from('KLUv/QRYiQAAeyJldmVudElkIjoiei0xIn3SKqzv', 'base64');

test('zstd records are decompressed', async (t) => {
  const out = await zstdCodec().decompress(FRAME);
  t.is(out.toString('utf8'), '{"eventId":"z-1"}');
});

if (nativeZstd) {
  test('zstd compression round-trips through node:zlib where the runtime has it', async (t) => {
    const input = Buffer.from('{"eventId":"z-2"}'.repeat(100));
    const packed = await zstdCodec().compress({ buffer: input });
    t.true(packed.length < input.length);
    t.deepEqual(await zstdCodec().decompress(packed), input);
  });
} else {
  test('zstd compression is refused with a clear error where node:zlib has no zstd (Node 20)', async (t) => {
    await t.throwsAsync(() => zstdCodec().compress({ buffer: Buffer.from('x') }), { message: /only reads zstd records there/ });
  });
}
